// Account recovery (/recover) over HTTP against the real server: the forgotten-password and lost-phone journeys end
// to end (every session ends, platforms' tokens die, passkeys stay, the phone is told, the activity records it, a
// platform signs the person in with the new password through openid-client); the same answers for phone numbers,
// network numbers and documents with and without an account; refusals (registry, document, face); limits and
// lockout with 429 and Retry-After; no skipping a step; CSRF and bad input. The registry, face verifier and SMS are
// the built-in simulations; codes are read from the SMS outbox file. The provider trusts X-Forwarded-For (as behind
// its TLS proxy), so each test comes from addresses of its own and the per-address limits do not meet across tests.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { openEmbeddedStore } from '../adapters/index.ts';
import type { Store } from '../adapters/types.ts';
import { catalogues } from '../interactions/i18n.ts';
import { newPersonalNetworkNumber } from '../server/identity/network-number.ts';
import { readSimulationSeed, type SimulatedPerson } from '../server/identity/registry.ts';
import { RECOVERY_LIMITS } from '../server/recovery/limits.ts';
import { expectPage, expectRedirect, FormBrowser, type Outcome, type Page } from './support/browser.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const PASSWORD = 'Lantern-river-autumn-42';

let provider: RunningProvider;
let platformA: oidc.Configuration;
let nextAddress = 1;
/** The demo adult's account. */
let adultId: string;

beforeAll(async () => {
  provider = await startProvider(tempDataDir(), { CYBERID_PROXY: 'true' });
  platformA = await discover(provider.url, PLATFORM_A);
  const b = browser();
  await signInAtPlatformA(b, provider.adult.phone, provider.adult.password);
  adultId = (await accountIdOf(b)).accountId;
}, 60_000);

afterAll(async () => {
  await provider?.stop();
  if (provider) removeDataDir(provider.dataDir);
});

const at = (pathname: string) => new URL(pathname, provider.url);

/** A browser of its own, from an address of its own. */
function browser(language = 'en', address = `198.51.100.${nextAddress++}`): FormBrowser {
  return new FormBrowser(provider.url, language, { 'x-forwarded-for': address });
}

function person(id: string): SimulatedPerson {
  const found = SEED.find((p) => p.personId === id);
  if (!found) throw new Error(`${id} is not in the simulation seed`);
  return found;
}

function documentOf(p: SimulatedPerson, index = 0): Record<string, string> {
  const document = p.documents[index]!;
  return { document_type: document.type, document_number: document.number, name: p.name, birthdate: p.birthdate, expires_on: document.expiresOn };
}

interface Sms { at: string; to: string; text: string }

function outbox(): Sms[] {
  const file = path.join(provider.dataDir, 'sms-outbox.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Sms);
}

/** Messages to `phone` (national or E.164) after `since` messages had been written. */
function messagesTo(phone: string, since = 0): Sms[] {
  const national = phone.replace(/\D/g, '').slice(-11);
  return outbox().slice(since).filter((message) => message.to.replace(/\D/g, '').endsWith(national));
}

/** The recovery code sent to `phone` after `since`; recovery codes leave without waiting for the SMS gateway, so this polls. */
async function recoveryCodeFor(phone: string, since: number): Promise<string> {
  for (let tries = 0; tries < 50; tries += 1) {
    const code = messagesTo(phone, since).filter((m) => m.text.includes('找回账户的验证码')).at(-1)?.text.match(/\b\d{6}\b/)?.[0];
    if (code) return code;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no recovery code was sent to ${phone}`);
}

function lastCodeFor(phone: string, since = 0): string {
  const code = messagesTo(phone, since).at(-1)?.text.match(/\b\d{6}\b/)?.[0];
  if (!code) throw new Error(`no code was sent to ${phone}`);
  return code;
}

/** A code that is surely not `code`. */
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

async function withStore<T>(use: (store: Store) => Promise<T>): Promise<T> {
  const store = openEmbeddedStore(provider.dataDir);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Enrols `p` through the JSON API with `phone`; the account's id. */
async function enrol(p: SimulatedPerson, phone: string): Promise<void> {
  const api = async (route: string, token?: string, body: unknown = {}) => {
    const response = await fetch(new URL(`/enrol/api/v1${route}`, provider.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': `192.0.2.${nextAddress++}`, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return response.json() as Promise<Record<string, unknown>>;
  };
  const token = (await api('/enrolments')).enrolment_token as string;
  const document = documentOf(p);
  expect(await api('/enrolment/document', token, document)).toEqual({ step: 'face' });
  expect(await api('/enrolment/face', token, { capture: `sim:live:${p.photo}` })).toEqual({ step: 'phone' });
  const since = outbox().length;
  expect(await api('/enrolment/phone', token, { phone })).toEqual({ step: 'code' });
  expect(await api('/enrolment/code', token, { code: lastCodeFor(phone, since) })).toEqual({ step: 'password' });
  expect(await api('/enrolment/password', token, { password: PASSWORD })).toMatchObject({ step: 'done' });
}

/** Signs in at platform A (password alone is enough there) in `b`; the tokens, or the page that refused. */
async function signInAtPlatformA(b: FormBrowser, identifier: string, password: string) {
  const request = await authorizationRequest(platformA, PLATFORM_A, { scope: 'openid verified' });
  const login = expectPage(await b.open(request.url));
  const outcome = await b.submit(login, '/login', { identifier, password });
  if (outcome.kind === 'page' && outcome.page.doc.querySelector('form[action$="/consent"]')) {
    return { tokens: await redeem(platformA, request, expectRedirect(await b.submit(outcome.page, '/consent'))) };
  }
  if (outcome.kind === 'redirect') return { tokens: await redeem(platformA, request, outcome.location) };
  return { refused: outcome.page };
}

async function accountIdOf(b: FormBrowser): Promise<{ accountId: string; sessionId: string }> {
  const sessionId = (await b.jar.getCookies(provider.url)).find((cookie) => cookie.key === '_session')!.value;
  const accountId = await withStore(async (store) => (await store.adapterFor('Session').find(sessionId))!.accountId as string);
  return { accountId, sessionId };
}

const heading = (page: Page) => page.doc.querySelector('h1')?.text.trim();
const fieldError = (page: Page, field: string) => page.doc.querySelector(`#${field}-error`)?.text.trim();

/** Opens /recover and starts the journey; the first page of it. */
async function startRecovery(b: FormBrowser, journey: 'password' | 'phone'): Promise<Page> {
  const start = expectPage(await b.open(at('/recover')));
  return expectPage(await b.submit(start, '/recover/start', { journey }));
}

/** Document then face: the page after the face check. */
async function proveIdentity(b: FormBrowser, page: Page, document: Record<string, string>, subject = 'own_face'): Promise<Page> {
  const face = expectPage(await b.submit(page, '/recover/document', document));
  expect(face.doc.querySelector('form[action="/recover/face"]')).not.toBeNull();
  return expectPage(await b.submit(face, '/recover/face', { subject }));
}

/** The page as a person sees it, without what differs on every answer (tokens, nonces) and the masked number typed. */
function comparable(outcome: Outcome): { status: number; html: string; retryAfter: string | null } {
  const page = expectPage(outcome);
  const html = page.html
    .replace(/name="csrf" value="[^"]*"/g, 'name="csrf"')
    .replace(/data-csrf="[^"]*"/g, '')
    .replace(/nonce="[^"]*"/g, '')
    .replace(/\+\d{2,3}\d{3}\*{4}\d{4}/g, 'PHONE');
  return { status: page.status, html, retryAfter: page.headers.get('retry-after') };
}

describe('forgotten password', () => {
  it('code, document, face and a new password: every session and token ends, passkeys stay, the phone is told, the new password signs in', async () => {
    const adult = provider.adult;
    const lee = person('sim-0001');
    // Signed in somewhere (a platform holding tokens), with a passkey on the account.
    const old = browser();
    const before = await signInAtPlatformA(old, adult.phone, adult.password);
    const { accountId, sessionId } = await accountIdOf(old);
    await withStore((store) => store.passkeys.insert({ id: 'cmVjb3Zlcnkta2V5', accountId, publicKey: 'AQID', counter: 0, transports: ['internal'], name: 'Old phone', createdAt: Date.now(), lastUsedAt: null }));

    const b = browser();
    const start = expectPage(await b.open(at('/recover')));
    expect([start.status, heading(start)]).toEqual([200, "Can't sign in?"]);
    expect(start.doc.querySelectorAll('form[action="/recover/start"]')).toHaveLength(2);
    const identify = expectPage(await b.submit(start, '/recover/start', { journey: 'password' }));
    expect(heading(identify)).toBe('Which account do you want to recover?');
    const sent = outbox().length;
    const code = expectPage(await b.submit(identify, '/recover/identify', { identifier: '138 0013 8000' }));
    expect(heading(code)).toBe('Check your phone');
    expect(code.doc.querySelector('.lead')?.text).toContain('+86138****8000');
    const real = await recoveryCodeFor(adult.phone, sent);

    const wrongCode = expectPage(await b.submit(code, '/recover/code', { code: wrong(real) }));
    expect([wrongCode.status, fieldError(wrongCode, 'code')]).toEqual([401, 'The code is not right. You can try this code 4 more times.']);
    expect(wrongCode.doc.querySelector('.error-summary a')?.getAttribute('href')).toBe('#code');
    const documentPage = expectPage(await b.submit(wrongCode, '/recover/code', { code: real }));
    expect(heading(documentPage)).toBe('Your identity document');

    // The registry says no to a name that is not the document's; the face of someone else fails.
    const mismatch = expectPage(await b.submit(documentPage, '/recover/document', { ...documentOf(lee), name: '李敏' }));
    expect([mismatch.status, fieldError(mismatch, 'document_number')]).toEqual([422, catalogues.en['recover.error.registry_mismatch']]);
    expect(mismatch.doc.querySelector('input[name=name]')?.getAttribute('value')).toBe('李敏'); // kept for correcting
    const face = expectPage(await b.submit(mismatch, '/recover/document', documentOf(lee)));
    const someoneElse = expectPage(await b.submit(face, '/recover/face', { subject: 'someone_else' }));
    expect([someoneElse.status, fieldError(someoneElse, 'subject')]).toEqual([401, catalogues.en['recover.error.face_mismatch']]);
    const choose = expectPage(await b.submit(someoneElse, '/recover/face', { subject: 'own_face' }));
    expect(heading(choose)).toBe('Choose a new password');
    expect(choose.doc.querySelector('button[formaction$="/password/skip"]')).toBeNull(); // the point of this journey

    const weak = expectPage(await b.submit(choose, '/recover/password', { password: 'password123', confirm: 'password123' }));
    expect(weak.status).toBe(400);
    const personal = expectPage(await b.submit(weak, '/recover/password', { password: '110105198803151232', confirm: '110105198803151232' }));
    expect(fieldError(personal, 'password')).toBe(catalogues.en['recover.error.password_personal']);
    const newPassword = 'copper-meadow-signal-58';
    const unequal = expectPage(await b.submit(personal, '/recover/password', { password: newPassword, confirm: `${newPassword}x` }));
    expect([unequal.status, fieldError(unequal, 'confirm')]).toEqual([400, 'The two passwords are not the same.']);
    const done = expectPage(await b.submit(unequal, '/recover/password', { password: newPassword, confirm: newPassword }));
    expect([done.status, heading(done)]).toEqual([200, 'Your new password is set']);
    expect(done.doc.querySelectorAll('#passkeys-kept li').map((li) => li.text)).toEqual(['Old phone']);
    expect(done.doc.querySelector('main')?.text).toContain('+86138****8000');

    // Every session ended: the old browser's provider session is gone and it must sign in again; platform A's tokens are dead.
    expect(await withStore((store) => store.adapterFor('Session').find(sessionId))).toBeUndefined();
    expect((await oidc.tokenIntrospection(platformA, before.tokens!.access_token)).active).toBe(false);
    const again = await authorizationRequest(platformA, PLATFORM_A, { scope: 'openid verified' });
    expect(expectPage(await old.open(again.url)).doc.querySelector('form[action$="/login"]')).not.toBeNull();
    // The old password no longer works; the new one signs in at the platform (which kept the consent: no consent page).
    expect((await signInAtPlatformA(browser(), adult.phone, adult.password)).refused?.status).toBe(401);
    const after = await signInAtPlatformA(browser(), adult.networkNumber, newPassword);
    expect(after.tokens!.claims()!.sub).toBe(before.tokens!.claims()!.sub);
    // Passkeys are untouched; the activity says what happened; the phone was told.
    expect((await withStore((store) => store.passkeys.listByAccount(accountId))).map((passkey) => passkey.name)).toEqual(['Old phone']);
    const events = await withStore((store) => store.securityEvents.list(accountId, 0, 50));
    expect(events.map((event) => event.type)).toContain('password_recovered');
    expect(events.filter((event) => event.type === 'sign_in_failed').map((event) => event.detail)).toContainEqual(expect.objectContaining({ method: 'recovery', factor: 'sms' }));
    expect(messagesTo(adult.phone, sent).map((m) => m.text).filter((text) => text.includes('通过找回账户设置了新密码'))).toHaveLength(1);
    provider.adult.password = newPassword;
  }, 60_000);

  it('a document that is not the account\'s fails at the face check like another person\'s face, even with that document\'s own face', async () => {
    const b = browser();
    const code = expectPage(await b.submit(await startRecovery(b, 'password'), '/recover/identify', { identifier: provider.adult.phone }));
    const sent = outbox().length - 1;
    const documentPage = expectPage(await b.submit(code, '/recover/code', { code: await recoveryCodeFor(provider.adult.phone, Math.max(0, sent)) }));
    // 王芳 exists in the registry, and this is her face: but it is not the account's document.
    const refused = await proveIdentity(b, documentPage, documentOf(person('sim-0003')));
    expect([refused.status, fieldError(refused, 'subject')]).toEqual([401, catalogues.en['recover.error.face_mismatch']]);
    const printed = expectPage(await b.submit(refused, '/recover/face', { subject: 'printed_photo' }));
    expect([printed.status, fieldError(printed, 'subject')]).toEqual([401, catalogues.en['recover.error.liveness_failed']]);
    const ended = expectPage(await b.submit(printed, '/recover/face', { subject: 'own_face' }));
    expect(heading(ended)).toBe('The face check did not succeed');
    expect(ended.doc.querySelector('form[action="/recover/restart"]')).not.toBeNull();
  }, 30_000);
});

describe('lost phone', () => {
  const wang = person('sim-0003');
  const OLD_PHONE = '13700137101';
  const NEW_PHONE = '13700137102';

  beforeAll(async () => {
    await enrol(wang, OLD_PHONE);
  }, 30_000);

  it('document, face, a new number checked by a code: every session ends, both numbers are told, the password still works; a new password can follow', async () => {
    const old = browser();
    const before = await signInAtPlatformA(old, OLD_PHONE, PASSWORD);
    const { accountId, sessionId } = await accountIdOf(old);

    const b = browser('zh-CN');
    const documentPage = await startRecovery(b, 'phone');
    expect(heading(documentPage)).toBe('您的身份证件');
    const phonePage = await proveIdentity(b, documentPage, documentOf(wang));
    expect(heading(phonePage)).toBe('您的新手机号码');
    const taken = expectPage(await b.submit(phonePage, '/recover/phone', { phone: 'not a number' }));
    expect([taken.status, fieldError(taken, 'phone')]).toEqual([400, catalogues['zh-CN']['recover.error.phone_invalid']]);
    const foreign = expectPage(await b.submit(taken, '/recover/phone', { phone: '+4915112345678' }));
    expect([foreign.status, fieldError(foreign, 'phone')]).toEqual([400, catalogues['zh-CN']['recover.error.phone_not_textable']!.replace('{codes}', '+86')]);
    const sent = outbox().length;
    const codePage = expectPage(await b.submit(foreign, '/recover/phone', { phone: NEW_PHONE }));
    expect(codePage.doc.querySelector('.lead')?.text).toContain('+86137****7102');
    const resend = expectPage(await b.submit(codePage, '/recover/phone/code', { code: '' }, '/recover/phone/resend'));
    expect([resend.status, Number(resend.headers.get('retry-after'))]).toEqual([429, expect.any(Number)]);
    const done = expectPage(await b.submit(resend, '/recover/phone/code', { code: lastCodeFor(NEW_PHONE, sent) }));
    expect(heading(done)).toBe('新手机号码已绑定');
    expect(done.doc.querySelector('form[action="/recover/password/offer"]')).not.toBeNull();

    // Signed out everywhere; tokens dead; the new number (with the same password) signs in, the old one no longer does.
    expect(await withStore((store) => store.adapterFor('Session').find(sessionId))).toBeUndefined();
    expect((await oidc.tokenIntrospection(platformA, before.tokens!.access_token)).active).toBe(false);
    expect((await signInAtPlatformA(browser(), OLD_PHONE, PASSWORD)).refused?.status).toBe(401);
    expect((await signInAtPlatformA(browser(), NEW_PHONE, PASSWORD)).tokens?.claims()?.sub).toBe(before.tokens!.claims()!.sub);
    // The new number is told what happened, the old one that it no longer receives codes.
    expect(messagesTo(NEW_PHONE, sent).some((m) => m.text.includes('通过找回账户更换了手机号码'))).toBe(true);
    expect(messagesTo(OLD_PHONE, sent).some((m) => m.text.includes('本号码不再接收验证码'))).toBe(true);
    expect((await withStore((store) => store.securityEvents.list(accountId, 0, 50))).map((event) => event.type)).toContain('phone_recovered');

    // "Forgotten your password too?": the same recovery sets one.
    const choose = expectPage(await b.submit(done, '/recover/password/offer'));
    expect(choose.doc.querySelector('button[formaction$="/password/skip"]')).not.toBeNull();
    const newPassword = 'harbour-pepper-violet-63';
    const both = expectPage(await b.submit(choose, '/recover/password', { password: newPassword, confirm: newPassword }));
    expect(heading(both)).toBe('新手机号码和新密码均已设置');
    expect(both.doc.querySelector('form[action="/recover/password/offer"]')).toBeNull();
    expect((await signInAtPlatformA(browser(), NEW_PHONE, newPassword)).tokens).toBeDefined();
  }, 60_000);

  it('after "this wasn\'t me" (password turned off) the new password is part of the recovery', async () => {
    const zhao = person('sim-0011');
    await enrol(zhao, '13700137103');
    const b0 = browser();
    await signInAtPlatformA(b0, '13700137103', PASSWORD);
    const { accountId } = await accountIdOf(b0);
    // What "this wasn't me" leaves behind (server/portal): no password, and a new one required.
    await withStore(async (store) => {
      const record = (await store.accounts.findById(accountId))!;
      await store.accounts.replace({ ...record, passwordHash: null, passwordChangeRequired: true });
    });

    const b = browser();
    const phonePage = await proveIdentity(b, await startRecovery(b, 'phone'), documentOf(zhao));
    const sent = outbox().length;
    const codePage = expectPage(await b.submit(phonePage, '/recover/phone', { phone: '13700137104' }));
    const choose = expectPage(await b.submit(codePage, '/recover/phone/code', { code: lastCodeFor('13700137104', sent) }));
    expect(heading(choose)).toBe('Choose a new password');
    expect(choose.doc.querySelector('.lead')?.text).toContain('turned off');
    expect(choose.doc.querySelector('button[formaction$="/password/skip"]')).toBeNull();
    // Leaving the password step out is not possible.
    const skipped = expectPage(await b.open(at('/recover/password/skip'), { method: 'POST', body: new URLSearchParams({ csrf: choose.doc.querySelector('input[name=csrf]')!.getAttribute('value')! }) }));
    expect(heading(skipped)).toBe('Choose a new password');
    const done = expectPage(await b.submit(choose, '/recover/password', { password: 'granite-orchid-lantern-71', confirm: 'granite-orchid-lantern-71' }));
    expect(heading(done)).toBe('Your new phone number and password are set');
    expect((await signInAtPlatformA(browser(), '13700137104', 'granite-orchid-lantern-71')).tokens).toBeDefined();
  }, 60_000);
});

describe('nothing tells whether an account exists before the face check', () => {
  it('a phone number without an account gets the same code page, resend and wrong-code answers, and no SMS', async () => {
    // The 16-year-old: no recovery of hers has failed in this file yet (recovery's failures are never forgiven).
    const UNKNOWN = '13700137999';
    const real = browser();
    const unknown = browser();
    const sent = outbox().length;
    const [realCode, unknownCode] = await Promise.all([
      startRecovery(real, 'password').then((page) => real.submit(page, '/recover/identify', { identifier: provider.minor.phone })),
      startRecovery(unknown, 'password').then((page) => unknown.submit(page, '/recover/identify', { identifier: UNKNOWN })),
    ]);
    expect(comparable(unknownCode)).toEqual(comparable(realCode));
    const code = await recoveryCodeFor(provider.minor.phone, sent);
    const guess = wrong(code);
    expect(comparable(await unknown.submit(expectPage(unknownCode), '/recover/code', { code: guess })))
      .toEqual(comparable(await real.submit(expectPage(realCode), '/recover/code', { code: guess })));
    const resendUnknown = await unknown.submit(expectPage(unknownCode), '/recover/code/resend');
    const resendReal = await real.submit(expectPage(realCode), '/recover/code/resend');
    expect(comparable(resendUnknown).status).toBe(429);
    expect(comparable(resendUnknown)).toEqual({ ...comparable(resendReal), retryAfter: expect.any(String) });
    expect(messagesTo(UNKNOWN)).toEqual([]);
  }, 30_000);

  it('a network number without an account gets the same page as one with', async () => {
    const real = browser();
    const unknown = browser();
    const [a, b] = await Promise.all([
      startRecovery(real, 'password').then((page) => real.submit(page, '/recover/identify', { identifier: provider.adult.networkNumber })),
      startRecovery(unknown, 'password').then((page) => unknown.submit(page, '/recover/identify', { identifier: newPersonalNetworkNumber() })),
    ]);
    expect(comparable(b)).toEqual(comparable(a));
    expect(expectPage(a).doc.querySelector('.lead')?.text).not.toContain('*'); // no phone number on the page
  });

  it('a document without an account gets the same face step and the same failure; only its holder\'s face learns there is none', async () => {
    const withAccount = browser();
    const without = browser();
    const [a, b] = await Promise.all([
      startRecovery(withAccount, 'phone').then((page) => withAccount.submit(page, '/recover/document', documentOf(person('sim-0001')))),
      startRecovery(without, 'phone').then((page) => without.submit(page, '/recover/document', documentOf(person('sim-0005'), 1))),
    ]);
    expect(comparable(b)).toEqual(comparable(a));
    const [failedA, failedB] = [
      await withAccount.submit(expectPage(a), '/recover/face', { subject: 'someone_else' }),
      await without.submit(expectPage(b), '/recover/face', { subject: 'someone_else' }),
    ];
    expect(comparable(failedB)).toEqual(comparable(failedA));
    expect(comparable(failedA).status).toBe(401);
    const noAccount = expectPage(await without.submit(expectPage(failedB), '/recover/face', { subject: 'own_face' }));
    expect(heading(noAccount)).toBe('There is no Cyber ID for this document');
    expect(noAccount.doc.querySelector('form[action="/enrol"]')).not.toBeNull();
  }, 30_000);
});

describe('limits', () => {
  it(`${RECOVERY_LIMITS.startsPerAddress.points} starts an hour from one address, then 429 with Retry-After and when to try again`, async () => {
    const address = `198.51.100.${nextAddress++}`;
    for (let i = 0; i < RECOVERY_LIMITS.startsPerAddress.points; i += 1) expect(heading(await startRecovery(browser('en', address), 'phone'))).toBe('Your identity document');
    const refused = await startRecovery(browser('en', address), 'phone');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(refused.doc.querySelector('.error-summary li')?.text).toMatch(/^Too many recoveries have been started from this network\. Try again in \d+ minutes\.$/);
    // Another address is not affected.
    expect(heading(await startRecovery(browser(), 'phone'))).toBe('Your identity document');
  }, 30_000);

  it(`${RECOVERY_LIMITS.perAccount.points} recoveries a day for one account, counted once its code is right; a stranger who knows only the number uses none`, async () => {
    // Someone who knows only the number starts recoveries and never gets past the code: nothing is used up.
    for (let i = 0; i <= RECOVERY_LIMITS.perAccount.points; i += 1) {
      const b = browser();
      expect(heading(expectPage(await b.submit(await startRecovery(b, 'password'), '/recover/identify', { identifier: '13700137998' })))).toBe('Check your phone');
    }
    const proveCode = async () => {
      const b = browser();
      const sent = outbox().length;
      const codePage = expectPage(await b.submit(await startRecovery(b, 'password'), '/recover/identify', { identifier: provider.minor.phone }));
      return expectPage(await b.submit(codePage, '/recover/code', { code: await recoveryCodeFor(provider.minor.phone, sent) }));
    };
    for (let i = 0; i < RECOVERY_LIMITS.perAccount.points; i += 1) expect(heading(await proveCode())).toBe('Your identity document');
    const refused = await proveCode();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(20 * 3600);
    expect(fieldError(refused, 'code')).toMatch(/^Recovery has been tried too often with this number or document\. Try again in \d+ hours\.$/);
  }, 30_000);

  it('wrong codes lock like at sign-in (the fifth locks, 429 with Retry-After); a third wrong face ends the recovery', async () => {
    const b = browser();
    let page = expectPage(await b.submit(await startRecovery(b, 'password'), '/recover/identify', { identifier: '13700137997' }));
    for (let i = 1; i < 5; i += 1) {
      page = expectPage(await b.submit(page, '/recover/code', { code: '123456' }));
      expect(page.status).toBe(401);
    }
    const locked = expectPage(await b.submit(page, '/recover/code', { code: '123456' }));
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(fieldError(locked, 'code')).toMatch(/^Too many wrong attempts\. To protect the account, try again in \d+ minutes?\.$/);
    // Still locked: the next guess is not even checked.
    expect(expectPage(await b.submit(locked, '/recover/code', { code: '123456' })).status).toBe(429);

    const c = browser();
    let face = expectPage(await c.submit(await startRecovery(c, 'phone'), '/recover/document', documentOf(person('sim-0009'))));
    for (const expected of [401, 401]) {
      face = expectPage(await c.submit(face, '/recover/face', { subject: 'someone_else' }));
      expect(face.status).toBe(expected);
    }
    expect(heading(expectPage(await c.submit(face, '/recover/face', { subject: 'someone_else' })))).toBe('The face check did not succeed');
  }, 30_000);
});

describe('one step at a time', () => {
  it('a step posted out of turn goes back to the current step and changes nothing', async () => {
    const hashBefore = await withStore(async (store) => (await store.accounts.findById(adultId))!.passwordHash);
    const b = browser();
    const code = expectPage(await b.submit(await startRecovery(b, 'password'), '/recover/identify', { identifier: provider.adult.phone }));
    const csrf = code.doc.querySelector('input[name=csrf]')!.getAttribute('value')!;
    for (const [route, fields] of [
      ['/recover/password', { password: 'skipped-ahead-password-99', confirm: 'skipped-ahead-password-99' }],
      ['/recover/document', documentOf(person('sim-0003'))],
      ['/recover/face', { subject: 'own_face' }],
      ['/recover/phone', { phone: '13700137996' }],
      ['/recover/phone/code', { code: '123456' }],
      ['/recover/password/offer', {}],
    ] as const) {
      const outcome = expectPage(await b.open(at(route), { method: 'POST', body: new URLSearchParams({ csrf, ...fields }) }));
      expect([route, outcome.url, heading(outcome)]).toEqual([route, at('/recover').href, 'Check your phone']);
    }
    const hashOf = () => withStore(async (store) => (await store.accounts.findById(adultId))!.passwordHash);
    expect(await hashOf()).toBe(hashBefore);
    // A GET of a step's address shows the current step too.
    expect(heading(expectPage(await b.open(at('/recover/password'))))).toBe('Check your phone');
  });

  it('forms need their CSRF token; bad input gets a clear page; a recovery that is gone says so', async () => {
    const b = browser();
    const identify = await startRecovery(b, 'password');
    const forged = expectPage(await b.open(at('/recover/identify'), { method: 'POST', body: new URLSearchParams({ identifier: provider.adult.phone }) }));
    expect(forged.status).toBe(403);
    const tooLong = expectPage(await b.submit(identify, '/recover/identify', { identifier: 'x'.repeat(65) }));
    expect([tooLong.status, fieldError(tooLong, 'identifier')]).toEqual([400, 'Enter your phone number or network number.']);
    const notNumber = expectPage(await b.submit(tooLong, '/recover/identify', { identifier: 'someone@example.com' }));
    expect([notNumber.status, fieldError(notNumber, 'identifier')]).toEqual([400, catalogues.en['recover.error.identifier_invalid']]);
    expect(notNumber.doc.querySelector('.error-summary a')?.getAttribute('href')).toBe('#identifier');

    const fresh = browser();
    const page = expectPage(await fresh.open(at('/recover')));
    const gone = expectPage(await fresh.open(at('/recover/code'), { method: 'POST', body: new URLSearchParams({ csrf: page.doc.querySelector('input[name=csrf]')!.getAttribute('value')!, code: '123456' }) }));
    expect([gone.status, heading(gone)]).toEqual([400, 'Your recovery has timed out']);
    const junk = expectPage(await fresh.open(at('/recover/start'), { method: 'POST', body: new URLSearchParams({ csrf: page.doc.querySelector('input[name=csrf]')!.getAttribute('value')!, journey: 'everything' }) }));
    expect([junk.status, heading(junk)]).toEqual([200, "Can't sign in?"]);
  });

  it('the recovery cookie is HttpOnly, SameSite=Strict and scoped to /recover; the store holds neither the id nor anything readable', async () => {
    const b = browser();
    await startRecovery(b, 'password');
    const cookie = (await b.jar.getCookies(at('/recover').href)).find((c) => c.key === 'cyberid_recovery')!;
    expect([cookie.httpOnly, cookie.sameSite, cookie.path]).toEqual([true, 'strict', '/recover']);
    const database = new DatabaseSync(path.join(provider.dataDir, 'cyberid.sqlite'), { readOnly: true });
    try {
      const rows = database.prepare("SELECT key, value FROM short_lived WHERE key LIKE 'recovery:%'").all() as { key: string; value: string }[];
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.key).not.toContain(cookie.value);
        expect(row.value).not.toMatch(/identify|password|journey|\+86/);
      }
    } finally {
      database.close();
    }
  });
});
