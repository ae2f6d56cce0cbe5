// The person's portal (/account) over HTTP against the real server: it signs in through the provider as a
// first-party OIDC client; connected platforms and revoking them (tokens dead, back-channel logout
// delivered); the disclosure ledger (exact claims, filters, JSON/CSV export, retention); security activity
// and "this wasn't me"; credentials; the guardian's view; deleting the account. Platforms are openid-client.
// Every request comes from 127.0.0.1: this file keeps its wrong attempts well under the per-address limit.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { openSqliteStore } from '../adapters/sqlite/index.ts';
import { expectPage, FormBrowser, type Page } from './support/browser.ts';
import { clientsWithBackChannel, startBackChannelReceiver, type BackChannelReceiver } from './support/back-channel.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, type Person, type PlatformRegistration } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

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

/** Signs in to the portal through the provider (password and SMS code, as far as the session needs); returns the page it lands on. */
async function portalSignIn(browser: FormBrowser, person: Person, start = '/account'): Promise<Page> {
  let page = expectPage(await browser.open(at(start)));
  if (page.doc.querySelector('form[action$="/login"]')) page = expectPage(await browser.submit(page, '/login', { identifier: person.identifier, password: person.password }));
  if (page.doc.querySelector('form[action$="/code"]')) page = expectPage(await browser.submit(page, '/code', { code: person.oneTimeCode!()! }));
  return page;
}

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
    const logouts = (await receiver.verified(provider.url, 'platform-a')).slice(before);
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
    const store = openSqliteStore(provider.dataDir);
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
      const reopened = openSqliteStore(provider.dataDir);
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
  const store = openSqliteStore(provider.dataDir);
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
