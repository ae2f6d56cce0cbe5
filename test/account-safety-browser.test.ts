// The account-safety pages in real Chromium, on a phone-sized screen (390 px) in zh-CN and en, as people meet
// them: the scan approval when the requester is on another network (the tick it needs, and the refusal without
// it), the sign-in page's way to recovery, the lock page that says when it lifts, the portal's fresh sign-in
// that offers no QR code, the phone change that confirms the current phone first, and the page after "this
// wasn't me". Each page is screenshotted (test-artifacts/safety-*.png) and checked with axe-core (WCAG 2.x A and
// AA) and for console errors, failed resources and CSP violations. Addresses come from X-Forwarded-For
// (CYBERID_PROXY), so the person's phone and the other screen are on different networks.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { translator, type Language } from '../interactions/i18n.ts';
import { accessibilityViolations, ARTIFACTS, chromiumAvailable, launchChromium, watchForProblems } from './support/chromium.ts';
import { readQrSvg } from './support/qr.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type DemoPerson, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('account-safety browser tests');
const PHONE_NETWORK = '198.51.100.20';
const OTHER_NETWORK = '203.0.113.7';

let provider: RunningProvider;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!available) return;
  provider = await startProvider(tempDataDir(), { CYBERID_PROXY: 'true' });
  browser = await launchChromium();
}, 90_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await provider?.stop();
  if (provider) removeDataDir(provider.dataDir);
});

interface Tab { page: Page; problems: string[]; t: ReturnType<typeof translator> }

/** A phone-sized browser of its own, in `language`, coming from `address`. */
async function openPhone(language: Language, address: string): Promise<Tab> {
  const context = await browser.newContext({ locale: language, viewport: { width: 390, height: 844 }, extraHTTPHeaders: { 'x-forwarded-for': address } });
  contexts.push(context);
  const page = await context.newPage();
  return { page, problems: await watchForProblems(page), t: translator(language) };
}

/** Screenshots the page, checks that no message placeholder was left unfilled and that axe finds nothing. */
async function look(tab: Tab, name: string): Promise<void> {
  await tab.page.screenshot({ path: path.join(ARTIFACTS, `safety-${name}.png`), fullPage: true });
  expect([name, (await tab.page.locator('body').innerText()).match(/\{[a-z_]+\}/g)]).toEqual([name, null]);
  expect([name, await accessibilityViolations(tab.page)]).toEqual([name, []]);
}

async function enterPassword({ page, t }: Tab, person: DemoPerson, password = person.password): Promise<void> {
  await page.getByLabel(t('login.identifier'), { exact: true }).fill(person.phone);
  await page.getByLabel(t('login.password'), { exact: true }).fill(password);
  await page.getByRole('button', { name: t('login.submit'), exact: true }).click();
}

async function enterCode({ page, t }: Tab, phone: string): Promise<void> {
  const field = page.getByLabel(t('login.code.label'));
  await field.waitFor();
  await field.fill(lastCodeSentTo(provider.dataDir, phone)!);
  await page.locator('form button[type=submit].primary').first().click();
}

async function portalSignIn(tab: Tab, person: DemoPerson, start = '/account'): Promise<void> {
  await tab.page.goto(`${provider.url}${start}`);
  await enterPassword(tab, person);
  await enterCode(tab, person.phone);
  await tab.page.locator('nav').first().waitFor();
}

(available ? describe : describe.skip)('account safety pages in Chromium', () => {
  for (const language of ['zh-CN', 'en'] as const) {
    it(`warns on the scan approval when the other screen is on another network, and needs the tick (${language})`, async () => {
      const phone = await openPhone(language, PHONE_NETWORK);
      await portalSignIn(phone, provider.adult);
      const other = await openPhone(language, OTHER_NETWORK);
      await other.page.goto(`${provider.url}/account`);
      await look(other, `login-${language}`); // the sign-in page with its QR code and the way to recovery
      await other.page.getByRole('link', { name: other.t('login.recover') }).waitFor();
      const scanUrl = readQrSvg((await other.page.locator('img.qr').getAttribute('src'))!);
      const match = (await other.page.locator('#scan-match').textContent())!.trim();

      await phone.page.goto(scanUrl);
      await phone.page.getByRole('heading', { name: phone.t('scan.ask.apart_heading') }).waitFor();
      await look(phone, `scan-apart-${language}`);
      await phone.page.getByRole('button', { name: match, exact: true }).click();
      await phone.page.locator('.error-summary').waitFor();
      await look(phone, `scan-apart-unticked-${language}`);
      await phone.page.getByLabel(phone.t('scan.ask.together')).check();
      await phone.page.getByRole('button', { name: match, exact: true }).click();
      await phone.page.getByRole('heading', { name: phone.t('scan.approved.heading') }).waitFor();
      expect([...phone.problems, ...other.problems]).toEqual([]);
    }, 60_000);
  }

  it('says when a lock lifts and leads to recovery (zh-CN)', async () => {
    const tab = await openPhone('zh-CN', '192.0.2.44');
    await tab.page.goto(`${provider.url}/account`);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await enterPassword(tab, provider.minor, `wrong-password-${attempt}`);
      await tab.page.locator('.error-summary').waitFor();
    }
    await tab.page.getByText(/请在 \d\d:\d\d（约 1 分钟后）再试/).first().waitFor();
    await look(tab, 'locked-zh-CN');
    await tab.page.getByRole('link', { name: tab.t('login.locked_recover'), exact: true }).click();
    await tab.page.waitForURL(`${provider.url}/recover`);
  }, 60_000);

  it('asks for the current phone before a new one, and offers no QR code for the fresh sign-in before it (en)', async () => {
    const tab = await openPhone('en', PHONE_NETWORK);
    await portalSignIn(tab, provider.adult);
    // The fresh sign-in a sensitive change asks for, once five minutes have passed, cannot be done by scanning.
    await tab.page.goto(`${provider.url}/account/sign-in?again=1&return=%2Faccount%2Fcredentials`);
    await tab.page.getByText(tab.t('login.this_device')).waitFor();
    expect(await tab.page.locator('img.qr').count()).toBe(0);
    await look(tab, 'fresh-sign-in-en');
    await enterPassword(tab, provider.adult);
    await enterCode(tab, provider.adult.phone);
    await tab.page.getByLabel(tab.t('account.credentials.new_phone')).fill('13900139777');
    await tab.page.getByRole('button', { name: tab.t('account.credentials.send_code') }).click();
    await tab.page.getByRole('heading', { name: tab.t('account.phone_code.old_heading') }).waitFor();
    await look(tab, 'phone-old-code-en');
    expect(tab.problems).toEqual([]);
  }, 60_000);

  // Last: it turns the adult's password off.
  it('shows what "this wasn\'t me" did and leads to recovery (zh-CN)', async () => {
    const tab = await openPhone('zh-CN', PHONE_NETWORK);
    await portalSignIn(tab, provider.adult, '/account/security');
    await tab.page.locator('form[action$="/security/not-me"] button').click();
    await tab.page.getByRole('heading', { name: tab.t('account.secured.title') }).waitFor();
    await look(tab, 'secured-zh-CN');
    await tab.page.getByRole('link', { name: tab.t('account.secured.recover') }).waitFor();
    expect(tab.problems).toEqual([]);
  }, 60_000);
});
