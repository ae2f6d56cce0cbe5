// Issue 19, finding 5: phone numbers, against the real server (node server/main.ts with the simulated registry, face
// check and SMS outbox):
//   - the enrolment phone step is no oracle: a number that already has a Cyber ID gets the same answer as a free one
//     (it is sent a notice instead of a code), and any code for it is refused exactly like a wrong code; only once a
//     real code is verified may a number be said to belong to another Cyber ID (a race), with a way to recover it;
//   - SMS go only to the countries CYBERID_SMS_COUNTRY_CODES allows (86 unless configured), whoever asks: refused at
//     the phone step with its own message, and refused in the SMS sender itself (a sign-in code);
//   - enrolment starts (API and web) are limited per address: 429 with Retry-After.
// The rule itself (smsAllowed), the SMS sender's guard, the variable's validation and the address key are tested
// on their own first.
// Behind a trusted proxy (CYBERID_PROXY=true, as production requires), so each enrolment comes from an address of its
// own (X-Forwarded-For), as people enrol from their own phones; the flood tests send from one address on purpose.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../server/config.ts';
import { addressKey } from '../server/identity/throttle.ts';
import { formatCountryCodes, normalisePhone, smsAllowed } from '../server/identity/phone.ts';
import { readSimulationSeed, type SimulatedPerson } from '../server/identity/registry.ts';
import { CountryRestrictedSmsSender, SmsNotAllowedError, type SmsSender } from '../server/identity/sms.ts';
import type { Logger } from '../server/logger.ts';
import { expectPage, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, discover, PLATFORM_C } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const PASSWORD = 'Lantern-river-autumn-42';
const BEHIND_PROXY = { CYBERID_PROXY: 'true' };
const HONG_KONG = '+85251234567';
const UNITED_STATES = '+14155550123';

let provider: RunningProvider;

beforeAll(async () => {
  provider = await startProvider(tempDataDir(), BEHIND_PROXY);
}, 60_000);

afterAll(async () => {
  await provider.stop();
  removeDataDir(provider.dataDir);
});

// ---- helpers ---------------------------------------------------------------------------------------------

let addresses = 0;
/** A client address nobody else in this file uses. */
function newAddress(): string {
  addresses += 1;
  return `10.19.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
}

function person(id: string): SimulatedPerson {
  const found = SEED.find((p) => p.personId === id);
  if (!found) throw new Error(`${id} is not in the simulation seed`);
  return found;
}

function documentOf(p: SimulatedPerson) {
  const document = p.documents[0]!;
  return { document_type: document.type, document_number: document.number, name: p.name, birthdate: p.birthdate, expires_on: document.expiresOn };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function api(on: RunningProvider, route: string, options: { token?: string; body?: unknown; from?: string } = {}): Promise<Answer> {
  const response = await fetch(new URL(`/enrol/api/v1${route}`, on.url), {
    method: options.body === undefined && route === '/enrolment' ? 'GET' : 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': options.from ?? newAddress(),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: response.headers };
}

/** An API enrolment of `personId` that has passed the document and face checks. */
async function apiAtPhoneStep(on: RunningProvider, personId = 'sim-0003'): Promise<string> {
  const p = person(personId);
  const started = await api(on, '/enrolments', { body: {} });
  expect(started.status).toBe(201);
  const token = started.body.enrolment_token as string;
  expect((await api(on, '/enrolment/document', { token, body: documentOf(p) })).body).toEqual({ step: 'face' });
  expect((await api(on, '/enrolment/face', { token, body: { capture: `sim:live:${p.photo}` } })).body).toEqual({ step: 'phone' });
  return token;
}

/** An API enrolment of `personId` with `phone` verified: at the password step. */
async function apiWithVerifiedPhone(on: RunningProvider, personId: string, phone: string): Promise<string> {
  const token = await apiAtPhoneStep(on, personId);
  expect((await api(on, '/enrolment/phone', { token, body: { phone } })).body).toEqual({ step: 'code' });
  expect((await api(on, '/enrolment/code', { token, body: { code: lastCodeSentTo(on.dataDir, phone) } })).body).toEqual({ step: 'password' });
  return token;
}

/** The same through the web pages, in a browser with an address of its own; returns the phone page. */
async function webAtPhoneStep(on: RunningProvider, personId = 'sim-0003'): Promise<{ browser: FormBrowser; page: Page }> {
  const browser = new FormBrowser(on.url, 'en', { 'x-forwarded-for': newAddress() });
  let page = expectPage(await browser.open(new URL('/enrol', on.url)));
  page = expectPage(await browser.submit(page, '/enrol/start'));
  page = expectPage(await browser.submit(page, '/enrol/document', documentOf(person(personId))));
  page = expectPage(await browser.submit(page, '/enrol/face', { subject: 'own_face' }));
  expect(page.doc.querySelector('form[action="/enrol/phone"]')).not.toBeNull();
  return { browser, page };
}

/** What a page tells the person, without the parts that differ by number (the masked phone). */
function gist(page: Page) {
  return {
    status: page.status,
    heading: page.doc.querySelector('h1')?.text.trim(),
    form: page.doc.querySelector('form:not([action="/enrol/restart"])')?.getAttribute('action'),
    errors: page.doc.querySelectorAll('.error-summary li').map((li) => li.text.trim()),
    fieldError: page.doc.querySelector('.field-error')?.text.trim(),
  };
}

interface Sms {
  to: string;
  text: string;
}

/** Every message the simulated SMS network delivered. */
function outbox(on: RunningProvider): Sms[] {
  const file = path.join(on.dataDir, 'sms-outbox.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Sms);
}

const sentTo = (on: RunningProvider, e164: string) => outbox(on).filter((m) => m.to === e164);

const e164 = (national: string) => `+86${national}`;
const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

// ---- the rule, on its own --------------------------------------------------------------------------------

describe('smsAllowed and the SMS sender\'s guard', () => {
  it.each([
    ['+8613800138000', ['86'], true],
    ['+8613800138000', ['852', '86'], true],
    ['+86101234567', ['86'], false], // a mainland number that is not a mobile
    ['+861012345678', ['86'], false],
    [HONG_KONG, ['86'], false],
    [HONG_KONG, ['86', '852'], true],
    ['+85361234567', ['86', '852'], false],
    [UNITED_STATES, ['86', '852', '853'], false],
    [UNITED_STATES, ['1'], true],
    ['13800138000', ['86'], false], // not E.164: parse it with normalisePhone first
    ['+86 138 0013 8000', ['86'], false],
    ['', ['86'], false],
  ])('%s with %j: %s', (phone, codes, allowed) => {
    expect(smsAllowed(phone, codes)).toBe(allowed);
  });

  it('leaves parsing alone: normalisePhone still reads other regions\' numbers (sign-in identifiers)', () => {
    expect(normalisePhone('+852 5123 4567')).toBe(HONG_KONG);
    expect(normalisePhone('138 0013 8000')).toBe('+8613800138000');
    expect(formatCountryCodes(['86', '852', '853'])).toBe('+86 / +852 / +853');
  });

  it('the sender refuses a number outside the allowed countries before the gateway is asked, and logs it masked', async () => {
    const delivered: string[] = [];
    const gateway: SmsSender = { send: async (to) => { delivered.push(to); } };
    const warnings: unknown[] = [];
    const logger = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;
    const sms = new CountryRestrictedSmsSender(gateway, ['86'], logger);

    await sms.send('+8613800138000', 'code 123456');
    await expect(sms.send(HONG_KONG, 'code 654321')).rejects.toBeInstanceOf(SmsNotAllowedError);
    await expect(sms.send(UNITED_STATES, 'x')).rejects.toMatchObject({ status: 422, message: expect.not.stringContaining('4155550123') });
    expect(delivered).toEqual(['+8613800138000']);
    expect(warnings).toEqual([{ event: 'sms.refused', to: '+852****4567' }, { event: 'sms.refused', to: '+141****0123' }]);
  });
});

describe('CYBERID_SMS_COUNTRY_CODES', () => {
  it('defaults to 86, and reads a comma-separated list', () => {
    expect(loadConfig({}).smsCountryCodes).toEqual(['86']);
    expect(loadConfig({ CYBERID_SMS_COUNTRY_CODES: '86,852,853' }).smsCountryCodes).toEqual(['86', '852', '853']);
    expect(loadConfig({ CYBERID_SMS_COUNTRY_CODES: ' 86 , 852,86 ' }).smsCountryCodes).toEqual(['86', '852']);
  });

  it.each([
    ['+86', /CYBERID_SMS_COUNTRY_CODES: must be country calling codes without \+, comma-separated/],
    ['86;852', /CYBERID_SMS_COUNTRY_CODES: must be/],
    ['', /CYBERID_SMS_COUNTRY_CODES: must be/],
    ['86,', /CYBERID_SMS_COUNTRY_CODES: must be/],
    ['0086', /CYBERID_SMS_COUNTRY_CODES: must be/],
    ['8,86', /CYBERID_SMS_COUNTRY_CODES: no code may begin another/],
  ])('refuses %j with a clear message', (value, message) => {
    expect(() => loadConfig({ CYBERID_SMS_COUNTRY_CODES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ CYBERID_SMS_COUNTRY_CODES: value })).toThrow(message);
  });
});

describe('the address an enrolment start is counted against', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:19:5::1', '2001:db8:19:5::/64'],
    ['2001:0db8:0019:0005:aaaa:bbbb:cccc:dddd', '2001:db8:19:5::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('%s counts as %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});

// ---- no oracle ------------------------------------------------------------------------------------------

describe('the enrolment phone step tells nobody whether a number has a Cyber ID', () => {
  it('JSON API: an enrolled number and a free one get the same answers, step by step; the enrolled one gets a notice, not a code', async () => {
    const taken = provider.adult.phone; // the demo adult's
    const free = '13700137101';
    const [onTaken, onFree] = [await apiAtPhoneStep(provider), await apiAtPhoneStep(provider)];

    const phoneAnswers = [await api(provider, '/enrolment/phone', { token: onTaken, body: { phone: taken } }), await api(provider, '/enrolment/phone', { token: onFree, body: { phone: free } })];
    expect(phoneAnswers.map(({ status, body }) => ({ status, body }))).toEqual([{ status: 200, body: { step: 'code' } }, { status: 200, body: { step: 'code' } }]);
    expect((await api(provider, '/enrolment', { token: onTaken })).body).toEqual((await api(provider, '/enrolment', { token: onFree })).body);

    // The owner of the enrolled number is told someone tried, and where to recover; no code goes to it.
    const notice = sentTo(provider, e164(taken));
    expect(notice).toHaveLength(1);
    expect(notice[0]!.text).not.toMatch(/\d{6}/);
    expect(notice[0]!.text).toContain(`${provider.url}/recover`);
    const freeCode = lastCodeSentTo(provider.dataDir, free)!;
    expect(freeCode).toMatch(/^\d{6}$/);

    // A resend at once waits for the cool-down on both.
    const resends = [await api(provider, '/enrolment/phone/resend', { token: onTaken, body: {} }), await api(provider, '/enrolment/phone/resend', { token: onFree, body: {} })];
    expect(resends.map((r) => [r.status, r.body.error, r.body.step, Boolean(r.headers.get('retry-after'))])).toEqual([[429, 'code_cool_down', 'code', true], [429, 'code_cool_down', 'code', true]]);

    // Every code for the enrolled number is refused exactly like a wrong code for the free one, guess by guess;
    // even a code sent to it earlier (for a sign-in, say) would not do.
    for (let guess = 1; guess <= 5; guess += 1) {
      const wrongForFree = await api(provider, '/enrolment/code', { token: onFree, body: { code: otherCode(freeCode) } });
      const anyForTaken = await api(provider, '/enrolment/code', { token: onTaken, body: { code: guess === 1 ? freeCode : String(100_000 + guess) } });
      expect({ status: anyForTaken.status, body: anyForTaken.body }).toEqual({ status: wrongForFree.status, body: wrongForFree.body });
      expect(wrongForFree.body.error).toBe(guess < 5 ? 'code_wrong' : 'code_exhausted');
    }
  }, 30_000);

  it('web pages: the same page after the phone step and after a wrong code', async () => {
    const taken = provider.minor.phone; // the demo 16-year-old's (the adult's is in its cool-down from the test above)
    const free = '13700137102';
    const onTaken = await webAtPhoneStep(provider);
    const onFree = await webAtPhoneStep(provider);

    const codePages = [
      expectPage(await onTaken.browser.submit(onTaken.page, '/enrol/phone', { phone: taken })),
      expectPage(await onFree.browser.submit(onFree.page, '/enrol/phone', { phone: free })),
    ];
    expect(gist(codePages[0]!)).toEqual(gist(codePages[1]!));
    expect(gist(codePages[0]!)).toMatchObject({ status: 200, form: '/enrol/code', errors: [] });
    expect(codePages[0]!.html).not.toMatch(/phone_taken|already belongs/);

    const freeCode = lastCodeSentTo(provider.dataDir, free)!;
    const refused = [
      expectPage(await onTaken.browser.submit(codePages[0]!, '/enrol/code', { code: freeCode })),
      expectPage(await onFree.browser.submit(codePages[1]!, '/enrol/code', { code: otherCode(freeCode) })),
    ];
    expect(gist(refused[0]!)).toEqual(gist(refused[1]!));
    expect(gist(refused[0]!)).toMatchObject({ status: 422, form: '/enrol/code' });
    expect(gist(refused[0]!).fieldError).toMatch(/not correct/);
  }, 30_000);

  it('a number enrolled by someone else after its code was sent: refused only once the real code is verified, with a way to recover (API)', async () => {
    const phone = '13700137103';
    const first = await apiWithVerifiedPhone(provider, 'sim-0007', phone);
    const second = await apiAtPhoneStep(provider);
    expect((await api(provider, '/enrolment/phone', { token: second, body: { phone } })).body).toEqual({ step: 'code' });
    expect((await api(provider, '/enrolment/password', { token: first, body: { password: PASSWORD } })).body).toMatchObject({ step: 'done' });

    const answer = await api(provider, '/enrolment/code', { token: second, body: { code: lastCodeSentTo(provider.dataDir, phone) } });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ error: 'phone_taken', field: 'phone', step: 'phone', recover_uri: `${provider.url}/recover` });
    expect(answer.body.error_description).toMatch(/another Cyber ID|belongs to a Cyber ID/);
    // Another number goes on as usual.
    expect((await api(provider, '/enrolment/phone', { token: second, body: { phone: '13700137104' } })).body).toEqual({ step: 'code' });
  }, 30_000);

  it('the same race on the web pages: the phone page says so and links to account recovery', async () => {
    const phone = '13700137105';
    const first = await apiWithVerifiedPhone(provider, 'sim-0008', phone);
    const { browser, page } = await webAtPhoneStep(provider);
    const codePage = expectPage(await browser.submit(page, '/enrol/phone', { phone }));
    expect((await api(provider, '/enrolment/password', { token: first, body: { password: PASSWORD } })).body).toMatchObject({ step: 'done' });

    const refused = expectPage(await browser.submit(codePage, '/enrol/code', { code: lastCodeSentTo(provider.dataDir, phone)! }));
    expect(refused.status).toBe(422);
    expect(refused.doc.querySelector('form[action="/enrol/phone"]')).not.toBeNull();
    expect(refused.doc.querySelector('#phone-error')?.text).toMatch(/belongs to/);
    expect(refused.doc.querySelector('a[href="/recover"]')).not.toBeNull();
  }, 30_000);
});

// ---- allowed countries ----------------------------------------------------------------------------------

describe('SMS only to the countries the operator allows', () => {
  it('by default only mainland mobile numbers: others are refused at the phone step with their own message, and nothing is sent (API)', async () => {
    const token = await apiAtPhoneStep(provider);
    for (const phone of [HONG_KONG, UNITED_STATES]) {
      const answer = await api(provider, '/enrolment/phone', { token, body: { phone } });
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({ error: 'phone_not_allowed', field: 'phone', step: 'phone' });
      expect(answer.body.error_description).toContain('+86');
      expect(sentTo(provider, phone)).toEqual([]);
    }
    expect((await api(provider, '/enrolment/phone', { token, body: { phone: '13700137106' } })).body).toEqual({ step: 'code' });
  });

  it('the same on the web page, in both languages', async () => {
    const { browser, page } = await webAtPhoneStep(provider);
    expect(page.doc.querySelector('#phone-hint')?.text).toMatch(/mainland/);
    const refused = expectPage(await browser.submit(page, '/enrol/phone', { phone: HONG_KONG }));
    expect(refused.status).toBe(422);
    expect(refused.doc.querySelector('#phone-error')?.text).toContain('+86');
    expect(refused.doc.querySelector('#phone')?.getAttribute('value')).toBe(HONG_KONG);
    const chinese = expectPage(await browser.open(new URL('/enrol?lang=zh-CN', provider.url)));
    const refusedInChinese = expectPage(await browser.submit(chinese, '/enrol/phone', { phone: UNITED_STATES }));
    expect(refusedInChinese.doc.querySelector('#phone-error')?.text).toMatch(/\+86.*手机/);
    expect([...sentTo(provider, HONG_KONG), ...sentTo(provider, UNITED_STATES)]).toEqual([]);
  });

  describe('with CYBERID_SMS_COUNTRY_CODES=86,852', () => {
    let wide: RunningProvider;

    beforeAll(async () => {
      wide = await startProvider(tempDataDir(), { ...BEHIND_PROXY, CYBERID_SMS_COUNTRY_CODES: '86,852' });
    }, 60_000);

    afterAll(async () => {
      await wide.stop();
      removeDataDir(wide.dataDir);
    });

    it('a Hong Kong number gets its code and enrols; a number of another country is still refused', async () => {
      const token = await apiAtPhoneStep(wide, 'sim-0005');
      expect(await api(wide, '/enrolment/phone', { token, body: { phone: UNITED_STATES } })).toMatchObject({ status: 422, body: { error: 'phone_not_allowed' } });
      expect((await api(wide, '/enrolment/phone', { token, body: { phone: HONG_KONG } })).body).toEqual({ step: 'code' });
      expect((await api(wide, '/enrolment/code', { token, body: { code: lastCodeSentTo(wide.dataDir, HONG_KONG) } })).body).toEqual({ step: 'password' });
      expect((await api(wide, '/enrolment/password', { token, body: { password: PASSWORD } })).body).toMatchObject({ step: 'done', account_status: 'active' });
      expect(sentTo(wide, UNITED_STATES)).toEqual([]);
    }, 30_000);

    it('once the operator allows only 86 again, that account is sent no sign-in code and is told to use a passkey', async () => {
      await wide.stop();
      wide = await startProvider(wide.dataDir, BEHIND_PROXY);
      const before = outbox(wide).length;
      const platformC = await discover(wide.url, PLATFORM_C);
      const request = await authorizationRequest(platformC, PLATFORM_C, { scope: 'openid' });
      const browser = new FormBrowser(wide.url, 'en', { 'x-forwarded-for': newAddress() });
      const login = expectPage(await browser.open(request.url));
      const answer = await browser.submit(login, '/login', { identifier: HONG_KONG, password: PASSWORD });
      const codePage = expectPage(answer);
      expect(codePage.status).toBe(200);
      expect(codePage.doc.querySelector('.lead')?.text).toMatch(/no code can be sent to this account's phone/);
      expect(codePage.doc.querySelector('input[name=code]')).toBeNull();
      expect(outbox(wide)).toHaveLength(before);
    }, 60_000);
  });
});

// ---- enrolment starts -----------------------------------------------------------------------------------

describe('enrolment starts are limited per address', () => {
  it('JSON API: ten starts in ten minutes, then 429 with Retry-After; an IPv6 /64 counts as one address', async () => {
    for (let i = 1; i <= 10; i += 1) {
      expect((await api(provider, '/enrolments', { body: {}, from: `2001:db8:19:5::${i.toString(16)}` })).status).toBe(201);
    }
    const refused = await api(provider, '/enrolments', { body: {}, from: '2001:db8:19:5::ff' });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'too_many_requests' });
    expect(refused.body.error_description).toEqual(expect.any(String));
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    // Another network still starts.
    expect((await api(provider, '/enrolments', { body: {}, from: '2001:db8:19:6::1' })).status).toBe(201);
  });

  it('web: POST /enrol/start the same, answered with the error page', async () => {
    const browser = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.19' });
    const startPage = expectPage(await browser.open(new URL('/enrol', provider.url)));
    for (let i = 1; i <= 10; i += 1) {
      expect(expectPage(await browser.submit(startPage, '/enrol/start')).doc.querySelector('form[action="/enrol/document"]')).not.toBeNull();
    }
    const refused = expectPage(await browser.submit(startPage, '/enrol/start'));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('content-type')).toMatch(/text\/html/);
    expect(refused.doc.querySelector('h1')).not.toBeNull();
    expect(refused.html).toMatch(/too many/i);
    // Someone else on another address is not affected.
    const other = new FormBrowser(provider.url, 'en', { 'x-forwarded-for': '203.0.113.20' });
    const otherStart = expectPage(await other.open(new URL('/enrol', provider.url)));
    expect(expectPage(await other.submit(otherStart, '/enrol/start')).status).toBe(200);
  });
});
