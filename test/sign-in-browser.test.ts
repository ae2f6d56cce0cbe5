// Sign-in in real Chromium, driven by visible labels the way a person would, against the real provider and
// its demo people and platforms (clients.example.json). Platforms redeem their codes with openid-client.
// What it proves:
//  - the whole journey (platform → password → SMS code → consent → platform) in Chinese and in English,
//    under the pages' real CSP, without console errors: acr loa2, amr pwd + sms + mfa;
//  - scan to sign in: the QR code, read from a screenshot, is approved on a second browser that is signed
//    in at loa2 by picking the number the first screen shows; the first browser continues by itself (amr
//    mca); a used code is refused; a wrong number burns the code and the first screen says so;
//  - step-up from loa1 to loa3 in one interaction (SMS code, then face, without the password again), which
//    renews the session cookie;
//  - consent: a refused optional claim is not released, a remembered answer is not asked again, and a new
//    scope asks only for its own claims;
//  - admission: a minor is turned away by an adults-only platform (access_denied), and at a platform that
//    needs a guardian's approval waits until the guardian approves in the portal's Family section in another browser;
//  - a form posted without its CSRF token gets a 403 page; five wrong passwords lock the account (429,
//    Retry-After; even the right password is then refused) but not another person at the same address.
// Each test uses browser contexts of its own, and each consent page a test expects is for a person and
// platform no other test consents to, so the tests also pass alone. The minor is locked out by the last test,
// so it comes last; the whole file makes 6 wrong attempts from one address, well under the 20 that lock it.
// Screenshots go to test-artifacts/signin-*.png.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { backAtPlatform, expectHeading, openTab as openTabIn, startAt as startFlow, tokensAt, userinfoOf, type Flow } from './support/browser-platform.ts';
import { ARTIFACTS, chromiumAvailable, launchChromium } from './support/chromium.ts';
import { PLATFORM_A, PLATFORM_B, PLATFORM_C, redeem, type PlatformRegistration } from './support/platform.ts';
import { readQrCode } from './support/qr.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type DemoPerson, type RunningProvider } from './support/server.ts';

const available = chromiumAvailable('sign-in browser tests');

const PLATFORM_D: PlatformRegistration = { clientId: 'platform-d', clientSecret: 'platform-d-development-secret-change-me', redirectUri: 'http://localhost:4004/callback' };
const PLATFORM_NAME = {
  a: 'Platform A · City Services',
  b: 'Platform B · National Qualification Exams',
  c: 'Platform C · City Services mobile app',
  d: 'Platform D · Youth Reading Club',
};

type Language = 'en' | 'zh-CN';
/** The labels a person reads on the sign-in and consent pages. */
const LABELS: Record<Language, Record<'identifier' | 'password' | 'signIn' | 'code' | 'continue' | 'share', string>> = {
  en: { identifier: 'Network number or phone number', password: 'Password', signIn: 'Sign in', code: 'Code from the text message', continue: 'Continue', share: 'Share and continue' },
  'zh-CN': { identifier: '网号或手机号码', password: '密码', signIn: '登录', code: '短信验证码', continue: '继续', share: '同意并继续' },
};

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

/** A browser of its own (see support/browser-platform.ts). */
const openTab = (locale: Language = 'en') => openTabIn(browser, contexts, { locale });
const startAt = (page: Page, platform: PlatformRegistration, params: Record<string, string>) => startFlow(provider.url, page, platform, params);

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `signin-${name}.png`), fullPage: true });
}

async function enterPassword(page: Page, person: DemoPerson, { language = 'en' as Language, identifier = person.phone, password = person.password } = {}): Promise<void> {
  const label = LABELS[language];
  await page.getByLabel(label.identifier).fill(identifier);
  await page.getByLabel(label.password).fill(password);
  await page.getByRole('button', { name: label.signIn, exact: true }).click();
}

/** Types the code the simulated SMS sender wrote to the outbox for the person's phone. */
async function enterCode(page: Page, person: DemoPerson, language: Language = 'en'): Promise<void> {
  const field = page.getByLabel(LABELS[language].code);
  await field.waitFor();
  const code = lastCodeSentTo(dataDir, person.phone);
  if (!code) throw new Error(`no code was sent to ${person.phone}`);
  await field.fill(code);
  await page.getByRole('button', { name: LABELS[language].continue, exact: true }).click();
}

const consentForm = (page: Page) => page.locator('form[action$="/consent"]');

/** For set-up steps only: shares what is pre-ticked if this person was never asked before; then back at the platform. */
async function consentIfAsked(page: Page, flow: Flow): Promise<URL> {
  await consentForm(page).or(page.locator('#platform-callback')).first().waitFor();
  if (await consentForm(page).isVisible()) await page.getByRole('button', { name: LABELS.en.share }).click();
  return backAtPlatform(page, flow);
}

/** The claims the consent page offers, with whether each is ticked. */
async function offeredClaims(page: Page): Promise<Record<string, boolean>> {
  await consentForm(page).waitFor();
  const boxes = await page.locator('input[name=claims]').all();
  return Object.fromEntries(await Promise.all(boxes.map(async (box) => [await box.getAttribute('value'), await box.isChecked()])));
}

/** What a phone's camera reads from the QR code on the login page, and the number the page asks to pick. */
async function scanLoginPage(page: Page): Promise<{ url: string; match: string }> {
  const qr = page.locator('img.qr');
  await qr.waitFor();
  const url = readQrCode(await qr.screenshot());
  const match = (await page.locator('#scan-match').textContent())?.trim() ?? '';
  return { url, match };
}

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies(provider.url)).find((cookie) => cookie.name === '_session')?.value;
}

(available ? describe : describe.skip)('sign-in in Chromium', () => {
  // Platform B requires identity_verified (locked on) and the restricted id_document_number (ticked by hand);
  // Platform C requires nothing in particular.
  it.each([
    { language: 'zh-CN' as const, who: 'adult' as const, platform: PLATFORM_B, name: PLATFORM_NAME.b, scope: 'openid verified age id_document',
      login: `登录以继续使用${PLATFORM_NAME.b}`, code: '确认是您本人', consent: `${PLATFORM_NAME.b}请求获取您的信息`,
      locked: ['identity_verified'], restricted: { claim: 'id_document_number', label: '证件号码' } },
    { language: 'en' as const, who: 'minor' as const, platform: PLATFORM_C, name: PLATFORM_NAME.c, scope: 'openid verified age phone',
      login: `Sign in to continue to ${PLATFORM_NAME.c}`, code: 'Check it’s you', consent: `${PLATFORM_NAME.c} asks for your information`,
      locked: [], restricted: undefined },
  ])('signs in with password and SMS code, consents and returns to the platform, in $language (the $who, at $name)', async ({ language, who, platform, scope, login, code, consent, locked, restricted }) => {
    const person = provider[who];
    const { page, problems } = await openTab(language);
    const flow = await startAt(page, platform, { scope });

    // Sign in: the network number as printed at start-up (XXXX-XXXX-…), and the password.
    await expectHeading(page, login);
    expect(await page.getAttribute('html', 'lang')).toBe(language);
    expect(await page.locator('img.qr').isVisible()).toBe(true);
    await screenshot(page, `login-${language}`);
    await enterPassword(page, person, { language, identifier: person.networkNumber });

    // The code sent by SMS to the enrolled phone, which the page shows masked.
    await expectHeading(page, code);
    expect(await page.locator('.lead').textContent()).toContain(`****${person.phone.slice(-4)}`);
    await screenshot(page, `code-${language}`);
    await enterCode(page, person, language);

    // Consent: optional claims pre-ticked, required ones locked on, a restricted one never ticked for the person.
    await expectHeading(page, consent);
    await screenshot(page, `consent-${language}`);
    const offered = await offeredClaims(page);
    expect(offered).toMatchObject({ identity_verified: true, age_over_14: true, age_over_18: true });
    const disabled = await page.locator('input[name=claims]:disabled').evaluateAll((boxes) => boxes.map((box) => box.getAttribute('value')));
    expect(disabled).toEqual(locked);
    if (restricted) {
      expect(offered[restricted.claim]).toBe(false);
      await page.getByLabel(restricted.label).check();
    }
    await page.getByRole('button', { name: LABELS[language].share }).click();

    const tokens = await tokensAt(page, flow);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe('cyberid:loa2');
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'sms', 'mfa']));
    const userinfo = await userinfoOf(flow, tokens);
    expect(userinfo).toMatchObject({ identity_verified: true, age_over_18: who === 'adult' });
    if (restricted) expect(userinfo[restricted.claim]).toMatch(/^\d{17}[\dX]$/);
    expect(problems).toEqual([]);
  }, 90_000);

  it('signs in by scanning the QR code with a second signed-in browser and picking the number shown; a used or wrongly answered code does not work', async () => {
    const adult = provider.adult;
    // The "phone": signed in at loa2 (password + code) through Platform B.
    const phone = await openTab('en');
    const phoneFlow = await startAt(phone.page, PLATFORM_B, { scope: 'openid verified' });
    await enterPassword(phone.page, adult);
    await enterCode(phone.page, adult);
    await consentIfAsked(phone.page, phoneFlow);

    // The "laptop": Platform C asks; its login page shows a QR code and a number.
    const laptop = await openTab('en');
    const flow = await startAt(laptop.page, PLATFORM_C, { scope: 'openid verified age' });
    await expectHeading(laptop.page, `Sign in to continue to ${PLATFORM_NAME.c}`);
    const first = await scanLoginPage(laptop.page);
    expect(first.url).toMatch(new RegExp(`^${provider.url}/scan/[A-Za-z0-9_-]{43}$`));
    expect(first.match).toMatch(/^\d{2}$/);
    await screenshot(laptop.page, 'scan-login-en');

    // The phone opens the code: it names the platform and the browser that asked. A wrong number burns the code.
    await phone.page.goto(first.url);
    await expectHeading(phone.page, `Sign in to ${PLATFORM_NAME.c} on another device?`);
    // What the server saw, never the requester's own User-Agent: the platform, the time and the network.
    expect(await phone.page.locator('dl.facts dd').allTextContents()).toEqual([PLATFORM_NAME.c, expect.stringMatching(/^\d\d:\d\d$/), 'The same network as this phone']);
    const numbers = await phone.page.locator('button.number').allTextContents();
    expect(numbers).toHaveLength(3);
    expect(numbers).toContain(first.match);
    await screenshot(phone.page, 'scan-ask-en');
    await phone.page.getByRole('button', { name: numbers.find((number) => number !== first.match)!, exact: true }).click();
    await expectHeading(phone.page, 'The numbers did not match');
    await screenshot(phone.page, 'scan-wrong-number-en');
    // The laptop learns it by polling.
    await laptop.page.getByText('The request was declined on your phone, or the number picked there did not match. This code no longer works: reload this page for a new one.').waitFor();
    expect(await laptop.page.locator('img.qr').isHidden()).toBe(true); // the burnt code is no longer shown
    await screenshot(laptop.page, 'scan-declined-en');
    await phone.page.goto(first.url);
    await expectHeading(phone.page, 'This code has expired or was already used');

    // Reloading the laptop's page gives a new code; picking the right number signs the laptop in by itself.
    await laptop.page.reload();
    const second = await scanLoginPage(laptop.page);
    expect(second.url).not.toBe(first.url);
    await phone.page.goto(second.url);
    await phone.page.getByRole('button', { name: second.match, exact: true }).click();
    await expectHeading(phone.page, 'Approved');
    expect(await phone.page.locator('.lead').textContent()).toBe(`The other device continues to ${PLATFORM_NAME.c}. You can close this page.`);

    await expectHeading(laptop.page, `${PLATFORM_NAME.c} asks for your information`);
    await screenshot(laptop.page, 'scan-consent-en');
    await laptop.page.getByRole('button', { name: 'Share and continue' }).click();
    const claims = (await tokensAt(laptop.page, flow)).claims()!;
    expect(claims.acr).toBe('cyberid:loa2');
    expect(claims.amr).toContain('mca');

    // The code worked once.
    const reused = await phone.page.goto(second.url);
    expect(reused?.status()).toBe(410);
    await expectHeading(phone.page, 'This code has expired or was already used');
    expect([...phone.problems, ...laptop.problems]).toEqual([]);
  }, 120_000);

  it('steps up from loa1 to loa3 in one interaction: SMS code then face, no password again, and a renewed session', async () => {
    const minor = provider.minor;
    const { context, page, problems } = await openTab('en');
    // Platform A accepts a password alone.
    const first = await startAt(page, PLATFORM_A, { scope: 'openid verified' });
    await enterPassword(page, minor);
    const loa1 = await redeem(first.config, first.request, await consentIfAsked(page, first));
    expect(loa1.claims()).toMatchObject({ acr: 'cyberid:loa1', amr: ['pwd'] });
    const sessionBefore = await sessionCookie(context);
    expect(sessionBefore).toEqual(expect.any(String));

    // Now it asks for loa3: the same browser is asked for the code and the face, in one interaction.
    const interactions = new Set<string>();
    page.on('framenavigated', (frame) => {
      const uid = frame.url().match(/\/interaction\/([^/?]+)/)?.[1];
      if (frame === page.mainFrame() && uid) interactions.add(uid);
    });
    const second = await startAt(page, PLATFORM_A, { scope: 'openid verified', acr_values: 'cyberid:loa3' });
    await expectHeading(page, 'Check it’s you');
    expect(await page.locator('input[name=password]').count()).toBe(0);
    await enterCode(page, minor);

    await expectHeading(page, 'Confirm it’s you with a face check');
    expect(await page.getByLabel('My face').isChecked()).toBe(true);
    await screenshot(page, 'face-en');
    await page.getByRole('button', { name: 'Check my face' }).click();

    const loa3 = await tokensAt(page, second);
    expect(loa3.claims()!.acr).toBe('cyberid:loa3');
    expect(loa3.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'sms', 'face', 'mfa']));
    expect(loa3.claims()!.sub).toBe(loa1.claims()!.sub);
    expect(interactions.size).toBe(1);
    const sessionAfter = await sessionCookie(context);
    expect(sessionAfter).toEqual(expect.any(String));
    expect(sessionAfter).not.toBe(sessionBefore);
    expect(problems).toEqual([]);
  }, 90_000);

  it('releases only the claims ticked, does not ask again for remembered answers, and asks only for the claims of a new scope', async () => {
    const adult = provider.adult;
    const first = await openTab('en');
    const flow = await startAt(first.page, PLATFORM_A, { scope: 'openid verified age' });
    await enterPassword(first.page, adult);
    expect(await offeredClaims(first.page)).toEqual({
      identity_verified: true, identity_verified_at: true, document_type: true, age_over_14: true, age_over_18: true,
    });
    await first.page.getByLabel('The kind of identity document you enrolled with').uncheck();
    await first.page.getByLabel('Whether you are 14 or older').uncheck();
    await first.page.getByRole('button', { name: 'Share and continue' }).click();
    const tokens = await tokensAt(first.page, flow);
    const userinfo = await userinfoOf(flow, tokens);
    expect(Object.keys(userinfo).sort()).toEqual(['age_over_18', 'identity_verified', 'identity_verified_at', 'sub']);
    expect(tokens.claims()).not.toHaveProperty('document_type');

    // Another browser, the same request: after the password, straight back to the platform.
    const other = await openTab('en');
    const again = await startAt(other.page, PLATFORM_A, { scope: 'openid verified age' });
    const pagesSeen: string[] = [];
    other.page.on('framenavigated', (frame) => { if (frame === other.page.mainFrame()) pagesSeen.push(frame.url()); });
    await enterPassword(other.page, adult);
    const againTokens = await tokensAt(other.page, again);
    expect(pagesSeen.filter((url) => url.startsWith(provider.url))).toEqual([]); // not even the consent page
    expect(Object.keys(await userinfoOf(again, againTokens)).sort()).toEqual(['age_over_18', 'identity_verified', 'identity_verified_at', 'sub']);

    // A new scope: the consent page lists only its claims.
    const wider = await startAt(other.page, PLATFORM_A, { scope: 'openid verified age profile' });
    expect(await offeredClaims(other.page)).toEqual({ name: true, birthdate: true, gender: true });
    await screenshot(other.page, 'consent-new-scope-en');
    await other.page.getByLabel('Your gender').uncheck();
    await other.page.getByRole('button', { name: 'Share and continue' }).click();
    const widerTokens = await tokensAt(other.page, wider);
    expect(Object.keys(await userinfoOf(wider, widerTokens)).sort())
      .toEqual(['age_over_18', 'birthdate', 'identity_verified', 'identity_verified_at', 'name', 'sub']);
    expect([...first.problems, ...other.problems]).toEqual([]);
  }, 90_000);

  it('turns a 16-year-old away from an adults-only platform with access_denied, releasing nothing', async () => {
    const minor = provider.minor;
    const { page, problems } = await openTab('en');
    const flow = await startAt(page, PLATFORM_B, { scope: 'openid verified age' });
    await enterPassword(page, minor);
    await enterCode(page, minor);
    await expectHeading(page, `${PLATFORM_NAME.b} is for people aged 18 and over`);
    await page.getByText(`Nothing about you has been shared with ${PLATFORM_NAME.b}.`).waitFor();
    await screenshot(page, 'under-age-en');
    await page.getByRole('button', { name: `Return to ${PLATFORM_NAME.b}` }).click();

    const callback = await backAtPlatform(page, flow);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(flow.request.state);
    expect(callback.searchParams.has('code')).toBe(false);
    await expect(redeem(flow.config, flow.request, callback)).rejects.toMatchObject({ error: 'access_denied' });
    expect(problems).toEqual([]);
  }, 60_000);

  it('makes a 16-year-old wait for a guardian\'s approval, then continues by itself once the guardian allows the platform', async () => {
    const { adult, minor } = provider;
    const child = await openTab('en');
    const flow = await startAt(child.page, PLATFORM_D, { scope: 'openid verified age' });
    await enterPassword(child.page, minor);
    await enterCode(child.page, minor);
    await expectHeading(child.page, `Your guardian needs to approve ${PLATFORM_NAME.d}`);
    await child.page.getByText('Waiting for your guardian… this page continues by itself once they approve.').waitFor();
    await screenshot(child.page, 'guardian-wait-en');

    // The guardian, in a browser of their own: /guardian leads to the portal's Family section, behind a loa2 sign-in.
    const guardian = await openTab('en');
    await guardian.page.goto(`${provider.url}/guardian`);
    await expectHeading(guardian.page, 'Sign in to continue to Cyber ID');
    await enterPassword(guardian.page, adult);
    await enterCode(guardian.page, adult);
    await expectHeading(guardian.page, 'Your children\'s Cyber IDs');
    const allow = guardian.page.getByRole('button', { name: new RegExp(`^Allow .+ to use ${PLATFORM_NAME.d}$`) });
    await allow.waitFor();
    await screenshot(guardian.page, 'guardian-dashboard-en');
    await allow.click();
    await guardian.page.getByText('Approved. Your child can continue to the platform.').waitFor();

    // The child's page notices by itself and goes on to consent, then to the platform.
    await expectHeading(child.page, `${PLATFORM_NAME.d} asks for your information`);
    expect(await child.page.locator('#claim-age_over_14').isDisabled()).toBe(true); // required by Platform D
    await child.page.getByRole('button', { name: 'Share and continue' }).click();
    const tokens = await tokensAt(child.page, flow);
    expect(tokens.claims()!.acr).toBe('cyberid:loa2');
    expect(await userinfoOf(flow, tokens)).toMatchObject({ age_over_14: true, age_over_18: false });
    expect([...child.problems, ...guardian.problems]).toEqual([]);
  }, 90_000);

  it('refuses a form posted without its CSRF token with a 403 page, and the genuine form still works', async () => {
    const adult = provider.adult;
    const { context, page, problems } = await openTab('en');
    const flow = await startAt(page, PLATFORM_A, { scope: 'openid verified' });
    const action = new URL(await page.locator('form[action$="/login"]').getAttribute('action') ?? '', provider.url);

    const forged = await page.request.post(action.href, {
      form: { identifier: adult.phone, password: adult.password }, headers: { 'accept-language': 'en' }, maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('The form could not be accepted because it was not sent from this page.');
    expect(await sessionCookie(context)).toBeUndefined();

    await enterPassword(page, adult);
    const tokens = await redeem(flow.config, flow.request, await consentIfAsked(page, flow));
    expect(tokens.claims()!.acr).toBe('cyberid:loa1');
    expect(problems).toEqual([]);
  }, 60_000);

  // Last: it leaves the minor locked out.
  it('locks an account after five wrong passwords, with 429 and Retry-After, and then refuses even the right password', async () => {
    const { adult, minor } = provider;
    const { page, problems } = await openTab('en');
    await startAt(page, PLATFORM_A, { scope: 'openid verified' });
    /** Submits the login form; the answer to that post (the page it shows comes with it). */
    const submitPassword = async (password: string, identifier = minor.phone) => {
      const answer = page.waitForResponse((response) => response.request().method() === 'POST' && response.url().endsWith('/login'));
      await enterPassword(page, minor, { identifier, password });
      return answer;
    };

    for (let attempt = 1; attempt <= 4; attempt += 1) {
      const response = await submitPassword(`wrong password ${attempt}`);
      expect([attempt, response.status()]).toEqual([attempt, 401]);
      expect(await response.text()).toContain('The network number, phone number or password is not correct.');
    }
    const locking = await submitPassword('wrong password 5');
    expect(locking.status()).toBe(429);
    expect(Number(locking.headers()['retry-after'])).toBeGreaterThan(0);
    await page.locator('.error-summary', { hasText: /Too many attempts\. For your safety, try again after \d\d:\d\d \(in about \d+ min\)/ }).waitFor();
    await screenshot(page, 'locked-en');

    // The right password, by phone number and by network number: refused while locked.
    for (const identifier of [minor.phone, minor.networkNumber]) {
      const refused = await submitPassword(minor.password, identifier);
      expect([identifier, refused.status()]).toEqual([identifier, 429]);
      expect(Number(refused.headers()['retry-after'])).toBeGreaterThan(0);
      expect(await refused.text()).toContain('Too many attempts');
    }
    expect(page.url()).toMatch(/\/interaction\//);

    // The lock is the account's: another person signs in from the same address.
    const other = await openTab('en');
    const flow = await startAt(other.page, PLATFORM_A, { scope: 'openid verified' });
    await enterPassword(other.page, adult);
    expect((await redeem(flow.config, flow.request, await consentIfAsked(other.page, flow))).claims()!.acr).toBe('cyberid:loa1');
    expect([...problems, ...other.problems]).toEqual([]);
  }, 60_000);
});
