// Sign-in levels, step-up, scan to sign in, admission rules and lockout over HTTP against the real server,
// with openid-client as the platform. One-time codes are read from the simulated SMS outbox. (The same
// journeys in real Chromium are in sign-in-browser.test.ts.) Every request comes from 127.0.0.1, so this
// file keeps its wrong attempts well under the per-address limit (20 per 15 minutes).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { openEmbeddedStore } from '../adapters/index.ts';
import { CredentialThrottle } from '../server/identity/throttle.ts';
import { expectPage, expectRedirect, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, PLATFORM_C, redeem, signIn, type Person, type PlatformRegistration } from './support/platform.ts';
import { readQrSvg } from './support/qr.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const PLATFORM_D: PlatformRegistration = { clientId: 'platform-d', clientSecret: 'platform-d-development-secret-change-me', redirectUri: 'http://localhost:4004/callback' };

let provider: RunningProvider;
let adult: Person;
let minor: Person;

beforeAll(async () => {
  provider = await startProvider(tempDataDir());
  adult = { identifier: provider.adult.phone, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.adult.phone) };
  minor = { identifier: provider.minor.phone, password: provider.minor.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.minor.phone) };
}, 60_000);

afterAll(async () => {
  await provider.stop();
  removeDataDir(provider.dataDir);
});

async function request(platform: PlatformRegistration, params: Record<string, string>) {
  const config = await discover(provider.url, platform);
  return { config, request: await authorizationRequest(config, platform, params) };
}

async function sessionCookie(browser: FormBrowser): Promise<string | undefined> {
  return (await browser.jar.getCookies(provider.url)).find((cookie) => cookie.key === '_session')?.value;
}

describe('levels of assurance', () => {
  it('asks a loa2 platform for the SMS code after the password, and says so in acr and amr', async () => {
    const { config, request: req } = await request(PLATFORM_C, { scope: 'openid' });
    const browser = new FormBrowser(provider.url);
    const codePage = expectPage(await browser.submit(expectPage(await browser.open(req.url)), '/login', { identifier: adult.identifier, password: adult.password }));
    expect(codePage.doc.querySelector('.lead')?.text).toContain('+86138****8000'); // masked, never the whole number
    expect(codePage.html).not.toContain(provider.adult.phone);

    const wrong = expectPage(await browser.submit(codePage, '/code', { code: lastCodeSentTo(provider.dataDir, provider.adult.phone) === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(401);
    expect(wrong.doc.querySelector('#code-error')?.text).toBe('The code is not correct. 4 tries left for this code.');
    const malformed = expectPage(await browser.submit(wrong, '/code', { code: '12ab' }));
    expect(malformed.status).toBe(400);
    const tooSoon = expectPage(await browser.submit(malformed, '/code/resend'));
    expect([tooSoon.status, tooSoon.headers.get('retry-after')]).toEqual([429, expect.stringMatching(/^\d+$/)]);

    const callback = await continueToPlatform(browser, await browser.submit(tooSoon, '/code', { code: adult.oneTimeCode!()! }), adult);
    const claims = (await redeem(config, req, callback)).claims()!;
    expect([claims.acr, claims.amr]).toEqual(['cyberid:loa2', ['pwd', 'otp', 'sms', 'mfa']]);
  });

  it('lets a loa1 platform through on the password alone', async () => {
    const { config, request: req } = await request(PLATFORM_A, { scope: 'openid' });
    const browser = new FormBrowser(provider.url);
    const claims = (await redeem(config, req, await continueToPlatform(browser, await browser.open(req.url), adult))).claims()!;
    expect([claims.acr, claims.amr]).toEqual(['cyberid:loa1', ['pwd']]);
  });

  it('steps a loa1 session up to loa3 inside one interaction: code, then face, without the password again', async () => {
    const browser = new FormBrowser(provider.url);
    const first = await request(PLATFORM_A, { scope: 'openid' });
    await redeem(first.config, first.request, await continueToPlatform(browser, await browser.open(first.request.url), adult));
    const before = await sessionCookie(browser);

    const { config, request: req } = await request(PLATFORM_A, { scope: 'openid', acr_values: 'cyberid:loa3' });
    const codePage = expectPage(await browser.open(req.url));
    expect(codePage.doc.querySelector('input[name=password]')).toBeNull();
    expect(codePage.doc.querySelector('form[action$="/code"]')).not.toBeNull();
    const uid = new URL(codePage.url).pathname.split('/')[2];

    const facePage = expectPage(await browser.submit(codePage, '/code', { code: adult.oneTimeCode!()! }));
    expect(new URL(facePage.url).pathname).toBe(`/interaction/${uid}`); // the same interaction
    const spoof = expectPage(await browser.submit(facePage, '/face', { subject: 'printed_photo' }));
    expect([spoof.status, spoof.doc.querySelector('#subject-error')?.text]).toEqual([401, 'The camera could not confirm a live person. Photos and screens are not accepted.']);
    const callback = expectRedirect(await browser.submit(spoof, '/face', { subject: 'own_face' }));

    const claims = (await redeem(config, req, callback)).claims()!;
    expect([claims.acr, claims.amr]).toEqual(['cyberid:loa3', ['pwd', 'otp', 'sms', 'face', 'mfa']]);
    expect(await sessionCookie(browser)).not.toBe(before); // a new session id after signing in again
  });

  it('raises a platform\'s minimum in policy for an existing loa1 session (platform C needs loa2)', async () => {
    const browser = new FormBrowser(provider.url);
    const first = await request(PLATFORM_A, { scope: 'openid' });
    await redeem(first.config, first.request, await continueToPlatform(browser, await browser.open(first.request.url), adult));

    const { config, request: req } = await request(PLATFORM_C, { scope: 'openid' });
    const codePage = expectPage(await browser.open(req.url));
    expect(codePage.doc.querySelector('form[action$="/code"]')).not.toBeNull();
    const claims = (await redeem(config, req, await continueToPlatform(browser, await browser.submit(codePage, '/code', { code: adult.oneTimeCode!()! }), adult))).claims()!;
    expect(claims.acr).toBe('cyberid:loa2');
  });
});

describe('scan to sign in', () => {
  /** A second device: a browser signed in at loa2 through platform C. */
  async function signedInPhone(person: Person): Promise<FormBrowser> {
    const phone = new FormBrowser(provider.url);
    const { config, request: req } = await request(PLATFORM_C, { scope: 'openid' });
    await redeem(config, req, await continueToPlatform(phone, await phone.open(req.url), person));
    return phone;
  }

  /** What a phone's camera reads from the login page's QR code, and the number the page shows beside it. */
  function scanOf(login: Page): { token: string; match: string } {
    const url = new URL(readQrSvg(login.doc.querySelector('img.qr')!.getAttribute('src')!));
    expect(url.origin + url.pathname.replace(/[^/]+$/, '')).toBe(`${provider.url}/scan/`);
    return { token: url.pathname.split('/').at(-1)!, match: login.doc.querySelector('#scan-match')!.text };
  }

  it('approves the first browser from a signed-in phone after matching the number; the code works once', async () => {
    const phone = await signedInPhone(adult);
    const { config, request: req } = await request(PLATFORM_B, { scope: 'openid verified' });
    const desktop = new FormBrowser(provider.url);
    const login = expectPage(await desktop.open(req.url));
    const { token, match } = scanOf(login);
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const poll = async () => (await fetch(new URL(`/interaction/${uid}/scan`, provider.url), { headers: { cookie: await desktop.jar.getCookieString(provider.url + `/interaction/${uid}`) } })).json() as Promise<{ status: string; redirect_to?: string }>;
    expect(await poll()).toEqual({ status: 'pending' });

    const ask = expectPage(await phone.open(new URL(`/scan/${token}`, provider.url)));
    expect(ask.doc.querySelector('.facts')?.text).toContain('Platform B · National Qualification Exams');
    const choices = ask.doc.querySelectorAll('button[name=number]').map((button) => button.getAttribute('value'));
    expect(choices).toHaveLength(3);
    expect(choices).toContain(match);
    const approved = expectPage(await phone.submit(ask, `/scan/${token}`, { number: match }));
    expect(approved.doc.querySelector('h1')?.text).toBe('Approved');

    const answer = await poll();
    expect(answer).toMatchObject({ status: 'approved', redirect_to: expect.stringContaining('/auth/') });
    expect(await poll()).toEqual({ status: 'expired' }); // handed out once
    const again = expectPage(await phone.open(new URL(`/scan/${token}`, provider.url)));
    expect(again.status).toBe(410);

    const callback = await continueToPlatform(desktop, await desktop.open(new URL(answer.redirect_to!, provider.url)), adult);
    const claims = (await redeem(config, req, callback)).claims()!;
    expect([claims.acr, claims.amr]).toEqual(['cyberid:loa2', ['mca', 'mfa']]);
  });

  it('burns the code when the phone picks the wrong number, and refuses phones not signed in strongly enough', async () => {
    const { request: req } = await request(PLATFORM_B, { scope: 'openid verified' });
    const desktop = new FormBrowser(provider.url);
    const login = expectPage(await desktop.open(req.url));
    const { token, match } = scanOf(login);

    const stranger = new FormBrowser(provider.url);
    expect(expectPage(await stranger.open(new URL(`/scan/${token}`, provider.url))).doc.querySelector('h1')?.text).toBe('Sign in on this device first');
    const weak = new FormBrowser(provider.url);
    const first = await request(PLATFORM_A, { scope: 'openid' });
    await redeem(first.config, first.request, await continueToPlatform(weak, await weak.open(first.request.url), adult)); // loa1 only
    expect(expectPage(await weak.open(new URL(`/scan/${token}`, provider.url))).doc.querySelector('h1')?.text).toBe('A stronger sign-in is needed');

    const phone = await signedInPhone(adult);
    const ask = expectPage(await phone.open(new URL(`/scan/${token}`, provider.url)));
    const wrongNumber = ask.doc.querySelectorAll('button[name=number]').map((b) => b.getAttribute('value')!).find((n) => n !== match)!;
    const refused = expectPage(await phone.submit(ask, `/scan/${token}`, { number: wrongNumber }));
    expect([refused.status, refused.doc.querySelector('h1')?.text]).toEqual([401, 'The numbers did not match']);
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const status = await (await fetch(new URL(`/interaction/${uid}/scan`, provider.url), { headers: { cookie: await desktop.jar.getCookieString(`${provider.url}/interaction/${uid}`) } })).json();
    expect(status).toEqual({ status: 'declined' });
    expect(expectPage(await phone.open(new URL(`/scan/${token}`, provider.url))).status).toBe(410);
  });

  it('does not hand an approval to a browser without the interaction\'s cookie', async () => {
    const { request: req } = await request(PLATFORM_B, { scope: 'openid verified' });
    const desktop = new FormBrowser(provider.url);
    const login = expectPage(await desktop.open(req.url));
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const response = await fetch(new URL(`/interaction/${uid}/scan`, provider.url), { headers: { accept: 'application/json' } });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await response.text()).not.toContain('redirect_to');
  });
});

describe('admission: minimum age and guardian approval', () => {
  it('refuses a 16-year-old at an adults-only platform with a page that says why, then access_denied', async () => {
    const { request: req } = await request(PLATFORM_B, { scope: 'openid verified' });
    const browser = new FormBrowser(provider.url);
    const page = expectPage(await signIn(browser, req.url, minor));
    expect([page.status, page.doc.querySelector('h1')?.text]).toEqual([403, 'Platform B · National Qualification Exams is for people aged 18 and over']);
    expect(page.doc.querySelector('form[action$="/consent"]')).toBeNull();
    const callback = expectRedirect(await browser.submit(page, '/abort'));
    expect([callback.searchParams.get('error'), callback.searchParams.get('state')]).toEqual(['access_denied', req.state]);
  });

  it('makes a 16-year-old wait for a guardian at platform D, and continues once the guardian approves', async () => {
    const { config, request: req } = await request(PLATFORM_D, { scope: 'openid age' });
    const browser = new FormBrowser(provider.url);
    const waiting = expectPage(await signIn(browser, req.url, minor));
    expect(waiting.doc.querySelector('h1')?.text).toBe('Your guardian needs to approve Platform D · Youth Reading Club');
    const uid = new URL(waiting.url).pathname.split('/')[2]!;
    const poll = async () => (await fetch(new URL(`/interaction/${uid}/admission`, provider.url), { headers: { cookie: await browser.jar.getCookieString(`${provider.url}/interaction/${uid}`) } })).json() as Promise<{ status: string; redirect_to?: string }>;
    expect(await poll()).toEqual({ status: 'awaiting_guardian' });

    // The guardian decides in the portal's Family section (the old /guardian address leads there), signed in at loa2.
    const guardian = new FormBrowser(provider.url);
    const login = expectPage(await guardian.open(new URL('/guardian', provider.url)));
    const code = expectPage(await guardian.submit(login, '/login', { identifier: adult.identifier, password: adult.password }));
    const family = expectPage(await guardian.submit(code, '/code', { code: adult.oneTimeCode!()! }));
    expect(family.url).toBe(new URL('/account/family', provider.url).href);
    expect(family.doc.querySelector('li[data-request=platform-d]')?.getAttribute('data-status')).toBe('pending');
    const minorId = family.doc.querySelector('section.minor')!.getAttribute('data-minor')!;
    const decided = expectPage(await guardian.submit(family, '/account/family/decide-platform', { minor: minorId, platform: 'platform-d', decision: 'approve' }));
    expect(decided.doc.querySelector('.notice')?.text).toMatch(/^Approved/);

    const answer = await poll();
    expect(answer.status).toBe('admitted');
    const callback = await continueToPlatform(browser, await browser.open(new URL(answer.redirect_to!, provider.url)), minor);
    const tokens = await redeem(config, req, callback);
    expect((await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).age_over_14).toBe(true);

    // Remembered: the next sign-in does not wait again.
    const next = await request(PLATFORM_D, { scope: 'openid age' });
    const again = new FormBrowser(provider.url);
    await redeem(next.config, next.request, await continueToPlatform(again, await again.open(next.request.url), minor));
  });

  it('lets an adult straight through at platform D', async () => {
    const { config, request: req } = await request(PLATFORM_D, { scope: 'openid age' });
    const browser = new FormBrowser(provider.url);
    await redeem(config, req, await continueToPlatform(browser, await browser.open(req.url), adult));
  });
});

describe('lockout', () => {
  it('locks an account after five wrong passwords, even against the right one, and says when to retry', async () => {
    const { request: req } = await request(PLATFORM_A, { scope: 'openid' });
    const browser = new FormBrowser(provider.url);
    let page = expectPage(await browser.open(req.url));
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      page = expectPage(await browser.submit(page, '/login', { identifier: minor.identifier, password: `wrong-${attempt}` }));
      expect(page.status).toBe(401);
    }
    page = expectPage(await browser.submit(page, '/login', { identifier: minor.identifier, password: 'wrong-5' }));
    expect([page.status, page.headers.get('retry-after')]).toEqual([429, '60']);
    expect(page.doc.querySelector('.error-summary')?.text).toMatch(/Too many attempts\. For your safety, try again after \d\d:\d\d \(in about 1 min\)/);
    expect(page.doc.querySelector('.notice a[href="/recover"]')?.text).toBe('recover your account');

    const right = expectPage(await browser.submit(page, '/login', { identifier: minor.identifier, password: minor.password }));
    expect(right.status).toBe(429); // not even checked while locked
    expect(await browser.cookieNames(`${provider.url}/auth`)).not.toContain('_session');

    // Another person from the same address is not affected.
    const { config: configA, request: other } = await request(PLATFORM_A, { scope: 'openid' });
    const elsewhere = new FormBrowser(provider.url);
    await redeem(configA, other, await continueToPlatform(elsewhere, await elsewhere.open(other.url), adult));
  });
});

describe('credential throttle on the embedded store', () => {
  const rules = {
    account: { failures: 3, windowSeconds: 60, firstLockSeconds: 1, maxLockSeconds: 4 },
    ip: { failures: 6, windowSeconds: 60, firstLockSeconds: 2, maxLockSeconds: 60 },
  };
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('locks an account at its limit, doubles the next lock, and forgives on success', async () => {
    const dir = tempDataDir();
    const store = openEmbeddedStore(dir);
    try {
      const throttle = new CredentialThrottle(store.rateLimiter, rules);
      const attempt = { account: 'account-1', ip: '198.51.100.1' };
      expect(await throttle.failed(attempt)).toEqual({ allowed: true });
      expect(await throttle.failed(attempt)).toEqual({ allowed: true });
      expect(await throttle.failed(attempt)).toEqual({ allowed: false, retryAfter: 1 });
      expect(await throttle.verdict(attempt)).toEqual({ allowed: false, retryAfter: 1 });
      expect(await throttle.verdict({ account: 'account-2', ip: '198.51.100.2' })).toEqual({ allowed: true });

      await wait(1100);
      expect(await throttle.verdict(attempt)).toEqual({ allowed: true });
      await throttle.failed(attempt);
      await throttle.failed(attempt);
      expect(await throttle.failed(attempt)).toEqual({ allowed: false, retryAfter: 2 }); // the second lock is twice as long

      await throttle.succeeded({ account: 'account-1', ip: '198.51.100.9' });
      expect(await throttle.verdict({ account: 'account-1', ip: '198.51.100.9' })).toEqual({ allowed: true });
    } finally {
      await store.close();
      removeDataDir(dir);
    }
  });

  it('locks an address that fails across many accounts, without touching other addresses; counts survive a reopen', async () => {
    const dir = tempDataDir();
    let store = openEmbeddedStore(dir);
    try {
      let throttle = new CredentialThrottle(store.rateLimiter, rules);
      for (let account = 1; account <= 5; account += 1) await throttle.failed({ account: `a${account}`, ip: '203.0.113.7' });
      await store.close();
      store = openEmbeddedStore(dir); // a restart, or another process on the same file
      throttle = new CredentialThrottle(store.rateLimiter, rules);
      expect(await throttle.failed({ account: 'a6', ip: '203.0.113.7' })).toEqual({ allowed: false, retryAfter: 2 });
      expect(await throttle.verdict({ account: 'a7', ip: '203.0.113.7' })).toMatchObject({ allowed: false });
      expect(await throttle.verdict({ account: 'a7', ip: '203.0.113.8' })).toEqual({ allowed: true });
    } finally {
      await store.close();
      removeDataDir(dir);
    }
  });
});
