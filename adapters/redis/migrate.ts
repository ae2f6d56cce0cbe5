// Rehashes, in place, the bearer values Redis held in clear before they were stored by hash (adapters/bearer.ts):
// provider objects keyed by a token, code or session id, with their grant, account-session and uid indexes, and the
// portal's session and enrolment keys. Run by `npm run migrate`; idempotent (an object still carrying its clear id
// as `jti` has not been rehashed; a hashed key suffix is 43 characters), so it can be interrupted and run again.
// Every command touches one key, as the adapter's do (Redis Cluster: each master node is scanned).
import { Cluster } from 'ioredis';
import type { AdapterPayload } from 'oidc-provider';
import { BEARER_KEY_PREFIXES, bearerHash, HASH_LENGTH, isHashedModel, toStoredPayload } from '../bearer.ts';
import { isGrantBound } from '../models.ts';
import type { RedisClient } from './client.ts';

const OIDC_PREFIX = 'cyberid:oidc:';
const SHORT_PREFIX = 'cyberid:short:';

/** Returns how many keys it rehashed. */
export async function rehashRedisBearerValues(redis: RedisClient): Promise<number> {
  let count = 0;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', 'cyberid:*', 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        if (key.startsWith(OIDC_PREFIX) && await rehashObject(redis, key)) count += 1;
        else if (key.startsWith(SHORT_PREFIX) && await rehashShortLived(redis, key)) count += 1;
      }
    } while (cursor !== '0');
  }
  return count;
}

async function rehashObject(redis: RedisClient, key: string): Promise<boolean> {
  const [model, id, ...rest] = key.slice(OIDC_PREFIX.length).split(':');
  if (!model || !id || rest.length || !isHashedModel(model)) return false; // indexes, grant sets, Grant, Client…
  if ((await redis.type(key)) !== 'hash') return false;
  const fields = await redis.hgetall(key);
  if (!fields.payload) return false;
  const payload = JSON.parse(fields.payload) as AdapterPayload;
  if (payload.jti === undefined) return false; // already hashed
  const ttlMs = await redis.pttl(key);
  if (ttlMs === -2) return false; // expired meanwhile
  const hash = bearerHash(id);
  const hashedKey = `${OIDC_PREFIX}${model}:${hash}`;

  // New index entries first, old ones last, as the adapter orders its writes: a crash leaves an index entry to
  // nothing, never an object that revocation cannot find.
  const sets: [setKey: string, from: string, to: string][] = [];
  if (payload.grantId && isGrantBound(model)) sets.push([`${OIDC_PREFIX}grant:${payload.grantId}`, key, hashedKey]);
  if (model === 'Session' && payload.accountId) sets.push([`${OIDC_PREFIX}account-sessions:${payload.accountId}`, id, hash]);
  for (const [setKey, from, to] of sets) {
    const score = await redis.zscore(setKey, from);
    if (score !== null) await redis.zadd(setKey, score, to);
  }
  for (const index of ['uid', 'userCode'] as const) {
    const value = payload[index] as string | undefined;
    if (!value) continue;
    const indexKey = `${OIDC_PREFIX}${model}:${index}:${value}`;
    const indexTtl = await redis.pttl(indexKey);
    if ((await redis.get(indexKey)) !== id) continue;
    if (indexTtl > 0) await redis.set(indexKey, hash, 'PX', indexTtl);
    else await redis.set(indexKey, hash);
  }

  const transaction = redis.multi().del(hashedKey).hset(hashedKey, { ...fields, payload: JSON.stringify(toStoredPayload(model, id, payload)) });
  if (ttlMs > 0) transaction.pexpire(hashedKey, ttlMs);
  await transaction.exec();
  await redis.del(key);
  for (const [setKey, from] of sets) await redis.zrem(setKey, from);
  return true;
}

async function rehashShortLived(redis: RedisClient, key: string): Promise<boolean> {
  const name = key.slice(SHORT_PREFIX.length);
  const prefix = BEARER_KEY_PREFIXES.find((candidate) => name.startsWith(`${candidate}:`));
  if (!prefix) return false;
  const id = name.slice(prefix.length + 1);
  if (id.length === HASH_LENGTH) return false; // already hashed (the clear ids are 32 characters)
  const [value, ttlMs] = await Promise.all([redis.get(key), redis.pttl(key)]);
  if (value === null || ttlMs === -2) return false;
  const hashedKey = `${SHORT_PREFIX}${prefix}:${bearerHash(id)}`;
  if (ttlMs > 0) await redis.set(hashedKey, value, 'PX', ttlMs);
  else await redis.set(hashedKey, value);
  await redis.del(key);
  return true;
}
