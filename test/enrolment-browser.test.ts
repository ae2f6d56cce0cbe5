// Enrolment in real Chromium, in Chinese (the default language), driven by visible labels the way a person
// would: /enrol → document → simulated face check → phone and SMS code (read from the outbox file) →
// password → done, where the personal network number is shown once; then a passkey is added on a CDP
// virtual authenticator, and that passkey alone signs the person in to platform A (loa2, amr pop+mfa,
// a pairwise sub). All pages run under their real CSP; console errors and CSP violations fail the test.
// Screenshots of each step go to test-artifacts/enrol-*-zh-CN.png.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { ARTIFACTS, chromiumAvailable, launchChromium, watchForProblems } from './support/chromium.ts';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('enrolment browser tests');

// Anna Schmidt of the simulated registry (server/identity/simulation/registry.json); not a demo person.
const ANNA = { documentNumber: '911276198507150017', name: 'ANNA SCHMIDT', birthdate: '1985-07-15', expiresOn: '2033-07-14' };
const PHONE = '13600136011';
const PASSWORD = 'Lantern-river-autumn-42';

let provider: RunningProvider;
let dataDir: string;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  dataDir = tempDataDir();
  provider = await startProvider(dataDir);
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await provider?.stop();
  if (dataDir) removeDataDir(dataDir);
});

/** A page that records console errors, failed resources, uncaught errors and CSP violations. */
async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems = await watchForProblems(page);
  return { page, problems };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The latest one-time code the simulated SMS sender wrote to the outbox for `to` (E.164). */
function lastCodeSentTo(to: string): string {
  const messages = readFileSync(path.join(dataDir, 'sms-outbox.jsonl'), 'utf8').trim().split('\n')
    .map((line) => JSON.parse(line) as { at: string; to: string; text: string })
    .filter((message) => message.to === to);
  const code = messages.at(-1)?.text.match(/\b\d{6}\b/)?.[0];
  if (!code) throw new Error(`no code was sent to ${to}`);
  return code;
}

async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, authenticatorId };
}

(available ? describe : describe.skip)('enrolment in Chromium', () => {
  it('enrols through the pages, adds a passkey at the end, and signs in to a platform with the passkey alone', async () => {
    const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 480, height: 900 } });
    const { page, problems } = await openPage(context);

    // Start.
    await page.goto(`${provider.url}/enrol`);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    await expect(page.locator('h1').textContent()).resolves.toBe('申领网络身份');
    await page.getByRole('button', { name: '开始' }).click();

    // Document.
    await page.waitForURL(`${provider.url}/enrol`);
    await expect(page.locator('h1').textContent()).resolves.toBe('您的身份证件');
    await expect(page.locator('[aria-current="step"]').textContent()).resolves.toBe('证件');
    await page.getByLabel('证件类型').selectOption({ label: '外国人永久居留身份证' });
    await page.getByLabel('证件号码').fill(ANNA.documentNumber);
    await page.getByLabel('姓名').fill(ANNA.name);
    await page.getByLabel('出生日期').fill(ANNA.birthdate);
    await page.getByLabel('有效期至').fill(ANNA.expiresOn);
    await screenshot(page, 'enrol-document-zh-CN');
    await page.getByRole('button', { name: '提交核验' }).click();

    // Face (simulated camera): "my own face" is chosen already.
    await expect(page.locator('h1').textContent()).resolves.toBe('人脸核验');
    expect(await page.getByLabel('我本人的脸').isChecked()).toBe(true);
    await screenshot(page, 'enrol-face-zh-CN');
    await page.getByRole('button', { name: '开始核验' }).click();

    // Phone, then the code from the SMS outbox.
    await expect(page.locator('h1').textContent()).resolves.toBe('您的手机号码');
    await page.getByLabel('手机号码').fill(PHONE);
    await screenshot(page, 'enrol-phone-zh-CN');
    await page.getByRole('button', { name: '发送验证码' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe('输入验证码');
    await expect(page.locator('.lead').textContent()).resolves.toContain('+86136****6011');
    await page.getByLabel('6位验证码').fill(lastCodeSentTo(`+86${PHONE}`));
    await screenshot(page, 'enrol-code-zh-CN');
    await page.getByRole('button', { name: '确认', exact: true }).click();

    // Password.
    await expect(page.locator('h1').textContent()).resolves.toBe('设置密码');
    await page.getByLabel('密码', { exact: true }).fill(PASSWORD);
    await page.getByLabel('再次输入密码').fill(PASSWORD);
    await screenshot(page, 'enrol-password-zh-CN');
    await page.getByRole('button', { name: '完成申领' }).click();

    // Done: the personal network number, once.
    await expect(page.locator('h1').textContent()).resolves.toBe('您的网络身份已开通');
    const personalNumber = (await page.locator('#network-number').textContent())?.trim() ?? '';
    expect(personalNumber).toMatch(/^(\S{4}-){6}\S{3}$/); // in groups of four, as formatNetworkNumber writes it
    expect(parseNetworkNumber(personalNumber)).toBe(personalNumber.replaceAll('-', ''));
    await screenshot(page, 'enrol-done-zh-CN');
    await page.reload();
    await expect(page.locator('h1').textContent()).resolves.toBe('您的网络身份已开通');
    expect(await page.locator('#network-number').count()).toBe(0);
    await expect(page.getByText('个人网号已在申领完成时显示，此处不再显示。').isVisible()).resolves.toBe(true);
    expect(await page.content()).not.toContain(personalNumber);

    // The passkey, on a virtual authenticator that verifies the user.
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    await page.getByLabel('通行密钥名称').fill('测试电脑');
    await page.getByRole('button', { name: '添加通行密钥' }).click();
    // Either outcome shows a message; say what went wrong (e.g. a blocked fetch) before waiting any longer.
    await page.locator('#passkey-done:visible, #passkey-error:visible').waitFor({ timeout: 30_000 });
    expect(problems).toEqual([]);
    expect(await page.locator('#passkey-error').isHidden()).toBe(true);
    expect(await page.locator('#passkey-done').isVisible()).toBe(true);
    await screenshot(page, 'enrol-passkey-added-zh-CN');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    expect(credentials[0]!.rpId).toBe(new URL(provider.url).hostname);

    // Platform A asks; the person signs in with the passkey alone (same page, same authenticator).
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    const callback = new Promise<URL>((resolve) => {
      void page.route(`${new URL(PLATFORM_A.redirectUri).origin}/**`, async (route) => {
        resolve(new URL(route.request().url()));
        await route.fulfill({ status: 200, contentType: 'text/plain', body: 'platform callback' });
      });
    });
    await page.goto(request.url.href);
    await expect(page.locator('h1').textContent()).resolves.toBe('登录以继续使用Platform A · City Services');
    const passkeyButton = page.getByRole('button', { name: '使用通行密钥登录' });
    await passkeyButton.waitFor({ state: 'visible' });
    await passkeyButton.click();
    // The consent page, or the login page's failure message; on failure, say why.
    await page.locator('form[action$="/consent"], #passkey-error:visible').waitFor({ timeout: 30_000 });
    expect(problems).toEqual([]);
    expect(await page.locator('form[action$="/consent"]').count()).toBe(1);
    await page.getByRole('button', { name: '同意并继续' }).click();

    const tokens = await redeem(config, request, await callback);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe('cyberid:loa2');
    expect(claims.amr).toEqual(['pop', 'mfa']);
    expect(parseNetworkNumber(claims.sub)).toBe(claims.sub); // a platform network number…
    expect(claims.sub).not.toBe(personalNumber.replaceAll('-', '')); // …not the personal one
    const { credentials: afterSignIn } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(afterSignIn[0]!.signCount).toBeGreaterThan(credentials[0]!.signCount);

    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
