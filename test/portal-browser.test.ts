// The person's portal (/account) in real Chromium, driven by visible labels the way a person would, against
// the real provider, its demo people and platforms (clients.example.json, with a back-channel logout
// endpoint registered for Platforms A and D). Platforms redeem their codes with openid-client.
// What it proves:
//  - revoking a platform: a person connects Platform A (with a refresh token), signs in to the portal in
//    the same browser (the SMS code steps the session up to loa2), sees A with the claims it received and
//    revokes it; then A's refresh token is refused (invalid_grant), its access token is inactive and
//    refused at userinfo, A got a verified back-channel logout token for its own sub, and A is no longer
//    listed;
//  - the disclosure ledger lists exactly the identity claims a platform received in its ID token and at
//    userinfo, the platform filter narrows it, and the JSON and CSV downloads say what the table says;
//  - the guardian's Family page: a 16-year-old waiting at Platform D continues by herself once the guardian
//    allows it in another browser; when the guardian then revokes D for her, her tokens at D are dead, D is
//    no longer listed for her, the request shows as declined and D is told by back-channel logout;
//  - "This wasn't me": signed in to the portal in two browsers, one signs out everywhere and lands on the page
//    that says what was done and lists the passkeys to review; the other's next portal page goes to a sign-in
//    page, a platform's earlier token is inactive, and the old password no longer signs in (recovery sets a new
//    one: test/recovery-browser.test.ts).
// Every page is checked for console errors, failed resources and CSP violations, and every page screenshot
// for message placeholders left unfilled. No wrong password is typed (the old one after "This wasn't me" aside).
// "This wasn't me" turns the adult's password off, so it comes last. Screenshots go to test-artifacts/portal-*.png.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { translator } from '../interactions/i18n.ts';
import { ALL_CLAIMS } from '../server/identity/claims.ts';
import { clientsWithBackChannel, startBackChannelReceiver, type BackChannelReceiver } from './support/back-channel.ts';
import { expectHeading, openTab as openTabIn, startAt as startFlow, tokensAt, userinfoOf, type Flow, type Tokens } from './support/browser-platform.ts';
import { ARTIFACTS, chromiumAvailable, launchChromium } from './support/chromium.ts';
import { PLATFORM_A, PLATFORM_C, type PlatformRegistration } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type DemoPerson, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('portal browser tests');

const PLATFORM_D: PlatformRegistration = { clientId: 'platform-d', clientSecret: 'platform-d-development-secret-change-me', redirectUri: 'http://localhost:4004/callback' };
const PLATFORM_NAME = {
  a: 'Platform A · City Services',
  c: 'Platform C · City Services mobile app',
  d: 'Platform D · Youth Reading Club',
};
const t = translator('en');

let provider: RunningProvider;
let dataDir: string;
let receiver: BackChannelReceiver;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!available) return;
  dataDir = tempDataDir();
  receiver = await startBackChannelReceiver();
  const clientsFile = await clientsWithBackChannel(path.join(dataDir, 'clients.json'), receiver.url, ['platform-a', 'platform-d']);
  provider = await startProvider(dataDir, { CYBERID_CLIENTS_FILE: clientsFile });
  browser = await launchChromium();
}, 90_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await provider?.stop();
  await receiver?.close();
  if (dataDir) removeDataDir(dataDir);
});

/** A browser of its own (see support/browser-platform.ts), which may download the ledger's exports. */
const openTab = () => openTabIn(browser, contexts, { acceptDownloads: true });
const startAt = (page: Page, platform: PlatformRegistration, params: Record<string, string>) => startFlow(provider.url, page, platform, params);

/** Screenshots the page, and checks that no message placeholder (`{platform}`) was left unfilled on it. */
async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `portal-${name}.png`), fullPage: true });
  expect([name, (await page.locator('body').innerText()).match(/\{[a-z_]+\}/g)]).toEqual([name, null]);
}

/** The identity claims (the ledger's vocabulary) present in a released payload, in the claim table's order. */
const identityClaimsOf = (payload: object): string[] => ALL_CLAIMS.filter((claim) => claim in payload);

async function enterPassword(page: Page, person: DemoPerson): Promise<void> {
  await page.getByLabel('Network number or phone number').fill(person.phone);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Types the code the simulated SMS sender wrote to the outbox for the person's phone. */
async function enterCode(page: Page, person: DemoPerson): Promise<void> {
  const field = page.getByLabel('Code from the text message');
  await field.waitFor();
  const code = lastCodeSentTo(dataDir, person.phone);
  if (!code) throw new Error(`no code was sent to ${person.phone}`);
  await field.fill(code);
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
}

const consentForm = (page: Page) => page.locator('form[action$="/consent"]');

/** For set-up steps only: shares what is pre-ticked if this person was never asked before. */
async function consentIfAsked(page: Page): Promise<void> {
  await consentForm(page).or(page.locator('#platform-callback')).first().waitFor();
  if (await consentForm(page).isVisible()) await page.getByRole('button', { name: 'Share and continue' }).click();
}

const portalNav = (page: Page) => page.getByRole('navigation', { name: 'Your account' });

/**
 * Opens `start` in the portal and signs in through the provider as far as this browser's session needs
 * (the password, then the SMS code; the portal needs loa2); waits for the portal page.
 */
async function signInToPortal(page: Page, person: DemoPerson, start = '/account'): Promise<void> {
  await page.goto(`${provider.url}${start}`);
  const password = page.getByLabel('Password', { exact: true });
  const code = page.getByLabel('Code from the text message');
  await password.or(code).or(portalNav(page)).first().waitFor();
  if (await password.isVisible()) {
    await expectHeading(page, 'Sign in to continue to Cyber ID');
    await enterPassword(page, person);
    await code.or(portalNav(page)).first().waitFor();
  }
  if (await code.isVisible()) await enterCode(page, person);
  await portalNav(page).waitFor();
  expect(page.url()).toBe(`${provider.url}${start}`);
}

/** Follows a link of the portal's navigation. */
async function openSection(page: Page, name: string, heading: string): Promise<void> {
  await portalNav(page).getByRole('link', { name, exact: true }).click();
  await expectHeading(page, heading);
}

interface LedgerRow { time: string; platform: string; claims: string[]; channel: string }

async function ledgerRows(page: Page): Promise<LedgerRow[]> {
  return page.locator('#ledger tbody tr').evaluateAll((rows) => rows.map((row) => ({
    time: row.querySelector('td')!.textContent!,
    platform: row.getAttribute('data-platform')!,
    claims: row.getAttribute('data-claims')!.split(' '),
    channel: row.getAttribute('data-channel')!,
  })));
}

/** Clicks a download link; the file's suggested name and text. */
async function download(page: Page, link: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(link).click()]);
  const saved = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(saved, 'utf8') };
}

/** "2026-11-22 14:03": how the ledger table shows a moment (China Standard Time). */
const chinaTime = (iso: string) => new Date(Date.parse(iso) + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');

async function introspect(flow: Flow, tokens: Tokens): Promise<boolean> {
  return (await oidc.tokenIntrospection(flow.config, tokens.access_token)).active;
}

(available ? describe : describe.skip)('the portal in Chromium', () => {
  it('revokes a connected platform: its refresh and access tokens stop working, it gets a back-channel logout and is no longer listed', async () => {
    const adult = provider.adult;
    const { page, problems } = await openTab();

    // Platform A: a password is enough; the person lets it stay connected (a refresh token; oidc-provider
    // ignores offline_access without prompt=consent).
    const flow = await startAt(page, PLATFORM_A, { scope: 'openid verified age offline_access', prompt: 'consent' });
    await enterPassword(page, adult);
    await expectHeading(page, `${PLATFORM_NAME.a} asks for your information`);
    await page.getByLabel('Stay connected').check();
    await page.getByRole('button', { name: 'Share and continue' }).click();
    const tokens = await tokensAt(page, flow);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const sub = tokens.claims()!.sub;
    const shared = identityClaimsOf(await userinfoOf(flow, tokens)).filter((claim) => claim !== 'sub');
    expect(shared).toEqual(['identity_verified', 'identity_verified_at', 'document_type', 'age_over_14', 'age_over_18']);

    // The portal, in the same browser: the session is loa1, so only the SMS code is asked, and no consent.
    await signInToPortal(page, adult);
    await expectHeading(page, 'Platforms that can verify you');
    const listed = page.locator('#connected-platforms li.platform');
    expect(await listed.evaluateAll((items) => items.map((item) => item.getAttribute('data-platform')))).toEqual(['platform-a']);
    const a = page.locator('li[data-platform="platform-a"]');
    expect(await a.getByRole('heading', { level: 2 }).textContent()).toBe(PLATFORM_NAME.a);
    const facts = Object.fromEntries(await a.locator('dt').evaluateAll((terms) => terms.map((term) => [term.textContent, term.nextElementSibling?.textContent])));
    expect(facts).toMatchObject({
      'Information shared': shared.map((claim) => t(`claim.${claim}.label`)).join(', '),
      'Access while you are away': 'yes, until you revoke it',
    });
    expect(facts['Connected since']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    expect(facts['First received information']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    expect(facts['Last received information']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    await screenshot(page, 'platforms-before-revoke');

    const logoutsBefore = receiver.tokens.length;
    await page.getByRole('button', { name: `Revoke access for ${PLATFORM_NAME.a}`, exact: true }).click();
    await page.getByRole('status').filter({ hasText: `${PLATFORM_NAME.a} no longer has access. It was told that you signed out.` }).waitFor();
    expect(await page.locator('li[data-platform="platform-a"]').count()).toBe(0);
    expect(await page.getByText('No platform holds your consent.').isVisible()).toBe(true);
    await screenshot(page, 'platforms-after-revoke');

    // What the platform now finds.
    await expect(oidc.refreshTokenGrant(flow.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await introspect(flow, tokens)).toBe(false);
    await expect(userinfoOf(flow, tokens)).rejects.toThrow();
    const logouts = await receiver.verified(provider.url, 'platform-a', logoutsBefore);
    expect(logouts.length).toBeGreaterThan(0);
    expect(logouts.map((token) => token.sub)).toEqual(logouts.map(() => sub));

    // Still gone after a reload.
    await page.goto(`${provider.url}/account`);
    expect(await page.locator('li[data-platform="platform-a"]').count()).toBe(0);
    expect(problems).toEqual([]);
  }, 90_000);

  it('lists in the ledger exactly the claims a platform received, filters by platform, and exports the same entries as JSON and CSV', async () => {
    const adult = provider.adult;
    const { page, problems } = await openTab();

    // Platform C (two factors) also asks for age_over_18 in the ID token; the person refuses the document type.
    const flow = await startAt(page, PLATFORM_C, { scope: 'openid verified age phone', claims: JSON.stringify({ id_token: { age_over_18: null } }) });
    await enterPassword(page, adult);
    await enterCode(page, adult);
    await expectHeading(page, `${PLATFORM_NAME.c} asks for your information`);
    await page.getByLabel('The kind of identity document you enrolled with').uncheck();
    await page.getByRole('button', { name: 'Share and continue' }).click();
    const tokens = await tokensAt(page, flow);
    const userinfo = await userinfoOf(flow, tokens);
    const received = { id_token: identityClaimsOf(tokens.claims()!), userinfo: identityClaimsOf(userinfo) };
    expect(received.id_token).toEqual(['sub', 'age_over_18']);
    expect(received.userinfo).toEqual(expect.arrayContaining(['sub', 'identity_verified', 'age_over_18', 'phone_number']));
    expect(received.userinfo).not.toContain('document_type');

    // The session is already loa2: the portal opens straight away.
    await signInToPortal(page, adult, '/account/history');
    await expectHeading(page, 'Every time a platform received your information');
    const all = await ledgerRows(page);
    expect(all.filter((row) => row.platform === 'platform-c').map(({ channel, claims }) => ({ channel, claims }))).toEqual([
      { channel: 'userinfo', claims: received.userinfo }, // newest first
      { channel: 'id_token', claims: received.id_token },
    ]);
    expect(await page.locator('#ledger').textContent()).not.toContain(String(userinfo.phone_number)); // names, never values

    // Filtered to Platform C.
    await page.getByLabel('Platform', { exact: true }).selectOption({ label: PLATFORM_NAME.c });
    await page.getByRole('button', { name: 'Show', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('platform') === 'platform-c');
    const rows = await ledgerRows(page);
    expect(rows).toEqual(all.filter((row) => row.platform === 'platform-c'));
    expect(await page.locator('#ledger tbody tr td:nth-child(2)').allTextContents()).toEqual([PLATFORM_NAME.c, PLATFORM_NAME.c]);
    expect(await page.locator('#ledger tbody tr td:nth-child(3)').allTextContents())
      .toEqual(rows.map((row) => row.claims.map((claim) => t(`claim.${claim}.label`, { platform: PLATFORM_NAME.c })).join(', ')));
    expect(await page.locator('#ledger tbody tr td:nth-child(4)').allTextContents()).toEqual(['two factors', 'two factors']);
    await screenshot(page, 'history-filtered');

    // The downloads hold the same entries as the table.
    const json = await download(page, '#export-json');
    expect(json.name).toMatch(/^cyberid-disclosures-\d{4}-\d{2}-\d{2}\.json$/);
    const exported = JSON.parse(json.text) as { filter: { platform: string | null }; entries: { time: string; platform_id: string; platform: string; claims: string[]; acr: string; channel: string }[] };
    expect(exported.filter.platform).toBe('platform-c');
    expect(exported.entries.map((entry) => ({ time: chinaTime(entry.time), platform: entry.platform_id, claims: entry.claims, channel: entry.channel }))).toEqual(rows);
    expect(exported.entries.map((entry) => [entry.platform, entry.acr])).toEqual(rows.map(() => [PLATFORM_NAME.c, 'cyberid:loa2']));

    const csv = await download(page, '#export-csv');
    expect(csv.name).toMatch(/^cyberid-disclosures-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(csv.text).not.toContain('"'); // nothing here needs quoting, so a plain split reads it
    const [header, ...lines] = csv.text.trimEnd().split('\r\n').map((line) => line.split(','));
    expect(header).toEqual(['time', 'platform_id', 'platform', 'claims', 'acr', 'channel']);
    expect(lines.map(([time, platformId, platform, claims, acr, channel]) => ({ time, platformId, platform, claims: claims!.split(' '), acr, channel })))
      .toEqual(exported.entries.map((entry) => ({ time: entry.time, platformId: entry.platform_id, platform: entry.platform, claims: entry.claims, acr: entry.acr, channel: entry.channel })));
    expect(problems).toEqual([]);
  }, 90_000);

  it('lets a guardian allow a platform for a 16-year-old, who continues by herself, and then revoke it: her tokens die and the request is declined', async () => {
    const { adult, minor } = provider;
    const child = await openTab();
    const flow = await startAt(child.page, PLATFORM_D, { scope: 'openid verified age' });
    await enterPassword(child.page, minor);
    await enterCode(child.page, minor);
    await expectHeading(child.page, `Your guardian needs to approve ${PLATFORM_NAME.d}`);
    await child.page.getByText('Waiting for your guardian… this page continues by itself once they approve.').waitFor();

    // The guardian, in a browser of their own, signs in to the portal and opens Family.
    const guardian = await openTab();
    await signInToPortal(guardian.page, adult);
    await openSection(guardian.page, 'Family', 'Your children\'s Cyber IDs');
    const section = guardian.page.locator('section.minor[data-minor]');
    expect(await section.count()).toBe(1);
    expect(await section.locator('li[data-request="platform-d"]').getAttribute('data-status')).toBe('pending');
    const allow = section.getByRole('button', { name: new RegExp(`^Allow .+ to use ${PLATFORM_NAME.d}$`) });
    const name = (await allow.textContent())!.match(new RegExp(`^Allow (.+) to use ${PLATFORM_NAME.d}$`))![1]!;
    expect(await section.getByRole('heading', { level: 2 }).textContent()).toContain(name);
    await screenshot(guardian.page, 'family-pending');
    await allow.click();
    await guardian.page.getByRole('status').filter({ hasText: 'Approved. Your child can continue to the platform.' }).waitFor();
    expect(await section.locator('li[data-request="platform-d"]').getAttribute('data-status')).toBe('approved');

    // The child's page notices by itself (it polls), then consent and the platform.
    await expectHeading(child.page, `${PLATFORM_NAME.d} asks for your information`);
    await child.page.getByRole('button', { name: 'Share and continue' }).click();
    const tokens = await tokensAt(child.page, flow);
    const sub = tokens.claims()!.sub;
    expect(await userinfoOf(flow, tokens)).toMatchObject({ age_over_14: true, age_over_18: false });
    expect(await introspect(flow, tokens)).toBe(true);

    // Back on Family: D is now among her platforms; the guardian revokes it.
    await openSection(guardian.page, 'Family', 'Your children\'s Cyber IDs');
    expect(await section.locator('li[data-platform="platform-d"] strong').textContent()).toBe(PLATFORM_NAME.d);
    await screenshot(guardian.page, 'family-connected');
    const logoutsBefore = receiver.tokens.length;
    await section.getByRole('button', { name: `Revoke ${PLATFORM_NAME.d} for ${name}`, exact: true }).click();
    await guardian.page.getByRole('status').filter({ hasText: `${PLATFORM_NAME.d} no longer has access to ${name}'s information.` }).waitFor();
    await screenshot(guardian.page, 'family-revoked');

    expect(await introspect(flow, tokens)).toBe(false);
    await expect(userinfoOf(flow, tokens)).rejects.toThrow();
    expect(await section.locator('li[data-platform="platform-d"]').count()).toBe(0);
    expect(await section.getByText('No platform holds this child\'s consent.').isVisible()).toBe(true);
    expect(await section.locator('li[data-request="platform-d"]').getAttribute('data-status')).toBe('declined');
    expect(await section.locator('li[data-request="platform-d"] p').textContent()).toBe(`${PLATFORM_NAME.d} · declined`);
    const logouts = await receiver.verified(provider.url, 'platform-d', logoutsBefore);
    expect(logouts.map((token) => token.sub)).toContain(sub);
    expect([...child.problems, ...guardian.problems]).toEqual([]);
  }, 120_000);

  // Last: it turns the adult's password off.
  it('"This wasn\'t me" ends every session: another browser must sign in again, platform tokens die, and the old password no longer works', async () => {
    const adult = provider.adult;
    const first = await openTab();
    const second = await openTab();

    // A platform's token, obtained in the first browser before.
    const flow = await startAt(first.page, PLATFORM_A, { scope: 'openid verified' });
    await enterPassword(first.page, adult);
    await consentIfAsked(first.page);
    const tokens = await tokensAt(first.page, flow);
    expect(await introspect(flow, tokens)).toBe(true);

    // Signed in to the portal in both browsers.
    await signInToPortal(first.page, adult);
    await signInToPortal(second.page, adult);
    await expectHeading(second.page, 'Platforms that can verify you');

    await openSection(first.page, 'Security', 'Recent security activity');
    const events = await first.page.locator('#security-events li[data-event]').evaluateAll((items) => items.map((item) => item.getAttribute('data-event')));
    expect(events).toContain('sign_in');
    await screenshot(first.page, 'security');
    const logoutsBefore = receiver.tokens.length;
    await first.page.getByRole('button', { name: 'This wasn\'t me: sign out everywhere', exact: true }).click();
    await expectHeading(first.page, 'Your account is now protected');
    expect(await first.page.locator('main li').allTextContents()).toEqual(expect.arrayContaining(['Your old password was turned off: nobody can sign in with it any more.']));
    await first.page.getByRole('link', { name: 'Recover your account and set a new password' }).waitFor();
    await screenshot(first.page, 'signed-out-everywhere');

    // The platform's token is dead, and the platform was told.
    expect(await introspect(flow, tokens)).toBe(false);
    expect((await receiver.verified(provider.url, 'platform-a', logoutsBefore)).map((token) => token.sub)).toContain(tokens.claims()!.sub);

    // The other browser's next portal page is a sign-in page, not the portal.
    await second.page.goto(`${provider.url}/account/history`);
    await expectHeading(second.page, 'Sign in to continue to Cyber ID');
    expect(second.page.url()).toMatch(new RegExp(`^${provider.url}/interaction/`));
    expect(await portalNav(second.page).count()).toBe(0);

    // The old password no longer signs in: nobody who merely signs in next can choose a new one.
    await second.page.getByLabel('Network number or phone number').fill(adult.phone);
    await second.page.getByLabel('Password', { exact: true }).fill(adult.password);
    await second.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await second.page.getByText(t('login.error.invalid')).first().waitFor();
    expect(second.page.url()).toMatch(new RegExp(`^${provider.url}/interaction/`));
    expect([...first.problems, ...second.problems]).toEqual([]);
  }, 120_000);
});
