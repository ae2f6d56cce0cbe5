// The token side of a platform's life, over HTTP against the real server with openid-client as the platform:
// refresh-token rotation and reuse detection; introspection and revocation (client authentication, one platform
// kept from another's tokens); RP-initiated logout with back-channel logout to every platform of the session;
// the security headers and cookies of the pages, in development and behind a TLS-terminating proxy in
// production; and a new session id at every sign-in.
// (test/portal.test.ts covers back-channel logout from the portal: revoking a platform, "this wasn't me", deletion.)
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { startBackChannelReceiver, type BackChannelReceiver } from './support/back-channel.ts';
import { expectPage, expectRedirect, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, type Person, type PlatformRegistration } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';
import { keepSuiteLog } from './support/suite-log.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Every claim that says something about the person (DESIGN §3); none may appear in an introspection answer. */
const PERSONAL_CLAIMS = ['identity_verified', 'identity_verified_at', 'document_type', 'age_over_14', 'age_over_18', 'name', 'birthdate', 'gender', 'phone_number', 'phone_number_verified', 'id_document_number'];
const A_LOGGED_OUT = 'http://localhost:4001/'; // platform A's registered post_logout_redirect_uri

let provider: RunningProvider;
let receiverA: BackChannelReceiver;
let receiverB: BackChannelReceiver;
let adult: Person;

beforeAll(async () => {
  receiverA = await startBackChannelReceiver();
  receiverB = await startBackChannelReceiver();
  const dataDir = tempDataDir();
  // The demo platforms, with A and B told of sign-outs by back-channel, each with the session id (sid).
  const clients = JSON.parse(readFileSync(path.join(ROOT, 'clients.example.json'), 'utf8')) as { clients: Record<string, unknown>[] };
  for (const client of clients.clients) {
    const receiver = { 'platform-a': receiverA, 'platform-b': receiverB }[client.client_id as string];
    if (receiver) Object.assign(client, { backchannel_logout_uri: receiver.url, backchannel_logout_session_required: true });
  }
  const clientsFile = path.join(dataDir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify(clients));
  provider = await startProvider(dataDir, { CYBERID_CLIENTS_FILE: clientsFile });
  adult = { identifier: provider.adult.phone, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
}, 60_000);

afterAll(async () => {
  await provider?.stop();
  await receiverA?.close();
  await receiverB?.close();
  if (provider) removeDataDir(provider.dataDir);
});

/** A platform's whole flow in `browser`: authorize, sign in and consent as far as the pages ask, redeem. */
async function connect(browser: FormBrowser, platform: PlatformRegistration, params: Record<string, string>, consent: Record<string, string | string[]> = {}) {
  const config = await discover(provider.url, platform);
  const request = await authorizationRequest(config, platform, params);
  const tokens = await redeem(config, request, await continueToPlatform(browser, await browser.open(request.url), adult, consent));
  return { config, tokens, sub: tokens.claims()!.sub };
}

/** B's required restricted claim must be ticked explicitly on its consent page. */
const B_CONSENT = { claims: ['identity_verified', 'id_document_number'] };

/** A platform configuration for `platform` that authenticates with `auth` (wrong or none) instead of its secret. */
async function configWith(platform: PlatformRegistration, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(provider.url), platform.clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

/** What openid-client reports for a refused call: HTTP status and OAuth error code. */
async function refusal(call: Promise<unknown>): Promise<{ status: unknown; error: unknown }> {
  try {
    await call;
  } catch (error) {
    const { status, error: code, cause, response } = error as { status?: number; error?: string; cause?: unknown; response?: Response };
    if (code) return { status, error: code };
    // A 401 with WWW-Authenticate: openid-client reports the challenge; the OAuth error is in it or in the body.
    const challenged = Array.isArray(cause) ? (cause as { parameters?: { error?: string } }[])[0]?.parameters?.error : undefined;
    const body = response && !response.bodyUsed ? await response.json().catch(() => undefined) as { error?: string } | undefined : undefined;
    return { status, error: challenged ?? body?.error };
  }
  throw new Error('the call was expected to be refused, and it succeeded');
}

const introspect = async (config: oidc.Configuration, token: string) => oidc.tokenIntrospection(config, token);

describe('refresh-token rotation with reuse detection', () => {
  it('rotates on refresh; presenting the old refresh token again is invalid_grant and revokes the whole grant', async () => {
    const a = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    expect(a.tokens.scope?.split(' ').sort()).toEqual(['offline_access', 'openid', 'verified']);
    const firstRefresh = a.tokens.refresh_token!;
    expect(firstRefresh).toEqual(expect.any(String));

    const rotated = await oidc.refreshTokenGrant(a.config, firstRefresh);
    const secondRefresh = rotated.refresh_token!;
    expect(secondRefresh).toEqual(expect.any(String));
    expect(secondRefresh).not.toBe(firstRefresh);
    expect(rotated.access_token).not.toBe(a.tokens.access_token);
    // Before the replay everything issued under the grant works (so what follows is the replay's doing).
    const accessTokens = [a.tokens.access_token, rotated.access_token];
    for (const token of accessTokens) expect((await oidc.fetchUserInfo(a.config, token, a.sub)).sub).toBe(a.sub);
    expect((await introspect(a.config, secondRefresh)).active).toBe(true);

    // The replay: the rotated-out refresh token is presented again.
    expect(await refusal(oidc.refreshTokenGrant(a.config, firstRefresh))).toEqual({ status: 400, error: 'invalid_grant' });

    // The whole grant is gone: the newest refresh token and every access token of the grant.
    expect(await refusal(oidc.refreshTokenGrant(a.config, secondRefresh))).toEqual({ status: 400, error: 'invalid_grant' });
    for (const token of accessTokens) {
      expect(await refusal(oidc.fetchUserInfo(a.config, token, a.sub))).toEqual({ status: 401, error: 'invalid_token' });
      expect(await introspect(a.config, token)).toEqual({ active: false });
    }
    expect(await introspect(a.config, secondRefresh)).toEqual({ active: false });
  });
});

describe('introspection and revocation', () => {
  it('refuse a caller without client authentication or with a wrong secret: 401 invalid_client, and the token is untouched', async () => {
    const a = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified' });
    const anonymous = await configWith(PLATFORM_A, oidc.None());
    const wrongSecret = await configWith(PLATFORM_A, oidc.ClientSecretBasic('platform-a-development-secret-but-wrong'));
    for (const config of [anonymous, wrongSecret]) {
      expect(await refusal(oidc.tokenIntrospection(config, a.tokens.access_token))).toEqual({ status: 401, error: 'invalid_client' });
      expect(await refusal(oidc.tokenRevocation(config, a.tokens.access_token))).toEqual({ status: 401, error: 'invalid_client' });
    }
    // The same calls with the right secret (the control): the token was not revoked by the refused ones.
    expect((await introspect(a.config, a.tokens.access_token)).active).toBe(true);
    expect((await oidc.fetchUserInfo(a.config, a.tokens.access_token, a.sub)).sub).toBe(a.sub);
  });

  it('show an active access token\'s client_id, pairwise sub, scope, exp and token_type, and no personal claims', async () => {
    const a = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified age profile' });
    const answer = await introspect(a.config, a.tokens.access_token);
    expect(answer).toEqual({
      active: true,
      client_id: PLATFORM_A.clientId,
      sub: a.sub,
      scope: a.tokens.scope,
      token_type: 'Bearer',
      exp: expect.any(Number),
      iat: expect.any(Number),
      iss: provider.url,
      acr: 'cyberid:loa1',
      sid: a.tokens.claims()!.sid, // A registered backchannel_logout_session_required
    });
    expect(answer.exp! - answer.iat!).toBe(600); // 10 minutes
    expect(a.tokens.scope?.split(' ').sort()).toEqual(['age', 'openid', 'profile', 'verified']);
    // sub is A's platform network number (the ID token's), never the personal one.
    expect(parseNetworkNumber(answer.sub!)).toBe(answer.sub);
    expect(answer.sub).not.toBe(parseNetworkNumber(provider.adult.networkNumber));
    for (const claim of PERSONAL_CLAIMS) expect(answer).not.toHaveProperty(claim);
    // Although userinfo has the personal claims for this very token.
    expect(await oidc.fetchUserInfo(a.config, a.tokens.access_token, a.sub)).toMatchObject({ name: '李明', age_over_18: true });
  });

  it('keep platforms apart: B introspecting A\'s token learns nothing, and B revoking A\'s tokens leaves them working', async () => {
    const a = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    const configB = await discover(provider.url, PLATFORM_B);
    expect(await introspect(configB, a.tokens.access_token)).toEqual({ active: false });
    expect(await introspect(configB, a.tokens.refresh_token!)).toEqual({ active: false });
    await oidc.tokenRevocation(configB, a.tokens.access_token); // 200, as RFC 7009 asks, and a no-op
    await oidc.tokenRevocation(configB, a.tokens.refresh_token!);

    expect((await introspect(a.config, a.tokens.access_token)).active).toBe(true);
    expect((await oidc.fetchUserInfo(a.config, a.tokens.access_token, a.sub)).sub).toBe(a.sub);
    const refreshed = await oidc.refreshTokenGrant(a.config, a.tokens.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
  });

  it('revoke a platform\'s own access token, or its refresh token: each revokes the grant, as docs/integrate.md says', async () => {
    // The access token.
    const first = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    expect((await oidc.fetchUserInfo(first.config, first.tokens.access_token, first.sub)).sub).toBe(first.sub);
    await oidc.tokenRevocation(first.config, first.tokens.access_token);
    expect(await refusal(oidc.fetchUserInfo(first.config, first.tokens.access_token, first.sub))).toEqual({ status: 401, error: 'invalid_token' });
    expect(await introspect(first.config, first.tokens.access_token)).toEqual({ active: false });
    expect(await refusal(oidc.refreshTokenGrant(first.config, first.tokens.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });

    // The refresh token.
    const second = await connect(new FormBrowser(provider.url), PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    expect((await introspect(second.config, second.tokens.refresh_token!)).active).toBe(true);
    await oidc.tokenRevocation(second.config, second.tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(await introspect(second.config, second.tokens.refresh_token!)).toEqual({ active: false });
    expect(await refusal(oidc.refreshTokenGrant(second.config, second.tokens.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await refusal(oidc.fetchUserInfo(second.config, second.tokens.access_token, second.sub))).toEqual({ status: 401, error: 'invalid_token' });
  });
});

describe('RP-initiated logout', () => {
  it('confirms, returns to A with its state, tells A and B by back-channel, and ends the browser session', async () => {
    const browser = new FormBrowser(provider.url);
    const a = await connect(browser, PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    const b = await connect(browser, PLATFORM_B, { scope: 'openid verified id_document' }, B_CONSENT); // same session, stepped up to loa2
    const sidA = a.tokens.claims()!.sid as string;
    const sidB = b.tokens.claims()!.sid as string;
    expect([typeof sidA, typeof sidB]).toEqual(['string', 'string']); // backchannel_logout_session_required
    expect(await browser.cookieNames(provider.url)).toContain('_session');
    const before = { a: receiverA.tokens.length, b: receiverB.tokens.length };

    const state = oidc.randomState();
    const endSession = oidc.buildEndSessionUrl(a.config, { id_token_hint: a.tokens.id_token!, post_logout_redirect_uri: A_LOGGED_OUT, state });
    const confirm = expectPage(await browser.open(endSession));
    expect(confirm.status).toBe(200);
    expect(receiverA.tokens.length - before.a).toBe(0); // nothing happens before the person confirms
    // The person presses the sign-out button (it submits the page's form with logout=yes).
    const button = confirm.doc.querySelector('button[form="op.logoutForm"][name][value]')!;
    expect(button.text.trim()).toMatch(/sign.*out/i);
    const back = expectRedirect(await browser.submit(confirm, '/session/end/confirm', { [button.getAttribute('name')!]: button.getAttribute('value')! }));
    expect(back.origin + back.pathname).toBe(A_LOGGED_OUT);
    expect(Object.fromEntries(back.searchParams)).toEqual({ state });

    // One logout token each, verified as a platform must, naming that platform's sub and sid.
    const jwks = (await (await fetch(`${provider.url}/jwks`)).json()) as { keys: { kid: string; alg: string }[] };
    for (const [receiver, clientId, from, sub, sid] of [[receiverA, 'platform-a', before.a, a.sub, sidA], [receiverB, 'platform-b', before.b, b.sub, sidB]] as const) {
      expect(receiver.tokens.length - from).toBe(1);
      const [payload] = await receiver.verified(provider.url, clientId, from); // signature, iss, aud, typ logout+jwt, events, no nonce
      expect(payload).toEqual({
        iss: provider.url, aud: clientId, sub, sid, events: { [LOGOUT_EVENT]: {} }, jti: expect.any(String), iat: expect.any(Number), exp: expect.any(Number),
      });
      expect(payload!.exp! - payload!.iat!).toBe(120);
      const header = decodeProtectedHeader(receiver.tokens[from]!);
      expect(header).toEqual({ alg: 'ES256', typ: 'logout+jwt', kid: expect.any(String) });
      expect(jwks.keys.find((key) => key.kid === header.kid)?.alg).toBe('ES256');
    }

    // The session is over: the cookie is gone, and the next authorization asks for the password again.
    expect(await browser.cookieNames(provider.url)).not.toContain('_session');
    const next = await authorizationRequest(a.config, PLATFORM_A, { scope: 'openid verified' });
    const login = expectPage(await browser.open(next.url));
    expect(login.doc.querySelector('form[action$="/login"] input[name=password]')).not.toBeNull();

    // Tokens, as oidc-provider's end_session does (server/provider.ts configures nothing else): the grant of a
    // platform granted offline_access outlives the sign-out (A's refresh and access tokens keep working), the
    // session's other grants are revoked (B's access token is dead).
    expect(await introspect(b.config, b.tokens.access_token)).toEqual({ active: false });
    expect(await refusal(oidc.fetchUserInfo(b.config, b.tokens.access_token, b.sub))).toEqual({ status: 401, error: 'invalid_token' });
    expect((await introspect(a.config, a.tokens.access_token)).active).toBe(true);
    const refreshed = await oidc.refreshTokenGrant(a.config, a.tokens.refresh_token!);
    expect((await oidc.fetchUserInfo(a.config, refreshed.access_token, a.sub)).sub).toBe(a.sub);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Headers and cookies

interface SetCookie { url: string; name: string; value: string; attributes: Map<string, string> }

/**
 * Every answer from `origin` while `run` runs (each hop of FormBrowser's walks, and openid-client's calls), with the
 * cookies each set; `rewrite` stands in for a reverse proxy in front of the provider.
 */
async function recordingResponses<T>(origin: string, run: () => Promise<T>, rewrite?: (input: URL, init: RequestInit) => [URL, RequestInit]): Promise<{ result: T; cookies: SetCookie[]; responses: { url: string; status: number; headers: Headers }[] }> {
  const realFetch = globalThis.fetch;
  const cookies: SetCookie[] = [];
  const responses: { url: string; status: number; headers: Headers }[] = [];
  globalThis.fetch = async (input: string | URL | Request, init: RequestInit = {}) => {
    let url = new URL(input instanceof Request ? input.url : input);
    const asked = url.href;
    if (url.origin !== origin) return realFetch(input, init);
    if (rewrite) [url, init] = rewrite(url, init);
    const response = await realFetch(url, init);
    responses.push({ url: asked, status: response.status, headers: response.headers });
    for (const header of response.headers.getSetCookie()) cookies.push({ url: asked, ...parseSetCookie(header) });
    return response;
  };
  try {
    return { result: await run(), cookies, responses };
  } finally {
    globalThis.fetch = realFetch;
  }
}

function parseSetCookie(header: string): Omit<SetCookie, 'url'> {
  const [pair, ...rest] = header.split(';');
  const at = pair!.indexOf('=');
  const attributes = new Map(rest.map((part) => {
    const [key, ...value] = part.trim().split('=');
    return [key!.toLowerCase(), value.join('=')] as [string, string];
  }));
  return { name: pair!.slice(0, at).trim(), value: pair!.slice(at + 1).trim(), attributes };
}

/** A cookie that sets something (not one that clears a cookie: empty, expired in the past). */
function setsValue(cookie: SetCookie): boolean {
  const expires = cookie.attributes.get('expires');
  return cookie.value !== '' && !(expires && Date.parse(expires) < Date.now());
}

const NONCE = /^'nonce-([A-Za-z0-9+/]{16,}={0,2})'$/;

/** The security headers of an HTML page, and its scripts' nonce; returns the nonce. */
function expectSecurePage(page: Page): string {
  const where = `${page.url} (${page.status})`;
  expect([where, page.headers.get('content-type')]).toEqual([where, expect.stringMatching(/^text\/html/)]);
  const csp = new Map((page.headers.get('content-security-policy') ?? '').split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name!, values] as [string, string[]];
  }));
  const scriptSrc = csp.get('script-src') ?? [];
  expect([where, scriptSrc.length, scriptSrc[0]]).toEqual([where, 1, expect.stringMatching(NONCE)]); // a nonce, nothing else (no 'unsafe-inline')
  const nonce = NONCE.exec(scriptSrc[0]!)![1]!;
  expect([where, csp.get('frame-ancestors'), csp.get('default-src')]).toEqual([where, ["'none'"], ["'none'"]]);
  expect([where, page.headers.get('x-frame-options'), page.headers.get('x-content-type-options'), page.headers.get('referrer-policy')])
    .toEqual([where, 'DENY', 'nosniff', 'no-referrer']);
  // Every script of the page carries this response's nonce; no inline event handlers.
  for (const script of page.doc.querySelectorAll('script')) expect([where, script.getAttribute('nonce')]).toEqual([where, nonce]);
  const handlers = page.doc.querySelectorAll('*').flatMap((element) => Object.keys(element.attributes).filter((name) => /^on/i.test(name)));
  expect([where, handlers]).toEqual([where, []]);
  return nonce;
}

function expectCookiesHttpOnlyAndSameSite(cookies: SetCookie[]): void {
  for (const cookie of cookies.filter(setsValue)) {
    const flags = { name: cookie.name, httpOnly: cookie.attributes.has('httponly'), sameSite: cookie.attributes.get('samesite')?.toLowerCase() };
    expect(flags).toEqual({ name: cookie.name, httpOnly: true, sameSite: expect.stringMatching(/^(lax|strict)$/) });
  }
}

describe('headers and cookies', () => {
  it('gives every page a fresh nonce-based CSP that its scripts use, frame-ancestors \'none\' and the other security headers; cookies are HttpOnly and SameSite', async () => {
    const browser = new FormBrowser(provider.url);
    const at = (pathname: string) => new URL(pathname, provider.url);
    const { result: pages, cookies } = await recordingResponses(new URL(provider.url).origin, async () => {
      const seen: Page[] = [];
      const keep = (page: Page) => { seen.push(page); return page; };
      keep(expectPage(await browser.open(at('/enrol'))));
      keep(expectPage(await browser.open(at('/guardian'))));
      keep(expectPage(await browser.open(at('/no-such-page'))));
      const badRedirect = new URL('/auth', provider.url);
      badRedirect.search = new URLSearchParams({ client_id: 'platform-a', redirect_uri: 'https://attacker.example/cb', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGtSFhtS8c', code_challenge_method: 'S256' }).toString();
      keep(expectPage(await browser.open(badRedirect)));

      // Platform B: sign-in page (in both languages), SMS code page, consent page.
      const config = await discover(provider.url, PLATFORM_B);
      const request = await authorizationRequest(config, PLATFORM_B, { scope: 'openid verified id_document', prompt: 'consent' });
      const login = keep(expectPage(await browser.open(request.url)));
      keep(expectPage(await browser.open(`${login.url}?lang=zh-CN`)));
      const code = keep(expectPage(await browser.submit(login, '/login', { identifier: adult.identifier, password: adult.password })));
      const consent = keep(expectPage(await browser.submit(code, '/code', { code: adult.oneTimeCode!()! })));
      await redeem(config, request, expectRedirect(await browser.submit(consent, '/consent', B_CONSENT)));

      // The portal (signed in through the provider with the loa2 session), with its passkey scripts.
      keep(expectPage(await browser.open(at('/account'))));
      keep(expectPage(await browser.open(at('/account/credentials'))));

      // Signing out: the confirmation page and the signed-out page.
      const confirm = keep(expectPage(await browser.open(at('/session/end?client_id=platform-b'))));
      keep(expectPage(await browser.submit(confirm, '/session/end/confirm', { logout: 'yes' })));
      return seen;
    });

    const titles = pages.map((page) => page.doc.querySelector('h1')?.text.trim());
    expect(titles.every(Boolean)).toBe(true); // real pages, not empty answers
    const nonces = pages.map(expectSecurePage);
    expect(new Set(nonces).size).toBe(pages.length); // fresh for every response
    // The nonce check is not empty: the sign-in, code and credentials pages have scripts.
    expect(pages.filter((page) => page.doc.querySelectorAll('script').length > 0).length).toBeGreaterThanOrEqual(4);

    const names = new Set(cookies.filter(setsValue).map((cookie) => cookie.name));
    for (const name of ['_interaction', '_interaction_resume', '_session', 'cyberid_csrf', 'cyberid_lang', 'cyberid_account', 'cyberid_account_flow']) expect([...names]).toContain(name);
    expectCookiesHttpOnlyAndSameSite(cookies);
  });

  it('behind a TLS-terminating proxy in production: Strict-Transport-Security on every answer, and every cookie Secure', async () => {
    // Demo people are created by a development start; production then runs on that data with the same secrets.
    const dataDir = tempDataDir();
    try {
      const seeded = await startProvider(dataDir);
      const person: Person = { identifier: seeded.adult.phone, password: seeded.adult.password };
      await seeded.stop();
      const secrets = JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { cookieKeys: string[]; pairwiseSecret: string; encryptionKey: string; lookupSecret: string };
      const publicOrigin = 'https://id.example.test';
      const platform: PlatformRegistration = { clientId: 'city-permits', clientSecret: 'city-permits-secret-of-at-least-32-characters', redirectUri: 'https://permits.example.test/callback' };
      const clientsFile = path.join(dataDir, 'production-clients.json');
      writeFileSync(clientsFile, JSON.stringify({
        clients: [{
          client_id: platform.clientId, client_secret: platform.clientSecret, client_name: 'City permits', redirect_uris: [platform.redirectUri],
          scope: 'openid verified', cyberid_policy: { minimum_acr: 'cyberid:loa1' },
        }],
      }));
      const production = await startProduction({
        CYBERID_DATA_DIR: dataDir,
        CYBERID_ISSUER: publicOrigin,
        CYBERID_PROXY: 'true',
        CYBERID_COOKIE_KEYS: secrets.cookieKeys.join(','),
        CYBERID_PAIRWISE_SECRET: secrets.pairwiseSecret,
        CYBERID_ENCRYPTION_KEY: secrets.encryptionKey,
        CYBERID_LOOKUP_SECRET: secrets.lookupSecret,
        CYBERID_CLIENTS_FILE: clientsFile,
        // Not contacted by a password sign-in.
        CYBERID_REGISTRY_URL: 'https://registry.example.test/v1',
        CYBERID_FACE_VERIFIER_URL: 'https://face.example.test/v1',
        CYBERID_SMS_URL: 'https://sms.example.test/send',
      });
      try {
        // The proxy: TLS ends there; it forwards to the provider's plain-HTTP port and says the request was https.
        const viaProxy = (url: URL, init: RequestInit): [URL, RequestInit] => {
          const headers = new Headers(init.headers);
          headers.set('x-forwarded-proto', 'https');
          headers.set('x-forwarded-host', url.host);
          headers.set('x-forwarded-for', '203.0.113.7');
          return [new URL(`${url.pathname}${url.search}`, `http://127.0.0.1:${production.port}`), { ...init, headers }];
        };
        const browser = new FormBrowser(publicOrigin);
        const { result, cookies, responses } = await recordingResponses(publicOrigin, async () => {
          const discovery = await fetch(`${publicOrigin}/.well-known/openid-configuration`);
          expect(((await discovery.json()) as { issuer: string }).issuer).toBe(publicOrigin);
          const config = await oidc.discovery(new URL(publicOrigin), platform.clientId, undefined, oidc.ClientSecretBasic(platform.clientSecret!));
          const request = await authorizationRequest(config, platform, { scope: 'openid verified' });
          const login = expectPage(await browser.open(request.url));
          const callback = await continueToPlatform(browser, { kind: 'page', page: login }, person);
          const tokens = await redeem(config, request, callback);
          return { login, sub: tokens.claims()!.sub };
        }, viaProxy);
        expect(parseNetworkNumber(result.sub)).toBe(result.sub); // the whole flow worked through the proxy
        expectSecurePage(result.login);

        expect(responses.length).toBeGreaterThan(5);
        for (const response of responses) {
          expect([response.url, response.headers.get('strict-transport-security')]).toEqual([response.url, 'max-age=31536000; includeSubDomains']);
        }
        const set = cookies.filter(setsValue);
        expect(new Set(set.map((cookie) => cookie.name))).toEqual(new Set(['_interaction', '_interaction.sig', '_interaction_resume', '_interaction_resume.sig', '_session', '_session.sig', 'cyberid_csrf', 'cyberid_csrf.sig']));
        for (const cookie of set) expect({ name: cookie.name, secure: cookie.attributes.has('secure') }).toEqual({ name: cookie.name, secure: true });
        expectCookiesHttpOnlyAndSameSite(cookies);
      } finally {
        await production.stop();
      }
    } finally {
      removeDataDir(dataDir);
    }
  }, 90_000);

  it('gives the session a new id at every sign-in: the cookie from before no longer signs anyone in', async () => {
    const browser = new FormBrowser(provider.url);
    const config = await discover(provider.url, PLATFORM_A);
    await connect(browser, PLATFORM_A, { scope: 'openid verified' });
    const before = await sessionCookies(browser);

    // A browser holding only the old cookies is signed in (the copy works), without a page: prompt=none.
    expect(await silentSignIn(config, before)).toBe('code');

    // The person signs in again (prompt=login) in the same browser.
    const again = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified', prompt: 'login' });
    const login = expectPage(await browser.open(again.url));
    expect(login.doc.querySelector('input[name=password]')).not.toBeNull();
    expect(await sessionCookies(browser)).toEqual(before); // not yet renewed: the sign-in has not happened
    await redeem(config, again, await continueToPlatform(browser, { kind: 'page', page: login }, adult));
    const after = await sessionCookies(browser);
    expect(after.get('_session')).toEqual(expect.any(String));
    expect(after.get('_session')).not.toBe(before.get('_session'));

    expect(await silentSignIn(config, before)).toBe('login_required');
    expect(await silentSignIn(config, after)).toBe('code');
  });
});

/** The provider's session cookie and its signature, as the browser holds them. */
async function sessionCookies(browser: FormBrowser): Promise<Map<string, string>> {
  const cookies = await browser.jar.getCookies(provider.url);
  return new Map(cookies.filter((cookie) => cookie.key.startsWith('_session')).map((cookie) => [cookie.key, cookie.value]));
}

/** A prompt=none authorization at A from a browser holding just `cookies`: 'code', or the error it gets. */
async function silentSignIn(config: oidc.Configuration, cookies: Map<string, string>): Promise<string> {
  const browser = new FormBrowser(provider.url);
  for (const [key, value] of cookies) await browser.jar.setCookie(`${key}=${value}; Path=/`, provider.url);
  const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified', prompt: 'none' });
  const callback = expectRedirect(await browser.open(request.url));
  return callback.searchParams.has('code') ? 'code' : callback.searchParams.get('error')!;
}

/** `node server/main.ts` with NODE_ENV=production (no demo people, so test/support/server.ts cannot wait for them). */
async function startProduction(env: Record<string, string>): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepSuiteLog(child, 'provider-production');
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`production provider did not start in time\n${stdout}\n${stderr}`)), 30_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const listening = stdout.split('\n').find((line) => line.includes('"msg":"listening"'));
      if (listening) {
        clearTimeout(timer);
        resolve((JSON.parse(listening) as { port: number }).port);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`production provider exited with ${code}\n${stdout}\n${stderr}`));
    });
  });
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
