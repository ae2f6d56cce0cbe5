// Account recovery in real Chromium, on a phone-sized screen (390 px wide), in Chinese and in English, driven by the
// visible labels (taken from the catalogues) the way a person would: "Forgotten your password?" (phone number → code
// from the outbox → document → simulated face check → new password) and "Lost your phone?" (document → face → new
// number → its code). Every page runs under its real CSP; console errors, CSP violations and failed resources fail the
// test, and no page may be wider than the screen. Afterwards the new password signs in at platform A with
// openid-client. Screenshots of every page go to test-artifacts/recover-<language>-<journey>-<n>-<step>.png.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { catalogues, type Language } from '../interactions/i18n.ts';
import { readSimulationSeed, type SimulatedPerson } from '../server/identity/registry.ts';
import { accessibilityViolations, ARTIFACTS, chromiumAvailable, launchChromium, watchForProblems } from './support/chromium.ts';
import { FormBrowser, expectPage } from './support/browser.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('recovery browser tests');

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const PASSWORD = 'Lantern-river-autumn-42';
const WIDTH = 390;

let provider: RunningProvider;
let dataDir: string;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!available) return;
  dataDir = tempDataDir();
  provider = await startProvider(dataDir);
  browser = await launchChromium();
}, 90_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await provider?.stop();
  if (dataDir) removeDataDir(dataDir);
});

function person(id: string): SimulatedPerson {
  const found = SEED.find((p) => p.personId === id);
  if (!found) throw new Error(`${id} is not in the simulation seed`);
  return found;
}

function outbox(): { to: string; text: string }[] {
  if (!existsSync(path.join(dataDir, 'sms-outbox.jsonl'))) return [];
  return readFileSync(path.join(dataDir, 'sms-outbox.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { to: string; text: string });
}

/** The newest code sent to `e164` after `since` messages (recovery codes leave without waiting for the gateway: polled). */
async function codeFor(e164: string, since: number): Promise<string> {
  for (let tries = 0; tries < 100; tries += 1) {
    const code = outbox().slice(since).filter((m) => m.to === e164).at(-1)?.text.match(/\b\d{6}\b/)?.[0];
    if (code) return code;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no code was sent to ${e164}`);
}

/** Enrols `p` with `phone` through the JSON API (the browser suite for enrolment walks those pages). */
async function enrol(p: SimulatedPerson, phone: string): Promise<void> {
  const api = async (route: string, token?: string, body: unknown = {}) => {
    const response = await fetch(new URL(`/enrol/api/v1${route}`, provider.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return response.json() as Promise<Record<string, unknown>>;
  };
  const token = (await api('/enrolments')).enrolment_token as string;
  const document = p.documents[0]!;
  await api('/enrolment/document', token, { document_type: document.type, document_number: document.number, name: p.name, birthdate: p.birthdate, expires_on: document.expiresOn });
  await api('/enrolment/face', token, { capture: `sim:live:${p.photo}` });
  const since = outbox().length;
  await api('/enrolment/phone', token, { phone });
  await api('/enrolment/code', token, { code: await codeFor(`+86${phone}`, since) });
  expect(await api('/enrolment/password', token, { password: PASSWORD })).toMatchObject({ step: 'done' });
}

interface Tab { page: Page; problems: string[]; language: Language; journey: string; shots: number }

async function openTab(language: Language, journey: string): Promise<Tab> {
  const context = await browser.newContext({ locale: language, viewport: { width: WIDTH, height: 844 } });
  contexts.push(context);
  const page = await context.newPage();
  return { page, problems: await watchForProblems(page), language, journey, shots: 0 };
}

const say = (tab: Tab, key: string) => catalogues[tab.language][key]!;

/** Checks the page heading, that nothing is wider than the screen, that axe-core finds nothing (WCAG 2.x A/AA), and keeps a screenshot. */
async function expectStep(tab: Tab, headingKey: string, name: string, params: Record<string, string> = {}): Promise<void> {
  const heading = say(tab, headingKey).replace(/\{(\w+)\}/g, (_, key: string) => params[key] ?? '');
  await expect(tab.page.locator('h1').textContent().then((text) => text?.trim())).resolves.toBe(heading);
  expect(await tab.page.getAttribute('html', 'lang')).toBe(tab.language);
  expect(await tab.page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(WIDTH);
  expect([name, await accessibilityViolations(tab.page)]).toEqual([name, []]);
  tab.shots += 1;
  await tab.page.screenshot({ path: path.join(ARTIFACTS, `recover-${tab.language}-${tab.journey}-${tab.shots}-${name}.png`), fullPage: true });
}

const click = (tab: Tab, key: string) => tab.page.getByRole('button', { name: say(tab, key), exact: true }).click();

async function fillDocument(tab: Tab, p: SimulatedPerson): Promise<void> {
  const document = p.documents[0]!;
  await tab.page.getByLabel(say(tab, 'enrol.document.type'), { exact: true }).selectOption(document.type);
  await tab.page.getByLabel(say(tab, 'enrol.document.number'), { exact: true }).fill(document.number);
  await tab.page.getByLabel(say(tab, 'enrol.document.name'), { exact: true }).fill(p.name);
  await tab.page.getByLabel(say(tab, 'enrol.document.birthdate'), { exact: true }).fill(p.birthdate);
  await tab.page.getByLabel(say(tab, 'enrol.document.expires_on'), { exact: true }).fill(document.expiresOn);
  await click(tab, 'recover.document.submit');
}

async function faceCheck(tab: Tab): Promise<void> {
  await tab.page.getByLabel(say(tab, 'enrol.face.subject.own_face')).check();
  await click(tab, 'recover.face.submit');
}

async function newPassword(tab: Tab, password: string): Promise<void> {
  await tab.page.getByLabel(say(tab, 'account.credentials.new_password'), { exact: true }).fill(password);
  await tab.page.getByLabel(say(tab, 'enrol.password.confirm'), { exact: true }).fill(password);
  await click(tab, 'recover.password.submit');
}

/** Platform A (password alone) signs the person in with openid-client over HTTP: the sub it gets. */
async function signsInAtPlatformA(identifier: string, password: string): Promise<string> {
  const config = await discover(provider.url, PLATFORM_A);
  const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
  const http = new FormBrowser(provider.url);
  let outcome = await http.submit(expectPage(await http.open(request.url)), '/login', { identifier, password });
  if (outcome.kind === 'page') outcome = await http.submit(outcome.page, '/consent');
  if (outcome.kind !== 'redirect') throw new Error(`platform A did not get a code: ${outcome.page.status}`);
  return (await redeem(config, request, outcome.location)).claims()!.sub;
}

async function forgottenPassword(language: Language, p: SimulatedPerson, phone: string, password: string): Promise<void> {
  const tab = await openTab(language, 'password');
  await tab.page.goto(`${provider.url}/recover`);
  await expectStep(tab, 'recover.start.heading', 'start');
  await click(tab, 'recover.start.password_submit');
  await expectStep(tab, 'recover.identify.heading', 'identify');
  // Nothing typed: the error summary names the field, and the field says what to do.
  await click(tab, 'recover.identify.submit');
  await expect(tab.page.locator('.error-summary a').textContent()).resolves.toBe(say(tab, 'recover.error.invalid.identifier'));
  await expectStep(tab, 'recover.identify.heading', 'identify-error');
  const since = outbox().length;
  await tab.page.getByLabel(say(tab, 'recover.identify.identifier'), { exact: true }).fill(phone);
  await click(tab, 'recover.identify.submit');
  await expectStep(tab, 'recover.code.heading', 'code');
  await tab.page.locator('summary').first().click(); // "Problems with the code?" opens
  await expectStep(tab, 'recover.code.heading', 'code-problems');
  await tab.page.getByLabel(say(tab, 'recover.code.label'), { exact: true }).fill(await codeFor(`+86${phone}`, since));
  await click(tab, 'recover.code.submit');
  await expectStep(tab, 'recover.document.heading', 'document');
  await fillDocument(tab, p);
  await expectStep(tab, 'recover.face.heading', 'face');
  await faceCheck(tab);
  await expectStep(tab, 'recover.password.heading', 'password');
  await newPassword(tab, password);
  await expectStep(tab, 'recover.done.heading_password', 'done');
  expect(tab.problems).toEqual([]);
  expect(await signsInAtPlatformA(`+86${phone}`, password)).toMatch(/^[0-9A-Z]{26}[0-9A-Z*~$=]$/);
}

async function lostPhone(language: Language, p: SimulatedPerson, newPhone: string): Promise<void> {
  const tab = await openTab(language, 'phone');
  await tab.page.goto(`${provider.url}/recover`);
  await expectStep(tab, 'recover.start.heading', 'start');
  await click(tab, 'recover.start.phone_submit');
  await expectStep(tab, 'recover.document.heading', 'document');
  // A name that is not the registry's: the error summary, and the form keeps what was typed.
  await fillDocument(tab, { ...p, name: `${p.name}X` });
  await expect(tab.page.locator('.error-summary a').textContent()).resolves.toBe(say(tab, 'recover.error.registry_mismatch'));
  await expectStep(tab, 'recover.document.heading', 'document-error');
  await fillDocument(tab, p);
  await expectStep(tab, 'recover.face.heading', 'face');
  await faceCheck(tab);
  await expectStep(tab, 'recover.phone.heading', 'phone');
  const since = outbox().length;
  await tab.page.getByLabel(say(tab, 'recover.phone.phone'), { exact: true }).fill(newPhone);
  await click(tab, 'recover.phone.submit');
  await expectStep(tab, 'recover.phone_code.heading', 'phone-code');
  await tab.page.getByLabel(say(tab, 'recover.code.label'), { exact: true }).fill(await codeFor(`+86${newPhone}`, since));
  await click(tab, 'recover.phone_code.submit');
  await expectStep(tab, 'recover.done.heading_phone', 'done');
  await click(tab, 'recover.done.password_too_submit');
  await expectStep(tab, 'recover.password.heading', 'password');
  await click(tab, 'recover.password.skip');
  await expectStep(tab, 'recover.done.heading_phone', 'done-kept-password');
  expect(tab.problems).toEqual([]);
  // The same password, with the new number.
  expect(await signsInAtPlatformA(`+86${newPhone}`, PASSWORD)).toMatch(/^[0-9A-Z]{26}[0-9A-Z*~$=]$/);
}

(available ? describe : describe.skip)('account recovery in Chromium at 390 px', () => {
  it('zh-CN: forgotten password', async () => {
    await forgottenPassword('zh-CN', person('sim-0001'), provider.adult.phone.replace(/^\+86/, ''), 'copper-meadow-signal-58');
  }, 60_000);

  it('en: forgotten password', async () => {
    await enrol(person('sim-0003'), '13600136021');
    await forgottenPassword('en', person('sim-0003'), '13600136021', 'harbour-pepper-violet-63');
  }, 60_000);

  it('zh-CN: lost phone', async () => {
    await enrol(person('sim-0011'), '13600136022');
    await lostPhone('zh-CN', person('sim-0011'), '13600136023');
  }, 60_000);

  it('en: lost phone', async () => {
    await enrol(person('sim-0009'), '13600136024');
    await lostPhone('en', person('sim-0009'), '13600136025');
  }, 60_000);
});
