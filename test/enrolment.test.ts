// Enrolment over HTTP against the real server: the JSON API a mobile app calls (every document kind and
// every refusal), the guardian pages, and afterwards a platform signing the new person in with openid-client.
// The registry, face verifier and SMS are the built-in simulations (seeded from the repository's file);
// one-time codes are read from the SMS outbox file, as a developer would. The server runs behind a trusted proxy
// (CYBERID_PROXY=true) so that each API enrolment starts from an address of its own (X-Forwarded-For), as people
// enrol from their own phones: starts are limited per address (test/phones.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { DocumentType } from '../server/identity/documents.ts';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { readSimulationSeed, type SimulatedPerson } from '../server/identity/registry.ts';
import { expectPage, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, redeem } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const PASSWORD = 'Lantern-river-autumn-42';

let provider: RunningProvider;
let platformA: oidc.Configuration;

beforeAll(async () => {
  provider = await startProvider(tempDataDir(), { CYBERID_PROXY: 'true' });
  platformA = await discover(provider.url, PLATFORM_A);
}, 60_000);

afterAll(async () => {
  await provider.stop();
  removeDataDir(provider.dataDir);
});

function person(id: string): SimulatedPerson {
  const found = SEED.find((p) => p.personId === id);
  if (!found) throw new Error(`${id} is not in the simulation seed`);
  return found;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function api(route: string, token?: string, body?: unknown, from?: string): Promise<Answer> {
  const response = await fetch(new URL(`/enrol/api/v1${route}`, provider.url), {
    method: body === undefined && route === '/enrolment' ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(from ? { 'x-forwarded-for': from } : {}) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: response.headers };
}

/** The newest code the simulated SMS network delivered to `e164`. */
function lastCodeFor(e164: string): string {
  const lines = readFileSync(path.join(provider.dataDir, 'sms-outbox.jsonl'), 'utf8').trim().split('\n');
  const message = lines.map((line) => JSON.parse(line) as { to: string; text: string }).filter((m) => m.to === e164).at(-1);
  const code = message && /\b(\d{6})\b/.exec(message.text)?.[1];
  if (!code) throw new Error(`no code was sent to ${e164}`);
  return code;
}

function documentOf(p: SimulatedPerson, index = 0) {
  const document = p.documents[index]!;
  return { document_type: document.type, document_number: document.number, name: p.name, birthdate: p.birthdate, expires_on: document.expiresOn };
}

const ownFace = (p: SimulatedPerson) => `sim:live:${p.photo}`;

let starts = 0;

/** Starts an API enrolment from an address of its own. */
async function start(): Promise<string> {
  starts += 1;
  const started = await api('/enrolments', undefined, {}, `198.51.100.${starts}`);
  expect(started.status).toBe(201);
  return started.body.enrolment_token as string;
}

/** Runs every step to the end; returns the final answer (with the network number, shown once). */
async function enrol(p: SimulatedPerson, phone: string, options: { documentIndex?: number } = {}): Promise<Answer> {
  const token = await start();
  expect((await api('/enrolment/document', token, documentOf(p, options.documentIndex))).body).toEqual({ step: 'face' });
  expect((await api('/enrolment/face', token, { capture: ownFace(p) })).body).toEqual({ step: 'phone' });
  expect((await api('/enrolment/phone', token, { phone })).body).toEqual({ step: 'code' });
  expect((await api('/enrolment/code', token, { code: lastCodeFor(`+86${phone}`) })).body).toEqual({ step: 'password' });
  return api('/enrolment/password', token, { password: PASSWORD });
}

/** Signs in at platform A through the real pages and redeems the code with openid-client. */
async function signInAtPlatformA(identifier: string, password = PASSWORD) {
  const request = await authorizationRequest(platformA, PLATFORM_A, { scope: 'openid verified age' });
  const browser = new FormBrowser(provider.url);
  const callback = await continueToPlatform(browser, await browser.open(request.url), { identifier, password });
  return redeem(platformA, request, callback);
}

/** Personal network numbers shown at the end of each document-kind enrolment, by person id. */
const shownNumbers = new Map<string, string>();

describe('enrolment of each document kind', () => {
  const kinds: [DocumentType, string, string][] = [
    ['resident_id_card', 'sim-0003', '13700137001'],
    ['hmt_residence_permit', 'sim-0005', '13700137002'],
    ['hk_macao_travel_permit', 'sim-0012', '13700137003'],
    ['taiwan_travel_permit', 'sim-0007', '13700137004'],
    ['foreign_permanent_resident_card', 'sim-0008', '13700137005'],
    ['overseas_chinese_passport', 'sim-0009', '13700137006'],
  ];

  it.each(kinds)('%s: enrols and shows the personal network number exactly once', async (type, id, phone) => {
    const p = person(id);
    const index = p.documents.findIndex((d) => d.type === type);
    const token = await start();
    await api('/enrolment/document', token, documentOf(p, index));
    await api('/enrolment/face', token, { capture: ownFace(p) });
    await api('/enrolment/phone', token, { phone });
    await api('/enrolment/code', token, { code: lastCodeFor(`+86${phone}`) });
    const done = await api('/enrolment/password', token, { password: PASSWORD });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ step: 'done', account_status: 'active' });
    expect(parseNetworkNumber(done.body.network_number as string)).toBe(done.body.network_number);
    shownNumbers.set(id, done.body.network_number as string);
    expect(await api('/enrolment', token)).toMatchObject({ status: 200, body: { step: 'done', account_status: 'active' } });
    expect((await api('/enrolment', token)).body.network_number).toBeUndefined();
  }, 30_000);

  it('lets the new person sign in to platform A with openid-client, by phone and by network number', async () => {
    const byPhone = await signInAtPlatformA('13700137001');
    const claims = byPhone.claims()!;
    expect(claims.acr).toBe('cyberid:loa1');
    expect(parseNetworkNumber(claims.sub)).toBe(claims.sub);
    const userinfo = await oidc.fetchUserInfo(platformA, byPhone.access_token, claims.sub);
    expect(userinfo).toMatchObject({ identity_verified: true, document_type: 'resident_id_card', age_over_18: true });

    // The personal network number signs in too; the platform's number for the person is a different one.
    const networkNumber = shownNumbers.get('sim-0003')!;
    const byNumber = await signInAtPlatformA(networkNumber);
    expect(byNumber.claims()!.sub).toBe(claims.sub);
    expect(byNumber.claims()!.sub).not.toBe(networkNumber);
  }, 60_000);
});

describe('refusals, each with a clear error and nothing lost', () => {
  it('a number whose check character is wrong is refused before the registry is asked', async () => {
    const token = await start();
    const answer = await api('/enrolment/document', token, { ...documentOf(person('sim-0003')), document_number: '110105199012072048' });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ error: 'document_check_character', field: 'document_number', step: 'document' });
    // The same enrolment continues with the right number.
    expect((await api('/enrolment/document', token, documentOf(person('sim-0006')))).body).toMatchObject({ error: 'document_expired' });
  });

  it.each([
    ['a name that is not the registry\'s', { name: '王小芳' }, 'registry_mismatch'],
    ['a birth date that is not the registry\'s', { birthdate: '1990-12-08' }, 'registry_mismatch'],
    ['an expiry date that is not the document\'s', { expires_on: '2038-12-08' }, 'registry_mismatch'],
  ])('%s', async (_title, change, error) => {
    const token = await start();
    const answer = await api('/enrolment/document', token, { ...documentOf(person('sim-0003')), ...change });
    expect(answer).toMatchObject({ status: 422, body: { error, step: 'document' } });
  });

  it('an expired document, and a document reported lost', async () => {
    const token = await start();
    expect((await api('/enrolment/document', token, documentOf(person('sim-0006')))).body).toMatchObject({ error: 'document_expired' });
    expect((await api('/enrolment/document', token, documentOf(person('sim-0013')))).body).toMatchObject({ error: 'document_revoked' });
  });

  it('five registry mismatches end the enrolment', async () => {
    const token = await start();
    for (let attempt = 1; attempt < 5; attempt += 1) {
      expect((await api('/enrolment/document', token, { ...documentOf(person('sim-0003')), name: `某${attempt}` })).status).toBe(422);
    }
    const fifth = await api('/enrolment/document', token, { ...documentOf(person('sim-0003')), name: '某5' });
    expect(fifth.body).toEqual({ step: 'ended', ending: 'too_many_document_attempts' });
    expect((await api('/enrolment/document', token, documentOf(person('sim-0003')))).body).toMatchObject({ error: 'wrong_step', step: 'ended' });
  });

  it('a face that is not the document holder\'s, a photo instead of a live person, and the third failure ends it', async () => {
    const p = person('sim-0011');
    const token = await start();
    await api('/enrolment/document', token, documentOf(p));
    expect((await api('/enrolment/face', token, { capture: 'sim:live:photo-0000' })).body).toMatchObject({ error: 'face_mismatch', step: 'face' });
    expect((await api('/enrolment/face', token, { capture: `sim:spoof:${p.photo}` })).body).toMatchObject({ error: 'liveness_failed', step: 'face' });
    expect((await api('/enrolment/face', token, { capture: 'not a capture' })).body).toEqual({ step: 'ended', ending: 'face_failed' });
  });

  it('a wrong code says how many tries are left; five wrong codes exhaust it; a resend waits for the cool-down', async () => {
    const p = person('sim-0001');
    const token = await start();
    await api('/enrolment/document', token, documentOf(p));
    // The demo adult is enrolled already (demo mode): recognised after the face check, nothing changed.
    expect((await api('/enrolment/face', token, { capture: ownFace(p) })).body).toEqual({ step: 'ended', ending: 'already_enrolled' });

    const q = person('sim-0011');
    const second = await start();
    await api('/enrolment/document', second, documentOf(q));
    await api('/enrolment/face', second, { capture: ownFace(q) });
    // A number outside the countries SMS may go to (CYBERID_SMS_COUNTRY_CODES, 86 here). An enrolled number is no
    // refusal: the phone step answers alike for every number (test/phones.test.ts).
    expect((await api('/enrolment/phone', second, { phone: '+85251234567' })).body).toMatchObject({ error: 'phone_not_allowed', field: 'phone', step: 'phone' });
    expect((await api('/enrolment/phone', second, { phone: '12345' })).body).toMatchObject({ error: 'phone_invalid', field: 'phone' });
    await api('/enrolment/phone', second, { phone: '13700137020' });
    const right = lastCodeFor('+8613700137020');
    const wrong = right === '000000' ? '000001' : '000000';
    expect((await api('/enrolment/code', second, { code: wrong })).body).toMatchObject({ error: 'code_wrong', guesses_left: 4 });
    for (let i = 0; i < 3; i += 1) await api('/enrolment/code', second, { code: wrong });
    expect((await api('/enrolment/code', second, { code: wrong })).body).toMatchObject({ error: 'code_exhausted' });
    expect((await api('/enrolment/code', second, { code: right })).body).toMatchObject({ error: 'code_exhausted', step: 'code' });
    const resend = await api('/enrolment/phone/resend', second, {});
    expect(resend.status).toBe(429);
    expect(resend.body).toMatchObject({ error: 'code_cool_down' });
    expect(Number(resend.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('weak passwords: too short, common, built from the person\'s own data', async () => {
    const q = person('sim-0011'); // left at the password step; the guardian test enrols this person later
    const token = await start();
    await api('/enrolment/document', token, documentOf(q));
    await api('/enrolment/face', token, { capture: ownFace(q) });
    await api('/enrolment/phone', token, { phone: '13700137021' });
    await api('/enrolment/code', token, { code: lastCodeFor('+8613700137021') });
    expect((await api('/enrolment/password', token, { password: 'Short1!' })).body).toMatchObject({ error: 'password_too_short', field: 'password' });
    expect((await api('/enrolment/password', token, { password: 'woaini1314' })).body).toMatchObject({ error: 'password_common' });
    expect((await api('/enrolment/password', token, { password: 'Password123!' })).body).toMatchObject({ error: 'password_common' });
    expect((await api('/enrolment/password', token, { password: `x${q.documents[0]!.number}` })).body).toMatchObject({ error: 'password_personal' });
    expect((await api('/enrolment', token)).body).toEqual({ step: 'password' });
  });

  it('a child under 14 cannot enrol themself', async () => {
    const token = await start();
    const answer = await api('/enrolment/document', token, documentOf(person('sim-0004')));
    expect(answer.body).toEqual({ step: 'ended', ending: 'under_14' });
  });

  it('the same person with another document is recognised after the face check, and their platform number does not change', async () => {
    const p = person('sim-0005'); // enrolled above with the residence permit; now the travel permit
    const before = (await signInAtPlatformA('13700137002')).claims()!.sub;
    const token = await start();
    expect((await api('/enrolment/document', token, documentOf(p, 1))).body).toEqual({ step: 'face' });
    expect((await api('/enrolment/face', token, { capture: ownFace(p) })).body).toEqual({ step: 'ended', ending: 'already_enrolled' });
    expect((await signInAtPlatformA('13700137002')).claims()!.sub).toBe(before);
  }, 30_000);

  it('protocol-level mistakes: no token, a step out of order, a body that is not JSON', async () => {
    expect(await api('/enrolment')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect((await api('/enrolment', 'unknown-token-unknown-token')).status).toBe(401);
    const token = await start();
    expect(await api('/enrolment/password', token, { password: PASSWORD })).toMatchObject({ status: 409, body: { error: 'wrong_step', step: 'document' } });
    expect(await api('/enrolment/document', token, '{"document_type":')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await api('/enrolment/document', token, { document_type: 'library_card' })).toMatchObject({ status: 400, body: { error: 'invalid_request', field: 'document_type' } });
  });
});

describe('minors and guardians', () => {
  /** A guardian acts from the portal's Family section, signed in with password and SMS code; returns the page `start` shows. */
  async function guardianSignIn(browser: FormBrowser, phone: string, password = PASSWORD, start = '/guardian'): Promise<Page> {
    let page = expectPage(await browser.open(new URL(start, provider.url)));
    if (page.doc.querySelector('form[action$="/login"]')) page = expectPage(await browser.submit(page, '/login', { identifier: phone, password }));
    if (page.doc.querySelector('form[action$="/code"]')) page = expectPage(await browser.submit(page, '/code', { code: lastCodeSentTo(provider.dataDir, phone)! }));
    return page;
  }

  it('a 16-year-old cannot sign in to platforms until a guardian approves', async () => {
    const minor = person('sim-0010');
    const done = await enrol(minor, '13700137030');
    expect(done.body).toMatchObject({ step: 'done', account_status: 'awaiting_guardian', guardian_enrolled: false });

    const request = await authorizationRequest(platformA, PLATFORM_A, { scope: 'openid age' });
    const browser = new FormBrowser(provider.url);
    const login = expectPage(await browser.open(request.url));
    const refused = expectPage(await browser.submit(login, '/login', { identifier: '13700137030', password: PASSWORD }));
    expect(refused.status).toBe(403);
    expect(refused.doc.querySelector('#identifier-error')?.text).toMatch(/guardian/);

    // The guardian the registry names enrols, signs in on the guardian page and approves.
    expect((await enrol(person('sim-0011'), '13700137031')).body).toMatchObject({ step: 'done', account_status: 'active' });
    const guardianBrowser = new FormBrowser(provider.url);
    const family = await guardianSignIn(guardianBrowser, '13700137031');
    expect(family.doc.querySelector('.pending')?.text).toContain(minor.name);
    const approved = expectPage(await guardianBrowser.submit(family, '/account/family/decide', { decision: 'approve' }));
    expect(approved.doc.querySelector('.notice')?.text).toMatch(/Approved/);
    expect(approved.doc.querySelector('.pending')).toBeNull();

    const tokens = await signInAtPlatformA('13700137030');
    expect(tokens.claims()!.sub).toBeTruthy();
  }, 60_000);

  it('a guardian enrols a child under 14 (no phone), and someone who is not the child\'s guardian cannot', async () => {
    const child = person('sim-0004');
    const stranger = new FormBrowser(provider.url);
    const strangerStart = await guardianSignIn(stranger, provider.adult.phone, provider.adult.password, '/account/family/enrol-child');
    const strangerDocument = expectPage(await stranger.submit(strangerStart, '/enrol/start?for=child'));
    const notGuardian = expectPage(await stranger.submit(strangerDocument, '/enrol/document', documentOf(child)));
    expect(notGuardian.status).toBe(422);
    expect(notGuardian.doc.querySelector('#document_number-error')?.text).toMatch(/guardian/);

    const browser = new FormBrowser(provider.url);
    const enrolChild = await guardianSignIn(browser, '13700137031', PASSWORD, '/account/family/enrol-child');
    let page = expectPage(await browser.submit(enrolChild, '/enrol/start?for=child'));
    expect(page.doc.querySelector('h1')?.text).toMatch(/child/);
    page = expectPage(await browser.submit(page, '/enrol/document', documentOf(child)));
    page = expectPage(await browser.submit(page, '/enrol/face', { subject: 'own_face' }));
    page = expectPage(await browser.submit(page, '/enrol/phone', {}, '/enrol/phone/skip'));
    page = expectPage(await browser.submit(page, '/enrol/password', { password: 'Kite-harbour-winter-17', confirm: 'Kite-harbour-winter-17' }));
    expect(page.doc.querySelector('h1')?.text).toMatch(/child/);
    const networkNumber = page.doc.querySelector('#network-number')?.text.trim();
    expect(networkNumber).toBeTruthy();

    const tokens = await signInAtPlatformA(networkNumber!, 'Kite-harbour-winter-17');
    expect(tokens.claims()!.sub).toBeTruthy();
    const userinfo = await oidc.fetchUserInfo(platformA, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo).toMatchObject({ age_over_14: false, age_over_18: false });
  }, 60_000);
});

describe('the web pages', () => {
  it('show a refusal next to its field, keep what was typed, and refuse a form without the CSRF token', async () => {
    const browser = new FormBrowser(provider.url);
    const startPage = expectPage(await browser.open(new URL('/enrol', provider.url)));
    const documentPage = expectPage(await browser.submit(startPage, '/enrol/start'));
    const refused = expectPage(await browser.submit(documentPage, '/enrol/document', { ...documentOf(person('sim-0003')), document_number: '110105199012072048' }));
    expect(refused.status).toBe(422);
    expect(refused.doc.querySelector('#document_number-error')?.text).toMatch(/last character/);
    expect(refused.doc.querySelector('#document_number')?.getAttribute('aria-describedby')).toContain('document_number-error');
    expect(refused.doc.querySelector('#name')?.getAttribute('value')).toBe(person('sim-0003').name);
    const forged = await fetch(new URL('/enrol/document', provider.url), { method: 'POST', body: new URLSearchParams({ document_type: 'resident_id_card' }), redirect: 'manual' });
    expect(forged.status).toBe(403);
  });
});

describe('at rest and in the logs', () => {
  it('neither the data files nor the log output hold a seeded name or document number', async () => {
    await provider.stop(); // flushes the WAL into the database file
    const files = readdirSync(provider.dataDir).filter((f) => f.startsWith('cyberid.sqlite'));
    expect(files).toContain('cyberid.sqlite');
    const bytes = Buffer.concat(files.map((f) => readFileSync(path.join(provider.dataDir, f))));
    const output = provider.stdout();
    expect(output).toMatch(/enrolment\.completed/); // the log did record the enrolments
    for (const p of SEED) {
      for (const secret of [p.name, ...p.documents.map((d) => d.number)]) {
        expect([secret, bytes.includes(Buffer.from(secret))]).toEqual([secret, false]);
        expect([secret, output.includes(secret)]).toEqual([secret, false]);
      }
    }
  });
});
