// Real Chromium for browser tests: Debian's /usr/bin/chromium driven by playwright-core, each launch on a
// fresh temporary profile. With CI=true a missing Chromium fails the run; elsewhere the suite says loudly
// that it is skipped.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

/** Whether the browser suite `name` can run. */
export function chromiumAvailable(name: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does) to run the browser tests`;
  if (process.env.CI === 'true') throw new Error(message);
  console.error(`\n*** SKIPPING ${name}: ${message} ***\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Records console errors, failed resources and fetches, uncaught errors and CSP violations of `page`. */
export async function watchForProblems(page: Page): Promise<string[]> {
  const problems: string[] = [];
  // Error statuses of the page itself are expected (a refused form answers 4xx); of its resources, not.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  page.on('response', (response) => {
    if (response.request().resourceType() !== 'document' && response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on('pageerror', (error) => problems.push(error.message));
  // Chromium also reports CSP violations on the console; this catches them even if that message changes.
  await page.exposeFunction('reportCspViolation', (text: string) => problems.push(`CSP violation: ${text}`));
  // A string, since the tests are compiled without the DOM library.
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (event) =>
    window.reportCspViolation(event.violatedDirective + ' blocked ' + event.blockedURI));`);
  return problems;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's WCAG 2.x A and AA findings on the page as it is now, one line each ("rule: target"). Injected through
 * the DevTools protocol, so the page's CSP (nonce-only scripts) is not loosened for it.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
    .then((result) => result.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`) as string[];
  return violations;
}
