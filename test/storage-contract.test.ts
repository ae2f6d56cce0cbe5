// The storage contract: the same cases against every backend the provider supports (test/support/backends.ts):
// the embedded SQLite file, SQLite + Redis, and MongoDB + Redis (a single Redis and a one-node Redis Cluster).
// MongoDB is the in-process stand-in unless MONGODB_URI names a real server; the suite names say which. Redis is
// a real redis-server. Covered: every oidc-provider model round-trips, expiry, consume (50 concurrent consumers,
// exactly one wins), findByUid / findByUserCode, revokeByGrantId across both stores, the account repository,
// guardian requests, passkeys, platform approvals, the ledger and activity, one-time values, rate limits, and
// durability across a close and reopen. Time is controlled by faking only `Date`: every backend judges expiry of
// oidc-provider models by the provider's clock; one-time values use the store's own TTLs and are tested in real time.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { errors, type AdapterPayload } from 'oidc-provider';
import { bearerHash, HASHED_MODELS } from '../adapters/bearer.ts';
import { openEmbeddedStore } from '../adapters/index.ts';
import { DuplicateAccountError, type AccountLookups, type AccountRecord, type Store } from '../adapters/types.ts';
import { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import { openMongoBackend } from '../adapters/mongodb/index.ts';
import { migrate } from '../adapters/mongodb/schema.ts';
import { mongoStandIn } from './support/mongo-stand-in.ts';
import { backendKinds, MONGODB_LABEL, type BackendFixture, type RedisServers } from './support/backends.ts';
import { redisAvailable, startRedis } from './support/redis.ts';
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

const withRedis = redisAvailable('the Redis and MongoDB backends of the storage contract suite');
let servers: RedisServers | undefined;

beforeAll(async () => {
  if (!withRedis) return;
  console.error(`storage contract suite: MongoDB is ${MONGODB_LABEL === 'mongodb' ? 'a real server (MONGODB_URI)' : 'the in-process STAND-IN (set MONGODB_URI for a real server)'}`);
  servers = { single: await startRedis(), cluster: await startRedis({ cluster: true }) };
}, 30_000);

afterAll(async () => {
  await servers?.single.stop();
  await servers?.cluster.stop();
});

const kinds = backendKinds(() => servers!).filter((kind) => withRedis || kind.name === 'sqlite');

describe.each(kinds)('storage contract: $name', (kind) => {
  let fixture: BackendFixture;
  let store: Store;

  beforeEach(async () => {
    fixture = await kind.fixture();
    store = await fixture.open();
  });

  afterEach(async () => {
    jest.useRealTimers();
    await store.close();
    await fixture.dispose();
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
      await adapter.upsert('s1', { accountId: 'old', kind: 'Session', extra: { stale: true }, jti: 's1' }, 10);
      await adapter.upsert('s1', { accountId: 'new', kind: 'Session', jti: 's1' }, 100);
      jest.setSystemTime(T0 + 50_000);
      const found = await adapter.find('s1');
      expect(found).toEqual({ accountId: 'new', kind: 'Session', jti: 's1' });
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
      freezeTime(T0);
      await store.adapterFor('Grant').upsert('g-old', { kind: 'Grant', accountId: 'acct', clientId: 'client-x' }, 600);
      jest.setSystemTime(T0 + 1_000);
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
      // The session id is stored only as a hash: found by uid, the payload comes without it (jti), which no caller reads.
      expect(await store.adapterFor('Session').findByUid('uid-1')).toEqual({ ...payload, jti: undefined });
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
      // (find gives back the id it was asked for as jti, as oidc-provider stores it: the row holds only its hash.)
      expect(await store.adapterFor('Interaction').find('i1')).toEqual({ kind: 'Interaction', grantId: 'grant-1', jti: 'i1' });

      for (const model of grantModels) {
        expect(await store.adapterFor(model).find(`${model}-g1`)).toBeUndefined();
        expect(await store.adapterFor(model).find(`${model}-g2`)).toEqual({ kind: model, grantId: 'grant-2', jti: `${model}-g2` });
      }
      expect(await store.adapterFor('Session').find('s1')).toEqual({ kind: 'Session', uid: 'uid-1', jti: 's1' });
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

  describe('revocation across stores and account lookups', () => {
    it('revokeByGrantId through any one model reaches tokens in both stores (short-lived and durable)', async () => {
      for (const via of ['AccessToken', 'RefreshToken'] as const) {
        const grantId = `grant-via-${via}`;
        await store.adapterFor('Grant').upsert(grantId, { kind: 'Grant', accountId: 'a', clientId: 'c' }, 600);
        await store.adapterFor('AccessToken').upsert(`at-${via}`, { kind: 'AccessToken', grantId }, 600); // short-lived store
        await store.adapterFor('RefreshToken').upsert(`rt-${via}`, { kind: 'RefreshToken', grantId }, 600); // durable store
        await store.adapterFor('AuthorizationCode').upsert(`code-${via}`, { kind: 'AuthorizationCode', grantId }, 60);
        await store.adapterFor(via).revokeByGrantId(grantId);
        expect(await store.adapterFor('AccessToken').find(`at-${via}`)).toBeUndefined();
        expect(await store.adapterFor('RefreshToken').find(`rt-${via}`)).toBeUndefined();
        expect(await store.adapterFor('AuthorizationCode').find(`code-${via}`)).toBeUndefined();
        // The Grant itself is oidc-provider's to destroy; revokeByGrantId only takes what it issued.
        expect(await store.adapterFor('Grant').find(grantId)).toBeDefined();
      }
    });

    it('a replayed code revokes the refresh token in the other store too', async () => {
      await store.adapterFor('Grant').upsert('grant-x', { kind: 'Grant', accountId: 'a', clientId: 'c' }, 600);
      await store.adapterFor('AuthorizationCode').upsert('code-x', { kind: 'AuthorizationCode', grantId: 'grant-x' }, 60);
      await store.adapterFor('RefreshToken').upsert('rt-x', { kind: 'RefreshToken', grantId: 'grant-x' }, 600);
      await store.adapterFor('AuthorizationCode').consume('code-x');
      await expect(store.adapterFor('AuthorizationCode').consume('code-x')).rejects.toBeInstanceOf(errors.InvalidGrant);
      expect(await store.adapterFor('RefreshToken').find('rt-x')).toBeUndefined();
      expect(await store.adapterFor('Grant').find('grant-x')).toBeUndefined();
    });

    it('a second use of a pushed authorization request is invalid_request_uri', async () => {
      await store.adapterFor('PushedAuthorizationRequest').upsert('par-1', { kind: 'PushedAuthorizationRequest' }, 60);
      await store.adapterFor('PushedAuthorizationRequest').consume('par-1');
      await expect(store.adapterFor('PushedAuthorizationRequest').consume('par-1')).rejects.toBeInstanceOf(errors.InvalidRequestUri);
    });

    it('consuming what never existed or has expired fails without touching anything', async () => {
      freezeTime(T0);
      await expect(store.adapterFor('AuthorizationCode').consume('nothing')).rejects.toBeInstanceOf(errors.InvalidGrant);
      await store.adapterFor('AuthorizationCode').upsert('old', { kind: 'AuthorizationCode', grantId: 'g' }, 10);
      jest.setSystemTime(T0 + 10_001);
      await expect(store.adapterFor('AuthorizationCode').consume('old')).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it('lists an account\'s live grants and sessions, and nobody else\'s', async () => {
      freezeTime(T0);
      await store.adapterFor('Grant').upsert('g-a1', { kind: 'Grant', accountId: 'acct-a', clientId: 'c1' }, 600);
      await store.adapterFor('Grant').upsert('g-a2', { kind: 'Grant', accountId: 'acct-a', clientId: 'c2' }, 10);
      await store.adapterFor('Grant').upsert('g-b', { kind: 'Grant', accountId: 'acct-b', clientId: 'c1' }, 600);
      await store.adapterFor('Session').upsert('s-a1', { kind: 'Session', accountId: 'acct-a', uid: 'u1' }, 600);
      await store.adapterFor('Session').upsert('s-a2', { kind: 'Session', accountId: 'acct-a', uid: 'u2' }, 10);
      await store.adapterFor('Session').upsert('s-b', { kind: 'Session', accountId: 'acct-b', uid: 'u3' }, 600);
      expect((await store.grantsOf('acct-a')).toSorted(byId)).toEqual([{ id: 'g-a1', clientId: 'c1' }, { id: 'g-a2', clientId: 'c2' }]);
      // Session ids are bearer values stored as hashes: sessionsOf gives references that find and destroy accept.
      const uidsOf = async (accountId: string) => (await Promise.all((await store.sessionsOf(accountId))
        .map(async (reference) => (await store.adapterFor('Session').find(reference))?.uid as string))).toSorted();
      expect(await uidsOf('acct-a')).toEqual(['u1', 'u2']);
      expect((await store.sessionsOf('acct-a')).join()).not.toMatch(/s-a1|s-a2/);
      jest.setSystemTime(T0 + 10_001);
      expect(await store.grantsOf('acct-a')).toEqual([{ id: 'g-a1', clientId: 'c1' }]);
      expect(await uidsOf('acct-a')).toEqual(['u1']);
      const [reference] = await store.sessionsOf('acct-a');
      await store.adapterFor('Session').destroy(reference!);
      expect(await store.sessionsOf('acct-a')).toEqual([]);
      expect(await store.adapterFor('Session').find('s-a1')).toBeUndefined();
      expect(await uidsOf('acct-b')).toEqual(['u3']);
    });

    it('stores bearer ids only as hashes, and a stored hash does not work as an id', async () => {
      await store.adapterFor('AccessToken').upsert('at-secret-value', samplePayload('AccessToken', 'at-secret-value'), 600);
      await store.adapterFor('Session').upsert('session-secret-value', { kind: 'Session', accountId: 'acct-h', uid: 'u-h', jti: 'session-secret-value' }, 600);
      await store.adapterFor('Grant').upsert('grant-h', { kind: 'Grant', accountId: 'acct-h', clientId: 'c1', jti: 'grant-h' }, 600);
      expect(await store.adapterFor('AccessToken').find('at-secret-value')).toEqual(samplePayload('AccessToken', 'at-secret-value'));
      // A forged reference (someone who read the hash from the database) finds nothing.
      expect(await store.adapterFor('Session').find(`stored~${bearerHash('session-secret-value')}.forged`)).toBeUndefined();
      expect(await store.adapterFor('Session').find(bearerHash('session-secret-value'))).toBeUndefined();
      expect(await store.adapterFor('AccessToken').find(bearerHash('at-secret-value'))).toBeUndefined();
      for (const model of HASHED_MODELS) {
        const id = `secret-of-${model}`;
        await store.adapterFor(model).upsert(id, { kind: model, jti: id }, 600);
        expect(await store.adapterFor(model).find(id)).toEqual({ kind: model, jti: id });
        expect(await store.adapterFor(model).find(bearerHash(id))).toBeUndefined();
        await store.adapterFor(model).destroy(id);
        expect(await store.adapterFor(model).find(id)).toBeUndefined();
      }
      // Grants are not bearer values: found by their id, listed by their id.
      expect(await store.grantsOf('acct-h')).toEqual([{ id: 'grant-h', clientId: 'c1' }]);
    });

    it('an Interaction names its pushed request by hash, and gives back a reference the request\'s adapter finds and consumes', async () => {
      await store.adapterFor('PushedAuthorizationRequest').upsert('par-secret', { kind: 'PushedAuthorizationRequest', jti: 'par-secret', request: 'eyJ' }, 60);
      const returnTo = 'http://localhost/auth/uid-secret';
      await store.adapterFor('Interaction').upsert('uid-secret', {
        kind: 'Interaction', jti: 'uid-secret', returnTo, parJti: 'par-secret', session: { accountId: 'a', uid: 'su', cookie: 'session-cookie-secret' },
      }, 600);
      const interaction = (await store.adapterFor('Interaction').find('uid-secret'))!;
      expect(interaction).toMatchObject({ jti: 'uid-secret', returnTo, session: { accountId: 'a', uid: 'su' } });
      expect(JSON.stringify(interaction)).not.toMatch(/par-secret|session-cookie-secret/);
      const request = await store.adapterFor('PushedAuthorizationRequest').find(interaction.parJti as string);
      expect(request).toMatchObject({ request: 'eyJ', jti: interaction.parJti });
      await store.adapterFor('PushedAuthorizationRequest').consume(request!.jti!);
      expect(await store.adapterFor('PushedAuthorizationRequest').find('par-secret')).toMatchObject({ consumed: expect.any(Number) });
      // A reference saved again (a new Interaction of the same authorization) is stored as the same hash.
      await store.adapterFor('Interaction').upsert('uid-next', { kind: 'Interaction', jti: 'uid-next', parJti: interaction.parJti as string }, 600);
      const next = (await store.adapterFor('Interaction').find('uid-next'))!;
      expect((await store.adapterFor('PushedAuthorizationRequest').find(next.parJti as string))?.request).toBe('eyJ');
    });
  });

  describe('accounts repository: updates and guardians', () => {
    it('allows many accounts without a phone or network number (a child; a deleted account), but not two with the same one', async () => {
      const child1 = { ...account(1), lookups: { ...account(1).lookups, phone: null } };
      const child2 = { ...account(2), lookups: { ...account(2).lookups, phone: null, networkNumber: null } };
      const deleted = { ...account(3), status: 'deleted' as const, passwordHash: null, sealed: null, lookups: { ...account(3).lookups, phone: null, networkNumber: null } };
      for (const record of [child1, child2, deleted]) await store.accounts.insert(record);
      expect(await store.accounts.findById(deleted.id)).toEqual(deleted);
      expect(await store.accounts.findByLookup('phone', 'phone-hash-1')).toBeUndefined();
    });

    it('replace changes every field, and refuses a lookup hash taken by another account', async () => {
      const first = account(1);
      const second = account(2);
      await store.accounts.insert(first);
      await store.accounts.insert(second);
      const changed: AccountRecord = { ...first, status: 'suspended', passwordHash: 'new-hash', passwordChangeRequired: true, lookups: { ...first.lookups, phone: 'phone-hash-new' } };
      await store.accounts.replace(changed);
      expect(await store.accounts.findById(first.id)).toEqual(changed);
      expect(await store.accounts.findByLookup('phone', 'phone-hash-1')).toBeUndefined();
      expect(await store.accounts.findByLookup('phone', 'phone-hash-new')).toEqual(changed);

      const error = await store.accounts.replace({ ...changed, lookups: { ...changed.lookups, phone: second.lookups.phone } }).then(() => undefined, (reason: unknown) => reason);
      expect(error).toBeInstanceOf(DuplicateAccountError);
      expect((error as DuplicateAccountError).field).toBe('phone');
      expect(await store.accounts.findById(first.id)).toEqual(changed);
      await expect(store.accounts.replace(account(9))).rejects.toThrow(/does not exist/);
    });

    it('lists a guardian\'s minors, oldest first', async () => {
      const guardian = account(1);
      await store.accounts.insert(guardian);
      await store.accounts.insert({ ...account(3), createdAt: 3_000, guardianId: guardian.id });
      await store.accounts.insert({ ...account(2), createdAt: 2_000, guardianId: guardian.id });
      await store.accounts.insert({ ...account(4), guardianId: 'someone-else' });
      expect((await store.accounts.listByGuardian(guardian.id)).map((a) => a.id)).toEqual(['acct-2', 'acct-3']);
    });
  });

  describe('enrolment and safeguard repositories', () => {
    it('keeps guardian requests per minor and guardian, oldest first, without duplicates', async () => {
      freezeTime(T0);
      await store.guardianRequests.add('minor-2', ['mother', 'father']);
      jest.setSystemTime(T0 - 1_000);
      await store.guardianRequests.add('minor-1', ['mother']);
      await store.guardianRequests.add('minor-1', ['mother']);
      expect(await store.guardianRequests.pendingFor('mother')).toEqual(['minor-1', 'minor-2']);
      expect(await store.guardianRequests.isPending('minor-2', 'father')).toBe(true);
      await store.guardianRequests.remove('minor-2', 'father');
      expect(await store.guardianRequests.isPending('minor-2', 'father')).toBe(false);
      await store.guardianRequests.removeAll('minor-2');
      expect(await store.guardianRequests.pendingFor('mother')).toEqual(['minor-1']);
    });

    it('stores, uses, renames and removes passkeys of one account only', async () => {
      const passkey = { id: 'cred-1', accountId: 'acct-1', publicKey: 'pk', counter: 0, transports: ['internal', 'hybrid'], name: 'Phone', createdAt: 1, lastUsedAt: null };
      await store.passkeys.insert(passkey);
      await store.passkeys.insert({ ...passkey, id: 'cred-2', createdAt: 2, name: 'Laptop' });
      await store.passkeys.insert({ ...passkey, id: 'cred-3', accountId: 'acct-2' });
      expect(await store.passkeys.findById('cred-1')).toEqual(passkey);
      await store.passkeys.recordUse('cred-1', 7, 1_000);
      expect(await store.passkeys.findById('cred-1')).toMatchObject({ counter: 7, lastUsedAt: 1_000 });
      expect(await store.passkeys.rename('acct-2', 'cred-1', 'Stolen')).toBe(false);
      expect(await store.passkeys.rename('acct-1', 'cred-1', 'Old phone')).toBe(true);
      expect((await store.passkeys.listByAccount('acct-1')).map((p) => p.name)).toEqual(['Old phone', 'Laptop']);
      expect(await store.passkeys.remove('acct-2', 'cred-2')).toBe(false);
      expect(await store.passkeys.remove('acct-1', 'cred-2')).toBe(true);
      await store.passkeys.removeAllOf('acct-1');
      expect(await store.passkeys.listByAccount('acct-1')).toEqual([]);
      expect(await store.passkeys.listByAccount('acct-2')).toHaveLength(1);
    });

    it('records one platform approval per minor and platform, and the guardian\'s decisions', async () => {
      const first = await store.platformApprovals.request('minor', 'platform-d', 'guardian');
      expect(first).toMatchObject({ status: 'pending', decidedAt: null });
      expect(await store.platformApprovals.request('minor', 'platform-d', 'guardian')).toEqual(first);
      await store.platformApprovals.request('minor', 'platform-e', 'guardian');
      expect((await store.platformApprovals.pendingFor('guardian')).map((a) => a.clientId).toSorted()).toEqual(['platform-d', 'platform-e']);
      expect(await store.platformApprovals.decide('minor', 'platform-d', 'stranger', 'approved')).toBe(false);
      expect(await store.platformApprovals.decide('minor', 'platform-d', 'guardian', 'approved')).toBe(true);
      expect(await store.platformApprovals.find('minor', 'platform-d')).toMatchObject({ status: 'approved', decidedAt: expect.any(Number) });
      expect(await store.platformApprovals.decide('minor', 'platform-d', 'guardian', 'declined')).toBe(true);
      expect((await store.platformApprovals.listFor('minor')).map((a) => [a.clientId, a.status])).toEqual(expect.arrayContaining([['platform-d', 'declined'], ['platform-e', 'pending']]));
      expect(await store.platformApprovals.find('minor', 'platform-x')).toBeUndefined();
    });

    it('answers 20 concurrent requests for the same new approval with one record', async () => {
      const records = await Promise.all(Array.from({ length: 20 }, () => store.platformApprovals.request('minor', 'platform-d', 'guardian')));
      expect(new Set(records.map((r) => r.requestedAt)).size).toBe(1);
      expect(await store.platformApprovals.listFor('minor')).toHaveLength(1);
    });
  });

  describe('the disclosure ledger and security activity', () => {
    const entry = (clientId: string, at: number, claims = ['sub', 'name']) => ({ accountId: 'acct-1', clientId, claims, acr: 'cyberid:loa2', channel: 'id_token' as const, at });

    it('lists newest first with filters, sums up per platform, and honours the retention cut-off', async () => {
      await store.disclosures.add(entry('a', 1_000));
      await store.disclosures.add(entry('b', 2_000, ['sub']));
      await store.disclosures.add(entry('a', 3_000));
      await store.disclosures.add(entry('a', 3_000, ['sub', 'phone_number']));
      await store.disclosures.add({ ...entry('a', 5_000), accountId: 'acct-2' });
      expect((await store.disclosures.list('acct-1', 0, {})).map((e) => [e.clientId, e.at, e.claims.length])).toEqual([['a', 3_000, 2], ['a', 3_000, 2], ['b', 2_000, 1], ['a', 1_000, 2]]);
      expect((await store.disclosures.list('acct-1', 0, {}))[0]!.claims).toEqual(['sub', 'phone_number']); // same instant: the later entry first
      expect((await store.disclosures.list('acct-1', 0, { clientId: 'a', from: 1_500, to: 3_000 }))).toEqual([]);
      expect((await store.disclosures.list('acct-1', 0, { clientId: 'a', from: 1_000, to: 3_001 })).map((e) => e.at)).toEqual([3_000, 3_000, 1_000]);
      expect((await store.disclosures.list('acct-1', 2_000, {})).map((e) => e.at)).toEqual([3_000, 3_000, 2_000]);
      expect((await store.disclosures.usage('acct-1', 0)).toSorted((x, y) => x.clientId.localeCompare(y.clientId))).toEqual([
        { clientId: 'a', first: 1_000, last: 3_000 }, { clientId: 'b', first: 2_000, last: 2_000 },
      ]);
      expect(await store.disclosures.removeBefore(2_500)).toBe(2);
      await store.disclosures.removeAllOf('acct-1');
      expect(await store.disclosures.list('acct-1', 0, {})).toEqual([]);
      expect(await store.disclosures.list('acct-2', 0, {})).toHaveLength(1);
    });

    it('keeps security events newest first, limited, with their details', async () => {
      for (let at = 1; at <= 5; at += 1) await store.securityEvents.add({ accountId: 'acct-1', type: 'sign_in', detail: { method: 'pwd', n: String(at) }, at: at * 1_000 });
      await store.securityEvents.add({ accountId: 'acct-2', type: 'lock', detail: {}, at: 9_000 });
      expect((await store.securityEvents.list('acct-1', 2_000, 3)).map((e) => e.detail.n)).toEqual(['5', '4', '3']);
      expect(await store.securityEvents.removeBefore(3_000)).toBe(2);
      await store.securityEvents.removeAllOf('acct-1');
      expect(await store.securityEvents.list('acct-1', 0, 10)).toEqual([]);
      expect(await store.securityEvents.list('acct-2', 0, 10)).toEqual([{ accountId: 'acct-2', type: 'lock', detail: {}, at: 9_000 }]);
    });
  });

  describe('one-time values and rate limits', () => {
    it('sets, gets and deletes a value exactly once', async () => {
      await store.shortLived.set('enrolment:1', { step: 'face', nested: [1, 'two'] }, 60);
      expect(await store.shortLived.get('enrolment:1')).toEqual({ step: 'face', nested: [1, 'two'] });
      const deletions = await Promise.all(Array.from({ length: 20 }, () => store.shortLived.delete('enrolment:1')));
      expect(deletions.filter(Boolean)).toHaveLength(1);
      expect(await store.shortLived.get('enrolment:1')).toBeUndefined();
    });

    it('counts 30 concurrent increments exactly, and forgets values and counters after their lifetime (real time)', async () => {
      const counts = await Promise.all(Array.from({ length: 30 }, () => store.shortLived.increment('attempts', 1)));
      expect(counts.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      await store.shortLived.set('code', '123456', 1);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect(await store.shortLived.get('code')).toBeUndefined();
      expect(await store.shortLived.delete('code')).toBe(false);
      expect(await store.shortLived.increment('attempts', 1)).toBe(1);
    });

    it('shares rate-limit counters between limiters on the same store', async () => {
      const options = { keyPrefix: `contract-${Date.now()}`, points: 3, duration: 60 };
      const one = store.rateLimiter(options);
      const two = store.rateLimiter(options);
      await one.penalty('ip-1', 2);
      expect((await two.get('ip-1'))?.consumedPoints).toBe(2);
      await two.delete('ip-1');
      expect(await one.get('ip-1')).toBeNull();
    });
  });

  describe('operator records: clients, audit log and signing keys', () => {
    it('lists every registered client\'s stored metadata, live ones only, in id order', async () => {
      freezeTime(T0);
      const clients = store.adapterFor('Client');
      await clients.upsert('platform-b', { client_id: 'platform-b', client_name: 'B' });
      await clients.upsert('platform-a', { client_id: 'platform-a', client_name: 'A', cyberid_disabled: true });
      await clients.upsert('short-lived', { client_id: 'short-lived' }, 1);
      jest.setSystemTime(T0 + 5_000);
      expect(await store.listClients()).toEqual([
        { client_id: 'platform-a', client_name: 'A', cyberid_disabled: true },
        { client_id: 'platform-b', client_name: 'B' },
      ]);
    });

    it('appends audit entries and lists them newest first, by target, before a time and limited', async () => {
      for (const [at, target] of [[T0, 'a'], [T0 + 1, 'b'], [T0 + 2, 'a'], [T0 + 2, 'c']] as const) {
        await store.audit.append({ at, actor: 'cli:ops', action: 'client.update', target, detail: { fields: ['scope'] } });
      }
      expect((await store.audit.list({ limit: 10 })).map((e) => [e.at, e.target])).toEqual([[T0 + 2, 'c'], [T0 + 2, 'a'], [T0 + 1, 'b'], [T0, 'a']]);
      expect(await store.audit.list({ target: 'a', limit: 10 })).toEqual([
        { at: T0 + 2, actor: 'cli:ops', action: 'client.update', target: 'a', detail: { fields: ['scope'] } },
        { at: T0, actor: 'cli:ops', action: 'client.update', target: 'a', detail: { fields: ['scope'] } },
      ]);
      expect((await store.audit.list({ before: T0 + 2, limit: 10 })).map((e) => e.at)).toEqual([T0 + 1, T0]);
      expect(await store.audit.list({ limit: 1 })).toHaveLength(1);
    });

    it('stores signing-key generations once per id, in activation order, withdraws once and removes', async () => {
      const generation = (id: string, activatesAt: number) => ({ id, createdAt: T0, activatesAt, withdrawnAt: null, publicKeys: [{ kid: `${id}-es`, alg: 'ES256' }], sealed: `sealed-${id}` });
      expect(await store.signingKeys.insert(generation('later', T0 + 10))).toBe(true);
      expect(await store.signingKeys.insert(generation('first', T0))).toBe(true);
      expect(await store.signingKeys.insert({ ...generation('first', T0 + 99), sealed: 'another' })).toBe(false);
      expect(await store.signingKeys.list()).toEqual([generation('first', T0), generation('later', T0 + 10)]);
      expect(await store.signingKeys.withdraw('later', T0 + 20)).toBe(true);
      expect(await store.signingKeys.withdraw('later', T0 + 30)).toBe(false);
      expect((await store.signingKeys.list())[1]!.withdrawnAt).toBe(T0 + 20);
      await store.signingKeys.remove('later');
      expect((await store.signingKeys.list()).map((g) => g.id)).toEqual(['first']);
    });
  });

  describe('durability and readiness', () => {
    it('keeps oidc rows, consumption and accounts across a close and reopen', async () => {
      const client = samplePayload('Client', 'platform-a');
      await store.adapterFor('Client').upsert('platform-a', client);
      await store.adapterFor('RefreshToken').upsert('rt-1', samplePayload('RefreshToken', 'rt-1'), 3600);
      await store.adapterFor('AuthorizationCode').upsert('code-1', { kind: 'AuthorizationCode', grantId: 'g1' }, 600);
      await store.adapterFor('AuthorizationCode').consume('code-1');
      const person = account(1);
      await store.accounts.insert(person);

      await store.close();
      store = await fixture.open();

      expect(await store.adapterFor('Client').find('platform-a')).toEqual(client);
      expect(await store.adapterFor('RefreshToken').find('rt-1')).toEqual(samplePayload('RefreshToken', 'rt-1'));
      expect(await store.adapterFor('AuthorizationCode').find('code-1')).toMatchObject({ grantId: 'g1', consumed: expect.any(Number) });
      await expect(store.adapterFor('AuthorizationCode').consume('code-1')).rejects.toBeInstanceOf(errors.InvalidGrant);
      expect(await store.accounts.findById(person.id)).toEqual(person);
      expect(await store.accounts.findByLookup('phone', person.lookups.phone)).toEqual(person);
      await store.accounts.insert(account(2)); // the schema was not re-created on reopen
    });

    // Only where Redis holds the short-lived data (SQLite sweeps its own tables).
    if (kind.name.includes('redis')) it('leaves no Redis key without a lifetime', async () => {
      await store.adapterFor('Session').upsert('s1', { kind: 'Session', accountId: 'acct', uid: 'u1' }, 600);
      await store.adapterFor('Grant').upsert('g1', { kind: 'Grant', accountId: 'acct', clientId: 'c' }, 600);
      for (const model of ['AccessToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest', 'ClientCredentials'] as const) {
        await store.adapterFor(model).upsert(`${model}-1`, { kind: model, grantId: 'g1', userCode: `${model}-code` }, 600);
      }
      for (const model of ['Interaction', 'PushedAuthorizationRequest', 'ReplayDetection'] as const) await store.adapterFor(model).upsert(`${model}-1`, { kind: model }, 600);
      await store.adapterFor('AuthorizationCode').consume('AuthorizationCode-1');
      await store.shortLived.set('value', 1, 60);
      await store.shortLived.increment('counter', 60);
      await store.rateLimiter({ keyPrefix: 'ttl', points: 5, duration: 60 }).penalty('ip', 1);
      const redis = new Redis(fixture.redisUrl!);
      try {
        const keys = await redis.keys('*');
        expect(keys.length).toBeGreaterThan(15);
        const lifetimes = await Promise.all(keys.map(async (key) => [key, await redis.pttl(key)] as const));
        expect(lifetimes.filter(([, ttl]) => ttl <= 0)).toEqual([]);
      } finally {
        redis.disconnect();
      }
    });

    it('reports every backend up and available', async () => {
      expect(store.available()).toBe(true);
      const backends = await store.check();
      expect(backends.every((backend) => backend.up)).toBe(true);
      expect(backends.map((backend) => backend.kind).join('+')).toBe(store.kind);
    });
  });
});

describe(`${MONGODB_LABEL}: indexes`, () => {
  it('refuses to serve from a database without its indexes unless told to create them, then finds them all', async () => {
    const standIn = mongoStandIn();
    await expect(openMongoBackend(standIn.db as unknown as Db, standIn, { createIndexes: false })).rejects.toThrow(/lacks \d+ indexes .*npm run migrate/);
    expect(await migrate(standIn.db as unknown as Db)).toBeGreaterThan(15);
    const backend = await openMongoBackend(standIn.db as unknown as Db, standIn, { createIndexes: false });
    await backend.close();
  });
});

describe('the embedded file', () => {
  let dataDir: string;
  let store: Store;

  beforeEach(() => {
    dataDir = tempDataDir();
    store = openEmbeddedStore(dataDir);
  });

  afterEach(async () => {
    await store.close();
    removeDataDir(dataDir);
  });

  it('refuses to change or delete an audit entry, even through SQL', async () => {
    await store.audit.append({ at: T0, actor: 'cli:ops', action: 'client.add', target: 'a', detail: {} });
    await store.close();
    const db = new DatabaseSync(path.join(dataDir, 'cyberid.sqlite'));
    try {
      expect(() => db.exec("UPDATE audit_log SET actor = 'someone else'")).toThrow('the audit log is append-only');
      expect(() => db.exec('DELETE FROM audit_log')).toThrow('the audit log is append-only');
    } finally {
      db.close();
    }
    store = openEmbeddedStore(dataDir);
    expect(await store.audit.list({ limit: 10 })).toHaveLength(1);
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
    store = openEmbeddedStore(dataDir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
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

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
