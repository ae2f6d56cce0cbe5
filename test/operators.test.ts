// Operators at work with the `cyberid` CLI on the embedded store: clients added, changed, disabled and given new
// secrets; scope policy; signing keys rotated with overlap. A platform the CLI added signs a person in with
// openid-client, and two provider processes on the same store serve the same keys through a rotation. (The
// second process re-registers the demo platforms with its own demo site, so these tests use the CLI's platform.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { FormBrowser } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import { authorizationRequest, discover, redeem, signInAndConsent, type PlatformRegistration, type Person } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SHOP = ['--id', 'shop-one', '--name', 'Shop One', '--redirect-uri', 'http://localhost:4010/callback', '--scope', 'openid verified age'];

describe('the cyberid CLI on the embedded store', () => {
  let dataDir: string;
  let secret: string;

  beforeAll(() => {
    dataDir = tempDataDir();
  });

  afterAll(() => removeDataDir(dataDir));

  it('adds a platform with its scope policy, prints the secret once and stores only its hash', async () => {
    const added = await cyberid(dataDir, 'clients', 'add', ...SHOP, '--require-claim', 'identity_verified', '--minimum-acr', 'cyberid:loa1', '--json');
    expect(added).toMatchObject({ code: 0, err: '' });
    const { client, client_secret } = added.json<{ client: Record<string, unknown>; client_secret: string }>();
    secret = client_secret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client).toMatchObject({ client_id: 'shop-one', kind: 'platform', status: 'active', has_secret: true });
    expect(client.metadata).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', cyberid_policy: { required_claims: ['identity_verified'], minimum_acr: 'cyberid:loa1' } });
    expect(JSON.stringify(client)).not.toContain(secret);

    const db = new DatabaseSync(path.join(dataDir, 'cyberid.sqlite'), { readOnly: true });
    try {
      const { payload } = db.prepare("SELECT payload FROM oidc_models WHERE model = 'Client' AND id = 'shop-one'").get() as { payload: string };
      expect(payload).not.toContain(secret);
      expect(JSON.parse(payload).client_secret).toMatch(/^cyberid-sha256\$/);
    } finally {
      db.close();
    }
  });

  it('lists clients as a table and as JSON, and shows one', async () => {
    const table = await cyberid(dataDir, 'clients', 'list');
    expect(table.out.split('\n')[0]).toMatch(/^CLIENT\s+KIND\s+STATUS\s+AUTH\s+SCOPE\s+NAME$/);
    expect(table.out).toMatch(/shop-one\s+platform\s+active\s+client_secret_basic\s+openid verified age\s+Shop One/);
    expect((await cyberid(dataDir, 'clients', 'list', '--json')).json<{ clients: { client_id: string }[] }>().clients.map((c) => c.client_id)).toEqual(['shop-one']);
    expect((await cyberid(dataDir, 'clients', 'show', 'shop-one', '--json')).json()).toMatchObject({ client_id: 'shop-one', metadata: { client_name: 'Shop One' } });
  });

  it('changes only the policy fields it names', async () => {
    const policy = await cyberid(dataDir, 'clients', 'policy', 'shop-one', '--minimum-age', '18', '--guardian-approval', 'yes', '--json');
    expect(policy.code).toBe(0);
    expect(policy.json().cyberid_policy).toEqual({
      required_claims: ['identity_verified'], purposes: {}, minimum_acr: 'cyberid:loa1', minimum_age: 18, guardian_approval: true,
    });
    const renamed = await cyberid(dataDir, 'clients', 'update', 'shop-one', '--name', 'Shop One (renamed)', '--json');
    expect(renamed.json<{ client: { metadata: Record<string, unknown> } }>().client.metadata).toMatchObject({
      client_name: 'Shop One (renamed)', token_endpoint_auth_method: 'client_secret_basic', cyberid_policy: { minimum_age: 18, guardian_approval: true },
    });
    expect((await cyberid(dataDir, 'clients', 'policy', 'shop-one', '--minimum-age', 'none', '--guardian-approval', 'no', '--json')).json().cyberid_policy)
      .toEqual({ required_claims: ['identity_verified'], purposes: {}, minimum_acr: 'cyberid:loa1', guardian_approval: false });
  });

  it('refuses invalid input with a message naming each field, and changes nothing', async () => {
    const bad = await cyberid(dataDir, 'clients', 'add', '--id', 'a.b', '--name', 'X', '--redirect-uri', 'not a url', '--scope', 'openid profilex');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('client_id: letters, digits');
    expect(bad.err).toContain('redirect_uris.0: Invalid URL');
    expect(bad.err).toContain('unknown scope "profilex"');
    const restricted = await cyberid(dataDir, 'clients', 'update', 'shop-one', '--scope', 'openid id_document', '--json');
    expect(restricted.code).toBe(1);
    expect(JSON.parse(restricted.err)).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('legal_basis') });
    expect(await cyberid(dataDir, 'clients', 'add', ...SHOP)).toMatchObject({ code: 1, err: expect.stringContaining('already exists') });
    expect(await cyberid(dataDir, 'clients', 'show', 'nobody')).toMatchObject({ code: 1, err: 'cyberid: no client "nobody"\n' });
    expect((await cyberid(dataDir, 'clients', 'frobnicate')).code).toBe(2);
    expect((await cyberid(dataDir, 'clients', 'add', '--no-such-option')).code).toBe(2);
    expect((await cyberid(dataDir, 'clients', 'show', 'shop-one', '--json')).json()).toMatchObject({ metadata: { scope: 'openid verified age' } });
  });

  it('disables and enables a client, and rotates its secret', async () => {
    expect((await cyberid(dataDir, 'clients', 'disable', 'shop-one', '--json')).json()).toMatchObject({ status: 'disabled' });
    expect((await cyberid(dataDir, 'clients', 'list')).out).toMatch(/shop-one\s+platform\s+disabled/);
    expect((await cyberid(dataDir, 'clients', 'enable', 'shop-one', '--json')).json()).toMatchObject({ status: 'active' });
    const rotated = (await cyberid(dataDir, 'clients', 'rotate-secret', 'shop-one', '--json')).json<{ client_secret: string }>();
    expect(rotated.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.client_secret).not.toBe(secret);
  });

  it('adds an operator client for the admin API with its admin scopes', async () => {
    const added = await cyberid(dataDir, 'clients', 'add', '--operator', '--id', 'ops-console', '--name', 'Ops console', '--scopes', 'clients:read audit:read', '--json');
    expect(added.code).toBe(0);
    expect(added.json()).toMatchObject({ client: { kind: 'operator', metadata: { grant_types: ['client_credentials'], cyberid_operator: { scopes: ['clients:read', 'audit:read'] } } } });
    expect((await cyberid(dataDir, 'clients', 'add', '--operator', '--id', 'ops-2', '--name', 'X', '--scopes', 'root')).err).toContain('scopes.0');
  });

  it('schedules a key rotation, refuses a second one while it waits, and withdraws only what does not sign', async () => {
    const before = (await cyberid(dataDir, 'keys', 'list', '--json')).json<{ generations: { id: string; status: string }[] }>().generations;
    expect(before.map((g) => g.status)).toEqual(['signing']);
    const rotated = await cyberid(dataDir, 'keys', 'rotate', '--activate-in', '1h', '--json');
    expect(rotated.json()).toMatchObject({ status: 'next', keys: [{ alg: 'ES256' }, { alg: 'EdDSA' }] });
    expect(await cyberid(dataDir, 'keys', 'rotate')).toMatchObject({ code: 1, err: expect.stringContaining('already waiting to activate') });
    expect(await cyberid(dataDir, 'keys', 'rotate', '--activate-in', 'soon')).toMatchObject({ code: 2 });
    expect(await cyberid(dataDir, 'keys', 'withdraw', before[0]!.id)).toMatchObject({ code: 1, err: expect.stringContaining('is signing') });
    const next = rotated.json().id as string;
    expect((await cyberid(dataDir, 'keys', 'withdraw', next, '--json')).json()).toMatchObject({ status: 'withdrawn' });
    expect((await cyberid(dataDir, 'keys', 'list')).out).toMatch(new RegExp(`${next}\\s+withdrawn`));
  });

  it('issues an initial access token for dynamic registration, shown once', async () => {
    const issued = await cyberid(dataDir, 'registration-token', '--expires-in', '2h', '--json');
    expect(issued.json()).toMatchObject({ initial_access_token: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/) });
  });

  it('has written every change to the audit log as cli:<user>, with no secret or token in it', async () => {
    const { entries } = (await cyberid(dataDir, 'audit', '--json', '--limit', '100')).json<{ entries: { actor: string; action: string; target: string }[] }>();
    expect(entries.map((e) => e.action).reverse()).toEqual([
      'client.add', 'client.update', 'client.update', 'client.update', 'client.disable', 'client.enable', 'client.rotate-secret',
      'client.add', 'keys.rotate', 'keys.withdraw', 'registration-token.issue',
    ]);
    expect(new Set(entries.map((e) => e.actor)).size).toBe(1);
    expect(entries[0]!.actor).toMatch(/^cli:/);
    expect(JSON.stringify(entries)).not.toMatch(/[A-Za-z0-9_-]{43}/);
    expect((await cyberid(dataDir, 'audit', '--target', 'ops-console', '--json')).json<{ entries: unknown[] }>().entries).toHaveLength(1);
  });
});

describe('a platform added with the CLI, and a key rotation across two processes on one store', () => {
  let dataDir: string;
  let first: RunningProvider;
  let second: RunningProvider;
  let adult: Person;
  let shop: PlatformRegistration;

  beforeAll(async () => {
    dataDir = tempDataDir();
    first = await startProvider(dataDir, { CYBERID_KEY_CHECK_SECONDS: '1' });
    second = await startProvider(dataDir, { CYBERID_KEY_CHECK_SECONDS: '1' });
    adult = { identifier: first.adult.phone, password: first.adult.password };
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    removeDataDir(dataDir);
  });

  async function signInAt(provider: RunningProvider, platform: PlatformRegistration) {
    const config = await discover(provider.url, platform);
    const request = await authorizationRequest(config, platform, { scope: 'openid verified' });
    return { config, tokens: await redeem(config, request, await signInAndConsent(new FormBrowser(provider.url), request.url, adult)) };
  }

  it('completes a sign-in with openid-client at a platform the CLI added while the provider runs', async () => {
    const added = await cyberid(dataDir, 'clients', 'add', ...SHOP, '--minimum-acr', 'cyberid:loa1', '--json');
    shop = { clientId: 'shop-one', clientSecret: added.json<{ client_secret: string }>().client_secret, redirectUri: 'http://localhost:4010/callback' };
    const { config, tokens } = await signInAt(first, shop);
    const sub = tokens.claims()!.sub;
    expect(tokens.claims()).toMatchObject({ acr: 'cyberid:loa1', aud: 'shop-one' });
    expect(await oidc.fetchUserInfo(config, tokens.access_token, sub)).toEqual({ sub, identity_verified: true, identity_verified_at: expect.any(Number), document_type: expect.any(String) });

    // Disabled: its tokens stop working at once, in every process; enabled again, they work.
    expect((await cyberid(dataDir, 'clients', 'disable', 'shop-one')).code).toBe(0);
    await expect(oidc.fetchUserInfo(config, tokens.access_token, sub)).rejects.toMatchObject({ status: 401 });
    const config2 = await discover(second.url, shop);
    await expect(oidc.fetchUserInfo(config2, tokens.access_token, sub)).rejects.toMatchObject({ status: 401 });
    expect((await cyberid(dataDir, 'clients', 'enable', 'shop-one')).code).toBe(0);
    expect((await oidc.fetchUserInfo(config, tokens.access_token, sub)).sub).toBe(sub);
  });

  it('refuses the old secret after rotate-secret and accepts the new one', async () => {
    const rotated = (await cyberid(dataDir, 'clients', 'rotate-secret', 'shop-one', '--json')).json<{ client_secret: string }>().client_secret;
    await expect(signInAt(first, shop)).rejects.toMatchObject({ status: 401, cause: [expect.objectContaining({ parameters: expect.objectContaining({ error: 'invalid_client' }) })] });
    shop = { ...shop, clientSecret: rotated };
    expect((await signInAt(first, shop)).tokens.claims()!.aud).toBe('shop-one');
  });

  it('publishes a new key in every process before it signs, then signs with it, and still verifies older ID tokens', async () => {
    const jwks = async (provider: RunningProvider) => (await (await fetch(`${provider.url}/jwks`)).json()) as JSONWebKeySet;
    const kids = async (provider: RunningProvider) => (await jwks(provider)).keys.map((k) => k.kid);
    expect(await kids(second)).toEqual(await kids(first));
    const before = (await signInAt(first, shop)).tokens.id_token!;
    const oldKid = decodeProtectedHeader(before).kid!;

    const rotation = (await cyberid(dataDir, 'keys', 'rotate', '--activate-in', '6s', '--json')).json<{ activatesAt: number; keys: { kid: string; alg: string }[] }>();
    const newKid = rotation.keys.find((k) => k.alg === 'ES256')!.kid;
    for (const provider of [first, second]) await until(async () => (await kids(provider)).includes(newKid));
    expect(Date.now()).toBeLessThan(rotation.activatesAt); // every process learnt of it from the store well before
    // Published in both, but nothing is signed with it before its activation.
    const during = (await signInAt(second, shop)).tokens.id_token!;
    if (decodeJwt(during).iat! * 1000 < rotation.activatesAt) expect(decodeProtectedHeader(during).kid).toBe(oldKid);

    await until(async () => Date.now() > rotation.activatesAt + 1_500);
    for (const provider of [first, second]) {
      const after = (await signInAt(provider, shop)).tokens.id_token!;
      expect(decodeProtectedHeader(after).kid).toBe(newKid);
      const published = await jwks(provider);
      expect(published.keys[0]!.kid).toBe(newKid); // the signing key comes first
      expect(published.keys.map((k) => k.kid)).toContain(oldKid);
      const verify = (token: string) => jwtVerify(token, createLocalJWKSet(published), { issuer: provider === first ? first.url : second.url, audience: 'shop-one' });
      await expect(verify(after)).resolves.toBeDefined();
      if (provider === first) await expect(verify(before)).resolves.toBeDefined();
    }
    const { generations } = (await cyberid(dataDir, 'keys', 'list', '--json')).json<{ generations: { status: string; publishedUntil?: number }[] }>();
    expect(generations.map((g) => g.status)).toEqual(['retired', 'signing']);
    expect(generations[0]!.publishedUntil).toBeGreaterThan(Date.now() + 3_600_000); // ID tokens live an hour
    for (const file of ['cyberid.sqlite', 'cyberid.sqlite-wal']) {
      expect(readFileSync(path.join(dataDir, file)).includes(Buffer.from('"d":"'))).toBe(false); // private keys are sealed
    }
  });
});

/** Polls until `condition` holds (bounded, so a broken schedule fails the test instead of hanging it). */
async function until(condition: () => Promise<boolean>, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
