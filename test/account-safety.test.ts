// Account safety against the real server, as an attacker would try it (issue 19): a scan-to-sign-in relayed
// from a look-alike page, "this wasn't me" against someone who holds the password, the guardian pages, and
// one-time codes guessed across interactions. Requests come through CYBERID_PROXY with X-Forwarded-For, so
// the attacker and the person are on different networks, as they would be.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openEmbeddedStore } from '../adapters/index.ts';
import { expectPage, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_C, redeem, signIn, type Person, type PlatformRegistration, portalSignIn as signInToPortal } from './support/platform.ts';
import { readQrSvg } from './support/qr.ts';
import { lastCodeSentTo, messagesSentTo, passwordHashOf, removeDataDir, restorePasswordHash, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const PERSON_NETWORK = { 'x-forwarded-for': '198.51.100.20' };
const ATTACKER_NETWORK = { 'x-forwarded-for': '203.0.113.7', 'user-agent': 'Cyber ID Official App (verified by the Ministry)' };

let provider: RunningProvider;
let adult: Person;
let minor: Person;

beforeAll(async () => {
  provider = await startProvider(tempDataDir(), { CYBERID_PROXY: 'true' });
  adult = { identifier: provider.adult.phone, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.adult.phone) };
  minor = { identifier: provider.minor.phone, password: provider.minor.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.minor.phone) };
}, 60_000);

afterAll(async () => {
  await provider?.stop();
  if (provider) removeDataDir(provider.dataDir);
});

const at = (pathname: string) => new URL(pathname, provider.url);

/** Every SMS the simulated gateway sent to `phone`, oldest first. */
const messagesTo = (phone: string) => messagesSentTo(provider.dataDir, phone);

/** Signs in to the portal (password and SMS code, as far as the session needs); returns the page it lands on. */
const portalSignIn = (browser: FormBrowser, person: Person, start = '/account') => signInToPortal(browser, provider.url, person, start);

async function platformRequest(platform: PlatformRegistration, params: Record<string, string>) {
  const config = await discover(provider.url, platform);
  return { config, request: await authorizationRequest(config, platform, params) };
}

/** What a camera reads from a login page's QR code, and the number shown beside it. */
function scanOf(login: Page): { token: string; match: string } {
  const url = new URL(readQrSvg(login.doc.querySelector('img.qr')!.getAttribute('src')!));
  return { token: url.pathname.split('/').at(-1)!, match: login.doc.querySelector('#scan-match')!.text };
}

/** The account behind a browser's provider session (read from the store, as the server would). */
async function accountIdOf(browser: FormBrowser): Promise<string> {
  const sessionId = (await browser.jar.getCookies(provider.url)).find((cookie) => cookie.key === '_session')!.value;
  const store = openEmbeddedStore(provider.dataDir);
  try {
    return (await store.adapterFor('Session').find(sessionId))!.accountId as string;
  } finally {
    await store.close();
  }
}

/** Registering a passkey needs a WebAuthn authenticator (the Chromium suites do that); here one is put in place. */
async function plantPasskey(accountId: string, name: string): Promise<void> {
  const store = openEmbeddedStore(provider.dataDir);
  try {
    await store.passkeys.insert({ id: 'cGxhbnRlZC1wYXNza2V5', accountId, publicKey: 'AQID', counter: 0, transports: ['internal'], name, createdAt: Date.now(), lastUsedAt: null });
  } finally {
    await store.close();
  }
}

/** Opens a platform's request and submits the password; returns the page that asks for the SMS code. */
async function passwordOnly(browser: FormBrowser, url: URL, person: Person): Promise<Page> {
  const page = expectPage(await browser.submit(expectPage(await browser.open(url)), '/login', { identifier: person.identifier, password: person.password }));
  expect(page.doc.querySelector('form[action$="/code"]')).not.toBeNull();
  return page;
}

/** True when the browser was sent to sign in again instead of being served (the login form, no QR code). */
function askedToSignInAgain(page: Page): boolean {
  return page.doc.querySelector('form[action$="/login"]') !== null && page.doc.querySelector('img.qr') === null;
}

/**
 * The attacker opens the portal's own sign-in, which shows a QR code, and shows it with its number to the person
 * on a fake page; the person, signed in on their phone, approves it. Returns both browsers.
 */
async function relayedSession(): Promise<{ attacker: FormBrowser; phone: FormBrowser; ask: Page }> {
  const phone = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
  await portalSignIn(phone, adult);
  const attacker = new FormBrowser(provider.url, 'en', ATTACKER_NETWORK);
  const login = expectPage(await attacker.open(at('/account')));
  const { token, match } = scanOf(login);
  const ask = expectPage(await phone.open(at(`/scan/${token}`)));
  // The person deliberately confirms despite the warning (the worst case); the number is the one the fake page relayed.
  const approved = expectPage(await phone.submit(ask, `/scan/${token}`, { number: match, together: 'yes' }));
  expect(approved.doc.querySelector('h1')?.text).toBe('Approved');
  const uid = new URL(login.url).pathname.split('/')[2]!;
  const answer = await (await fetch(at(`/interaction/${uid}/scan`), { headers: { ...ATTACKER_NETWORK, cookie: await attacker.jar.getCookieString(at(`/interaction/${uid}`).href) } })).json() as { redirect_to: string };
  const home = expectPage(await attacker.open(at(answer.redirect_to)));
  expect(home.url).toBe(at('/account').href);
  return { attacker, phone, ask };
}

describe('scan to sign in relayed from a look-alike page', () => {

  it('shows the approving phone only what the server saw, and makes it confirm deliberately across networks', async () => {
    const phone = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    await portalSignIn(phone, adult);
    const attacker = new FormBrowser(provider.url, 'en', ATTACKER_NETWORK);
    const { token, match } = scanOf(expectPage(await attacker.open(at('/account'))));
    const ask = expectPage(await phone.open(at(`/scan/${token}`)));
    expect(ask.html).not.toContain('Official App'); // the requester's own User-Agent is never shown
    expect(ask.doc.querySelector('.facts')?.text).toContain('Another network, not this phone’s');
    expect(ask.doc.querySelector('.notice.warning h2')?.text).toBe('Careful: the request came from another network');
    const unticked = expectPage(await phone.submit(ask, `/scan/${token}`, { number: match }));
    expect([unticked.status, unticked.doc.querySelector('.error-summary a')?.getAttribute('href')]).toEqual([400, '#together']);
    expect(expectPage(await phone.open(at(`/scan/${token}`))).doc.querySelector('h1')?.text).toMatch(/^Sign in to/); // still pending, nothing approved

    // From the same network there is no warning and no tick to give.
    const beside = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '198.51.100.77' });
    const sameNetwork = expectPage(await phone.open(at(`/scan/${scanOf(expectPage(await beside.open(at('/account')))).token}`)));
    expect(sameNetwork.doc.querySelector('.facts')?.text).toContain('The same network as this phone');
    expect(sameNetwork.doc.querySelector('input[name=together]')).toBeNull();
  });

  it('gives the relayed session no sensitive action: network number, phone, password, passkeys, deletion, guardian decisions', async () => {
    const { attacker } = await relayedSession();
    const sentBefore = messagesTo('13900139555').length;

    const networkNumber = expectPage(await attacker.open(at('/account/network-number')));
    expect(askedToSignInAgain(networkNumber)).toBe(true);
    expect(networkNumber.html).not.toContain(provider.adult.networkNumber.replace(/\s/g, '').slice(0, 8));
    expect(networkNumber.doc.querySelector('.notice')?.text).toContain('Scanning a code cannot be used here');

    const credentials = expectPage(await attacker.open(at('/account/credentials')));
    expect(askedToSignInAgain(expectPage(await attacker.submit(credentials, '/account/phone', { phone: '13900139555' })))).toBe(true);
    expect(messagesTo('13900139555')).toHaveLength(sentBefore); // no code went to the attacker's phone
    expect(askedToSignInAgain(expectPage(await attacker.submit(credentials, '/account/password', { current: 'guess', password: 'x', confirm: 'x' })))).toBe(true);
    const csrf = credentials.doc.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const passkey = await fetch(at('/account/passkeys/options'), { method: 'POST', headers: { ...ATTACKER_NETWORK, 'x-csrf-token': csrf, 'content-type': 'application/json', cookie: await attacker.jar.getCookieString(at('/account/passkeys/options').href) }, body: '{}' });
    expect([passkey.status, (await passkey.json() as { error: string }).error]).toEqual([401, 'login_required']);
    expect(askedToSignInAgain(expectPage(await attacker.open(at('/account/delete'))))).toBe(true);
    expect(expectPage(await attacker.open(at('/account/family'))).status).toBe(200); // looking is fine; deciding is not
    for (const decision of ['/account/family/decide-platform', '/account/family/decide']) {
      const posted = expectPage(await attacker.open(at(decision), { method: 'POST', body: new URLSearchParams({ csrf, minor: 'x', platform: 'platform-d', decision: 'approve' }) }));
      expect(askedToSignInAgain(posted)).toBe(true);
    }
    expect(askedToSignInAgain(expectPage(await attacker.open(at('/account/family/enrol-child'))))).toBe(true);
  });

  it('does not let a relayed session approve further scans, nor finish the portal\'s fresh sign-in by scanning', async () => {
    const { attacker } = await relayedSession();
    const third = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '192.0.2.9' });
    const { token } = scanOf(expectPage(await third.open(at('/account'))));
    expect(expectPage(await attacker.open(at(`/scan/${token}`))).doc.querySelector('h1')?.text).toBe('A stronger sign-in is needed');

    // The sign-in asked for before a sensitive change offers no QR code, and its scan endpoint answers nothing.
    const again = expectPage(await attacker.open(at('/account/sign-in?again=1&return=%2Faccount%2Fcredentials')));
    expect(askedToSignInAgain(again)).toBe(true);
    const uid = new URL(again.url).pathname.split('/')[2]!;
    const poll = await fetch(at(`/interaction/${uid}/scan`), { headers: { ...ATTACKER_NETWORK, accept: 'application/json', cookie: await attacker.jar.getCookieString(at(`/interaction/${uid}`).href) } });
    expect(poll.status).toBe(409);
  });

  it('marks the session as a scan sign-in at platforms (amr mca)', async () => {
    const phone = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    await portalSignIn(phone, adult);
    const { config, request } = await platformRequest(PLATFORM_C, { scope: 'openid' });
    const desktop = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '198.51.100.30' });
    const login = expectPage(await desktop.open(request.url));
    const { token, match } = scanOf(login);
    expectPage(await phone.submit(expectPage(await phone.open(at(`/scan/${token}`))), `/scan/${token}`, { number: match }));
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const answer = await (await fetch(at(`/interaction/${uid}/scan`), { headers: { cookie: await desktop.jar.getCookieString(at(`/interaction/${uid}`).href) } })).json() as { redirect_to: string };
    const tokens = await redeem(config, request, await continueToPlatform(desktop, await desktop.open(at(answer.redirect_to)), adult));
    expect(tokens.claims()!.amr).toEqual(['mca', 'mfa']);
  });
});

describe('guardian actions', () => {
  it('no longer signs a guardian in with a password alone at /guardian: it leads to the portal, which needs loa2', async () => {
    const guardian = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    const landing = expectPage(await guardian.open(at('/guardian')));
    expect(landing.doc.querySelector('form[action$="/guardian/sign-in"]')).toBeNull();
    const afterPassword = expectPage(await guardian.submit(landing, '/login', { identifier: adult.identifier, password: adult.password }));
    expect(afterPassword.doc.querySelector('form[action$="/code"]')).not.toBeNull(); // the password alone is not enough
    // The old form's address does nothing either.
    const posted = expectPage(await guardian.open(at('/guardian/sign-in'), { method: 'POST', body: new URLSearchParams({ identifier: adult.identifier, password: adult.password }) }));
    expect(posted.doc.querySelector('#pending-platforms')).toBeNull();
  });
});

describe('one-time codes guessed across interactions', () => {
  it('allows no more than five wrong codes per account, however they are spread and whatever sign-ins come between', async () => {
    const attacker = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.50' });
    const statuses: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      // A platform that needs the code (C), then four guesses…
      const { request } = await platformRequest(PLATFORM_C, { scope: 'openid', prompt: 'login' });
      let page = await passwordOnly(attacker, request.url, minor);
      for (let guess = 0; guess < 4; guess += 1) {
        page = expectPage(await attacker.submit(page, '/code', { code: String(100000 + round * 10 + guess) }));
        statuses.push(page.status);
      }
      // …then a password-only sign-in at a platform that accepts it (A, loa1), which used to forgive them.
      const loa1 = await platformRequest(PLATFORM_A, { scope: 'openid', prompt: 'login' });
      await continueToPlatform(attacker, await attacker.open(loa1.request.url), minor);
    }
    // Four "wrong code" answers; the fifth wrong code locks (429), and so does everything after it.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    // The right code is refused too while the codes are locked: a guess cannot be told from the answer.
    const { request } = await platformRequest(PLATFORM_C, { scope: 'openid', prompt: 'login' });
    const codePage = await passwordOnly(attacker, request.url, minor);
    const right = expectPage(await attacker.submit(codePage, '/code', { code: minor.oneTimeCode!()! }));
    expect(right.status).toBe(429);
    expect(right.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(right.doc.querySelector('.notice a[href="/recover"]')).not.toBeNull();
  });
});

describe('codes sent and numbers tried', () => {
  it('sends one phone at most ten codes an hour, however many sign-ins ask, and says until when', async () => {
    const attacker = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.51' });
    const codesBefore = messagesTo(provider.minor.phone).filter((text) => /\b\d{6}\b/.test(text)).length;
    let page: Page | undefined;
    for (let attempt = codesBefore; attempt <= 10; attempt += 1) {
      const { request } = await platformRequest(PLATFORM_C, { scope: 'openid', prompt: 'login' });
      page = await passwordOnly(attacker, request.url, minor);
    }
    expect(messagesTo(provider.minor.phone).filter((text) => /\b\d{6}\b/.test(text))).toHaveLength(10);
    expect(page!.doc.querySelector('.notice[role=status]')?.text).toMatch(/^Many codes were sent to your phone recently\. To protect your account, no more are sent before \d\d:\d\d\./);
    const resent = expectPage(await attacker.submit(page!, '/code/resend'));
    expect([resent.status, resent.doc.querySelector('.notice[role=status]')?.text.slice(0, 42)]).toEqual([429, 'Many codes were sent to your phone recentl']);
  });

  it('lets one account try five new phone numbers an hour, then answers 429 with Retry-After', async () => {
    const browser = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    await portalSignIn(browser, adult);
    let page = expectPage(await browser.open(at('/account/credentials')));
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      page = expectPage(await browser.submit(page, '/account/phone', { phone: `1370013700${attempt}` }));
      statuses.push(page.status);
      // Each number is confirmed through the current phone first; back to the form for the next try.
      if (page.status === 200) page = expectPage(await browser.open(at('/account/credentials')));
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(page.doc.querySelector('#phone-error')?.text).toMatch(/^Too many numbers tried/);
  });
});

describe('account recovery in a stranger\'s hands', () => {
  it('lets someone who knows only the phone number neither lock the person\'s sign-in nor use up their sign-in codes', async () => {
    const stranger = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.90' });
    let page = expectPage(await stranger.open(at('/recover')));
    page = expectPage(await stranger.submit(page, '/recover/start', { journey: 'password' }));
    page = expectPage(await stranger.submit(page, '/recover/identify', { identifier: provider.adult.phone }));
    for (let guess = 0; guess < 5; guess += 1) page = expectPage(await stranger.submit(page, '/recover/code', { code: String(200000 + guess) }));
    expect(page.status).toBe(429); // recovery is locked for this account…
    // …but the person still signs in with the password and a code.
    const person = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    const { config, request } = await platformRequest(PLATFORM_C, { scope: 'openid', prompt: 'login' });
    const tokens = await redeem(config, request, await continueToPlatform(person, await person.open(request.url), adult));
    expect(tokens.claims()!.amr).toEqual(['pwd', 'otp', 'sms', 'mfa']);
  });
});

describe('"this wasn\'t me"', () => {
  it('leaves the stolen password useless, ends every session, tells the phone, and lets the person remove passkeys', async () => {
    // The attacker has the password and a provider session at a loa1 platform.
    const attacker = new FormBrowser(provider.url, 'en', ATTACKER_NETWORK);
    const loa1 = await platformRequest(PLATFORM_A, { scope: 'openid' });
    await continueToPlatform(attacker, await attacker.open(loa1.request.url), adult);
    // The guardian's own second browser, in the Family section.
    const family = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    await portalSignIn(family, adult, '/account/family');
    // A passkey the attacker may have planted.
    const person = new FormBrowser(provider.url, 'en', PERSON_NETWORK);
    const security = await portalSignIn(person, adult, '/account/security');
    await plantPasskey(await accountIdOf(person), 'Planted key');

    const accountId = await accountIdOf(person);
    const passwordHash = await passwordHashOf(provider.dataDir, accountId);
    const secured = expectPage(await person.submit(security, '/account/security/not-me'));
    expect(secured.url).toBe(at('/account/security/review').href);
    expect(secured.doc.querySelector('h1')?.text).toBe('Your account is now protected');
    expect(secured.doc.querySelector('a[href="/recover"]')).not.toBeNull();
    expect(secured.doc.querySelectorAll('#passkeys li strong').map((name) => name.text)).toEqual(['Planted key']);
    const removed = expectPage(await person.submit(secured, '/account/security/review'));
    expect(removed.doc.querySelector('#passkeys')).toBeNull();
    expect(removed.doc.querySelector('.notice')?.text).toBe('The passkey has been removed. It can no longer sign you in.');
    expect(messagesTo(provider.adult.phone).at(-1)).toContain('报告了非本人登录');

    // The stolen password signs in nowhere, not even at the loa1 platform, and chooses nothing.
    const again = await platformRequest(PLATFORM_A, { scope: 'openid', prompt: 'login' });
    const refused = expectPage(await signIn(new FormBrowser(provider.url, 'en', ATTACKER_NETWORK), again.request.url, adult));
    expect(refused.status).toBe(401);
    expect(refused.doc.querySelector('input[name=confirm]')).toBeNull();
    // The attacker's provider session is gone: the platform must sign in again.
    const silent = await platformRequest(PLATFORM_A, { scope: 'openid', prompt: 'none' });
    const answer = await attacker.open(silent.request.url);
    expect(answer.kind === 'redirect' && answer.location.searchParams.get('error')).toBe('login_required');
    // The guardian's browser is signed out too: a decision leads to sign-in.
    expect(expectPage(await family.open(at('/account/family'))).doc.querySelector('form[action$="/login"]')).not.toBeNull();

    // Recovery (test/recovery.test.ts) sets a new password; the old hash is put back for the case below.
    await restorePasswordHash(provider.dataDir, accountId, passwordHash);
  });

  it('lets a relayed scan session press it, but not strip the person\'s passkeys', async () => {
    const { attacker, phone } = await relayedSession();
    await plantPasskey(await accountIdOf(phone), 'Phone');
    const security = expectPage(await attacker.open(at('/account/security')));
    const secured = expectPage(await attacker.submit(security, '/account/security/not-me'));
    expect(secured.doc.querySelectorAll('#passkeys li strong').map((name) => name.text)).toEqual(['Phone']);
    expect(secured.doc.querySelector('form[action="/account/security/review"]')).toBeNull();
    const csrf = secured.doc.querySelector('input[name=csrf]')?.getAttribute('value') ?? security.doc.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const posted = expectPage(await attacker.open(at('/account/security/review'), { method: 'POST', body: new URLSearchParams({ csrf, id: 'cGxhbnRlZC1wYXNza2V5' }) }));
    expect(posted.doc.querySelectorAll('#passkeys li strong').map((name) => name.text)).toEqual(['Phone']);
  });
});

