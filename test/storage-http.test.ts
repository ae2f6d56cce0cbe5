// The provider over each storage backend, as a platform sees it over HTTP: a full sign-in, then 50 concurrent
// redemptions of one authorization code (exactly one succeeds; the replay revokes what it issued), on the embedded
// store, SQLite + Redis, and MongoDB + Redis (the in-process STAND-IN unless MONGODB_URI names a real server).
// Then Redis is killed under a running provider: protocol endpoints answer 503 temporarily_unavailable, pages a
// friendly 503, /readyz says which backend is down; Redis comes back and the same flows succeed without a restart,
// with nothing durable lost.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import * as oidc from 'openid-client';
import { composeStore } from '../adapters/compose.ts';
import { openMongoBackend } from '../adapters/mongodb/index.ts';
import { openRedisBackend } from '../adapters/redis/index.ts';
import type { Store } from '../adapters/types.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { start } from '../server/main.ts';
import { MONGODB_LABEL, REAL_MONGODB } from './support/backends.ts';
import { FormBrowser } from './support/browser.ts';
import { mongoStandIn } from './support/mongo-stand-in.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem, signInAndConsent, type Person } from './support/platform.ts';
import { redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const withRedis = redisAvailable('the storage HTTP suite');
let redis: RedisServer;

beforeAll(async () => {
  if (withRedis) redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await redis?.stop();
});

interface Running {
  url: string;
  adult: Person;
  stop(): Promise<void>;
}

/** The real server, in this process, on `env`'s storage (or the given store: the MongoDB stand-in). */
async function startInProcess(env: Record<string, string>, store?: () => Promise<Store>): Promise<Running> {
  const dataDir = tempDataDir();
  const config = loadConfig({ NODE_ENV: 'development', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', CYBERID_DATA_DIR: dataDir, ...env });
  const server = await start(config, createLogger('silent'), store ? { store: await store() } : {});
  const adult = server.demoCredentials.find((person) => person.role === 'adult')!;
  return {
    url: server.url,
    adult: { identifier: adult.networkNumber, password: adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, adult.phone) },
    async stop() {
      await server.stop();
      removeDataDir(dataDir);
    },
  };
}

const backends: { name: string; start: () => Promise<Running> }[] = [
  { name: 'sqlite', start: () => startInProcess({}) },
  { name: 'sqlite + redis', start: () => startInProcess({ REDIS_URL: redis.url }) },
  {
    name: `${MONGODB_LABEL} + redis`,
    start: () => (REAL_MONGODB
      ? startInProcess({ MONGODB_URI: REAL_MONGODB, MONGODB_DATABASE: `cyberid_http_${process.pid}`, REDIS_URL: redis.url })
      : startInProcess({}, async () => {
        const standIn = mongoStandIn();
        const durable = await openMongoBackend(standIn.db as unknown as Db, standIn, { createIndexes: true });
        return composeStore(durable, await openRedisBackend({ url: redis.url, cluster: false }));
      })),
  },
];

describe.each(backends.filter((backend) => withRedis || backend.name === 'sqlite'))('the provider on $name', (backend) => {
  let server: Running;

  beforeAll(async () => {
    server = await backend.start();
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('signs in, then lets exactly one of 50 concurrent redemptions of the code succeed, and the replay revokes its tokens', async () => {
    const config = await discover(server.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age' });
    const callback = await signInAndConsent(new FormBrowser(server.url), request.url, server.adult);
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();

    const answers = await Promise.all(Array.from({ length: 50 }, () => redeemRaw(server.url, code, request.verifier)));
    const succeeded = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status !== 200);
    expect(succeeded).toHaveLength(1);
    expect(refused).toHaveLength(49);
    for (const answer of refused) expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    // RFC 6749 §4.1.2: a code used twice revokes what it issued; the one access token no longer works.
    const userinfo = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${succeeded[0]!.body.access_token as string}` } });
    expect(userinfo.status).toBe(401);

    // A fresh flow on the same backend works (the consent is remembered: it is durable).
    const again = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age' });
    const tokens = await redeem(config, again, await signInAndConsent(new FormBrowser(server.url), again.url, server.adult));
    expect((await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).identity_verified).toBe(true);
  }, 60_000);
});

describe('Redis stopped and started again under a running provider (sqlite + redis, as `npm start`)', () => {
  let provider: RunningProvider;
  let dataDir: string;
  let adult: Person;

  beforeAll(async () => {
    if (!withRedis) return;
    dataDir = tempDataDir();
    provider = await startProvider(dataDir, { REDIS_URL: redis.url });
    adult = { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
  }, 60_000);

  afterAll(async () => {
    await provider?.stop();
    if (dataDir) removeDataDir(dataDir);
  });

  (withRedis ? it : it.skip)('answers 503 while Redis is down, says so in /readyz, and recovers by itself with nothing durable lost', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age offline_access', prompt: 'consent' });
    const before = await redeem(config, request, await signInAndConsent(new FormBrowser(provider.url), request.url, adult));
    const sub = before.claims()!.sub;
    expect(before.refresh_token).toBeTruthy();
    expect(await readiness(provider.url)).toEqual({ status: 200, body: { status: 'ready', store: 'sqlite+redis', backends: { sqlite: 'up', redis: 'up' } } });

    // Requests racing the kill are answered 200 or 503, never 500.
    const during = Array.from({ length: 40 }, (_, i) => new Promise((resolve) => setTimeout(resolve, i * 5))
      .then(() => fetch(`${provider.url}/me`, { headers: { authorization: `Bearer ${before.access_token}` } }))
      .then((response) => response.status));
    await redis.kill();
    expect((await Promise.all(during)).filter((status) => status !== 200 && status !== 503)).toEqual([]);

    await waitUntil(async () => (await readiness(provider.url)).status === 503);
    expect(await readiness(provider.url)).toEqual({ status: 503, body: { status: 'unavailable', store: 'sqlite+redis', backends: { sqlite: 'up', redis: 'down' } } });
    expect((await fetch(`${provider.url}/healthz`)).status).toBe(200);

    // Platforms: OAuth JSON with a standard code and Retry-After.
    const refresh = await fetch(`${provider.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: before.refresh_token! }),
    });
    expect(refresh.status).toBe(503);
    expect(refresh.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refresh.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/temporarily unavailable/) });
    const userinfo = await fetch(`${provider.url}/me`, { headers: { authorization: `Bearer ${before.access_token}` } });
    expect(userinfo.status).toBe(503);
    expect(await userinfo.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const enrol = await fetch(`${provider.url}/enrol/api/v1/enrolments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(enrol.status).toBe(503);
    expect(await enrol.json()).toMatchObject({ error: 'temporarily_unavailable' });

    // The platform this process served comes back to its redirect URI with the error (docs/integrate.md, Errors).
    const back = await fetch(request.url, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(back.status).toBe(303);
    expect(new URL(back.headers.get('location')!).searchParams.get('error')).toBe('temporarily_unavailable');
    // People on a request that cannot be sent back safely: a friendly page, in their language, without internals.
    const unknownClient = new URL(request.url);
    unknownClient.searchParams.set('client_id', 'platform-b');
    const page = await fetch(unknownClient, { headers: { accept: 'text/html', 'accept-language': 'en' } });
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('briefly unable to reach its storage');
    expect(html).not.toMatch(/Error:|at .*\.ts:\d+|redis|ECONNREFUSED/i);

    // Redis returns, empty: the provider reconnects by itself.
    await redis.start();
    await waitUntil(async () => (await readiness(provider.url)).status === 200);

    // Durable data survived: the refresh token (and so the grant) redeems, with the same subject.
    const refreshed = await oidc.refreshTokenGrant(config, before.refresh_token!);
    expect(refreshed.claims()?.sub ?? sub).toBe(sub);
    expect((await oidc.fetchUserInfo(config, refreshed.access_token, sub)).sub).toBe(sub);
    // Sessions lived in Redis, so the person signs in again; the account and the remembered consent are intact.
    const next = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age' });
    const browser = new FormBrowser(provider.url);
    const callback = await signInAndConsent(browser, next.url, adult);
    expect((await redeem(config, next, callback)).claims()!.sub).toBe(sub);

    // A full Redis (maxmemory reached, noeviction) refuses writes: that is an outage too, not a server error.
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      const full = await fetch(`${provider.url}/token`, {
        method: 'POST',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }),
      });
      expect(full.status).toBe(503);
      expect(await full.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }

    const log = provider.stdout();
    expect(log).not.toMatch(/"level":(50|60)/); // no error or fatal log lines: outages are warnings
    expect(log).toMatch(/OOM command not allowed/); // the reason is logged…
    expect(log).not.toContain('cyberid:oidc:'); // …but never the command, its keys or the tokens in its arguments
    expect(log).not.toContain(before.access_token);
  }, 90_000);
});

function basic(): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(PLATFORM_A.clientId)}:${encodeURIComponent(PLATFORM_A.clientSecret!)}`).toString('base64')}`;
}

async function redeemRaw(issuer: string, code: string, verifier: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: PLATFORM_A.redirectUri, code_verifier: verifier }),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

async function readiness(issuer: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${issuer}/readyz`);
  return { status: response.status, body: await response.json() };
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

