// `npm run demo` in real Chromium: the demo is started as a developer starts it (`node demo/run.ts`, its own
// provider port, a fresh data directory), everything the test needs is read from what it prints, and one
// browser walks through the two demo platforms it serves on the ports their redirect URIs name (4001, 4002).
// What it proves:
//  - Platform A's page offers "Sign in with Cyber ID"; the demo adult signs in with the password alone
//    (Platform A accepts loa1), consents, and A shows what it received: sub, acr cyberid:loa1, amr pwd,
//    the ID token's claims, userinfo (with identity_verified) and why sub differs between platforms;
//  - in the same browser, Platform B (two factors, the restricted document number with a legal basis)
//    steps the Cyber ID session up with the code the simulated SMS sender wrote to the data directory,
//    and receives a different sub at cyberid:loa2;
//  - Platform A still shows the person, under the same sub, after that (each platform keeps its own cookie);
//  - signing out at Platform A goes through Cyber ID's logout confirmation and back to A's sign-in button,
//    and Cyber ID then asks for the password again;
//  - the demo stops on SIGTERM with exit code 0 (checked in afterAll).
// The tests are steps of one journey in one browser and run in order. Every page is checked for console
// errors, failed resources and CSP violations. Screenshots go to test-artifacts/demo-*.png.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectHeading } from './support/browser-platform.ts';
import { ARTIFACTS, chromiumAvailable, launchChromium, watchForProblems } from './support/chromium.ts';
import { lastCodeSentTo, removeDataDir, tempDataDir, type DemoPerson } from './support/server.ts';
import { keepSuiteLog } from './support/suite-log.ts';

const available = chromiumAvailable('demo browser tests');

const ROOT = path.resolve(import.meta.dirname, '..');
const PLATFORM_NAME = { a: 'Platform A · City Services', b: 'Platform B · National Qualification Exams' };

/** What `npm run demo` printed once it was ready. */
interface RunningDemo {
  child: ChildProcess;
  providerUrl: string;
  adult: DemoPerson;
  /** Where it says the one-time codes are (…/sms-outbox.jsonl). */
  outboxDir: string;
  platformUrl: { a: string; b: string };
  output: () => string;
}

/** A port nothing listens on right now, for the provider. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject).listen(0, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const READY = /One-time codes are in (.+)\/sms-outbox\.jsonl\.\n/;

/** `npm run demo` (node demo/run.ts); resolves once it has printed the demo platforms. */
async function startDemo(dataDir: string): Promise<RunningDemo> {
  const child = spawn(process.execPath, ['demo/run.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', PORT: String(await freePort()), CYBERID_DEMO_SITE_PORT: '0', CYBERID_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepSuiteLog(child, 'demo');
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const output = () => `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm run demo did not print its platforms in time\n${output()}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      if (READY.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run demo exited with ${code} before it was ready\n${output()}`));
    });
  });

  const providerUrl = stdout.match(/Cyber ID is running at (\S+) /)?.[1];
  const adult = stdout.match(/^ {2}adult\s+network number (\S+)\s+phone (\S+)\s+password (\S+)$/m);
  const platformA = stdout.match(new RegExp(`^ {2}${PLATFORM_NAME.a}\\s+(http://\\S+)$`, 'm'))?.[1];
  const platformB = stdout.match(new RegExp(`^ {2}${PLATFORM_NAME.b}\\s+(http://\\S+)$`, 'm'))?.[1];
  if (!providerUrl || !adult || !platformA || !platformB) throw new Error(`unexpected output of npm run demo\n${output()}`);
  return {
    child,
    providerUrl,
    adult: { networkNumber: adult[1]!, phone: adult[2]!, password: adult[3]! },
    outboxDir: stdout.match(READY)![1]!,
    platformUrl: { a: platformA, b: platformB },
    output,
  };
}

/** Sends `signal` and resolves with how the process ended (the code, or the signal that killed it). */
function stopWith(child: ChildProcess, signal: NodeJS.Signals): Promise<number | string | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode);
    child.once('exit', (code, killedBy) => resolve(code ?? killedBy));
    child.kill(signal);
  });
}

let dataDir: string;
let demo: RunningDemo | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
/** Console errors, failed resources, uncaught errors and CSP violations, over the whole journey. */
let problems: string[];
/** What each platform showed as sub, once signed in. */
const subAt: { a?: string; b?: string } = {};

beforeAll(async () => {
  if (!available) return;
  dataDir = tempDataDir();
  demo = await startDemo(dataDir);
  browser = await launchChromium();
  // Not support/browser-platform's openTab: it answers localhost:4001-4004 itself, where the demo platforms listen here.
  context = await browser.newContext({ locale: 'en', viewport: { width: 480, height: 900 } });
  page = await context.newPage();
  problems = await watchForProblems(page);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (demo) {
    // Ctrl-C or `kill`: the demo closes both platforms and the provider, then exits 0.
    const killer = setTimeout(() => demo!.child.kill('SIGKILL'), 15_000);
    const ended = await stopWith(demo.child, 'SIGTERM');
    clearTimeout(killer);
    expect([ended, demo.output()]).toEqual([0, demo.output()]);
  }
  if (dataDir) removeDataDir(dataDir);
}, 30_000);

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `demo-${name}.png`), fullPage: true });
}

/** Waits until the demo platform at `url` shows what it received (or the error it shows instead). */
async function signedInAt(url: string): Promise<{ sub: string; acr: string; amr: string; claims: Record<string, unknown>; userinfo: Record<string, unknown> }> {
  await page.waitForURL(url);
  await page.locator('#sub').or(page.getByRole('alert')).first().waitFor();
  expect(await page.getByRole('alert').allTextContents()).toEqual([]);
  const text = async (selector: string) => (await page.locator(selector).textContent())?.trim() ?? '';
  return {
    sub: await text('#sub'),
    acr: await text('#acr'),
    amr: await text('#amr'),
    claims: JSON.parse(await text('#id-token-claims')) as Record<string, unknown>,
    userinfo: JSON.parse(await text('#userinfo')) as Record<string, unknown>,
  };
}

(available ? describe : describe.skip)('npm run demo in Chromium', () => {
  it('prints the provider, the demo adult and the two platforms on the ports their redirect URIs name', () => {
    const { providerUrl, adult, outboxDir, platformUrl } = demo!;
    expect(providerUrl).toMatch(/^http:\/\/localhost:\d+$/);
    expect(adult.networkNumber).toMatch(/^([0-9A-Z]{4}-){6}[0-9A-Z]{2}[0-9A-Z*~$=]$/);
    expect(platformUrl).toEqual({ a: 'http://localhost:4001/', b: 'http://localhost:4002/' });
    expect(path.resolve(outboxDir)).toBe(path.resolve(dataDir));
  });

  it('signs the demo adult in at Platform A with the password alone and shows what A received: sub, loa1, pwd, the claims and userinfo', async () => {
    const { providerUrl, adult, platformUrl } = demo!;
    await page.goto(platformUrl.a);
    await expectHeading(page, 'Welcome');
    const signIn = page.locator('#sign-in');
    expect(await signIn.textContent()).toBe('Sign in with Cyber ID');
    await signIn.click();

    // Cyber ID's sign-in page, with the network number as the banner prints it.
    await expectHeading(page, `Sign in to continue to ${PLATFORM_NAME.a}`);
    expect(page.url().startsWith(`${providerUrl}/interaction/`)).toBe(true);
    await page.getByLabel('Network number or phone number').fill(adult.networkNumber);
    await page.getByLabel('Password').fill(adult.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    // A password is enough for Platform A: straight to consent, identity_verified locked on as A requires it.
    await expectHeading(page, `${PLATFORM_NAME.a} asks for your information`);
    expect(await page.locator('#claim-identity_verified').isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Share and continue' }).click();

    const received = await signedInAt(platformUrl.a);
    await expectHeading(page, `What ${PLATFORM_NAME.a} received`);
    await screenshot('platform-a-signed-in');
    expect(received.sub).not.toBe('');
    expect(received.acr).toBe('cyberid:loa1');
    expect(received.amr.split(', ')).toContain('pwd');
    expect(received.claims).toMatchObject({ iss: providerUrl, aud: 'platform-a', sub: received.sub, acr: 'cyberid:loa1' });
    expect(received.userinfo).toMatchObject({ sub: received.sub, identity_verified: true });
    const why = page.locator('#why-sub-differs');
    expect(await why.isVisible()).toBe(true);
    expect(await why.textContent()).toMatch(/every\s+platform sees a different number/);
    expect(await why.getByRole('link', { name: PLATFORM_NAME.b }).getAttribute('href')).toBe(platformUrl.b);
    subAt.a = received.sub;
    expect(problems).toEqual([]);
  }, 60_000);

  it('signs the same person in at Platform B in the same browser: a step-up with the SMS code to loa2, the document number, a different sub', async () => {
    const { adult, platformUrl } = demo!;
    await page.goto(platformUrl.b);
    await expectHeading(page, 'Welcome');
    await page.locator('#sign-in').click();

    // Already signed in at loa1: only the code is asked for, not the password again.
    await expectHeading(page, 'Check it’s you');
    expect(await page.locator('input[name=password]').count()).toBe(0);
    const codeField = page.getByLabel('Code from the text message');
    await codeField.waitFor();
    const code = lastCodeSentTo(demo!.outboxDir, adult.phone);
    if (!code) throw new Error(`no code for ${adult.phone} in ${demo!.outboxDir}/sms-outbox.jsonl`);
    await codeField.fill(code);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();

    // The restricted document number, required by B with its legal basis, is never ticked for the person.
    await expectHeading(page, `${PLATFORM_NAME.b} asks for your information`);
    const documentNumber = page.getByLabel('Your identity document number');
    expect(await documentNumber.isChecked()).toBe(false);
    await page.getByText('Exam registration rules, art. 12: candidates are identified by their identity document.').waitFor();
    await documentNumber.check();
    await page.getByRole('button', { name: 'Share and continue' }).click();

    const received = await signedInAt(platformUrl.b);
    await screenshot('platform-b-signed-in');
    expect(received.acr).toBe('cyberid:loa2');
    expect(received.amr.split(', ')).toEqual(expect.arrayContaining(['pwd', 'sms', 'mfa']));
    expect(received.sub).not.toBe('');
    expect(received.sub).not.toBe(subAt.a);
    expect(received.userinfo).toMatchObject({ sub: received.sub, identity_verified: true, id_document_number: expect.stringMatching(/^\d{17}[\dX]$/) });
    subAt.b = received.sub;
    expect(problems).toEqual([]);
  }, 60_000);

  it('still shows Platform A signed in, under its own sub, after the same browser signed in at Platform B', async () => {
    await page.goto(demo!.platformUrl.a);
    // Which of the two pages A shows: what it received, or the sign-in button of a platform that forgot the person.
    expect(await page.locator('#sub').or(page.locator('#sign-in')).first().getAttribute('id')).toBe('sub');
    expect((await signedInAt(demo!.platformUrl.a)).sub).toBe(subAt.a);
  });

  it('signs out at Platform A through Cyber ID\'s logout confirmation, back to the sign-in button; Cyber ID then asks for the password again', async () => {
    const { providerUrl, platformUrl } = demo!;
    await page.goto(platformUrl.a);
    await page.locator('#sign-out').click();

    await expectHeading(page, 'Sign out of Cyber ID on this device?');
    expect(page.url().startsWith(`${providerUrl}/`)).toBe(true);
    await screenshot('logout-confirm');
    await page.getByRole('button', { name: 'Yes, sign out of Cyber ID too' }).click();

    await page.waitForURL(platformUrl.a);
    await expectHeading(page, 'Welcome');
    expect(await page.locator('#sign-in').isVisible()).toBe(true);
    expect(await page.locator('#sub').count()).toBe(0);

    // The Cyber ID session ended too: signing in again starts with the password.
    await page.locator('#sign-in').click();
    await expectHeading(page, `Sign in to continue to ${PLATFORM_NAME.a}`);
    expect(await page.getByLabel('Password').isVisible()).toBe(true);
    expect(problems).toEqual([]);
  }, 60_000);
});
