// The domain pieces of enrolment, each on its own with the real SQLite store (no mocks):
//   - document number formats (MOD 11-2 check characters checked against an independent implementation),
//   - one-time codes (single use, guess limit, lifetime, resend cool-down, hourly cap, hashed at rest,
//     parallel guesses), with a fake clock and a stand-in for the SMS network,
//   - the password policy,
//   - the face verifier, registry and SMS ports: the simulations, and the HTTP implementations against a
//     test authority (a tiny local HTTP server playing the authority's service),
//   - the simulated registry's answers,
//   - the account lifecycle (suspend, reactivate, erase, enrol again) and guardianship.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { openEmbeddedStore } from '../adapters/index.ts';
import { DuplicateAccountError, type Store } from '../adapters/types.ts';
import { Guardianship } from '../server/enrol/guardianship.ts';
import { Accounts, type Account } from '../server/identity/accounts.ts';
import { ageOn, todayInChina } from '../server/identity/claims.ts';
import {
  checkDocumentNumber, DOCUMENT_TYPES, mod11_2CheckCharacter, type DocumentType, type IdentityDocument,
} from '../server/identity/documents.ts';
import { HttpFaceVerifier, MATCH_THRESHOLD, SimulatedFaceVerifier } from '../server/identity/face.ts';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import {
  CODE_LIFETIME_SECONDS, MAX_GUESSES, MAX_SENDS_PER_HOUR, OneTimeCodes, RESEND_COOL_DOWN_SECONDS, type CheckResult,
} from '../server/identity/one-time-codes.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, passwordProblem } from '../server/identity/password-policy.ts';
import { AttributeCipher, LookupHasher, type LookupKind } from '../server/identity/protection.ts';
import {
  AuthorityUnavailableError, HttpIdentityRegistry, readSimulationSeed, SimulatedRegistry,
  type DocumentClaim, type PersonRecord, type SimulatedPerson,
} from '../server/identity/registry.ts';
import { HttpSmsSender, type SmsSender } from '../server/identity/sms.ts';
import { createLogger } from '../server/logger.ts';
import { removeDataDir, tempDataDir } from './support/server.ts';

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const registry = new SimulatedRegistry(SEED);
/** Every date-dependent check below is pinned to this day (the seed's documents are valid on it, except sim-0006's). */
const TODAY = '2026-11-21';
const TODAY_DATE = new Date(`${TODAY}T12:00:00Z`);
const PASSWORD = 'Lantern-river-autumn-42';

// ---------------------------------------------------------------------------------------------------------
// Helpers

/**
 * ISO 7064 MOD 11-2 written from its definition, independently of the product: the digit at position i
 * (1-based from the left of 17) weighs 2^(18-i) mod 11, and the check value c makes (sum + c) ≡ 1 (mod 11);
 * 10 is written X.
 */
function referenceCheckCharacter(first17: string): string {
  const sum = [...first17].reduce((total, digit, i) => total + Number(digit) * (2 ** (17 - i) % 11), 0);
  const value = (12 - (sum % 11)) % 11;
  return value === 10 ? 'X' : String(value);
}

/** Completes 17 characters with the reference check character. */
function withCheckCharacter(first17: string): string {
  return first17 + referenceCheckCharacter(first17);
}

/** Replaces the last character with a different valid-looking one, so only the check character is wrong. */
function withWrongCheckCharacter(number: string): string {
  const last = number.at(-1)!;
  return number.slice(0, -1) + (last === '0' ? '1' : '0');
}

/** A person of the simulation seed, by person id (tests name people by id, so the seed's numbers may change). */
function seedPerson(personId: string): SimulatedPerson {
  const person = SEED.find((p) => p.personId === personId);
  if (!person) throw new Error(`${personId} is not in the seed`);
  return person;
}

/** One of a seeded person's documents. */
function documentOf(personId: string, index = 0): IdentityDocument {
  const document = seedPerson(personId).documents[index];
  if (!document) throw new Error(`${personId} has no document ${index}`);
  return { type: document.type, number: document.number };
}

/** What the chip of a seeded person's document says. */
function claimOf(personId: string, index = 0): DocumentClaim {
  const claim = registry.claimFor(documentOf(personId, index));
  if (!claim) throw new Error(`no claim for ${personId}`);
  return claim;
}

/** The registry's person record for a seeded person's document (verified on TODAY). */
async function verifiedPerson(personId: string, index = 0): Promise<{ person: PersonRecord; document: IdentityDocument }> {
  const claim = claimOf(personId, index);
  const answer = await registry.verify(claim, TODAY);
  if (answer.status !== 'verified') throw new Error(`seed changed: ${personId} is ${answer.reason}`);
  return { person: answer.person, document: claim.document };
}

/** The calendar day after a YYYY-MM-DD date. */
function dayAfter(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** Reads rows straight from the store's SQLite file, with a connection of its own. */
function queryDatabase<T>(dataDir: string, sql: string, ...parameters: string[]): T[] {
  const db = new DatabaseSync(path.join(dataDir, 'cyberid.sqlite'), { readOnly: true });
  try {
    return db.prepare(sql).all(...parameters) as T[];
  } finally {
    db.close();
  }
}

/** Stand-in for the SMS network: records each message instead of delivering it. */
class SmsNetworkStandIn implements SmsSender {
  readonly messages: { to: string; text: string }[] = [];

  async send(to: string, text: string): Promise<void> {
    this.messages.push({ to, text });
  }

  /** The six-digit code of the latest message. */
  lastCode(): string {
    const code = /\b(\d{6})\b/.exec(this.messages.at(-1)?.text ?? '')?.[1];
    if (!code) throw new Error('no code was sent');
    return code;
  }
}

/** The real keyed hasher, counting how many one-time codes it was asked to hash (each is one guess evaluated). */
class CountingLookupHasher extends LookupHasher {
  codeHashes = 0;

  override hash(kind: LookupKind, value: string): string {
    if (kind === 'one-time-code') this.codeHashes += 1;
    return super.hash(kind, value);
  }
}

/** A six-digit code that is certainly not `code`. */
function otherCode(code: string): string {
  return String((Number(code) + 1) % 1_000_000).padStart(6, '0');
}

interface AuthorityRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Test authority: a local HTTP server standing in for an authority's service (registry, face check, SMS
 * gateway). It records every request and answers with whatever the test set last.
 */
class TestAuthority {
  readonly requests: AuthorityRequest[] = [];
  #answer = { status: 200, contentType: 'application/json', body: '{}' };
  readonly #server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => { body += chunk; });
    request.on('end', () => {
      this.requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body });
      const { status, contentType, body: answer } = this.#answer;
      response.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : { 'content-type': contentType });
      response.end(answer);
    });
  });

  /** Starts listening on an ephemeral port and returns the base URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  answerJson(value: unknown, status = 200): void {
    this.#answer = { status, contentType: 'application/json', body: JSON.stringify(value) };
  }

  answerRaw(status: number, body: string, contentType = 'text/plain'): void {
    this.#answer = { status, contentType, body };
  }

  lastRequest(): AuthorityRequest {
    const request = this.requests.at(-1);
    if (!request) throw new Error('the test authority was not asked anything');
    return request;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A URL on which nothing listens any more. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

// ---------------------------------------------------------------------------------------------------------

describe('documents: MOD 11-2 check character', () => {
  // Known-valid 18-character numbers: the GB 11643-1999 example and the well-formed seed numbers.
  const KNOWN_VALID = [
    '11010519491231002X', '110105198803151232', '310104201006083025', '110105199012072049', '440305201409211112',
    '810000199205051066', '510107197501014016', '830000198508201016', '911276198507150017', '320102201103124027',
    '110108198004040033', '370202198306305012',
  ];

  it.each(KNOWN_VALID)('%s carries its own check character', (number) => {
    expect(mod11_2CheckCharacter(number.slice(0, 17))).toBe(number[17]);
    expect(referenceCheckCharacter(number.slice(0, 17))).toBe(number[17]);
  });

  it('gives X for the published example and 4 for the 1880 example of GB 11643', () => {
    expect(mod11_2CheckCharacter('11010519491231002')).toBe('X');
    expect(mod11_2CheckCharacter('44052418800101001')).toBe('4');
  });

  it('agrees with the reference implementation on many pseudo-random inputs, every check value included', () => {
    const seen = new Set<string>();
    let state = 12345;
    for (let n = 0; n < 2000; n += 1) {
      let first17 = '';
      for (let i = 0; i < 17; i += 1) {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        first17 += String(state % 10);
      }
      const expected = referenceCheckCharacter(first17);
      seen.add(expected);
      expect(mod11_2CheckCharacter(first17)).toBe(expected);
    }
    expect(seen.size).toBe(11); // 0–9 and X all occurred
  });
});

describe('documents: checkDocumentNumber', () => {
  const ACCEPTED: [DocumentType, string][] = [
    ['resident_id_card', '110105198803151232'],
    ['resident_id_card', '11010519491231002X'],
    ['hmt_residence_permit', '810000199205051066'],
    ['hmt_residence_permit', '830000198508201016'],
    ['hk_macao_travel_permit', 'H12345678'],
    ['hk_macao_travel_permit', 'M87654321'],
    ['hk_macao_travel_permit', 'H1234567801'],
    ['taiwan_travel_permit', '08123456'],
    ['taiwan_travel_permit', '0812345601'],
    ['foreign_permanent_resident_card', '911276198507150017'],
    ['foreign_permanent_resident_card', 'USA110085071512'],
    ['overseas_chinese_passport', 'EB7654321'],
    ['overseas_chinese_passport', 'E12345678'],
    ['overseas_chinese_passport', 'G12345678'],
  ];

  it('covers all six document types', () => {
    expect(new Set(ACCEPTED.map(([type]) => type))).toEqual(new Set(DOCUMENT_TYPES));
  });

  it.each(ACCEPTED)('accepts %s %s', (type, number) => {
    expect(checkDocumentNumber(type, number, TODAY_DATE)).toEqual({ ok: true, number });
  });

  it('accepts every seeded document number', () => {
    for (const person of SEED) {
      for (const { type, number } of person.documents) expect(checkDocumentNumber(type, number, TODAY_DATE)).toEqual({ ok: true, number });
    }
  });

  it('normalises lower-case x to X and strips spaces and hyphens', () => {
    const expected = { ok: true, number: '11010519491231002X' };
    expect(checkDocumentNumber('resident_id_card', '11010519491231002x', TODAY_DATE)).toEqual(expected);
    expect(checkDocumentNumber('resident_id_card', ' 110105 19491231-002x ', TODAY_DATE)).toEqual(expected);
    expect(checkDocumentNumber('hk_macao_travel_permit', 'h1234-5678', TODAY_DATE)).toEqual({ ok: true, number: 'H12345678' });
    expect(checkDocumentNumber('overseas_chinese_passport', 'eb 765 4321', TODAY_DATE)).toEqual({ ok: true, number: 'EB7654321' });
  });

  const REJECTED: [DocumentType, string, string][] = [
    // resident ID card
    ['resident_id_card', '11010519880315123', 'format'], // 17 characters
    ['resident_id_card', '1101051988031512321', 'format'], // 19 characters
    ['resident_id_card', '11010519880315123A', 'format'],
    ['resident_id_card', 'X10105198803151232', 'format'],
    ['resident_id_card', withWrongCheckCharacter('110105198803151232'), 'check_character'],
    ['resident_id_card', '110105194912310020', 'check_character'], // X expected
    ['resident_id_card', withCheckCharacter('99010519880315123'), 'region'], // no province 99
    ['resident_id_card', withCheckCharacter('10010519880315123'), 'region'], // no province 10
    ['resident_id_card', withCheckCharacter('11000019880315123'), 'region'], // county digits 0000
    ['resident_id_card', withCheckCharacter('11010519990230123'), 'birthdate'], // 30 February
    ['resident_id_card', withCheckCharacter('11010519881315123'), 'birthdate'], // month 13
    ['resident_id_card', withCheckCharacter('11010518991231123'), 'birthdate'], // before 1900
    ['resident_id_card', withCheckCharacter('11010520261122123'), 'birthdate'], // the day after TODAY
    // HK/Macao/Taiwan residence permit
    ['hmt_residence_permit', withWrongCheckCharacter('810000199205051066'), 'check_character'],
    ['hmt_residence_permit', withCheckCharacter('11010519920505106'), 'region'], // a mainland region
    ['hmt_residence_permit', withCheckCharacter('81010019920505106'), 'region'], // 810100 is not a permit region
    ['hmt_residence_permit', withCheckCharacter('84000019920505106'), 'region'],
    ['hmt_residence_permit', withCheckCharacter('82000019920231106'), 'birthdate'],
    ['hmt_residence_permit', 'H12345678', 'format'],
    // Mainland travel permits for HK/Macao and Taiwan residents
    ['hk_macao_travel_permit', 'A12345678', 'format'],
    ['hk_macao_travel_permit', 'H1234567', 'format'],
    ['hk_macao_travel_permit', 'H123456789', 'format'], // the issue count has two digits
    ['hk_macao_travel_permit', '12345678', 'format'],
    ['taiwan_travel_permit', '0812345', 'format'],
    ['taiwan_travel_permit', '081234567', 'format'],
    ['taiwan_travel_permit', 'T08123456', 'format'],
    // Foreign permanent resident card (2023 and 2017 layouts)
    ['foreign_permanent_resident_card', withWrongCheckCharacter('911276198507150017'), 'check_character'],
    ['foreign_permanent_resident_card', withCheckCharacter('81127619850715001'), 'region'], // must start with 9
    ['foreign_permanent_resident_card', withCheckCharacter('99927619850715001'), 'region'], // no province 99
    ['foreign_permanent_resident_card', withCheckCharacter('91127619850230001'), 'birthdate'],
    ['foreign_permanent_resident_card', 'US1110085071512', 'format'],
    ['foreign_permanent_resident_card', 'USA11008507151', 'format'],
    ['foreign_permanent_resident_card', 'USA1100850715123', 'format'],
    // Overseas Chinese passport
    ['overseas_chinese_passport', 'EI1234567', 'format'], // I is not used
    ['overseas_chinese_passport', 'EO1234567', 'format'], // nor O
    ['overseas_chinese_passport', 'G1234567', 'format'],
    ['overseas_chinese_passport', 'P12345678', 'format'],
    ['overseas_chinese_passport', 'E123456789', 'format'],
  ];

  it.each(REJECTED)('rejects %s %s: %s', (type, number, problem) => {
    expect(checkDocumentNumber(type, number, TODAY_DATE)).toEqual({ ok: false, problem });
  });

  it('decides "future birth date" against the given day', () => {
    const bornOnTheDay = withCheckCharacter('11010520261121123');
    expect(checkDocumentNumber('resident_id_card', bornOnTheDay, TODAY_DATE)).toEqual({ ok: true, number: bornOnTheDay });
    expect(checkDocumentNumber('resident_id_card', bornOnTheDay, new Date('2026-11-20T12:00:00Z'))).toEqual({ ok: false, problem: 'birthdate' });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('one-time codes', () => {
  const PHONE = '+8613800138000';
  const PURPOSE = 'enrolment';
  const T0 = 1_790_000_000_250;
  const message = (code: string) => `Your Cyber ID code is ${code}. It is valid for 5 minutes.`;

  let dataDir: string;
  let store: Store;
  let now: number;
  let sms: SmsNetworkStandIn;
  let hasher: CountingLookupHasher;
  let codes: OneTimeCodes;

  beforeEach(() => {
    dataDir = tempDataDir();
    store = openEmbeddedStore(dataDir);
    now = T0;
    sms = new SmsNetworkStandIn();
    hasher = new CountingLookupHasher(randomBytes(32));
    codes = new OneTimeCodes(store.shortLived, hasher, sms, { now: () => now });
  });

  afterEach(async () => {
    await store.close();
    removeDataDir(dataDir);
  });

  it('sends a six-digit code that works once', async () => {
    expect(await codes.send(PURPOSE, PHONE, message)).toEqual({ sent: true, resendAfter: RESEND_COOL_DOWN_SECONDS });
    expect(sms.messages).toHaveLength(1);
    expect(sms.messages[0]!.to).toBe(PHONE);
    const code = sms.lastCode();
    expect(await codes.check(PURPOSE, PHONE, code)).toEqual({ result: 'ok' });
    expect(await codes.check(PURPOSE, PHONE, code)).toEqual({ result: 'expired' });
  });

  it('holds a code for one purpose and one phone only', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const code = sms.lastCode();
    expect(await codes.check('sign-in', PHONE, code)).toEqual({ result: 'expired' });
    expect(await codes.check(PURPOSE, '+8613900139000', code)).toEqual({ result: 'expired' });
    expect(await codes.check(PURPOSE, PHONE, ` ${code} `)).toEqual({ result: 'ok' });
  });

  it('counts wrong guesses down, then refuses even the right code', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const code = sms.lastCode();
    const results: CheckResult[] = [];
    for (let i = 0; i < MAX_GUESSES; i += 1) results.push(await codes.check(PURPOSE, PHONE, otherCode(code)));
    expect(results).toEqual([
      ...Array.from({ length: MAX_GUESSES - 1 }, (_, i) => ({ result: 'wrong', guessesLeft: MAX_GUESSES - 1 - i })),
      { result: 'exhausted' },
    ]);
    expect(await codes.check(PURPOSE, PHONE, code)).toEqual({ result: 'exhausted' });
  });

  it('still takes the right code as the last permitted guess', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const code = sms.lastCode();
    for (let i = 0; i < MAX_GUESSES - 1; i += 1) await codes.check(PURPOSE, PHONE, otherCode(code));
    expect(await codes.check(PURPOSE, PHONE, code)).toEqual({ result: 'ok' });
  });

  it(`expires a code after ${CODE_LIFETIME_SECONDS} seconds`, async () => {
    await codes.send(PURPOSE, PHONE, message);
    now = T0 + CODE_LIFETIME_SECONDS * 1000;
    expect(await codes.check(PURPOSE, PHONE, sms.lastCode())).toEqual({ result: 'expired' });
  });

  it('takes a code just before it expires', async () => {
    await codes.send(PURPOSE, PHONE, message);
    now = T0 + CODE_LIFETIME_SECONDS * 1000 - 1;
    expect(await codes.check(PURPOSE, PHONE, sms.lastCode())).toEqual({ result: 'ok' });
  });

  it('refuses a resend within the cool-down and says how long to wait', async () => {
    await codes.send(PURPOSE, PHONE, message);
    now = T0 + 1000;
    expect(await codes.send(PURPOSE, PHONE, message)).toEqual({ sent: false, retryAfter: RESEND_COOL_DOWN_SECONDS - 1 });
    now = T0 + RESEND_COOL_DOWN_SECONDS * 1000 - 500;
    expect(await codes.send(PURPOSE, PHONE, message)).toEqual({ sent: false, retryAfter: 1 });
    expect(sms.messages).toHaveLength(1);
  });

  it('sends a new code after the cool-down; the old one no longer works', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const first = sms.lastCode();
    now = T0 + RESEND_COOL_DOWN_SECONDS * 1000;
    expect(await codes.send(PURPOSE, PHONE, message)).toEqual({ sent: true, resendAfter: RESEND_COOL_DOWN_SECONDS });
    expect(sms.messages).toHaveLength(2);
    const second = sms.lastCode();
    // (A repeat of the same six digits has a chance of one in a million.)
    expect(await codes.check(PURPOSE, PHONE, first)).toEqual({ result: 'wrong', guessesLeft: MAX_GUESSES - 1 });
    expect(await codes.check(PURPOSE, PHONE, second)).toEqual({ result: 'ok' });
  });

  it('gives a new code a fresh set of guesses', async () => {
    await codes.send(PURPOSE, PHONE, message);
    for (let i = 0; i < MAX_GUESSES; i += 1) await codes.check(PURPOSE, PHONE, '000000');
    now = T0 + RESEND_COOL_DOWN_SECONDS * 1000;
    await codes.send(PURPOSE, PHONE, message);
    expect(await codes.check(PURPOSE, PHONE, sms.lastCode())).toEqual({ result: 'ok' });
  });

  it(`sends at most ${MAX_SENDS_PER_HOUR} codes an hour to a phone`, async () => {
    for (let i = 0; i < MAX_SENDS_PER_HOUR; i += 1) {
      now = T0 + i * RESEND_COOL_DOWN_SECONDS * 1000;
      expect(await codes.send(PURPOSE, PHONE, message)).toMatchObject({ sent: true });
    }
    now += RESEND_COOL_DOWN_SECONDS * 1000;
    expect(await codes.send(PURPOSE, PHONE, message)).toEqual({ sent: false, retryAfter: 3600 });
    expect(sms.messages).toHaveLength(MAX_SENDS_PER_HOUR);
    // Another phone is not affected.
    expect(await codes.send(PURPOSE, '+8613900139000', message)).toMatchObject({ sent: true });
  });

  it('stores neither the code nor the phone number in the clear', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const code = sms.lastCode();
    await codes.check(PURPOSE, PHONE, otherCode(code)); // a guess counter row as well
    const rows = queryDatabase<{ key: string; value: string }>(dataDir, 'SELECT key, value FROM short_lived');
    expect(rows.length).toBeGreaterThanOrEqual(3); // the code, the send counter, the guess counter
    const issued = rows.map((row) => JSON.parse(row.value) as unknown).filter((value) => typeof value === 'object');
    expect(issued).toEqual([{ codeHash: expect.any(String), issuedAt: T0 }]);
    for (const { key, value } of rows) {
      for (const secret of [code, PHONE, PHONE.slice(3)]) {
        expect(key).not.toContain(secret);
        expect(value).not.toContain(secret);
      }
    }
  });

  it('never evaluates more than the permitted guesses, however many arrive at once', async () => {
    await codes.send(PURPOSE, PHONE, message);
    const code = sms.lastCode();
    hasher.codeHashes = 0;
    const results = await Promise.all(Array.from({ length: 20 }, () => codes.check(PURPOSE, PHONE, otherCode(code))));
    expect(hasher.codeHashes).toBeLessThanOrEqual(MAX_GUESSES);
    expect(results.filter((r) => r.result === 'wrong')).toHaveLength(MAX_GUESSES - 1);
    expect(results.filter((r) => r.result === 'exhausted')).toHaveLength(20 - (MAX_GUESSES - 1));
    expect(new Set(results.flatMap((r) => (r.result === 'wrong' ? [r.guessesLeft] : [])))).toEqual(new Set([1, 2, 3, 4]));
    expect(await codes.check(PURPOSE, PHONE, code)).toEqual({ result: 'exhausted' });
    expect(hasher.codeHashes).toBeLessThanOrEqual(MAX_GUESSES);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('password policy', () => {
  // What enrolment passes as the person's own strings.
  const PERSONAL = ['+8613800138000', '13800138000', '1988-03-15', '19880315', '110105198803151232', '李明'];

  it('accepts a long passphrase', () => {
    expect(passwordProblem(PASSWORD, PERSONAL)).toBeUndefined();
    expect(passwordProblem('tiger moon paper castle', PERSONAL)).toBeUndefined();
  });

  it('counts characters, not UTF-16 units, for the length limits', () => {
    expect(passwordProblem(PASSWORD.slice(0, MIN_PASSWORD_LENGTH - 1), PERSONAL)).toBe('too_short');
    expect(passwordProblem('😀'.repeat(MIN_PASSWORD_LENGTH - 1), PERSONAL)).toBe('too_short'); // 18 UTF-16 units
    expect(passwordProblem('a'.repeat(MAX_PASSWORD_LENGTH + 1), PERSONAL)).toBe('too_long');
    expect(passwordProblem(PASSWORD.padEnd(MAX_PASSWORD_LENGTH, 'x'), PERSONAL)).toBeUndefined();
  });

  it.each(['password1234', 'woaini1314', 'Woaini1314!', 'qq123456789', '12345678901'])('refuses the common password %s', (password) => {
    expect(passwordProblem(password, PERSONAL)).toBe('common');
  });

  it.each(['Lantern-13800138000-river', 'Lantern-19880315-river', 'river-autumn-1988-03-15'])('refuses %s for containing the person\'s own data', (password) => {
    expect(passwordProblem(password, PERSONAL)).toBe('personal');
    expect(passwordProblem(password, [])).toBeUndefined(); // the same password is fine for someone else
  });

  it('refuses a weak password that is on no list', () => {
    expect(passwordProblem('aaaaaaaaaaaa', PERSONAL)).toBe('weak');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('face verifier: simulation', () => {
  const faces = new SimulatedFaceVerifier(SEED);

  it('describes each subject with a capture', () => {
    expect(faces.captureOf('sim-0001', 'own_face')).toBe('sim:live:photo-7c1e');
    expect(faces.captureOf('sim-0001', 'printed_photo')).toBe('sim:spoof:photo-7c1e');
    expect(faces.captureOf('sim-0001', 'someone_else')).toMatch(/^sim:live:photo-/);
    expect(faces.captureOf('sim-0001', 'someone_else')).not.toBe('sim:live:photo-7c1e');
  });

  it.each(SEED.map((person) => person.personId))('passes %s\'s own face, with the same score every time', async (personId) => {
    const capture = faces.captureOf(personId, 'own_face');
    const first = await faces.verify({ personId, capture });
    expect(first.passed).toBe(true);
    expect(first.live).toBe(true);
    expect(first.score).toBeGreaterThanOrEqual(MATCH_THRESHOLD);
    expect(first.score).toBeLessThanOrEqual(1);
    expect(await faces.verify({ personId, capture })).toEqual(first);
  });

  it('fails someone else\'s live face', async () => {
    const result = await faces.verify({ personId: 'sim-0001', capture: faces.captureOf('sim-0001', 'someone_else') });
    expect(result).toMatchObject({ passed: false, live: true });
    expect(result.score).toBeLessThan(MATCH_THRESHOLD);
  });

  it('fails a printed photo of the person as not live', async () => {
    expect(await faces.verify({ personId: 'sim-0001', capture: faces.captureOf('sim-0001', 'printed_photo') }))
      .toMatchObject({ passed: false, live: false });
  });

  it('fails the person\'s own photo shown for somebody else, and captures it cannot read', async () => {
    const result = await faces.verify({ personId: 'sim-0003', capture: faces.captureOf('sim-0001', 'own_face') });
    expect(result).toMatchObject({ passed: false, live: true });
    expect(await faces.verify({ personId: 'sim-0001', capture: 'iVBORw0KGgo=' })).toEqual({ passed: false, score: 0, live: false });
  });
});

describe('authority ports over HTTP (against a test authority)', () => {
  const authority = new TestAuthority();
  let base: string;
  let nothingListening: string;

  beforeAll(async () => {
    base = await authority.start();
    nothingListening = await closedPortUrl();
  });

  afterAll(async () => {
    await authority.stop();
  });

  const CLAIM: DocumentClaim = {
    document: { type: 'resident_id_card', number: '110105198803151232' },
    name: '李明',
    birthdate: '1988-03-15',
    expiresOn: '2036-03-15',
  };

  describe('HttpIdentityRegistry', () => {
    it('POSTs the chip data as JSON to {url}/verify', async () => {
      authority.answerJson({ result: 'mismatch', reason: 'not_found' });
      await new HttpIdentityRegistry(`${base}/registry`).verify(CLAIM, TODAY);
      const request = authority.lastRequest();
      expect(request).toMatchObject({ method: 'POST', path: '/registry/verify' });
      expect(request.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request.body)).toEqual({
        document_type: 'resident_id_card',
        document_number: '110105198803151232',
        name: '李明',
        birthdate: '1988-03-15',
        expires_on: '2036-03-15',
        today: TODAY,
      });
      await new HttpIdentityRegistry(`${base}/registry/`).verify(CLAIM, TODAY);
      expect(authority.lastRequest().path).toBe('/registry/verify');
    });

    it('maps a verified answer to a person record', async () => {
      authority.answerJson({
        result: 'verified',
        person: { id: 'P-77', name: '李明', birthdate: '1988-03-15', gender: 'male', guardians: ['P-1'] },
      });
      expect(await new HttpIdentityRegistry(base).verify(CLAIM, TODAY)).toEqual({
        status: 'verified',
        person: { personId: 'P-77', name: '李明', birthdate: '1988-03-15', gender: 'male', guardians: ['P-1'] },
      });
      authority.answerJson({ result: 'verified', person: { id: 'P-78', name: '李明', birthdate: '1988-03-15', gender: 'male' } });
      expect(await new HttpIdentityRegistry(base).verify(CLAIM, TODAY)).toMatchObject({ person: { personId: 'P-78', guardians: [] } });
    });

    it('maps a mismatch answer to its reason', async () => {
      authority.answerJson({ result: 'mismatch', reason: 'revoked' });
      expect(await new HttpIdentityRegistry(base).verify(CLAIM, TODAY)).toEqual({ status: 'mismatch', reason: 'revoked' });
    });

    it.each([
      ['a 500', () => authority.answerJson({ result: 'mismatch', reason: 'name' }, 500)],
      ['a non-JSON body', () => authority.answerRaw(200, '<html>maintenance</html>', 'text/html')],
      ['an unknown mismatch reason', () => authority.answerJson({ result: 'mismatch', reason: 'stolen' })],
      ['a person without an id', () => authority.answerJson({ result: 'verified', person: { name: '李明', birthdate: '1988-03-15', gender: 'male' } })],
      ['an unexpected JSON shape', () => authority.answerJson({ ok: true })],
      ['a redirect', () => authority.answerRaw(302, '')],
    ])('throws AuthorityUnavailableError on %s', async (_, answer) => {
      answer();
      await expect(new HttpIdentityRegistry(base).verify(CLAIM, TODAY)).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });

    it('throws AuthorityUnavailableError when nothing listens', async () => {
      await expect(new HttpIdentityRegistry(nothingListening).verify(CLAIM, TODAY)).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });
  });

  describe('HttpFaceVerifier', () => {
    it('POSTs the person id and capture to {url}/verify and applies the match threshold', async () => {
      authority.answerJson({ live: true, score: 0.93 });
      expect(await new HttpFaceVerifier(`${base}/face`).verify({ personId: 'P-77', capture: 'Y2FwdHVyZQ==' }))
        .toEqual({ passed: true, score: 0.93, live: true });
      expect(authority.lastRequest()).toMatchObject({ method: 'POST', path: '/face/verify' });
      expect(JSON.parse(authority.lastRequest().body)).toEqual({ person_id: 'P-77', capture: 'Y2FwdHVyZQ==' });
    });

    it('fails a low score and a spoof, however high its score', async () => {
      const verifier = new HttpFaceVerifier(base);
      authority.answerJson({ live: true, score: MATCH_THRESHOLD - 0.01 });
      expect(await verifier.verify({ personId: 'P-77', capture: 'x' })).toMatchObject({ passed: false, live: true });
      authority.answerJson({ live: false, score: 0.99 });
      expect(await verifier.verify({ personId: 'P-77', capture: 'x' })).toMatchObject({ passed: false, live: false });
    });

    it.each([
      ['a 500', () => authority.answerJson({ live: true, score: 0.9 }, 500)],
      ['a non-JSON body', () => authority.answerRaw(200, 'ok')],
      ['an unexpected JSON shape', () => authority.answerJson({ live: 'yes', score: 0.9 })],
      ['a score above 1', () => authority.answerJson({ live: true, score: 1.5 })],
    ])('throws AuthorityUnavailableError on %s', async (_, answer) => {
      answer();
      await expect(new HttpFaceVerifier(base).verify({ personId: 'P-77', capture: 'x' })).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });

    it('throws AuthorityUnavailableError when nothing listens', async () => {
      await expect(new HttpFaceVerifier(nothingListening).verify({ personId: 'P-77', capture: 'x' })).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });
  });

  describe('HttpSmsSender', () => {
    it('POSTs {to, text} to the gateway URL itself', async () => {
      authority.answerJson({ id: 'msg-1' });
      await new HttpSmsSender(`${base}/sms/send`).send('+8613800138000', 'Your code is 123456');
      expect(authority.lastRequest()).toMatchObject({ method: 'POST', path: '/sms/send' });
      expect(JSON.parse(authority.lastRequest().body)).toEqual({ to: '+8613800138000', text: 'Your code is 123456' });
    });

    it.each([
      ['a 500', () => authority.answerJson({ error: 'busy' }, 500)],
      ['a non-JSON body', () => authority.answerRaw(200, 'queued')],
    ])('throws AuthorityUnavailableError on %s', async (_, answer) => {
      answer();
      await expect(new HttpSmsSender(`${base}/sms/send`).send('+8613800138000', 'x')).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });

    it('throws AuthorityUnavailableError when nothing listens', async () => {
      await expect(new HttpSmsSender(`${nothingListening}/sms/send`).send('+8613800138000', 'x')).rejects.toBeInstanceOf(AuthorityUnavailableError);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('simulated registry', () => {
  const verify = (claim: DocumentClaim, today = TODAY) => registry.verify(claim, today);
  const recordOf = ({ personId, name, birthdate, gender, guardians }: SimulatedPerson): PersonRecord => ({ personId, name, birthdate, gender, guardians });

  it('verifies what the chip of a seeded document says', async () => {
    expect(await verify(claimOf('sim-0002'))).toEqual({ status: 'verified', person: recordOf(seedPerson('sim-0002')) });
    expect(seedPerson('sim-0002').guardians).toEqual(['sim-0001']);
  });

  it('knows a person by each of their documents', async () => {
    const byPermit = await verify(claimOf('sim-0005', 0));
    const byTravelPermit = await verify(claimOf('sim-0005', 1));
    expect(byPermit).toEqual({ status: 'verified', person: recordOf(seedPerson('sim-0005')) });
    expect(byTravelPermit).toEqual(byPermit);
  });

  it('answers not_found for an unknown number, or a known number under another document type', async () => {
    const claim = claimOf('sim-0001');
    expect(await verify({ ...claim, document: { type: 'resident_id_card', number: withCheckCharacter('11010519880315999') } }))
      .toEqual({ status: 'mismatch', reason: 'not_found' });
    expect(await verify({ ...claim, document: { type: 'hmt_residence_permit', number: claim.document.number } }))
      .toEqual({ status: 'mismatch', reason: 'not_found' });
  });

  it('answers name for another name, ignoring Latin case and spacing', async () => {
    expect(await verify({ ...claimOf('sim-0001'), name: `${claimOf('sim-0001').name}明` })).toEqual({ status: 'mismatch', reason: 'name' });
    expect(seedPerson('sim-0008').name).toBe('ANNA SCHMIDT');
    expect(await verify({ ...claimOf('sim-0008'), name: 'ANNA SCHMIDTT' })).toEqual({ status: 'mismatch', reason: 'name' });
    expect(await verify({ ...claimOf('sim-0008'), name: 'ANNA-SCHMIDT' })).toEqual({ status: 'mismatch', reason: 'name' });
    for (const name of ['anna  schmidt', ' Anna Schmidt ', 'ＡＮＮＡ　ＳＣＨＭＩＤＴ']) {
      expect(await verify({ ...claimOf('sim-0008'), name })).toMatchObject({ status: 'verified', person: { personId: 'sim-0008' } });
    }
  });

  it('answers birthdate and expiry_date for dates that differ from the record', async () => {
    const claim = claimOf('sim-0001');
    expect(await verify({ ...claim, birthdate: dayAfter(claim.birthdate) })).toEqual({ status: 'mismatch', reason: 'birthdate' });
    expect(await verify({ ...claim, expiresOn: dayAfter(claim.expiresOn) })).toEqual({ status: 'mismatch', reason: 'expiry_date' });
  });

  it('answers revoked for a revoked document (sim-0013)', async () => {
    expect(await verify(claimOf('sim-0013'))).toEqual({ status: 'mismatch', reason: 'revoked' });
  });

  it('answers expired after the expiry date (sim-0006, expired 2025-01-01), not on it', async () => {
    const claim = claimOf('sim-0006');
    expect(claim.expiresOn).toBe('2025-01-01');
    expect(await verify(claim)).toEqual({ status: 'mismatch', reason: 'expired' });
    expect(await verify(claim, '2025-01-02')).toEqual({ status: 'mismatch', reason: 'expired' });
    expect(await verify(claim, '2025-01-01')).toMatchObject({ status: 'verified', person: { personId: 'sim-0006' } });
  });
});

// ---------------------------------------------------------------------------------------------------------

interface AccountRow {
  status: string;
  guardian_id: string | null;
  password_hash: string | null;
  network_number_hash: string | null;
  phone_hash: string | null;
  document_hash: string;
  person_hash: string;
  sealed: string | null;
}

describe('accounts: lifecycle', () => {
  const cipher = new AttributeCipher(randomBytes(32));
  const hasher = new LookupHasher(randomBytes(32));
  let dataDir: string;
  let store: Store;
  let accounts: Accounts;

  beforeEach(() => {
    dataDir = tempDataDir();
    store = openEmbeddedStore(dataDir);
    accounts = new Accounts(store.accounts, cipher, hasher);
  });

  afterEach(async () => {
    await store.close();
    removeDataDir(dataDir);
  });

  const rowOf = (id: string) => queryDatabase<AccountRow>(dataDir, 'SELECT * FROM accounts WHERE id = ?', id)[0];

  /** Creates the account of a seeded person, from the registry's answer for one of their documents. */
  async function enrol(
    personId: string,
    phone: string | null,
    { documentIndex = 0, ...extra }: { documentIndex?: number; status?: 'active' | 'awaiting_guardian'; guardianId?: string } = {},
  ): Promise<Account> {
    return accounts.create({ ...(await verifiedPerson(personId, documentIndex)), phone, password: PASSWORD, ...extra });
  }

  it('creates an active account with the verified identity', async () => {
    const account = await enrol('sim-0001', '138 0013 8001');
    const { name, birthdate, gender } = seedPerson('sim-0001');
    expect(account).toMatchObject({ status: 'active', guardianId: null, personHash: accounts.personHash('sim-0001') });
    expect(account.identity).toEqual({
      networkNumber: expect.any(String), phone: '+8613800138001', name, birthdate, gender,
      documentType: documentOf('sim-0001').type, documentNumber: documentOf('sim-0001').number, verifiedAt: expect.any(Number),
      personId: 'sim-0001',
    });
    expect(parseNetworkNumber(account.identity.networkNumber)).toBe(account.identity.networkNumber);
    expect(await accounts.findById(account.id)).toEqual(account);
    expect((await accounts.findByPerson('sim-0001'))?.id).toBe(account.id);
    expect((await accounts.findByDocument(documentOf('sim-0001')))?.id).toBe(account.id);
    expect(await accounts.isPhoneTaken('+8613800138001')).toBe(true);
  });

  it('suspends (sign-in still finds the account, marked suspended) and reactivates', async () => {
    const account = await enrol('sim-0001', '13800138001');
    await accounts.suspend(account.id);
    expect((await accounts.findById(account.id))?.status).toBe('suspended');
    expect(await accounts.authenticate('13800138001', PASSWORD)).toMatchObject({ id: account.id, status: 'suspended' });
    await accounts.reactivate(account.id);
    expect((await accounts.findById(account.id))?.status).toBe('active');
    expect(await accounts.authenticate('13800138001', PASSWORD)).toMatchObject({ id: account.id, status: 'active' });
  });

  it('returns a minor without a guardian to awaiting_guardian on reactivation', async () => {
    expect(ageOn(seedPerson('sim-0010').birthdate, todayInChina())).toBeLessThan(18);
    const minor = await enrol('sim-0010', '13800138002', { status: 'awaiting_guardian' });
    expect(minor).toMatchObject({ status: 'awaiting_guardian', guardianId: null });
    await accounts.suspend(minor.id);
    expect((await accounts.findById(minor.id))?.status).toBe('suspended');
    await accounts.reactivate(minor.id);
    expect((await accounts.findById(minor.id))?.status).toBe('awaiting_guardian');
  });

  it('returns a minor with a guardian to active on reactivation', async () => {
    const guardian = await enrol('sim-0011', '13800138003');
    const minor = await enrol('sim-0010', '13800138002', { guardianId: guardian.id });
    await accounts.suspend(minor.id);
    await accounts.reactivate(minor.id);
    expect(await accounts.findById(minor.id)).toMatchObject({ status: 'active', guardianId: guardian.id });
  });

  it('leaves an account that is not suspended as it is on reactivation', async () => {
    const minor = await enrol('sim-0010', '13800138002', { status: 'awaiting_guardian' });
    await accounts.reactivate(minor.id);
    expect((await accounts.findById(minor.id))?.status).toBe('awaiting_guardian');
  });

  it('erases the personal data and keeps only the tombstone that recognises the person', async () => {
    const account = await enrol('sim-0005', '13800138004');
    await accounts.erase(account.id);

    expect(await accounts.findById(account.id)).toBeUndefined();
    expect(await accounts.findByPerson('sim-0005')).toBeUndefined();
    expect(await accounts.authenticate('13800138004', PASSWORD)).toBeUndefined();
    expect(await accounts.authenticate(account.identity.networkNumber, PASSWORD)).toBeUndefined();
    expect(await accounts.isPhoneTaken('+8613800138004')).toBe(false);
    expect(rowOf(account.id)).toMatchObject({
      status: 'deleted', guardian_id: null, sealed: null, password_hash: null, phone_hash: null, network_number_hash: null,
      person_hash: accounts.personHash('sim-0005'),
    });
    await expect(accounts.erase(account.id)).rejects.toThrow('does not exist');
    await expect(accounts.suspend(account.id)).rejects.toThrow('does not exist');
  });

  it('frees the phone number of an erased account for someone else', async () => {
    const account = await enrol('sim-0005', '13800138004');
    await accounts.erase(account.id);
    expect((await enrol('sim-0001', '13800138004')).identity.phone).toBe('+8613800138004');
  });

  it('gives a person who enrols again, with another of their documents, the same account id and a new network number', async () => {
    const first = await enrol('sim-0005', '13800138004');
    await accounts.erase(first.id);
    const again = await enrol('sim-0005', '13800138005', { documentIndex: 1 });
    expect(again.id).toBe(first.id);
    expect(again.status).toBe('active');
    expect(again.identity.networkNumber).not.toBe(first.identity.networkNumber);
    expect(again.identity).toMatchObject({ documentType: documentOf('sim-0005', 1).type, documentNumber: documentOf('sim-0005', 1).number, phone: '+8613800138005' });
    expect((await accounts.findByPerson('sim-0005'))?.id).toBe(first.id);
    expect((await accounts.authenticate('13800138005', PASSWORD))?.id).toBe(first.id);
    expect(await accounts.authenticate(first.identity.networkNumber, PASSWORD)).toBeUndefined();
    expect((await accounts.authenticate(again.identity.networkNumber, PASSWORD))?.id).toBe(first.id);
    expect(queryDatabase(dataDir, 'SELECT id FROM accounts')).toHaveLength(1);
  });

  it('refuses a second live account for the same person, even with another document', async () => {
    await enrol('sim-0005', '13800138004');
    const second = enrol('sim-0005', '13800138005', { documentIndex: 1 });
    await expect(second).rejects.toBeInstanceOf(DuplicateAccountError);
    await expect(second).rejects.toMatchObject({ field: 'person' });
  });

  it('enrols children without a phone, with no phone lookup', async () => {
    const guardian = await enrol('sim-0011', '13800138003');
    const first = await enrol('sim-0004', null, { guardianId: guardian.id });
    const second = await enrol('sim-0010', null, { guardianId: guardian.id });
    for (const child of [first, second]) {
      expect(child).toMatchObject({ status: 'active', guardianId: guardian.id, identity: { phone: null } });
      expect(rowOf(child.id)).toMatchObject({ phone_hash: null });
      expect(rowOf(child.id)!.sealed).not.toBeNull();
    }
    expect(rowOf(guardian.id)!.phone_hash).toBe(accounts.phoneHash('+8613800138003'));
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('guardianship', () => {
  const cipher = new AttributeCipher(randomBytes(32));
  const hasher = new LookupHasher(randomBytes(32));
  let dataDir: string;
  let store: Store;
  let accounts: Accounts;
  let guardianship: Guardianship;
  let guardian: Account; // sim-0011, whom the registry names as guardian of sim-0010
  let stranger: Account; // sim-0001, no relation
  let minor: Account; // sim-0010, a 14–17-year-old who enrolled alone

  beforeEach(async () => {
    dataDir = tempDataDir();
    store = openEmbeddedStore(dataDir);
    accounts = new Accounts(store.accounts, cipher, hasher);
    guardianship = new Guardianship(accounts, store.guardianRequests, createLogger('silent'));
    const enrol = async (personId: string, phone: string, status: 'active' | 'awaiting_guardian' = 'active') =>
      accounts.create({ ...(await verifiedPerson(personId)), phone, password: PASSWORD, status });
    guardian = await enrol('sim-0011', '13800138011');
    stranger = await enrol('sim-0001', '13800138001');
    minor = await enrol('sim-0010', '13800138010', 'awaiting_guardian');
    const { person } = await verifiedPerson('sim-0010');
    expect(person.guardians).toEqual(['sim-0011']);
    await store.guardianRequests.add(minor.id, person.guardians.map((id) => accounts.personHash(id)));
  });

  afterEach(async () => {
    await store.close();
    removeDataDir(dataDir);
  });

  /** How a waiting minor is listed to a guardian. */
  const waiting = (account: Account) => ({ id: account.id, name: seedPerson('sim-0010').name, birthdate: seedPerson('sim-0010').birthdate });

  it('lists the waiting minor to the guardian only', async () => {
    expect(await guardianship.pendingFor(guardian)).toEqual([waiting(minor)]);
    expect(await guardianship.pendingFor(stranger)).toEqual([]);
  });

  it('does not let someone who is not a named guardian approve', async () => {
    expect(await guardianship.approve(stranger, minor.id)).toBe(false);
    expect((await accounts.findById(minor.id))?.status).toBe('awaiting_guardian');
    expect(await store.guardianRequests.isPending(minor.id, guardian.personHash)).toBe(true);
  });

  it('makes the minor active with the guardian recorded when the guardian approves', async () => {
    expect(await guardianship.approve(guardian, minor.id)).toBe(true);
    expect(await accounts.findById(minor.id)).toMatchObject({ status: 'active', guardianId: guardian.id });
    expect(await store.guardianRequests.isPending(minor.id, guardian.personHash)).toBe(false);
    expect(await guardianship.pendingFor(guardian)).toEqual([]);
    expect(await guardianship.approve(guardian, minor.id)).toBe(false);
  });

  it('clears every guardian\'s request once one approves', async () => {
    await store.guardianRequests.add(minor.id, [stranger.personHash]); // as if the registry named two guardians
    expect(await guardianship.approve(guardian, minor.id)).toBe(true);
    expect(await store.guardianRequests.isPending(minor.id, stranger.personHash)).toBe(false);
    expect(await guardianship.approve(stranger, minor.id)).toBe(false);
  });

  it('does not let a suspended guardian approve', async () => {
    await accounts.suspend(guardian.id);
    const suspended = (await accounts.findById(guardian.id))!;
    expect(await guardianship.approve(suspended, minor.id)).toBe(false);
    expect((await accounts.findById(minor.id))?.status).toBe('awaiting_guardian');
  });

  it('removes only the declining guardian\'s request; the minor keeps waiting for the other', async () => {
    await store.guardianRequests.add(minor.id, [stranger.personHash]); // as if the registry named two guardians
    expect(await guardianship.decline(guardian, minor.id)).toBe(true);
    expect(await guardianship.pendingFor(guardian)).toEqual([]);
    expect(await guardianship.pendingFor(stranger)).toEqual([waiting(minor)]);
    expect((await accounts.findById(minor.id))?.status).toBe('awaiting_guardian');
    expect(await guardianship.decline(guardian, minor.id)).toBe(false);
    expect(await guardianship.approve(guardian, minor.id)).toBe(false);
    expect(await guardianship.approve(stranger, minor.id)).toBe(true);
  });

  it('does not list a minor whose account was suspended meanwhile', async () => {
    await accounts.suspend(minor.id);
    expect(await guardianship.pendingFor(guardian)).toEqual([]);
  });

  // An operator's suspension is not lifted by a guardian posting an old approval form.
  it('does not lift a minor\'s suspension when the guardian approves', async () => {
    await accounts.suspend(minor.id);
    expect(await guardianship.approve(guardian, minor.id)).toBe(false);
    expect((await accounts.findById(minor.id))?.status).toBe('suspended');
  });
});
