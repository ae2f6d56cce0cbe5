// The sign-in and consent pages in real Chromium: what a person sees, in Chinese and English, under the
// pages' real CSP, ending with a platform redeeming the code. Screenshots go to test-artifacts/.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, chromiumAvailable, launchChromium, watchForProblems } from './support/chromium.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('browser tests');

let provider: RunningProvider;
let dataDir: string;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  dataDir = tempDataDir();
  provider = await startProvider(dataDir);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await provider?.stop();
  if (dataDir) removeDataDir(dataDir);
});

/** Opens a page that records CSP violations and console errors, and answers for the platform's callback. */
async function openPage(locale: string): Promise<{ page: Page; problems: string[]; callback: Promise<URL> }> {
  const context = await browser.newContext({ locale, viewport: { width: 480, height: 900 } });
  const page = await context.newPage();
  const problems = await watchForProblems(page);
  const callback = new Promise<URL>((resolve) => {
    void page.route(`${new URL(PLATFORM_A.redirectUri).origin}/**`, async (route) => {
      resolve(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'platform callback' });
    });
  });
  return { page, problems, callback };
}

(available ? describe : describe.skip)('sign-in and consent in Chromium', () => {
  it('signs in with the network number as printed, consents to part of the request, and the platform gets only that', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age profile' });
    const { page, problems, callback } = await openPage('zh-CN');

    await page.goto(request.url.href);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.locator('h1').textContent()).toBe('登录以继续使用Platform A · City Services');
    await page.screenshot({ path: path.join(ARTIFACTS, 'login-zh-CN.png'), fullPage: true });

    await page.getByLabel('网号或手机号码').fill(provider.adult.networkNumber); // as printed at start-up: XXXX-XXXX-…
    await page.getByLabel('密码').fill('wrong password');
    await page.getByRole('button', { name: '登录', exact: true }).click();
    expect(await page.locator('#identifier-error').textContent()).toBe('网号、手机号码或密码不正确。');
    expect(await page.locator('#identifier').getAttribute('aria-describedby')).toContain('identifier-error');
    await page.screenshot({ path: path.join(ARTIFACTS, 'login-error-zh-CN.png'), fullPage: true });

    await page.getByLabel('密码').fill(provider.adult.password);
    await page.getByRole('button', { name: '登录', exact: true }).click();
    await page.waitForSelector('form[action$="/consent"]');
    expect(await page.locator('h1').textContent()).toBe('Platform A · City Services请求获取您的信息');
    await page.screenshot({ path: path.join(ARTIFACTS, 'consent-zh-CN.png'), fullPage: true });

    // The language switch keeps the page; the platform's own purpose text is shown in that language.
    await page.getByRole('link', { name: /English/ }).click();
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    await expect(page.getByText('Some city services are only for adults.').isVisible()).resolves.toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'consent-en.png'), fullPage: true });

    expect(await page.getByLabel('That your identity is verified').isDisabled()).toBe(true);
    await page.getByLabel('Your gender').uncheck();
    await page.getByLabel('Your date of birth').uncheck();
    await page.getByRole('button', { name: 'Share and continue' }).click();

    const tokens = await redeem(config, request, await callback);
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(Object.keys(userinfo).sort()).toEqual(['age_over_14', 'age_over_18', 'document_type', 'identity_verified', 'identity_verified_at', 'name', 'sub']);
    expect(problems).toEqual([]);
  });

  it('shows a readable page for an unregistered redirect URI', async () => {
    const { page, problems } = await openPage('en');
    const url = new URL(`${provider.url}/auth`);
    url.search = new URLSearchParams({ client_id: PLATFORM_A.clientId, redirect_uri: 'https://attacker.example/steal', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGtSFhtS8c', code_challenge_method: 'S256' }).toString();
    const response = await page.goto(url.href);
    expect(response?.status()).toBe(400);
    expect(page.url()).toBe(url.href);
    await page.screenshot({ path: path.join(ARTIFACTS, 'error-en.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
