// What the Chromium suites share: a browser context of its own whose platform callbacks are answered
// locally (where a platform would receive the code), and a platform's side of one authorization request.
import { expect } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { watchForProblems } from './chromium.ts';
import { authorizationRequest, discover, redeem, type AuthorizationRequest, type PlatformRegistration } from './platform.ts';

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** Console errors, failed resources, uncaught errors and CSP violations of the page. */
  problems: string[];
}

/** A browser of its own (cookies, session), added to `contexts` so the suite can close it. */
export async function openTab(browser: Browser, contexts: BrowserContext[], options: { locale?: string; acceptDownloads?: boolean } = {}): Promise<Tab> {
  const context = await browser.newContext({ locale: options.locale ?? 'en', viewport: { width: 480, height: 900 }, acceptDownloads: options.acceptDownloads ?? false });
  contexts.push(context);
  await context.route(/^http:\/\/localhost:400[1-4]\//, (route) => route.fulfill({
    status: 200, contentType: 'text/html', body: '<!doctype html><title>Platform</title><p id="platform-callback">platform callback</p>',
  }));
  const page = await context.newPage();
  return { context, page, problems: await watchForProblems(page) };
}

/** One authorization request of a platform, as the platform keeps it to redeem the code. */
export interface Flow {
  platform: PlatformRegistration;
  config: oidc.Configuration;
  request: AuthorizationRequest;
}

export type Tokens = Awaited<ReturnType<typeof redeem>>;

/** The platform sends the browser to Cyber ID at `issuer`. */
export async function startAt(issuer: string, page: Page, platform: PlatformRegistration, params: Record<string, string>): Promise<Flow> {
  const config = await discover(issuer, platform);
  const request = await authorizationRequest(config, platform, params);
  await page.goto(request.url.href);
  return { platform, config, request };
}

/** Waits until Cyber ID sends the browser back to the platform; the callback URL, with its code or error. */
export async function backAtPlatform(page: Page, flow: Flow): Promise<URL> {
  await page.waitForURL((url) => url.href.startsWith(`${flow.platform.redirectUri}?`));
  return new URL(page.url());
}

/** Waits until the browser is back at the platform, which redeems the code. */
export async function tokensAt(page: Page, flow: Flow): Promise<Tokens> {
  return redeem(flow.config, flow.request, await backAtPlatform(page, flow));
}

export function userinfoOf(flow: Flow, tokens: Tokens): Promise<oidc.UserInfoResponse> {
  return oidc.fetchUserInfo(flow.config, tokens.access_token, tokens.claims()!.sub);
}

/** Waits for the page whose heading is `text`; fails showing the heading there is instead. */
export async function expectHeading(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor({ timeout }).catch(() => undefined);
  expect(await page.locator('h1').first().textContent()).toBe(text);
}
