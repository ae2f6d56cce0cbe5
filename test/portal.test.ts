// The person's portal (/account) over HTTP against the real server: it signs in through the provider as a
// first-party OIDC client; connected platforms and revoking them (tokens dead, back-channel logout
// delivered); the disclosure ledger (exact claims, filters, JSON/CSV export, retention); security activity
// and "this wasn't me"; credentials; the guardian's view; deleting the account. Platforms are openid-client.
// Every request comes from 127.0.0.1: this file keeps its wrong attempts well under the per-address limit.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { openEmbeddedStore } from '../adapters/index.ts';
import { expectPage, FormBrowser } from './support/browser.ts';
import { clientsWithBackChannel, startBackChannelReceiver, type BackChannelReceiver } from './support/back-channel.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, type Person, type PlatformRegistration, portalSignIn as signInToPortal } from './support/platform.ts';
import { lastCodeSentTo, messagesSentTo, passwordHashOf, removeDataDir, restorePasswordHash, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const PLATFORM_D: PlatformRegistration = { clientId: 'platform-d', clientSecret: 'platform-d-development-secret-change-me', redirectUri: 'http://localhost:4004/callback' };

let provider: RunningProvider;
let receiver: BackChannelReceiver;
let adult: Person;
let minor: Person;
const RETENTION_DAYS = 30;

beforeAll(async () => {
  receiver = await startBackChannelReceiver();
  const dataDir = tempDataDir();
  const clientsFile = await clientsWithBackChannel(path.join(dataDir, 'clients.json'), receiver.url, ['platform-a', 'platform-d']);
  provider = await startProvider(dataDir, { CYBERID_CLIENTS_FILE: clientsFile, CYBERID_LEDGER_RETENTION_DAYS: String(RETENTION_DAYS) });
  adult = { identifier: provider.adult.phone, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.adult.phone) };
  minor = { identifier: provider.minor.phone, password: provider.minor.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.minor.phone) };
}, 60_000);

afterAll(async () => {
  await provider?.stop();
  await receiver?.close();
  if (provider) removeDataDir(provider.dataDir);
});

const at = (pathname: string) => new URL(pathname, provider.url);

/** Every SMS the simulated gateway sent to `phone`, oldest first. */
const messagesTo = (phone: string) => messagesSentTo(provider.dataDir, phone);

/** Signs in to the portal (password and SMS code, as far as the session needs); returns the page it lands on. */
const portalSignIn = (browser: FormBrowser, person: Person, start = '/account') => signInToPortal(browser, provider.url, person, start);

/** A platform's whole flow: authorize, sign in (if needed) and consent, redeem; userinfo too. */
async function connect(browser: FormBrowser, platform: PlatformRegistration, person: Person, params: Record<string, string>, consent: Record<string, string | string[]> = {}) {
  const config = await discover(provider.url, platform);
  const request = await authorizationRequest(config, platform, params);
  const tokens = await redeem(config, request, await continueToPlatform(browser, await browser.open(request.url), person, consent));
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
  return { config, tokens, userinfo };
}

const IDENTITY_CLAIMS = ['sub', 'identity_verified', 'identity_verified_at', 'document_type', 'age_over_14', 'age_over_18', 'name', 'birthdate', 'gender', 'phone_number', 'phone_number_verified', 'id_document_number'];
const identityClaimsOf = (payload: object) => IDENTITY_CLAIMS.filter((claim) => claim in payload);

describe('signing in to the portal', () => {
  it('goes through the provider as a first-party client at loa2, without a consent page', async () => {
    const browser = new FormBrowser(provider.url);
    const page = await portalSignIn(browser, adult);
    expect(page.url).toBe(at('/account').href);
    expect(page.doc.querySelector('h1')?.text).toBe('Platforms that can verify you');
    expect(await browser.cookieNames(at('/account').href)).toEqual(expect.arrayContaining(['_session', 'cyberid_account']));
    // The portal is not a platform: it is not listed and nothing is written to the ledger for it.
    expect(page.doc.querySelector('#connected-platforms')).toBeNull();
  });

  it('sends a signed-out browser to sign in, and back to the page it asked for', async () => {
    const browser = new FormBrowser(provider.url);
    const page = await portalSignIn(browser, adult, '/account/security');
    expect(page.url).toBe(at('/account/security').href);
  });

  it('refuses a callback that this browser did not start', async () => {
    const page = expectPage(await new FormBrowser(provider.url).open(at('/account/callback?code=x&state=y')));
    expect(page.status).toBe(400);
    expect(page.doc.querySelector('h1')?.text).toBe('The sign-in took too long');
  });
});

describe('connected platforms and the disclosure ledger', () => {
  it('lists what each platform holds, records exactly what it received, and revokes it: tokens dead, platform told', async () => {
    const browser = new FormBrowser(provider.url);
    const a = await connect(browser, PLATFORM_A, adult, { scope: 'openid verified age offline_access', prompt: 'consent' });
    const b = await connect(browser, PLATFORM_B, adult, { scope: 'openid verified id_document' }, { claims: ['identity_verified', 'id_document_number'] });
    expect(a.tokens.refresh_token).toBeDefined();

    const platforms = await portalSignIn(browser, adult);
    const listed = platforms.doc.querySelectorAll('#connected-platforms li').map((li) => li.getAttribute('data-platform'));
    expect(listed.sort()).toEqual(['platform-a', 'platform-b']);
    const aFacts = platforms.doc.querySelector('li[data-platform=platform-a] dd')?.text;
    expect(aFacts).toBe('That your identity is verified, When your identity was verified, The kind of identity document you enrolled with, Whether you are 14 or older, Whether you are 18 or older');

    // The ledger: one entry per release, newest first, with exactly the identity claims in each response.
    const history = expectPage(await browser.open(at('/account/history')));
    const rows = history.doc.querySelectorAll('#ledger tbody tr').map((row) => ({
      platform: row.getAttribute('data-platform'), channel: row.getAttribute('data-channel'), claims: row.getAttribute('data-claims')!.split(' '),
    }));
    expect(rows).toEqual([
      { platform: 'platform-b', channel: 'userinfo', claims: identityClaimsOf(b.userinfo) },
      { platform: 'platform-b', channel: 'id_token', claims: identityClaimsOf(b.tokens.claims()!) },
      { platform: 'platform-a', channel: 'userinfo', claims: identityClaimsOf(a.userinfo) },
      { platform: 'platform-a', channel: 'id_token', claims: identityClaimsOf(a.tokens.claims()!) },
    ]);
    expect(rows[0]!.claims).toContain('id_document_number');
    expect(history.html).not.toContain(String(b.userinfo.id_document_number)); // names, never values

    // Filtered by platform, then exported: JSON and CSV say the same as the page.
    const onlyA = expectPage(await browser.open(at('/account/history?platform=platform-a')));
    expect(onlyA.doc.querySelectorAll('#ledger tbody tr').map((row) => row.getAttribute('data-platform'))).toEqual(['platform-a', 'platform-a']);
    const json = JSON.parse(await download(browser, onlyA.doc.querySelector('#export-json')!.getAttribute('href')!)) as { entries: { platform_id: string; claims: string[]; acr: string; channel: string }[]; retention_days: number };
    expect(json.retention_days).toBe(RETENTION_DAYS);
    expect(json.entries.map((entry) => [entry.platform_id, entry.channel, entry.claims, entry.acr])).toEqual(
      rows.slice(2).map((row) => [row.platform, row.channel, row.claims, a.tokens.claims()!.acr]));
    const csv = (await download(browser, onlyA.doc.querySelector('#export-csv')!.getAttribute('href')!)).trim().split('\r\n').map((line) => line.split(','));
    expect(csv[0]).toEqual(['time', 'platform_id', 'platform', 'claims', 'acr', 'channel']);
    expect(csv.slice(1).map((cells) => [cells[1], cells[5], cells[3]!.split(' ')])).toEqual(rows.slice(2).map((row) => [row.platform, row.channel, row.claims]));
    expect(csv.slice(1).map((cells) => cells[0])).toEqual(json.entries.map((entry) => (entry as unknown as { time: string }).time));

    // Revoke A: its refresh and access tokens stop working, and its back-channel endpoint gets a logout token.
    const before = receiver.tokens.length;
    const revoked = expectPage(await browser.submit(platforms, '/account/platforms/revoke', { platform: 'platform-a' }));
    expect(revoked.doc.querySelector('.notice')?.text).toBe('Platform A · City Services no longer has access. It was told that you signed out.');
    expect(revoked.doc.querySelector('li[data-platform=platform-a]')).toBeNull();
    await expect(oidc.refreshTokenGrant(a.config, a.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(a.config, a.tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(a.config, a.tokens.access_token, a.tokens.claims()!.sub)).rejects.toThrow();
    const logouts = await receiver.verified(provider.url, 'platform-a', before);
    expect(logouts.map((token) => token.sub)).toContain(a.tokens.claims()!.sub);
    // B is untouched.
    expect((await oidc.tokenIntrospection(b.config, b.tokens.access_token)).active).toBe(true);

    // Signing in to A again asks for consent again.
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    const again = expectPage(await browser.open(request.url));
    expect(again.doc.querySelector('form[action$="/consent"]')).not.toBeNull();
  });

  it('never shows ledger entries past retention, and deletes them', async () => {
    const browser = new FormBrowser(provider.url);
    await connect(browser, PLATFORM_A, adult, { scope: 'openid age' });
    const accountId = await accountIdOf(browser);
    const store = openEmbeddedStore(provider.dataDir);
    const day = 24 * 3600_000;
    try {
      await store.disclosures.add({ accountId, clientId: 'platform-c', claims: ['sub', 'name'], acr: 'cyberid:loa2', channel: 'id_token', at: Date.now() - (RETENTION_DAYS + 1) * day });
      await store.disclosures.add({ accountId, clientId: 'platform-c', claims: ['sub', 'gender'], acr: 'cyberid:loa2', channel: 'id_token', at: Date.now() - (RETENTION_DAYS - 1) * day });
    } finally {
      await store.close();
    }
    const history = await portalSignIn(browser, adult, '/account/history?platform=platform-c');
    expect(history.doc.querySelectorAll('#ledger tbody tr').map((row) => row.getAttribute('data-claims'))).toEqual(['sub gender']);
    const fromTo = expectPage(await browser.open(at(`/account/history?platform=platform-a&from=2000-01-01&to=2000-01-31`)));
    expect(fromTo.doc.querySelector('#ledger')).toBeNull();

    // The hourly sweep also runs at start-up: after a restart the old entry is gone from the store.
    await provider.stop();
    provider = await startProvider(provider.dataDir, { CYBERID_CLIENTS_FILE: path.join(provider.dataDir, 'clients.json'), CYBERID_LEDGER_RETENTION_DAYS: String(RETENTION_DAYS) });
    await waitFor(async () => {
      const reopened = openEmbeddedStore(provider.dataDir);
      try {
        return (await reopened.disclosures.list(accountId, 0, { clientId: 'platform-c' })).map((entry) => entry.claims.join(' '));
      } finally {
        await reopened.close();
      }
    }, ['sub gender']);
  }, 60_000);

  it('answers a malformed filter with a 400 page, not an error', async () => {
    const browser = new FormBrowser(provider.url);
    await portalSignIn(browser, adult);
    const page = expectPage(await browser.open(at('/account/history?from=yesterday')));
    expect(page.status).toBe(400);
  });
});

async function download(browser: FormBrowser, href: string): Promise<string> {
  const response = await fetch(at(href), { headers: { cookie: await browser.jar.getCookieString(at(href).href) } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="cyberid-disclosures-\d{4}-\d{2}-\d{2}\.(json|csv)"$/);
  return response.text();
}

/** The account id behind a browser's provider session (read from the store, as an operator could). */
async function accountIdOf(browser: FormBrowser): Promise<string> {
  const sessionId = (await browser.jar.getCookies(provider.url)).find((cookie) => cookie.key === '_session')!.value;
  const store = openEmbeddedStore(provider.dataDir);
  try {
    return (await store.adapterFor('Session').find(sessionId))!.accountId as string;
  } finally {
    await store.close();
  }
}

async function waitFor<T>(read: () => Promise<T>, expected: T, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (JSON.stringify(last) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await read();
  }
  expect(last).toEqual(expected);
}

describe('security activity and "this wasn\'t me"', () => {
  it('lists sign-ins and failures; "this wasn\'t me" ends every session and token and turns the password off', async () => {
    const mistaken = new FormBrowser(provider.url);
    await mistaken.submit(expectPage(await mistaken.open(at('/account'))), '/login', { identifier: adult.identifier, password: 'not-the-password' }); // one failure to see

    const first = new FormBrowser(provider.url);
    const second = new FormBrowser(provider.url);
    const security = await portalSignIn(first, adult, '/account/security');
    await portalSignIn(second, adult);
    const platform = await connect(second, PLATFORM_B, adult, { scope: 'openid verified' }, { claims: ['identity_verified', 'id_document_number'] });
    const events = security.doc.querySelectorAll('#security-events li').map((li) => li.getAttribute('data-event'));
    expect(events.slice(0, 2)).toEqual(['sign_in', 'sign_in_failed']);
    expect(security.doc.querySelector('#security-events li')?.text).toMatch(/127\.0\.0\.0\/24/); // the network, never the address

    const accountId = await accountIdOf(first);
    const passwordHash = await passwordHashOf(provider.dataDir, accountId);
    const before = receiver.tokens.length;
    const ended = expectPage(await first.submit(expectPage(await first.open(at('/account/security'))), '/account/security/not-me'));
    expect(ended.doc.querySelector('h1')?.text).toBe('Your account is now protected');
    // Both browsers are signed out of the portal and of Cyber ID; the platform's tokens are dead.
    for (const browser of [first, second]) {
      const page = expectPage(await browser.open(at('/account')));
      expect(page.doc.querySelector('form[action$="/login"]')).not.toBeNull();
    }
    expect((await oidc.tokenIntrospection(platform.config, platform.tokens.access_token)).active).toBe(false);
    // Platform A (connected again since it was revoked) has a back-channel endpoint: it is told.
    expect((await receiver.verified(provider.url, 'platform-a', before)).length).toBeGreaterThan(0);

    // The old password signs in nowhere now: nobody who merely signs in next can choose a new one.
    const attacker = new FormBrowser(provider.url);
    const refused = expectPage(await attacker.submit(expectPage(await attacker.open(at('/account'))), '/login', { identifier: adult.identifier, password: adult.password }));
    expect(refused.status).toBe(401);
    expect(refused.doc.querySelector('input[name=confirm]')).toBeNull();
    const review = expectPage(await first.open(at('/account/security/review')));
    expect(review.doc.querySelector('h1')?.text).toBe('Your account is now protected');

    // Account recovery (test/recovery.test.ts) sets the new password; here the old hash is put back so that the
    // cases below can sign in, and the activity shows what happened.
    await restorePasswordHash(provider.dataDir, accountId, passwordHash);
    const browser = new FormBrowser(provider.url);
    await portalSignIn(browser, adult);
    const activity = expectPage(await browser.open(at('/account/security')));
    expect(activity.doc.querySelectorAll('#security-events li').slice(0, 3).map((li) => li.getAttribute('data-event'))).toEqual(['sign_in', 'sign_in_failed', 'sessions_ended']);
  });
});

describe('credentials', () => {
  it('changes the password with the current one, and the phone number with a code sent to the new number', async () => {
    const browser = new FormBrowser(provider.url);
    const page = expectPage(await (async () => { await portalSignIn(browser, adult); return browser.open(at('/account/credentials')); })());
    const wrong = expectPage(await browser.submit(page, '/account/password', { current: 'wrong-password-here', password: 'x', confirm: 'x' }));
    expect([wrong.status, wrong.doc.querySelector('#current-error')?.text]).toEqual([401, 'The current password is not right.']);
    const next = 'amber-glacier-window-77';
    const changed = expectPage(await browser.submit(wrong, '/account/password', { current: adult.password, password: next, confirm: next }));
    expect(changed.doc.querySelector('.notice')?.text).toBe('Your password has been changed.');
    adult = { ...adult, password: next };

    const taken = expectPage(await browser.submit(changed, '/account/phone', { phone: provider.minor.phone }));
    expect(taken.status).toBe(409);
    const newPhone = '13900139123';
    // First a code to the current phone (whoever holds this session must hold it too), then one to the new number.
    const oldCodePage = expectPage(await browser.submit(taken, '/account/phone', { phone: newPhone }));
    expect(oldCodePage.doc.querySelector('h1')?.text).toBe('First, confirm your current number');
    expect(lastCodeSentTo(provider.dataDir, newPhone)).toBeUndefined();
    const codePage = expectPage(await browser.submit(oldCodePage, '/account/phone/confirm', { code: lastCodeSentTo(provider.dataDir, provider.adult.phone)! }));
    expect(codePage.doc.querySelector('.lead')?.text).toContain('+86139****9123');
    const done = expectPage(await browser.submit(codePage, '/account/phone/confirm', { code: lastCodeSentTo(provider.dataDir, newPhone)! }));
    expect(done.doc.querySelector('.notice')?.text).toBe('Your phone number has been changed.');
    // Both numbers are told (the old one with what to do if it was not the person).
    expect(messagesTo(provider.adult.phone).at(-1)).toContain('不再接收验证码');
    expect(messagesTo(newPhone).at(-1)).toContain('成为您网络身份认证账户的手机号码');
    // The new number signs in (and receives the codes); the old one no longer does.
    adult = { identifier: newPhone, password: adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, newPhone) };
    expect((await portalSignIn(new FormBrowser(provider.url), adult)).url).toBe(at('/account').href);
    const oldPhone = new FormBrowser(provider.url);
    expect(expectPage(await oldPhone.submit(expectPage(await oldPhone.open(at('/account'))), '/login', { identifier: provider.adult.phone, password: adult.password })).status).toBe(401);
  });

  it('shows the personal network number after a recent sign-in, and can ask for a fresh one', async () => {
    const browser = new FormBrowser(provider.url);
    await portalSignIn(browser, adult);
    const shown = expectPage(await browser.open(at('/account/network-number')));
    expect(shown.doc.querySelector('#network-number')?.text.replace(/\s/g, '')).toBe(provider.adult.networkNumber.replace(/\s/g, ''));
    // Signing in again (prompt=login) asks for the password although the session is live.
    const again = expectPage(await browser.open(at('/account/sign-in?again=1&return=%2Faccount%2Fcredentials')));
    expect(again.doc.querySelector('form[action$="/login"]')).not.toBeNull();
    expect((await portalSignIn(browser, adult, '/account/sign-in?again=1&return=%2Faccount%2Fcredentials')).url).toBe(at('/account/credentials').href);
  });
});

describe('passkeys', () => {
  it('lists, renames and removes a passkey (removal after a recent sign-in)', async () => {
    const browser = new FormBrowser(provider.url);
    await portalSignIn(browser, adult);
    const accountId = await accountIdOf(browser);
    const store = openEmbeddedStore(provider.dataDir);
    try { // registering one needs a WebAuthn authenticator: the Chromium enrolment suite does that; here it is put in place
      await store.passkeys.insert({ id: 'cHJldGVuZC1wYXNza2V5', accountId, publicKey: 'AQID', counter: 0, transports: ['internal'], name: 'Old phone', createdAt: Date.now(), lastUsedAt: null });
    } finally {
      await store.close();
    }
    const page = expectPage(await browser.open(at('/account/credentials')));
    expect(page.doc.querySelectorAll('#passkeys li strong').map((strong) => strong.text)).toEqual(['Old phone']);
    const blank = expectPage(await browser.submit(page, '/account/passkeys/rename', { name: ' ' }));
    expect([blank.status, blank.doc.querySelector('#name-cHJldGVuZC1wYXNza2V5-error')?.text]).toEqual([400, 'Enter a name for the passkey.']);
    const renamed = expectPage(await browser.submit(blank, '/account/passkeys/rename', { name: 'Work laptop' }));
    expect(renamed.doc.querySelectorAll('#passkeys li strong').map((strong) => strong.text)).toEqual(['Work laptop']);
    const removed = expectPage(await browser.submit(renamed, '/account/passkeys/remove'));
    expect(removed.doc.querySelector('.notice')?.text).toBe('The passkey has been removed. It can no longer sign you in.');
    expect(removed.doc.querySelector('#passkeys')).toBeNull();
    const events = expectPage(await browser.open(at('/account/security'))).doc.querySelectorAll('#security-events li').slice(0, 2).map((li) => li.getAttribute('data-event'));
    expect(events).toEqual(['passkey_removed', 'passkey_renamed']);
  });
});

describe("the guardian's view", () => {
  it('approves a 16-year-old\'s pending platform, then revokes it for them', async () => {
    const child = new FormBrowser(provider.url);
    const config = await discover(provider.url, PLATFORM_D);
    const request = await authorizationRequest(config, PLATFORM_D, { scope: 'openid age' });
    const waiting = expectPage(await (async () => {
      const login = expectPage(await child.open(request.url));
      const code = expectPage(await child.submit(login, '/login', { identifier: minor.identifier, password: minor.password }));
      return child.submit(code, '/code', { code: minor.oneTimeCode!()! });
    })());
    expect(waiting.doc.querySelector('h1')?.text).toBe('Your guardian needs to approve Platform D · Youth Reading Club');

    const guardian = new FormBrowser(provider.url);
    await portalSignIn(guardian, adult);
    const family = expectPage(await guardian.open(at('/account/family')));
    const section = family.doc.querySelector('section.minor')!;
    const minorId = section.getAttribute('data-minor')!;
    expect(section.querySelector('li[data-request=platform-d]')?.getAttribute('data-status')).toBe('pending');
    const approved = expectPage(await guardian.submit(family, '/account/family/decide-platform', { minor: minorId, platform: 'platform-d', decision: 'approve' }));
    expect(approved.doc.querySelector('.notice')?.text).toBe('Approved. Your child can continue to the platform.');

    const tokens = await redeem(config, request, await continueToPlatform(child, await child.open(new URL(waiting.url)), minor));
    const connected = expectPage(await guardian.open(at('/account/family')));
    expect(connected.doc.querySelector('section.minor li[data-platform=platform-d]')).not.toBeNull();

    const before = receiver.tokens.length;
    const revoked = expectPage(await guardian.submit(connected, '/account/family/revoke', { minor: minorId, platform: 'platform-d' }));
    expect(revoked.doc.querySelector('.notice')?.text).toMatch(/^Platform D · Youth Reading Club no longer has access to .+'s information\.$/);
    expect(revoked.doc.querySelector('section.minor li[data-platform=platform-d]')).toBeNull();
    expect(revoked.doc.querySelector('section.minor li[data-request=platform-d]')?.getAttribute('data-status')).toBe('declined');
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await receiver.verified(provider.url, 'platform-d', before)).map((token) => token.sub)).toEqual([tokens.claims()!.sub]);

    // The child cannot simply reconnect: the guardian's approval was withdrawn.
    const again = await authorizationRequest(config, PLATFORM_D, { scope: 'openid age' });
    expect(expectPage(await child.open(again.url)).doc.querySelector('h1')?.text).not.toBe('Allow Platform D · Youth Reading Club to know:');
  });

  it('lets nobody revoke for a child who is not theirs', async () => {
    const guardianId = await accountIdOf(await (async () => { const b = new FormBrowser(provider.url); await portalSignIn(b, adult); return b; })());
    const child = new FormBrowser(provider.url);
    const page = await portalSignIn(child, minor);
    expect(page.doc.querySelector('a[href="/account/family"]')).toBeNull(); // no family section for a minor without children
    const csrf = page.doc.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const refused = expectPage(await child.open(at('/account/family/revoke'), { method: 'POST', body: new URLSearchParams({ csrf, minor: guardianId, platform: 'platform-b' }) }));
    expect(refused.doc.querySelector('.notice')?.text).toBe('Platform B · National Qualification Exams had no access to revoke.');
  });
});

describe('deleting the account', () => {
  it('says what is kept, needs a tick, then erases the person and revokes everything', async () => {
    const browser = new FormBrowser(provider.url);
    const a = await connect(browser, PLATFORM_A, adult, { scope: 'openid verified' });
    await portalSignIn(browser, adult);
    const accountId = await accountIdOf(browser);
    const explained = expectPage(await browser.open(at('/account/delete')));
    expect(explained.doc.querySelectorAll('h2').map((h) => h.text)).toEqual(['What is deleted', 'What is kept, and why']);
    const unticked = expectPage(await browser.submit(explained, '/account/delete'));
    expect(unticked.status).toBe(400);
    const before = receiver.tokens.length;
    const deleted = expectPage(await browser.submit(unticked, '/account/delete', { understood: 'yes' }));
    expect(deleted.doc.querySelector('h1')?.text).toBe('Your account has been deleted');

    expect((await oidc.tokenIntrospection(a.config, a.tokens.access_token)).active).toBe(false);
    expect((await receiver.verified(provider.url, 'platform-a', before)).map((token) => token.sub)).toContain(a.tokens.claims()!.sub);
    const store = openEmbeddedStore(provider.dataDir);
    try {
      const record = (await store.accounts.findById(accountId))!;
      expect([record.status, record.sealed, record.passwordHash, record.lookups.phone, record.lookups.networkNumber]).toEqual(['deleted', null, null, null, null]);
      expect(await store.disclosures.list(accountId, 0, {})).toEqual([]);
      expect(await store.securityEvents.list(accountId, 0, 10)).toEqual([]);
      expect(await store.sessionsOf(accountId)).toEqual([]);
      expect(await store.grantsOf(accountId)).toEqual([]);
    } finally {
      await store.close();
    }
    const again = new FormBrowser(provider.url);
    const refused = expectPage(await again.submit(expectPage(await again.open(at('/account'))), '/login', { identifier: adult.identifier, password: adult.password }));
    expect(refused.status).toBe(401);
  });
});

