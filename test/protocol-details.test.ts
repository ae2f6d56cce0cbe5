// Protocol details integrators tripped on (issue 20, items 9–14), against the real server with openid-client:
// ui_locales choosing the pages' language, discovery telling the truth about CIBA's user_code, an authorization
// code whose release could not be written to the ledger staying usable for the retry, what "No, stay signed in to Cyber ID"
// on the logout page means, and (with Redis stopped) a platform's authorization request coming back to it with
// temporarily_unavailable. The DPoP and PAR wording is checked in test/fapi.test.ts and below.
import { DatabaseSync } from 'node:sqlite';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { expectPage, expectRedirect, FormBrowser } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, type Person } from './support/platform.ts';
import { redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

let provider: RunningProvider;
let adult: Person;

beforeAll(async () => {
  provider = await startProvider(tempDataDir());
  adult = { identifier: provider.adult.phone, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.adult.phone) };
}, 60_000);

afterAll(async () => {
  await provider?.stop();
  if (provider) removeDataDir(provider.dataDir);
});

describe('ui_locales', () => {
  it('chooses the language of the sign-in page over the browser\'s Accept-Language, both ways', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const english = await authorizationRequest(config, PLATFORM_A, { scope: 'openid', ui_locales: 'en-GB zh-CN' });
    const page = expectPage(await new FormBrowser(provider.url, 'zh-CN').open(english.url));
    expect([page.doc.querySelector('html')?.getAttribute('lang'), page.doc.querySelector('label[for=password]')?.text]).toEqual(['en', 'Password']);
    const chinese = await authorizationRequest(config, PLATFORM_A, { scope: 'openid', ui_locales: 'fr zh-Hans' });
    const zhPage = expectPage(await new FormBrowser(provider.url, 'en').open(chinese.url));
    expect(zhPage.doc.querySelector('html')?.getAttribute('lang')).toBe('zh-CN');
    // The person's own switch still wins on the page.
    const switched = expectPage(await new FormBrowser(provider.url, 'zh-CN').open(`${page.url}?lang=zh-CN`));
    expect(switched.doc.querySelector('html')?.getAttribute('lang')).toBe('zh-CN');
  });
});

describe('discovery', () => {
  it('says user_code is not supported for decoupled sign-in, as the endpoint refuses it', async () => {
    const metadata = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata.backchannel_user_code_parameter_supported).toBe(false);
  });
});

describe('DPoP', () => {
  it('names the missing proof when a code bound at PAR (dpop_jkt) is redeemed without one', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const verifier = oidc.randomPKCECodeVerifier();
    const params = { redirect_uri: PLATFORM_A.redirectUri, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const url = await oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP });
    const browser = new FormBrowser(provider.url);
    const callback = await continueToPlatform(browser, await browser.open(url), adult);
    await expect(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }))
      .rejects.toMatchObject({ error: 'invalid_grant', error_description: 'this authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof signed with that key in the DPoP header of the token request' });
  });
});

describe('a release the ledger cannot record', () => {
  it('is withheld (503), and the same authorization code works on the retry', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    const browser = new FormBrowser(provider.url);
    const callback = await continueToPlatform(browser, await browser.open(request.url), adult);

    // The ledger's table refuses writes for a moment (what a failing disk or a broken database would do).
    const database = new DatabaseSync(path.join(provider.dataDir, 'cyberid.sqlite'));
    try {
      database.exec("CREATE TRIGGER ledger_fails BEFORE INSERT ON disclosures BEGIN SELECT RAISE(ABORT, 'ledger unavailable'); END");
      await expect(redeem(config, request, callback)).rejects.toMatchObject({ cause: expect.objectContaining({ status: 503 }) });
    } finally {
      database.exec('DROP TRIGGER IF EXISTS ledger_fails');
      database.close();
    }
    const tokens = await redeem(config, request, callback);
    expect(tokens.claims()!.sub).toEqual(expect.any(String));
    expect(await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).toHaveProperty('identity_verified', true);
  });
});

describe('the logout page\'s answers', () => {
  /** Signs in at A, then at B through the same browser (single sign-on, consent given), and asks to sign out of A. */
  async function signedInAtBoth() {
    const browser = new FormBrowser(provider.url);
    const a = await discover(provider.url, PLATFORM_A);
    const aRequest = await authorizationRequest(a, PLATFORM_A, { scope: 'openid' });
    const aTokens = await redeem(a, aRequest, await continueToPlatform(browser, await browser.open(aRequest.url), adult));
    const b = await discover(provider.url, PLATFORM_B);
    const bRequest = await authorizationRequest(b, PLATFORM_B, { scope: 'openid' });
    await redeem(b, bRequest, await continueToPlatform(browser, await browser.open(bRequest.url), adult));
    const confirm = expectPage(await browser.open(oidc.buildEndSessionUrl(a, { id_token_hint: aTokens.id_token!, post_logout_redirect_uri: 'http://localhost:4001/' })));
    return { browser, a, aTokens, confirm };
  }
  const silentAtB = async (browser: FormBrowser) => {
    const b = await discover(provider.url, PLATFORM_B);
    const request = await authorizationRequest(b, PLATFORM_B, { scope: 'openid', prompt: 'none' });
    return expectRedirect(await browser.open(request.url));
  };

  it('"No, stay signed in to Cyber ID": the platform that asked is signed out (its tokens end), Cyber ID and other platforms stay', async () => {
    const { browser, a, aTokens, confirm } = await signedInAtBoth();
    const back = expectRedirect(await browser.submit(confirm, '/session/end/confirm', {}));
    expect(back.origin + back.pathname).toBe('http://localhost:4001/');
    expect((await oidc.tokenIntrospection(a, aTokens.access_token)).active).toBe(false);
    expect((await silentAtB(browser)).searchParams.get('code')).toEqual(expect.any(String)); // still signed in to Cyber ID
  });

  it('"Yes, sign out of Cyber ID too": Cyber ID too, so no platform gets a sign-in without asking again', async () => {
    const { browser, a, aTokens, confirm } = await signedInAtBoth();
    expectRedirect(await browser.submit(confirm, '/session/end/confirm', { logout: 'yes' }));
    expect((await oidc.tokenIntrospection(a, aTokens.access_token)).active).toBe(false);
    expect((await silentAtB(browser)).searchParams.get('error')).toBe('login_required');
  });
});

const withRedis = redisAvailable('the outage redirect');

(withRedis ? describe : describe.skip)('an authorization request while the store is down', () => {
  let redis: RedisServer;
  let outage: RunningProvider;

  beforeAll(async () => {
    redis = await startRedis();
    outage = await startProvider(tempDataDir(), { REDIS_URL: redis.url });
  }, 60_000);

  afterAll(async () => {
    await outage?.crash(); // its Redis is gone: a graceful stop would wait for it
    // The killed redis-server may not report its exit again; do not let the clean-up hang the suite.
    await Promise.race([redis?.stop(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (outage) removeDataDir(outage.dataDir);
  });

  it('goes back to a known platform\'s registered redirect URI with temporarily_unavailable; anything unknown gets the page', async () => {
    const config = await discover(outage.url, PLATFORM_A);
    expectPage(await new FormBrowser(outage.url).open((await authorizationRequest(config, PLATFORM_A, { scope: 'openid' })).url)); // served once
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    await redis.kill();
    for (let waited = 0; (await fetch(`${outage.url}/readyz`)).status !== 503 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));

    const back = expectRedirect(await new FormBrowser(outage.url).open(request.url));
    expect(back.origin + back.pathname).toBe(PLATFORM_A.redirectUri);
    expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String), state: request.state, iss: outage.url });

    const elsewhere = new URL(request.url);
    elsewhere.searchParams.set('redirect_uri', 'https://attacker.example/cb');
    expect(expectPage(await new FormBrowser(outage.url).open(elsewhere)).status).toBe(503);
    const unknown = new URL(request.url);
    unknown.searchParams.set('client_id', 'no-such-platform');
    expect(expectPage(await new FormBrowser(outage.url).open(unknown)).status).toBe(503);
  }, 60_000);
});
