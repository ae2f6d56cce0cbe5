// Brute force and abuse against the real server, on the embedded store and on Redis: 100 wrong passwords from
// one address against one account are stopped while another person at another address signs in untouched;
// wrong client secrets lock a client id (and not its neighbour); a platform over its request quota gets 429
// slow_down with Retry-After while another platform is served. Addresses come from X-Forwarded-For, as the
// TLS-terminating proxy (CYBERID_PROXY) sends them; only the entry it appended counts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FormBrowser, expectPage } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, type Person } from './support/platform.ts';
import { redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const withRedis = redisAvailable('the abuse suite on Redis');
let redis: RedisServer | undefined;

beforeAll(async () => {
  if (withRedis) redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await redis?.stop();
});

const backends: [string, () => Record<string, string>][] = [
  ['the embedded store', () => ({})],
  ...(withRedis ? [['Redis', () => ({ REDIS_URL: redis!.url })] as [string, () => Record<string, string>]] : []),
];

const ATTACKER = '198.51.100.66';
const SPRAYER = '198.51.100.67';
const QUOTA = 5;

describe.each(backends)('limits on %s', (_name, storeEnv) => {
  let provider: RunningProvider;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDataDir();
    provider = await startProvider(dataDir, { CYBERID_PROXY: 'true', CYBERID_CLIENT_RATE_LIMIT: String(QUOTA), ...storeEnv() });
  });

  afterAll(async () => {
    await provider?.stop();
    removeDataDir(dataDir);
  });

  const person = (who: 'adult' | 'minor'): Person => ({
    identifier: provider[who].networkNumber, password: provider[who].password, oneTimeCode: () => lastCodeSentTo(dataDir, provider[who].phone),
  });

  it('stops 100 wrong passwords from one address against one account; another person at another address signs in', async () => {
    const victim = person('minor');
    const config = await discover(provider.url, PLATFORM_A);
    const attack = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const attacker = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': ATTACKER });
    let page = expectPage(await attacker.open(attack.url));
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 100; attempt += 1) {
      page = expectPage(await attacker.submit(page, '/login', { identifier: victim.identifier, password: `guess-${attempt}` }));
      statuses.push(page.status);
    }
    const checked = statuses.filter((status) => status === 401).length;
    const refused = statuses.filter((status) => status === 429).length;
    process.stdout.write(`100 wrong passwords from one address: ${checked} checked, ${refused} refused with 429 before any check\n`);
    expect(checked + refused).toBe(100);
    expect(checked).toBeLessThanOrEqual(4); // the fifth wrong password locks the account
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    // Even the right password is not checked now, from the attacker's address.
    const right = expectPage(await attacker.submit(page, '/login', { identifier: victim.identifier, password: victim.password }));
    expect(right.status).toBe(429);

    // Someone else, elsewhere, is not affected: a full sign-in with tokens.
    const legitimate = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const elsewhere = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.20' });
    const tokens = await redeem(config, legitimate, await continueToPlatform(elsewhere, await elsewhere.open(legitimate.url), person('adult')));
    expect(tokens.claims()?.sub).toBeTruthy();
  });

  it('locks an address that guesses at many accounts, by the entry the proxy appended, not one the caller wrote in front', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const sprayer = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': SPRAYER });
    let page = expectPage(await sprayer.open(request.url));
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 25; attempt += 1) {
      page = expectPage(await sprayer.submit(page, '/login', { identifier: `1380013${String(8000 + attempt)}`, password: 'Password-123' }));
      statuses.push(page.status);
    }
    expect(statuses.slice(0, 19)).toEqual(Array(19).fill(401));
    expect(statuses.slice(19)).toEqual(Array(6).fill(429)); // the twentieth failure locks the address
    // Writing another address in front changes nothing; the proxy's entry is last.
    const spoofing = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': `203.0.113.99, ${SPRAYER}` });
    const spoofed = expectPage(await spoofing.submit(expectPage(await spoofing.open(request.url)), '/login', { identifier: person('adult').identifier, password: 'wrong' }));
    expect(spoofed.status).toBe(429);
  });

  it('locks a client id after ten wrong secrets, even against the right one; another platform is served', async () => {
    const introspect = (clientId: string, secret: string, from: string) => fetch(`${provider.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 12; attempt += 1) {
      statuses.push((await introspect(PLATFORM_A.clientId, `wrong-${attempt}`, '198.51.100.70')).status);
      await new Promise((resolve) => setTimeout(resolve, 300)); // stay under the request quota
    }
    expect(statuses.slice(0, 9)).toEqual(Array(9).fill(401));
    expect(statuses.slice(9)).toEqual([429, 429, 429]);
    const locked = await introspect(PLATFORM_A.clientId, PLATFORM_A.clientSecret!, '198.51.100.71');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await locked.json()).toEqual({ error: 'slow_down', error_description: expect.stringMatching(/too many wrong client secrets; retry after \d+ seconds/) });
    expect((await introspect(PLATFORM_B.clientId, PLATFORM_B.clientSecret!, '198.51.100.70')).status).toBe(200);
  });

  it(`holds each platform to ${QUOTA} requests a second at the token endpoints, with 429 slow_down and Retry-After`, async () => {
    const revoke = (clientId: string, secret: string) => fetch(`${provider.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a fresh second
    const burst = await Promise.all(Array.from({ length: 3 * QUOTA }, () => revoke(PLATFORM_B.clientId, PLATFORM_B.clientSecret!)));
    const statuses = burst.map((response) => response.status);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(2 * QUOTA); // the burst may straddle two seconds
    const limited = burst.find((response) => response.status === 429)!;
    expect(limited).toBeDefined();
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.json()).toMatchObject({ error: 'slow_down' });
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
  });
});
