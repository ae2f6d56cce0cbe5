// The identity domain: sealed attributes, keyed lookups, password sign-in and the computed claims.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openEmbeddedStore } from '../adapters/index.ts';
import { DuplicateAccountError, type Store } from '../adapters/types.ts';
import { Accounts, type Account } from '../server/identity/accounts.ts';
import { ageOn, claimValues, todayInChina } from '../server/identity/claims.ts';
import { formatNetworkNumber } from '../server/identity/network-number.ts';
import { AttributeCipher, LookupHasher } from '../server/identity/protection.ts';
import type { IdentityDocument } from '../server/identity/documents.ts';
import { readSimulationSeed, SimulatedRegistry } from '../server/identity/registry.ts';
import { removeDataDir, tempDataDir } from './support/server.ts';

const registry = new SimulatedRegistry(readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json')));
const DOCUMENT: IdentityDocument = { type: 'resident_id_card', number: '110105199012072049' };
const PASSWORD = 'correct horse battery staple';
// The keys outlive a reopened store, as they do in the server.
const cipher = new AttributeCipher(randomBytes(32));
const hasher = new LookupHasher(randomBytes(32));

let dataDir: string;
let store: Store;
let accounts: Accounts;
let account: Account;

beforeAll(async () => {
  dataDir = tempDataDir();
  store = openEmbeddedStore(dataDir);
  accounts = new Accounts(store.accounts, cipher, hasher);
  const answer = await registry.verify(registry.claimFor(DOCUMENT)!, '2026-11-21');
  if (answer.status !== 'verified') throw new Error('registry seed changed');
  account = await accounts.create({ person: answer.person, document: DOCUMENT, phone: '138 0013 9999', password: PASSWORD });
});

afterAll(async () => {
  await store.close();
  removeDataDir(dataDir);
});

describe('accounts at rest', () => {
  it('hold no name, document number, phone or network number in the clear', async () => {
    await store.close(); // flush the WAL into the file
    const bytes = readFileSync(path.join(dataDir, 'cyberid.sqlite'));
    for (const secret of ['王芳', DOCUMENT.number, '13800139999', account.identity.networkNumber]) {
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    expect(bytes.includes(Buffer.from('$argon2id$'))).toBe(true);
    store = openEmbeddedStore(dataDir);
    accounts = new Accounts(store.accounts, cipher, hasher);
  });

  it('open again to the same identity', async () => {
    const found = await accounts.findById(account.id);
    expect(found?.identity).toEqual(account.identity);
    expect(found?.identity).toMatchObject({ name: '王芳', birthdate: '1990-12-07', gender: 'female', phone: '+8613800139999', documentType: 'resident_id_card' });
  });

  it('refuse a second account for the same person', async () => {
    const answer = await registry.verify(registry.claimFor(DOCUMENT)!, '2026-11-21');
    if (answer.status !== 'verified') throw new Error('registry seed changed');
    await expect(accounts.create({ person: answer.person, document: DOCUMENT, phone: '13700137000', password: PASSWORD }))
      .rejects.toEqual(new DuplicateAccountError('person'));
  });
});

describe('password sign-in', () => {
  it('finds the person by network number as typed (grouped, lower case) or by phone', async () => {
    const typed = formatNetworkNumber(account.identity.networkNumber).toLowerCase();
    expect((await accounts.authenticate(typed, PASSWORD))?.id).toBe(account.id);
    expect((await accounts.authenticate('+86 138-0013-9999', PASSWORD))?.id).toBe(account.id);
  });

  it('returns nothing for a wrong password, an unknown person or something that is neither identifier', async () => {
    expect(await accounts.authenticate('13800139999', 'wrong password')).toBeUndefined();
    expect(await accounts.authenticate('13911112222', PASSWORD)).toBeUndefined();
    expect(await accounts.authenticate('王芳', PASSWORD)).toBeUndefined();
  });
});

describe('sealing', () => {
  it('binds a sealed value to its record', () => {
    const sealed = cipher.seal({ name: '王芳' }, 'account-1');
    expect(cipher.open(sealed, 'account-1')).toEqual({ name: '王芳' });
    expect(() => cipher.open(sealed, 'account-2')).toThrow();
  });

  it('detects tampering and names a key it does not hold', () => {
    const sealed = cipher.seal({ name: '王芳' }, 'account-1');
    const parts = sealed.split('.');
    const data = Buffer.from(parts[3]!, 'base64url');
    data[0]! ^= 1;
    expect(() => cipher.open([parts[0], parts[1], parts[2], data.toString('base64url')].join('.'), 'account-1')).toThrow();
    expect(() => new AttributeCipher(randomBytes(32)).open(sealed, 'account-1')).toThrow(/sealed with key/);
  });
});

describe('claims', () => {
  it('compute age predicates on the person\'s birthday, not the day after', () => {
    expect(ageOn('2008-03-01', '2026-02-28')).toBe(17);
    expect(ageOn('2008-03-01', '2026-03-01')).toBe(18);
    expect(ageOn('2012-11-22', '2026-11-21')).toBe(13);
    expect(ageOn('2012-11-22', '2026-11-22')).toBe(14);
  });

  it('use China Standard Time for "today"', () => {
    expect(todayInChina(new Date('2026-11-21T16:30:00Z'))).toBe('2026-11-22');
    expect(todayInChina(new Date('2026-11-21T15:30:00Z'))).toBe('2026-11-21');
  });

  it('release predicates and the registry record, never more', () => {
    const values = claimValues({ ...account.identity, birthdate: '2010-06-08' }, new Date('2026-11-21T00:00:00Z'));
    expect(values).toMatchObject({ age_over_14: true, age_over_18: false, identity_verified: true, phone_number_verified: true });
    expect(Object.keys(values)).not.toContain('networkNumber');
  });
});

