// Operators over real HTTP: the admin API (/admin/v1) with client-credentials tokens for operator clients made
// with the `cyberid` CLI, and Dynamic Client Registration (RFC 7591/7592) behind initial access tokens. The
// platforms it creates sign the demo adult in with openid-client, through the real forms.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { FormBrowser, expectPage, expectRedirect } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem, signInAndConsent, type Person, type PlatformRegistration } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

let provider: RunningProvider;
let dataDir: string;
let adult: Person;

beforeAll(async () => {
  dataDir = tempDataDir();
  provider = await startProvider(dataDir);
  adult = { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
});

afterAll(async () => {
  await provider?.stop();
  removeDataDir(dataDir);
});

// ---- helpers ----------------------------------------------------------------------------------------------

const adminResource = () => `${provider.url}/admin/v1`;

/** The local demo site that publishes the demo platforms' sector document (https, trusted by the provider). */
const demoSiteOrigin = () => (JSON.parse(provider.stdout().split('\n').find((line) => line.includes('"msg":"listening"'))!) as { demoSite: string }).demoSite;

/** Runs `cyberid … --json` in-process on the running server's data directory; its output is parsed. */
async function cli(args: string[]): Promise<unknown> {
  const run = await cyberid(dataDir, ...args, '--json');
  if (run.code !== 0) throw new Error(`cyberid ${args.join(' ')} exited with ${run.code}: ${run.err}`);
  return run.json();
}

/** Creates an operator client with the CLI and returns its secret (shown once). */
async function addOperator(id: string, scopes: string): Promise<string> {
  const { client_secret } = await cli(['clients', 'add', '--operator', '--id', id, '--name', `Operator ${id}`, '--scopes', scopes]) as { client_secret: string };
  return client_secret;
}

async function operatorConfig(id: string, secret: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(provider.url), id, undefined, oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
}

/** An access token from the client credentials grant, for the admin API unless `resource` says otherwise (null: none named). */
async function operatorToken(id: string, secret: string, scope: string, resource: string | null = adminResource()) {
  return oidc.clientCredentialsGrant(await operatorConfig(id, secret), { scope, ...(resource ? { resource } : {}) });
}

interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON. */
  json: Record<string, unknown> & { error?: string; error_description?: string };
}

/** A request to the admin API (`path` under /admin/v1) or to any provider URL; a string body is sent as is. */
async function call(method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<ApiResponse> {
  const url = path.startsWith('http') ? path : `${adminResource()}${path}`;
  const response = await fetch(url, {
    method,
    headers: {
      accept: 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  const json = response.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) as ApiResponse['json'] : {};
  return { status: response.status, headers: response.headers, text, json };
}

/** Signs the adult in at `platform` with openid-client (PKCE, S256) in a fresh browser; returns what is needed to redeem the code. */
async function signInAt(platform: PlatformRegistration, scope: string) {
  const config = await discover(provider.url, platform);
  const request = await authorizationRequest(config, platform, { scope });
  const callback = await signInAndConsent(new FormBrowser(provider.url), request.url, adult);
  return { config, request, callback };
}

/** A token request carrying `platform`'s credentials and an unknown code: invalid_grant means the client authenticated. */
async function tokenEndpointWith(platform: PlatformRegistration) {
  return oidc.genericGrantRequest(await discover(provider.url, platform), 'authorization_code', { code: 'not-a-real-code', redirect_uri: platform.redirectUri });
}

/**
 * The OAuth error a token endpoint request ends with. openid-client reports a 401 invalid_client (which carries a
 * WWW-Authenticate challenge) as a WWWAuthenticateChallengeError and other errors as a ResponseBodyError.
 */
async function tokenEndpointError(request: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await request;
  } catch (error) {
    if (error instanceof oidc.WWWAuthenticateChallengeError) {
      return { status: error.status, error: (await error.response.json() as { error: string }).error };
    }
    if (error instanceof oidc.ResponseBodyError) return { status: error.status, error: error.error };
    throw error;
  }
  throw new Error('the token endpoint accepted the request');
}

interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

async function auditOf(token: string, target: string): Promise<AuditEntry[]> {
  const response = await call('GET', `/audit?target=${encodeURIComponent(target)}&limit=50`, { token });
  expect(response.status).toBe(200);
  return response.json.entries as AuditEntry[];
}

// ---- the admin API ----------------------------------------------------------------------------------------

describe('the admin API refuses whoever may not use it', () => {
  let readerSecret: string;

  beforeAll(async () => {
    readerSecret = await addOperator('ops-reader', 'clients:read');
  });

  it('answers 401 invalid_token with a Bearer challenge when no token is sent', async () => {
    const response = await call('GET', '/clients');
    expect(response.status).toBe(401);
    expect(response.json.error).toBe('invalid_token');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
  });

  it('answers 401 to a malformed Authorization header and to a token it never issued', async () => {
    for (const authorization of ['Bearer', 'Basic b3BzOnNlY3JldA==', 'Bearer two words', 'bearer']) {
      const response = await fetch(`${adminResource()}/clients`, { headers: { authorization, accept: 'application/json' } });
      expect([authorization, response.status]).toEqual([authorization, 401]);
      expect((await response.json() as { error: string }).error).toBe('invalid_token');
    }
    const unknown = await call('GET', '/clients', { token: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(unknown.status).toBe(401);
    expect(unknown.json.error).toBe('invalid_token');
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer realm=".*", error="invalid_token"$/);
  });

  it('answers 401 to an operator token that was not issued for the admin API resource; another resource is invalid_target', async () => {
    await expect(operatorToken('ops-reader', readerSecret, 'clients:read', 'https://elsewhere.example/api')).rejects.toMatchObject({ error: 'invalid_target', status: 400 });
    const { access_token } = await operatorToken('ops-reader', readerSecret, 'clients:read', null);
    const response = await call('GET', '/clients', { token: access_token });
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ error: 'invalid_token', error_description: expect.stringContaining('/admin/v1') });
  });

  it('answers 401 to a platform\'s access token from a sign-in', async () => {
    const { config, request, callback } = await signInAt(PLATFORM_A, 'openid');
    const tokens = await redeem(config, request, callback);
    const response = await call('GET', '/clients', { token: tokens.access_token });
    expect(response.status).toBe(401);
    expect(response.json.error).toBe('invalid_token');
  });

  it('does not give a platform a token for the admin API: its client credentials grant is refused at the token endpoint', async () => {
    // oidc-provider refuses the grant type before it looks at the resource: a platform never holds client_credentials.
    const config = await discover(provider.url, PLATFORM_A);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'clients:read clients:write', resource: adminResource() })).rejects.toMatchObject({
      error: 'invalid_request',
      error_description: 'requested grant type is not allowed for this client',
      status: 400,
    });
  });

  it('answers 403 insufficient_scope to an operator token without the route\'s scope, and never grants a scope the operator does not hold', async () => {
    // Asked for more than it holds, the operator gets a token for what it holds: clients:read.
    const tokens = await operatorToken('ops-reader', readerSecret, 'clients:read clients:write audit:read keys:read');
    expect(tokens.scope).toBe('clients:read');
    expect((await call('GET', '/clients', { token: tokens.access_token })).status).toBe(200);

    const add = await call('POST', '/clients', { token: tokens.access_token, body: { client_id: 'never-added', client_name: 'Never', redirect_uris: ['http://localhost:4099/callback'], scope: 'openid' } });
    expect(add.status).toBe(403);
    expect(add.json).toEqual({ error: 'insufficient_scope', error_description: expect.stringContaining('clients:write') });
    expect(add.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="clients:write"');
    for (const [method, path] of [['GET', '/audit'], ['GET', '/keys'], ['POST', '/keys/rotate'], ['POST', '/initial-access-tokens'], ['POST', '/clients/platform-a/disable']] as const) {
      expect([method, path, (await call(method, path, { token: tokens.access_token })).status]).toEqual([method, path, 403]);
    }
    expect((await call('GET', '/clients/never-added', { token: tokens.access_token })).status).toBe(404);
  });

  it('never lets clients:write become more power: no operator client with scopes the caller lacks, no hands on a stronger one', async () => {
    const writerSecret = await addOperator('ops-writer', 'clients:read clients:write');
    const rootSecret = await addOperator('ops-root', 'clients:read clients:write keys:write audit:read');
    const { access_token } = await operatorToken('ops-writer', writerSecret, 'clients:read clients:write');
    const grant = await call('POST', '/clients', { token: access_token, body: { kind: 'operator', client_id: 'ops-sneaky', client_name: 'Sneaky', scopes: ['keys:write'] } });
    expect(grant.status).toBe(403);
    expect(grant.json.error_description).toContain('keys:write');
    expect((await call('POST', '/clients/ops-root/rotate-secret', { token: access_token })).status).toBe(403);
    expect((await call('POST', '/clients/ops-root/disable', { token: access_token })).status).toBe(403);
    expect((await call('PATCH', '/clients/ops-writer', { token: access_token, body: { scopes: ['clients:write', 'keys:write'] } })).status).toBe(403);
    // Within its own scopes it may.
    expect((await call('POST', '/clients', { token: access_token, body: { kind: 'operator', client_id: 'ops-helper', client_name: 'Helper', scopes: ['clients:read'] } })).status).toBe(201);
    expect((await operatorToken('ops-root', rootSecret, 'keys:write')).scope).toBe('keys:write');
  });

  it('stops accepting an operator\'s token once the operator client is disabled', async () => {
    const { access_token } = await operatorToken('ops-reader', readerSecret, 'clients:read');
    expect((await call('GET', '/clients', { token: access_token })).status).toBe(200);
    await cli(['clients', 'disable', 'ops-reader']);
    const response = await call('GET', '/clients', { token: access_token });
    expect(response.status).toBe(401);
    expect(response.json.error).toBe('invalid_token');
  });
});

describe('an operator manages a platform through the admin API', () => {
  const platform: PlatformRegistration = { clientId: 'admin-made', redirectUri: 'http://localhost:4010/callback' };
  let token: string;

  beforeAll(async () => {
    const secret = await addOperator('ops-1', 'clients:read clients:write audit:read');
    token = (await operatorToken('ops-1', secret, 'clients:read clients:write audit:read')).access_token;
  });

  it('adds a platform (201) and shows its secret once, never its hash', async () => {
    const added = await call('POST', '/clients', {
      token,
      body: {
        client_id: platform.clientId,
        client_name: 'Made by an operator',
        redirect_uris: [platform.redirectUri],
        scope: 'openid verified age',
        cyberid_policy: { required_claims: ['identity_verified'], minimum_acr: 'cyberid:loa1' },
      },
    });
    expect(added.status).toBe(201);
    expect(added.json.client).toMatchObject({ client_id: platform.clientId, kind: 'platform', status: 'active', has_secret: true });
    expect(added.json.client_secret).toEqual(expect.any(String));
    platform.clientSecret = added.json.client_secret as string;

    const shown = await call('GET', `/clients/${platform.clientId}`, { token });
    expect(shown.status).toBe(200);
    expect(shown.json.metadata).not.toHaveProperty('client_secret');
    expect(shown.text).not.toContain(platform.clientSecret);
    expect(shown.text).not.toContain('cyberid-sha256$');

    const listed = await call('GET', '/clients', { token });
    const ids = (listed.json.clients as { client_id: string }[]).map((client) => client.client_id);
    expect(ids).toEqual(expect.arrayContaining(['platform-a', 'ops-1', platform.clientId]));
    expect(ids).not.toContain('cyberid-account'); // Cyber ID's own portal is not operated through the API
  });

  it('the new platform signs the demo adult in with openid-client, at the level its policy asks for', async () => {
    const { config, request, callback } = await signInAt(platform, 'openid verified');
    const tokens = await redeem(config, request, callback);
    const sub = tokens.claims()!.sub;
    expect(parseNetworkNumber(sub)).toBe(sub);
    expect(tokens.claims()!.acr).toBe('cyberid:loa1');
    expect(await oidc.fetchUserInfo(config, tokens.access_token, sub)).toMatchObject({ sub, identity_verified: true });
  });

  it('PATCH changes the policy field by field: a higher minimum_acr makes the next sign-in ask for the SMS code', async () => {
    const patched = await call('PATCH', `/clients/${platform.clientId}`, { token, body: { cyberid_policy: { minimum_acr: 'cyberid:loa2' } } });
    expect(patched.status).toBe(200);
    const metadata = (patched.json.client as { metadata: Record<string, unknown> }).metadata;
    expect(metadata.cyberid_policy).toMatchObject({ minimum_acr: 'cyberid:loa2', required_claims: ['identity_verified'] });

    const codeBefore = lastCodeSentTo(dataDir, provider.adult.phone);
    const { config, request, callback } = await signInAt(platform, 'openid verified');
    expect(lastCodeSentTo(dataDir, provider.adult.phone)).not.toBe(codeBefore); // a code was sent and entered
    expect((await redeem(config, request, callback)).claims()!.acr).toBe('cyberid:loa2');
  });

  it('a disabled platform can neither sign anyone in nor use its secret at the token endpoint (invalid_client); enabling it restores both', async () => {
    const { config, request, callback } = await signInAt(platform, 'openid');

    const disabled = await call('POST', `/clients/${platform.clientId}/disable`, { token });
    expect(disabled.status).toBe(200);
    expect(disabled.json.status).toBe('disabled');
    expect(await tokenEndpointError(redeem(config, request, callback))).toEqual({ status: 401, error: 'invalid_client' });
    // A new sign-in stops at the provider's error page: the platform is unknown, so nothing is sent back to it.
    const attempt = await new FormBrowser(provider.url).open((await authorizationRequest(config, platform, { scope: 'openid' })).url);
    expect(expectPage(attempt).status).toBe(400);

    const enabled = await call('POST', `/clients/${platform.clientId}/enable`, { token });
    expect(enabled.status).toBe(200);
    expect(enabled.json.status).toBe('active');
    // The code issued before the platform was disabled is redeemed with the same secret.
    expect((await redeem(config, request, callback)).claims()!.sub).toEqual(expect.any(String));
  });

  it('after rotate-secret the old secret is refused (invalid_client) and the new one works', async () => {
    const oldSecret = platform.clientSecret!;
    const rotated = await call('POST', `/clients/${platform.clientId}/rotate-secret`, { token });
    expect(rotated.status).toBe(200);
    const newSecret = rotated.json.client_secret as string;
    expect(newSecret).toEqual(expect.any(String));
    expect(newSecret).not.toBe(oldSecret);

    platform.clientSecret = newSecret;
    const { request, callback } = await signInAt(platform, 'openid');
    const withOld = await discover(provider.url, { ...platform, clientSecret: oldSecret });
    expect(await tokenEndpointError(redeem(withOld, request, callback))).toEqual({ status: 401, error: 'invalid_client' });
    const withNew = await discover(provider.url, platform);
    expect((await redeem(withNew, request, callback)).claims()!.sub).toEqual(expect.any(String));
  });

  it('the audit log names the operator as the actor of every change, and no secret', async () => {
    const entries = await auditOf(token, platform.clientId);
    expect(entries.map((entry) => [entry.action, entry.actor])).toEqual([
      ['client.rotate-secret', 'operator:ops-1'],
      ['client.enable', 'operator:ops-1'],
      ['client.disable', 'operator:ops-1'],
      ['client.update', 'operator:ops-1'],
      ['client.add', 'operator:ops-1'],
    ]);
    expect(entries.find((entry) => entry.action === 'client.update')!.detail).toEqual({ fields: ['cyberid_policy'] });
    expect(JSON.stringify(entries)).not.toContain(platform.clientSecret);
  });
});

describe('the admin API answers bad requests with JSON errors', () => {
  let token: string;

  beforeAll(async () => {
    const secret = await addOperator('ops-2', 'clients:read clients:write');
    token = (await operatorToken('ops-2', secret, 'clients:read clients:write')).access_token;
  });

  it('a bad redirect URI is a 400 invalid_client_metadata naming redirect_uris, and nothing is stored', async () => {
    const response = await call('POST', '/clients', { token, body: { client_id: 'bad-redirect', client_name: 'Bad', redirect_uris: ['not a url'], scope: 'openid' } });
    expect(response.status).toBe(400);
    expect(response.json.error).toBe('invalid_client_metadata');
    expect(response.json.error_description).toContain('redirect_uris');
    expect((await call('GET', '/clients/bad-redirect', { token })).status).toBe(404);
  });

  it('a bad policy value in a PATCH is a 400 naming the field, and the platform is unchanged', async () => {
    const response = await call('PATCH', '/clients/platform-a', { token, body: { cyberid_policy: { minimum_acr: 'cyberid:loa9' } } });
    expect(response.status).toBe(400);
    expect(response.json.error).toBe('invalid_client_metadata');
    expect(response.json.error_description).toContain('minimum_acr');
    const shown = await call('GET', '/clients/platform-a', { token });
    expect((shown.json.metadata as { cyberid_policy: { minimum_acr: string } }).cyberid_policy.minimum_acr).toBe('cyberid:loa1');
  });

  it('malformed or non-object JSON bodies are a 400 in JSON, never a 5xx or a stack trace', async () => {
    const bodies = ['{"client_id":', '{bad json}', '[]', '"text"', 'null', '42'];
    for (const [method, path] of [['POST', '/clients'], ['PATCH', '/clients/platform-a'], ['POST', '/initial-access-tokens']] as const) {
      for (const body of bodies) {
        const response = await call(method, path, { token, body });
        expect([method, path, body, response.status]).toEqual([method, path, body, 400]);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        expect(response.json.error).toMatch(/^(invalid_request|invalid_client_metadata)$/);
        expect(response.text).not.toMatch(/\.ts:\d+|node_modules|\n\s+at /);
      }
    }
  });

  it('an unknown client is a 404 not_found, an existing id a 409 conflict, the portal\'s id a 400', async () => {
    const unknown = await call('PATCH', '/clients/nobody-here', { token, body: { client_name: 'x' } });
    expect([unknown.status, unknown.json.error]).toEqual([404, 'not_found']);
    const existing = await call('POST', '/clients', { token, body: { client_id: 'platform-a', client_name: 'Again', redirect_uris: ['http://localhost:4001/callback'], scope: 'openid' } });
    expect([existing.status, existing.json.error]).toEqual([409, 'conflict']);
    const portal = await call('POST', '/clients', { token, body: { client_id: 'cyberid-account', client_name: 'Mine', redirect_uris: ['http://localhost:4098/callback'], scope: 'openid' } });
    expect([portal.status, portal.json.error]).toEqual([400, 'invalid_client_metadata']);
    expect(portal.json.error_description).toContain('client_id');
    expect((await call('GET', '/clients/cyberid-account', { token })).status).toBe(404);
  });

  it('an unknown path under /admin/v1 is a 404 not_found in JSON', async () => {
    const response = await call('GET', '/no-such-thing', { token });
    expect(response.status).toBe(404);
    expect(response.json.error).toBe('not_found');
  });
});

// ---- dynamic client registration --------------------------------------------------------------------------

interface Registration {
  client_id: string;
  client_secret: string;
  registration_access_token: string;
  registration_client_uri: string;
  [field: string]: unknown;
}

describe('dynamic client registration (RFC 7591) behind initial access tokens', () => {
  let token: string;
  let initialAccessToken: string;
  let registered: Registration;
  let dynamic: PlatformRegistration;

  const register = (metadata: Record<string, unknown>, bearer: string = initialAccessToken) => call('POST', `${provider.url}/reg`, { body: metadata, token: bearer });
  const newInitialAccessToken = async () => (await call('POST', '/initial-access-tokens', { token, body: { expires_in_seconds: 3600 } })).json.initial_access_token as string;

  beforeAll(async () => {
    const secret = await addOperator('ops-3', 'clients:read clients:write audit:read');
    token = (await operatorToken('ops-3', secret, 'clients:read clients:write audit:read')).access_token;
  });

  it('an operator gets an initial access token from the admin API, for the advertised registration endpoint', async () => {
    const tooShort = await call('POST', '/initial-access-tokens', { token, body: { expires_in_seconds: 5 } });
    expect(tooShort.status).toBe(400);
    expect(tooShort.json.error_description).toContain('expires_in_seconds');

    const issued = await call('POST', '/initial-access-tokens', { token, body: { expires_in_seconds: 3600 } });
    expect(issued.status).toBe(201);
    const discovery = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as { registration_endpoint: string };
    expect(issued.json).toEqual({ initial_access_token: expect.any(String), expires_at: expect.any(Number), registration_endpoint: discovery.registration_endpoint });
    initialAccessToken = issued.json.initial_access_token as string;
  });

  it('refuses a registration without an initial access token, with an unknown one, or with an admin API token (401 invalid_token)', async () => {
    const metadata = { client_name: 'Uninvited', redirect_uris: ['http://localhost:4021/callback'] };
    for (const bearer of [undefined, 'not-an-initial-access-token', token]) {
      const response = await call('POST', `${provider.url}/reg`, { body: metadata, ...(bearer ? { token: bearer } : {}) });
      expect(response.status).toBe(401);
      expect(response.json.error).toBe('invalid_token');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
  });

  it('refuses scopes beyond openid verified age offline_access (400 invalid_client_metadata)', async () => {
    for (const scope of ['openid profile', 'openid id_document', 'openid verified phone']) {
      const response = await register({ client_name: 'Greedy', redirect_uris: ['http://localhost:4022/callback'], scope });
      expect([scope, response.status, response.json.error]).toEqual([scope, 400, 'invalid_client_metadata']);
    }
  });

  it('lets a platform register for offline_access, with the refresh token grant it needs (its own token)', async () => {
    const response = await register({ client_name: 'Offline reader', redirect_uris: ['http://localhost:4024/callback'], scope: 'openid verified offline_access' }, await newInitialAccessToken());
    expect(response.status).toBe(201);
    expect(response.json).toMatchObject({ scope: 'openid verified offline_access', grant_types: ['authorization_code', 'refresh_token'] });
  });

  it('refuses cyberid_policy, cyberid_operator and grant types other than the code flow\'s', async () => {
    const base = { client_name: 'Presumptuous', redirect_uris: ['http://localhost:4023/callback'] };
    const policy = await register({ ...base, cyberid_policy: { minimum_acr: 'cyberid:loa1' } });
    expect([policy.status, policy.json.error]).toEqual([400, 'invalid_client_metadata']);
    expect(policy.json.error_description).toContain('cyberid_policy');
    const operator = await register({ ...base, cyberid_operator: { scopes: ['clients:write'] } });
    expect([operator.status, operator.json.error]).toEqual([400, 'invalid_client_metadata']);
    expect(operator.json.error_description).toContain('cyberid_operator');
    const credentials = await register({ ...base, grant_types: ['authorization_code', 'client_credentials'] });
    expect([credentials.status, credentials.json.error]).toEqual([400, 'invalid_client_metadata']);
    expect(credentials.json.error_description).toContain('client_credentials');
  });

  it('registers a client with pairwise subjects although it asked for public (the refused requests left the token usable); its secret is shown once', async () => {
    const response = await register({ client_name: 'Self-registered', redirect_uris: ['http://localhost:4020/callback'], subject_type: 'public', scope: 'openid verified age' });
    expect(response.status).toBe(201);
    registered = response.json as unknown as Registration;
    expect(registered).toMatchObject({
      subject_type: 'pairwise',
      scope: 'openid verified age',
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret: expect.any(String),
      registration_access_token: expect.any(String),
      registration_client_uri: `${provider.url}/reg/${registered.client_id}`,
    });
    expect(registered.client_secret).not.toContain('cyberid-sha256$');
    dynamic = { clientId: registered.client_id, clientSecret: registered.client_secret, redirectUri: 'http://localhost:4020/callback' };
  });

  it('an initial access token serves one registration: after a success it is refused (401 invalid_token)', async () => {
    const again = await register({ client_name: 'Second', redirect_uris: ['http://localhost:4024/callback'] });
    expect([again.status, again.json.error]).toEqual([401, 'invalid_token']);

    // A new token registers the second client; naming no scope, it gets openid alone.
    const second = await register({ client_name: 'Second', redirect_uris: ['http://localhost:4024/callback'] }, await newInitialAccessToken());
    expect(second.status).toBe(201);
    expect(second.json).toMatchObject({ scope: 'openid', subject_type: 'pairwise' });
  });

  it('registrations sent at the same time with one initial access token register one client only', async () => {
    const sectorDocument = `${demoSiteOrigin()}/sectors/platform-a.json`;
    const shared = await newInitialAccessToken();
    const racers = Array.from({ length: 8 }, (_, n) => n + 1);
    // One open connection per request, so that they all reach the provider together.
    await Promise.all(racers.map(() => fetch(`${provider.url}/healthz`).then((response) => response.text())));
    const responses = await Promise.all(racers.map((n) => register({
      client_name: `Racer ${n}`, redirect_uris: ['http://localhost:4001/callback'], sector_identifier_uri: sectorDocument,
    }, shared)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 401)).toHaveLength(racers.length - 1);
  });

  it('the registered client signs the adult in with openid-client and PKCE; its sub differs from platform A\'s', async () => {
    const { config, request, callback } = await signInAt(dynamic, 'openid verified');
    const tokens = await redeem(config, request, callback);
    const sub = tokens.claims()!.sub;
    expect(tokens.claims()!.acr).toBe('cyberid:loa2'); // no operator policy: two factors, the default

    const atA = await signInAt(PLATFORM_A, 'openid');
    const subAtA = (await redeem(atA.config, atA.request, atA.callback)).claims()!.sub;
    expect(parseNetworkNumber(sub)).toBe(sub);
    expect(sub).not.toBe(subAtA);
  });

  it('an authorization request from it without code_challenge is sent back with invalid_request (PKCE required)', async () => {
    const config = await discover(provider.url, dynamic);
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: dynamic.redirectUri, scope: 'openid', state: 'no-pkce', nonce: oidc.randomNonce() });
    const callback = expectRedirect(await new FormBrowser(provider.url).open(url));
    expect(callback.origin + callback.pathname).toBe(dynamic.redirectUri);
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(callback.searchParams.get('state')).toBe('no-pkce');
    expect(callback.searchParams.has('code')).toBe(false);
  });
});

describe('managing a registration (RFC 7592)', () => {
  let token: string;
  let registered: Registration;
  let dynamic: PlatformRegistration;
  const redirectUri = 'http://localhost:4030/callback';

  const manage = (method: string, accessToken: string, body?: unknown) => call(method, registered.registration_client_uri, { token: accessToken, ...(body ? { body } : {}) });

  beforeAll(async () => {
    const secret = await addOperator('ops-4', 'clients:write audit:read');
    token = (await operatorToken('ops-4', secret, 'clients:write audit:read')).access_token;
    const iat = (await call('POST', '/initial-access-tokens', { token, body: {} })).json.initial_access_token as string;
    const response = await call('POST', `${provider.url}/reg`, { token: iat, body: { client_name: 'Managed', redirect_uris: [redirectUri], scope: 'openid verified' } });
    expect(response.status).toBe(201);
    registered = response.json as unknown as Registration;
    dynamic = { clientId: registered.client_id, clientSecret: registered.client_secret, redirectUri };
  });

  it('a read returns the metadata without the client secret or its hash', async () => {
    const read = await manage('GET', registered.registration_access_token);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ client_id: registered.client_id, client_name: 'Managed', subject_type: 'pairwise' });
    expect(read.json).not.toHaveProperty('client_secret');
    expect(read.json).not.toHaveProperty('client_secret_expires_at');
    expect(read.text).not.toContain(registered.client_secret);
    expect(read.text).not.toContain('cyberid-sha256$');
  });

  it('an update still passes the registration policy: a wider scope or an operator marker is refused', async () => {
    const base = { client_id: registered.client_id, client_name: 'Managed', redirect_uris: [redirectUri] };
    const wider = await manage('PUT', registered.registration_access_token, { ...base, scope: 'openid profile' });
    expect([wider.status, wider.json.error]).toEqual([400, 'invalid_client_metadata']);
    const operator = await manage('PUT', registered.registration_access_token, { ...base, scope: 'openid', cyberid_operator: { scopes: ['keys:write'] } });
    expect([operator.status, operator.json.error]).toEqual([400, 'invalid_client_metadata']);
    // Refused updates leave the registration access token as it was.
    expect((await manage('GET', registered.registration_access_token)).json.scope).toBe('openid verified');
  });

  it('an update that includes the client\'s current secret is accepted (RFC 7592 §2.2)', async () => {
    const response = await manage('PUT', registered.registration_access_token, {
      client_id: registered.client_id, client_secret: registered.client_secret, client_name: 'Managed', redirect_uris: [redirectUri], scope: 'openid verified',
    });
    expect(response.json.error_description).toBeUndefined();
    expect(response.status).toBe(200);
    if (response.status === 200) registered.registration_access_token = response.json.registration_access_token as string;
  });

  it('an update that sends back what the read returned, with a new client_name, is accepted (RFC 7592 §2.2)', async () => {
    const read = await manage('GET', registered.registration_access_token);
    const { registration_access_token: _rat, registration_client_uri: _uri, client_secret_expires_at: _exp, client_id_issued_at: _iat, ...metadata } = read.json;
    const response = await manage('PUT', registered.registration_access_token, { ...metadata, client_name: 'Round trip' });
    expect(response.json.error_description).toBeUndefined();
    expect(response.status).toBe(200);
    if (response.status === 200) registered.registration_access_token = response.json.registration_access_token as string;
  });

  it('an update changes client_name and rotates the registration access token; the old one is then refused, the secret still works', async () => {
    const oldToken = registered.registration_access_token;
    const updated = await manage('PUT', oldToken, { client_id: registered.client_id, client_name: 'Renamed', redirect_uris: [redirectUri], scope: 'openid verified' });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ client_name: 'Renamed', subject_type: 'pairwise' });
    expect(updated.json).not.toHaveProperty('client_secret');
    const newToken = updated.json.registration_access_token as string;
    expect(newToken).toEqual(expect.any(String));
    expect(newToken).not.toBe(oldToken);

    const withOld = await manage('GET', oldToken);
    expect([withOld.status, withOld.json.error]).toEqual([401, 'invalid_token']);
    const withNew = await manage('GET', newToken);
    expect([withNew.status, withNew.json.client_name]).toEqual([200, 'Renamed']);
    registered.registration_access_token = newToken;
    // The client still authenticates with the secret it was given at registration.
    expect(await tokenEndpointError(tokenEndpointWith(dynamic))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a delete removes the client: its secret no longer works at the token endpoint and operators no longer see it', async () => {
    const deleted = await manage('DELETE', registered.registration_access_token);
    expect(deleted.status).toBe(204);
    expect(await tokenEndpointError(tokenEndpointWith(dynamic))).toEqual({ status: 401, error: 'invalid_client' });
    expect((await manage('GET', registered.registration_access_token)).status).toBe(401);
    const secret = await addOperator('ops-5', 'clients:read');
    const reader = (await operatorToken('ops-5', secret, 'clients:read')).access_token;
    expect((await call('GET', `/clients/${registered.client_id}`, { token: reader })).status).toBe(404);
  });

  it('the audit log shows the registration with the initial access token that allowed it, its updates and its deletion', async () => {
    const entries = await auditOf(token, registered.client_id);
    const actor = `registration:${registered.client_id}`;
    expect(entries.map((entry) => entry.action)).toEqual(expect.arrayContaining(['client.register', 'client.register-update', 'client.register-delete']));
    expect(entries.map((entry) => entry.action).at(-1)).toBe('client.register');
    expect(entries.map((entry) => entry.action)[0]).toBe('client.register-delete');
    for (const entry of entries) expect(entry.actor).toBe(actor);

    // The registration names the initial access token by a short hash, the one under which the operator issued it.
    const registration = entries.find((entry) => entry.action === 'client.register')!;
    expect(registration.detail).toEqual({ initialAccessToken: expect.stringMatching(/^iat-/) });
    const issue = await auditOf(token, registration.detail.initialAccessToken as string);
    expect(issue.map((entry) => [entry.action, entry.actor])).toEqual([['registration-token.issue', 'operator:ops-4']]);
  });
});
