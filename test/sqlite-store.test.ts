// The embedded SQLite store on its own, without the server: the oidc-provider Adapter for every model
// (round trips, expiry, consume, lookups by uid / user code, revocation by grant, destroy), the account
// repository (lookups and duplicate detection), durability across a close and reopen, and the database
// file itself (owner-only permissions, WAL journal).
// Time is controlled by faking only `Date`, so expiry is tested exactly and without waiting.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { errors, type AdapterPayload } from 'oidc-provider';
import { openSqliteStore } from '../adapters/sqlite/index.ts';
import { DuplicateAccountError, type AccountLookups, type AccountRecord, type Store } from '../adapters/types.ts';
import { removeDataDir, tempDataDir } from './support/server.ts';

/** The model names oidc-provider 9 asks its adapter factory for (the experimental PreAuthorizedCode aside). */
const MODELS = [
  'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials', 'Client',
  'InitialAccessToken', 'RegistrationAccessToken', 'Interaction', 'ReplayDetection', 'PushedAuthorizationRequest',
  'Grant', 'BackchannelAuthenticationRequest',
] as const;

/** The keyed hashes an account can be looked up by, each UNIQUE. */
const LOOKUP_FIELDS = ['networkNumber', 'phone', 'document', 'person'] as const satisfies (keyof AccountLookups)[];

/** A fixed instant with a non-zero millisecond part, so seconds-vs-milliseconds mix-ups show. */
const T0 = 1_750_000_000_250;

let dataDir: string;
let store: Store;

beforeEach(() => {
  dataDir = tempDataDir();
  store = openSqliteStore(dataDir);
});

afterEach(async () => {
  jest.useRealTimers();
  await store.close();
  removeDataDir(dataDir);
});

describe('oidc adapter: round trips', () => {
  it.each(MODELS)('%s round-trips through upsert and find', async (model) => {
    const adapter = store.adapterFor(model);
    const payload = samplePayload(model, 'id-1');
    await adapter.upsert('id-1', payload);
    expect(await adapter.find('id-1')).toEqual(payload);
    expect(await adapter.find('id-2')).toBeUndefined();
  });

  it('keeps the same id under different model names apart', async () => {
    for (const model of MODELS) await store.adapterFor(model).upsert('shared-id', samplePayload(model, 'shared-id'));
    for (const model of MODELS) {
      expect(await store.adapterFor(model).find('shared-id')).toEqual(samplePayload(model, 'shared-id'));
    }
  });

  it('sees rows written through another adapter instance of the same model', async () => {
    await store.adapterFor('Session').upsert('s1', samplePayload('Session', 's1'));
    expect(await store.adapterFor('Session').find('s1')).toEqual(samplePayload('Session', 's1'));
  });
});

describe('oidc adapter: expiry', () => {
  it('finds a row until expiresIn has passed and not after', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('AccessToken');
    await adapter.upsert('at-1', samplePayload('AccessToken', 'at-1'), 60);
    expect(await adapter.find('at-1')).toBeDefined();
    jest.setSystemTime(T0 + 59_999);
    expect(await adapter.find('at-1')).toEqual(samplePayload('AccessToken', 'at-1'));
    jest.setSystemTime(T0 + 60_001);
    expect(await adapter.find('at-1')).toBeUndefined();
  });

  it('never expires a row upserted without expiresIn', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('Client');
    await adapter.upsert('client-1', samplePayload('Client', 'client-1'));
    jest.setSystemTime(T0 + 10 * 365 * 24 * 3600 * 1000);
    expect(await adapter.find('client-1')).toEqual(samplePayload('Client', 'client-1'));
  });

  it('re-upsert replaces the payload entirely and extends the expiry', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('Session');
    await adapter.upsert('s1', { accountId: 'old', kind: 'Session', extra: { stale: true } }, 10);
    await adapter.upsert('s1', { accountId: 'new', kind: 'Session' }, 100);
    jest.setSystemTime(T0 + 50_000);
    const found = await adapter.find('s1');
    expect(found).toEqual({ accountId: 'new', kind: 'Session' });
    expect(found).not.toHaveProperty('extra');
    jest.setSystemTime(T0 + 100_001);
    expect(await adapter.find('s1')).toBeUndefined();
  });

  it('re-upsert can shorten the expiry', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('Session');
    await adapter.upsert('s1', { accountId: 'a', kind: 'Session' }, 100);
    await adapter.upsert('s1', { accountId: 'a', kind: 'Session' }, 10);
    jest.setSystemTime(T0 + 10_001);
    expect(await adapter.find('s1')).toBeUndefined();
  });

  it('treats expiresIn 0 as expiring now, not as never', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('AccessToken');
    await adapter.upsert('at-0', { kind: 'AccessToken' }, 0);
    expect(await adapter.find('at-0')).toBeUndefined();
  });

  it('re-upsert without expiresIn removes the expiry', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('Grant');
    await adapter.upsert('g1', { accountId: 'a', kind: 'Grant' }, 10);
    await adapter.upsert('g1', { accountId: 'a', kind: 'Grant' });
    jest.setSystemTime(T0 + 3600_000);
    expect(await adapter.find('g1')).toEqual({ accountId: 'a', kind: 'Grant' });
  });
});

describe('oidc adapter: consume', () => {
  it('takes consumption from the payload on re-upsert, as the whole record is replaced', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('RefreshToken');
    await adapter.upsert('rt-1', { kind: 'RefreshToken', grantId: 'g' }, 60);
    await adapter.consume('rt-1');
    await adapter.upsert('rt-1', { kind: 'RefreshToken', grantId: 'g' }, 60);
    expect(await adapter.find('rt-1')).not.toHaveProperty('consumed');
    await adapter.upsert('rt-1', { kind: 'RefreshToken', grantId: 'g', consumed: 1_700_000_000 }, 60);
    expect((await adapter.find('rt-1'))?.consumed).toBe(1_700_000_000);
  });

  it('marks the row consumed at the current time in epoch seconds and keeps the payload', async () => {
    freezeTime(T0);
    const adapter = store.adapterFor('AuthorizationCode');
    const payload = samplePayload('AuthorizationCode', 'code-1');
    await adapter.upsert('code-1', payload, 60);
    expect(await adapter.find('code-1')).not.toHaveProperty('consumed');
    jest.setSystemTime(T0 + 5_000);
    await adapter.consume('code-1');
    const found = await adapter.find('code-1');
    expect(found).toEqual({ ...payload, consumed: Math.floor((T0 + 5_000) / 1000) });
    expect(typeof found?.consumed).toBe('number');
  });

  it('rejects a second consume of the same id with InvalidGrant', async () => {
    const adapter = store.adapterFor('RefreshToken');
    await adapter.upsert('rt-1', samplePayload('RefreshToken', 'rt-1'), 3600);
    await adapter.consume('rt-1');
    await expect(adapter.consume('rt-1')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('lets exactly one of 50 concurrent consumes of a fresh id win', async () => {
    await store.adapterFor('AuthorizationCode').upsert('code-race', samplePayload('AuthorizationCode', 'code-race'), 60);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => store.adapterFor('AuthorizationCode').consume('code-race')),
    );
    const fulfilled = results.filter((result) => result.status === 'fulfilled');
    const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(49);
    for (const { reason } of rejected) expect(reason).toBeInstanceOf(errors.InvalidGrant);
  });

  it('treats a losing consume as a replay: revokes the grant and what it issued', async () => {
    await store.adapterFor('Grant').upsert('grant-r', { kind: 'Grant', accountId: 'a', clientId: 'c' }, 600);
    await store.adapterFor('AuthorizationCode').upsert('code-r', { kind: 'AuthorizationCode', grantId: 'grant-r' }, 60);
    await store.adapterFor('AccessToken').upsert('at-r', { kind: 'AccessToken', grantId: 'grant-r' }, 600);
    await store.adapterFor('AuthorizationCode').consume('code-r');
    await expect(store.adapterFor('AuthorizationCode').consume('code-r')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await store.adapterFor('AccessToken').find('at-r')).toBeUndefined();
    expect(await store.adapterFor('Grant').find('grant-r')).toBeUndefined();
    // A third attempt finds nothing to consume and still fails.
    await expect(store.adapterFor('AuthorizationCode').consume('code-r')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('finds the newest live grant of an account at a client, across sessions', async () => {
    expect(await store.latestGrantId('acct', 'client-x')).toBeUndefined();
    await store.adapterFor('Grant').upsert('g-old', { kind: 'Grant', accountId: 'acct', clientId: 'client-x' }, 600);
    await store.adapterFor('Grant').upsert('g-new', { kind: 'Grant', accountId: 'acct', clientId: 'client-x' }, 600);
    await store.adapterFor('Grant').upsert('g-other', { kind: 'Grant', accountId: 'acct', clientId: 'client-y' }, 600);
    expect(await store.latestGrantId('acct', 'client-x')).toBe('g-new');
    await store.adapterFor('Grant').destroy('g-new');
    expect(await store.latestGrantId('acct', 'client-x')).toBe('g-old');
  });

  it('consumes only the row of its own model', async () => {
    await store.adapterFor('AuthorizationCode').upsert('same', samplePayload('AuthorizationCode', 'same'), 60);
    await store.adapterFor('RefreshToken').upsert('same', samplePayload('RefreshToken', 'same'), 60);
    await store.adapterFor('AuthorizationCode').consume('same');
    expect(await store.adapterFor('RefreshToken').find('same')).not.toHaveProperty('consumed');
    await expect(store.adapterFor('RefreshToken').consume('same')).resolves.toBeUndefined();
  });
});

describe('oidc adapter: findByUid and findByUserCode', () => {
  it('finds a Session by its uid, only under its own model', async () => {
    const payload: AdapterPayload = { accountId: 'acct-1', kind: 'Session', uid: 'uid-1', jti: 's1' };
    await store.adapterFor('Session').upsert('s1', payload, 60);
    expect(await store.adapterFor('Session').findByUid('uid-1')).toEqual(payload);
    expect(await store.adapterFor('Session').findByUid('uid-2')).toBeUndefined();
    expect(await store.adapterFor('Interaction').findByUid('uid-1')).toBeUndefined();
  });

  it('stops finding a Session by uid once it has expired', async () => {
    freezeTime(T0);
    await store.adapterFor('Session').upsert('s1', { kind: 'Session', uid: 'uid-1' }, 30);
    jest.setSystemTime(T0 + 29_000);
    expect(await store.adapterFor('Session').findByUid('uid-1')).toBeDefined();
    jest.setSystemTime(T0 + 30_001);
    expect(await store.adapterFor('Session').findByUid('uid-1')).toBeUndefined();
  });

  it('finds a DeviceCode by its user code, only under its own model', async () => {
    const payload: AdapterPayload = { kind: 'DeviceCode', userCode: 'ABCD-EFGH', clientId: 'platform-a', grantId: 'g1' };
    await store.adapterFor('DeviceCode').upsert('dc-1', payload, 600);
    expect(await store.adapterFor('DeviceCode').findByUserCode('ABCD-EFGH')).toEqual(payload);
    expect(await store.adapterFor('DeviceCode').findByUserCode('WXYZ-WXYZ')).toBeUndefined();
    expect(await store.adapterFor('BackchannelAuthenticationRequest').findByUserCode('ABCD-EFGH')).toBeUndefined();
  });

  it('stops finding a DeviceCode by user code once it has expired', async () => {
    freezeTime(T0);
    await store.adapterFor('DeviceCode').upsert('dc-1', { kind: 'DeviceCode', userCode: 'ABCD-EFGH' }, 600);
    jest.setSystemTime(T0 + 599_000);
    expect(await store.adapterFor('DeviceCode').findByUserCode('ABCD-EFGH')).toBeDefined();
    jest.setSystemTime(T0 + 600_001);
    expect(await store.adapterFor('DeviceCode').findByUserCode('ABCD-EFGH')).toBeUndefined();
  });

  it('reports consumption through findByUid and findByUserCode too', async () => {
    await store.adapterFor('DeviceCode').upsert('dc-1', { kind: 'DeviceCode', userCode: 'ABCD-EFGH' }, 600);
    await store.adapterFor('DeviceCode').consume('dc-1');
    expect((await store.adapterFor('DeviceCode').findByUserCode('ABCD-EFGH'))?.consumed).toEqual(expect.any(Number));
  });
});

describe('oidc adapter: revokeByGrantId and destroy', () => {
  it('removes every model carrying the grant id and leaves other grants alone', async () => {
    const grantModels = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;
    for (const model of grantModels) {
      await store.adapterFor(model).upsert(`${model}-g1`, { kind: model, grantId: 'grant-1' }, 600);
      await store.adapterFor(model).upsert(`${model}-g2`, { kind: model, grantId: 'grant-2' }, 600);
    }
    await store.adapterFor('Session').upsert('s1', { kind: 'Session', uid: 'uid-1' });
    // An interaction in progress carries the grant id too, but is not one of the grant's tokens.
    await store.adapterFor('Interaction').upsert('i1', { kind: 'Interaction', grantId: 'grant-1' }, 600);

    await store.adapterFor('AccessToken').revokeByGrantId('grant-1');
    expect(await store.adapterFor('Interaction').find('i1')).toEqual({ kind: 'Interaction', grantId: 'grant-1' });

    for (const model of grantModels) {
      expect(await store.adapterFor(model).find(`${model}-g1`)).toBeUndefined();
      expect(await store.adapterFor(model).find(`${model}-g2`)).toEqual({ kind: model, grantId: 'grant-2' });
    }
    expect(await store.adapterFor('Session').find('s1')).toEqual({ kind: 'Session', uid: 'uid-1' });
  });

  it('destroy removes exactly one row', async () => {
    await store.adapterFor('Interaction').upsert('i1', samplePayload('Interaction', 'i1'), 600);
    await store.adapterFor('Interaction').upsert('i2', samplePayload('Interaction', 'i2'), 600);
    await store.adapterFor('Session').upsert('i1', samplePayload('Session', 'i1'), 600);

    await store.adapterFor('Interaction').destroy('i1');

    expect(await store.adapterFor('Interaction').find('i1')).toBeUndefined();
    expect(await store.adapterFor('Interaction').find('i2')).toEqual(samplePayload('Interaction', 'i2'));
    expect(await store.adapterFor('Session').find('i1')).toEqual(samplePayload('Session', 'i1'));
  });
});

describe('accounts repository', () => {
  it('round-trips a record through insert, findById and findByLookup on every field', async () => {
    const first = account(1);
    await store.accounts.insert(first);
    expect(await store.accounts.findById(first.id)).toEqual(first);
    for (const field of LOOKUP_FIELDS) {
      expect(await store.accounts.findByLookup(field, first.lookups[field])).toEqual(first);
    }
    expect(await store.accounts.findById('acct-missing')).toBeUndefined();
  });

  it('looks each field up by its own column only', async () => {
    const first = account(1);
    await store.accounts.insert(first);
    expect(await store.accounts.findByLookup('phone', first.lookups.document)).toBeUndefined();
    expect(await store.accounts.findByLookup('document', first.lookups.networkNumber)).toBeUndefined();
    expect(await store.accounts.findByLookup('networkNumber', first.lookups.phone)).toBeUndefined();
  });

  it('stores a guardian link to another account', async () => {
    const guardian = account(1);
    const minor: AccountRecord = { ...account(2), status: 'awaiting_guardian', guardianId: guardian.id };
    await store.accounts.insert(guardian);
    await store.accounts.insert(minor);
    expect(await store.accounts.findById(minor.id)).toEqual(minor);
  });

  it.each(LOOKUP_FIELDS)('rejects a second account with a taken %s hash and keeps the first', async (field) => {
    const first = account(1);
    await store.accounts.insert(first);
    const second = { ...account(2), lookups: { ...account(2).lookups, [field]: first.lookups[field] } };

    const error = await store.accounts.insert(second).then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(DuplicateAccountError);
    expect((error as DuplicateAccountError).field).toBe(field);

    expect(await store.accounts.findById(first.id)).toEqual(first);
    expect(await store.accounts.findById(second.id)).toBeUndefined();
    expect(await store.accounts.findByLookup(field, first.lookups[field])).toEqual(first);
    for (const other of LOOKUP_FIELDS.filter((f) => f !== field)) {
      expect(await store.accounts.findByLookup(other, second.lookups[other])).toBeUndefined();
    }
  });

  it('rejects a second account with a taken id as a duplicate id', async () => {
    const first = account(1);
    await store.accounts.insert(first);
    const error = await store.accounts.insert({ ...account(2), id: first.id }).then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(DuplicateAccountError);
    expect((error as DuplicateAccountError).field).toBe('id');
    expect(await store.accounts.findById(first.id)).toEqual(first);
  });
});

describe('durability and files', () => {
  it('keeps oidc rows, consumption and accounts across a close and reopen', async () => {
    const client = samplePayload('Client', 'platform-a');
    await store.adapterFor('Client').upsert('platform-a', client);
    await store.adapterFor('AuthorizationCode').upsert('code-1', { kind: 'AuthorizationCode', grantId: 'g1' }, 600);
    await store.adapterFor('AuthorizationCode').consume('code-1');
    const person = account(1);
    await store.accounts.insert(person);

    await store.close();
    store = openSqliteStore(dataDir);

    expect(await store.adapterFor('Client').find('platform-a')).toEqual(client);
    expect(await store.adapterFor('AuthorizationCode').find('code-1')).toMatchObject({ grantId: 'g1', consumed: expect.any(Number) });
    await expect(store.adapterFor('AuthorizationCode').consume('code-1')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await store.accounts.findById(person.id)).toEqual(person);
    expect(await store.accounts.findByLookup('phone', person.lookups.phone)).toEqual(person);
    await store.accounts.insert(account(2)); // the schema was not re-created on reopen
  });

  it('creates cyberid.sqlite owner-only, in WAL mode', async () => {
    const file = path.join(dataDir, 'cyberid.sqlite');
    await store.adapterFor('Session').upsert('s1', { kind: 'Session' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}-wal`)).toBe(true);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);

    await store.close();
    const db = new DatabaseSync(file);
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    } finally {
      db.close();
    }
    store = openSqliteStore(dataDir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('answers ping while open', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

// --- helpers ---

/** Fakes only `Date` (timers, ticks and microtasks stay real), frozen at `now` until jest.setSystemTime. */
function freezeTime(now: number): void {
  jest.useFakeTimers({
    now,
    doNotFake: [
      'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame',
      'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval',
      'setTimeout', 'clearTimeout',
    ],
  });
}

/** A payload that differs per model and id and exercises JSON fidelity (nesting, arrays, numbers, unicode). */
function samplePayload(model: string, id: string): AdapterPayload {
  return {
    jti: id,
    kind: model,
    accountId: `acct-of-${model}`,
    clientId: 'platform-a',
    grantId: `grant-of-${model}`,
    iat: 1_750_000_000,
    exp: 1_750_003_600,
    scope: 'openid profile',
    amr: ['pwd', 'otp'],
    extra: { model, nested: { list: [1, 2.5, null, true], note: 'Ünïcødé ✓' } },
  };
}

/** A distinct account: every id and hash carries `n`. */
function account(n: number): AccountRecord & { lookups: Record<keyof AccountLookups, string> } {
  return {
    id: `acct-${n}`,
    status: 'active',
    createdAt: 1_750_000_000_000 + n,
    guardianId: null,
    passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$salt${n}$hash${n}`,
    lookups: { networkNumber: `nn-hash-${n}`, phone: `phone-hash-${n}`, document: `doc-hash-${n}`, person: `person-hash-${n}` },
    sealed: `sealed-attributes-${n}`,
    passwordChangeRequired: false,
  };
}
