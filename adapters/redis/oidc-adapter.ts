// oidc-provider's Adapter on Redis, for the short-lived models. Each object is one hash (payload, expiresAt,
// consumed) with the key's TTL; uid and user-code indexes, each grant's tokens and each account's sessions are
// separate keys (the last two sorted sets scored by expiry, pruned on every write, so they never outgrow what is
// live). Every command touches one key, so the same code runs on a Redis Cluster without hash tags; indexes are
// written before the object and outlive it by a minute, so a crash between the two leaves an index to nothing
// (ignored), never a token that revocation cannot find. Bearer ids (tokens, codes, session ids) appear in keys,
// index values and set members only as their hash (adapters/bearer.ts).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { fromStoredPayload, storedId, storedReference, toStoredPayload } from '../bearer.ts';
import { alreadyConsumed, isGrantBound } from '../models.ts';
import type { GrantRevocation, OidcModelStore } from '../types.ts';
import type { RedisClient } from './client.ts';

const PREFIX = 'cyberid:oidc';
const objectKey = (model: string, id: string) => `${PREFIX}:${model}:${id}`;
const indexKey = (model: string, index: 'uid' | 'userCode', value: string) => `${PREFIX}:${model}:${index}:${value}`;
const grantKey = (grantId: string) => `${PREFIX}:grant:${grantId}`;
const accountSessionsKey = (accountId: string) => `${PREFIX}:account-sessions:${accountId}`;

/**
 * Consumes once, atomically: 1 for the one caller that marked it, 0 when it was already consumed, -1 when it is
 * missing or expired. Expiry is judged by the provider's clock (ARGV[2]), as on every backend.
 */
const CONSUME_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local expiresAt = redis.call('HGET', KEYS[1], 'expiresAt')
if expiresAt and tonumber(expiresAt) <= tonumber(ARGV[2]) then return -1 end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`;

type WithConsume = RedisClient & { consumeOnce(key: string, consumedAt: number, now: number): Promise<number> };

export class RedisOidcModels implements OidcModelStore {
  readonly #redis: WithConsume;

  constructor(redis: RedisClient) {
    redis.defineCommand('consumeOnce', { numberOfKeys: 1, lua: CONSUME_SCRIPT });
    this.#redis = redis as WithConsume;
  }

  adapter(model: string, grants: GrantRevocation): Adapter {
    return new RedisOidcAdapter(model, this.#redis, grants);
  }

  async revokeGrantTokens(grantId: string): Promise<void> {
    const members = await this.#redis.zrange(grantKey(grantId), 0, -1);
    await Promise.all(members.map((key) => this.#redis.del(key)));
    await this.#redis.del(grantKey(grantId));
  }

  /** The live sessions of an account (a session destroyed at sign-out is checked for, not just expiry). */
  async sessionsOf(accountId: string): Promise<string[]> {
    const ids = await this.#redis.zrangebyscore(accountSessionsKey(accountId), Date.now(), '+inf');
    const live = await Promise.all(ids.map(async (id) => isLive(await this.#redis.hmget(objectKey('Session', id), 'payload', 'expiresAt'))));
    return ids.filter((_, i) => live[i]).map(storedReference);
  }
}

function isLive([payload, expiresAt]: (string | null)[]): boolean {
  return payload != null && (expiresAt == null || Number(expiresAt) > Date.now());
}

/** Index keys outlive their object a little, so an object is never findable while its index entry is already gone. */
const INDEX_SLACK_MS = 60_000;

class RedisOidcAdapter implements Adapter {
  readonly #model: string;
  readonly #redis: WithConsume;
  readonly #grants: GrantRevocation;

  constructor(model: string, redis: WithConsume, grants: GrantRevocation) {
    this.#model = model;
    this.#redis = redis;
    this.#grants = grants;
  }

  async upsert(clearId: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    // Bearer ids are keyed, indexed and listed by their hash (adapters/bearer.ts).
    const id = storedId(this.#model, clearId);
    const key = objectKey(this.#model, id);
    const ttlMs = typeof expiresIn === 'number' ? expiresIn * 1000 : undefined;
    if (ttlMs !== undefined && ttlMs <= 0) {
      await this.#redis.del(key); // expires now: nothing to keep
      return;
    }
    const expiresAt = ttlMs === undefined ? undefined : Date.now() + ttlMs;
    const indexes: Promise<unknown>[] = [];
    if (payload.grantId && isGrantBound(this.#model)) indexes.push(this.#addMember(grantKey(payload.grantId), key, expiresAt));
    if (this.#model === 'Session' && payload.accountId) indexes.push(this.#addMember(accountSessionsKey(payload.accountId), id, expiresAt));
    if (payload.uid) indexes.push(this.#setIndex(indexKey(this.#model, 'uid', payload.uid), id, ttlMs));
    if (payload.userCode) indexes.push(this.#setIndex(indexKey(this.#model, 'userCode', payload.userCode), id, ttlMs));
    await Promise.all(indexes);

    const fields: Record<string, string | number> = { payload: JSON.stringify(toStoredPayload(this.#model, clearId, payload)) };
    if (expiresAt !== undefined) fields.expiresAt = expiresAt;
    // The payload is the whole truth on upsert, consumption included (as the SQLite adapter replaces its row).
    if (payload.consumed) fields.consumed = typeof payload.consumed === 'number' ? payload.consumed : Math.floor(Date.now() / 1000);
    const transaction = this.#redis.multi().del(key).hset(key, fields);
    if (ttlMs !== undefined) transaction.pexpire(key, ttlMs);
    await execOrThrow(transaction.exec());
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#findStored(storedId(this.#model, id), id);
  }

  /** `clearId` (put back as the payload's jti) is unknown when found through an index. */
  async #findStored(id: string, clearId?: string): Promise<AdapterPayload | undefined> {
    const fields = await this.#redis.hgetall(objectKey(this.#model, id));
    if (!fields.payload || (fields.expiresAt && Number(fields.expiresAt) <= Date.now())) return undefined;
    const payload = fromStoredPayload(this.#model, clearId, JSON.parse(fields.payload) as AdapterPayload);
    return fields.consumed ? { ...payload, consumed: Number(fields.consumed) } : payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findByIndex('uid', uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findByIndex('userCode', userCode);
  }

  /** Consumes once; the losing side of a race is a replay and revokes the grant, as on every backend. */
  async consume(id: string): Promise<void> {
    const key = objectKey(this.#model, storedId(this.#model, id));
    const outcome = await this.#redis.consumeOnce(key, Math.floor(Date.now() / 1000), Date.now());
    if (outcome === 1) return;
    if (outcome === 0) {
      const payload = await this.#redis.hget(key, 'payload');
      const grantId = payload ? (JSON.parse(payload) as AdapterPayload).grantId : undefined;
      if (grantId) await this.#grants.revokeGrant(grantId);
    }
    throw alreadyConsumed(this.#model);
  }

  async destroy(id: string): Promise<void> {
    await this.#redis.del(objectKey(this.#model, storedId(this.#model, id)));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#grants.revokeTokens(grantId);
  }

  async #findByIndex(index: 'uid' | 'userCode', value: string): Promise<AdapterPayload | undefined> {
    const id = await this.#redis.get(indexKey(this.#model, index, value));
    const payload = id ? await this.#findStored(id) : undefined;
    // The index may outlive a re-upsert that changed the value; the object is the truth.
    return payload?.[index] === value ? payload : undefined;
  }

  /**
   * Adds to a sorted set scored by the member's expiry, drops members that have expired, and keeps the set as long
   * as its longest-lived member (forever if one has no expiry). One key, one transaction.
   */
  async #addMember(setKey: string, member: string, expiresAt: number | undefined): Promise<void> {
    const transaction = this.#redis.multi()
      .zadd(setKey, expiresAt ?? '+inf', member)
      .zremrangebyscore(setKey, '-inf', `(${Date.now()}`);
    if (expiresAt === undefined) transaction.persist(setKey);
    else {
      const ttlMs = expiresAt - Date.now() + INDEX_SLACK_MS;
      transaction.pexpire(setKey, ttlMs, 'NX').pexpire(setKey, ttlMs, 'GT');
    }
    await execOrThrow(transaction.exec());
  }

  async #setIndex(key: string, id: string, ttlMs: number | undefined): Promise<void> {
    if (ttlMs === undefined) await this.#redis.set(key, id);
    else await this.#redis.set(key, id, 'PX', ttlMs + INDEX_SLACK_MS);
  }
}

/** MULTI answers each command's error in its results instead of rejecting. */
async function execOrThrow(results: Promise<[Error | null, unknown][] | null>): Promise<void> {
  const answered = await results;
  if (!answered) throw new Error('Redis transaction was discarded');
  const failed = answered.find(([error]) => error);
  if (failed) throw failed[0];
}

