// One-time values and counters on Redis, with Redis's own TTLs; rate limits through rate-limiter-flexible's
// Redis limiter. Each command touches one key (Cluster-safe).
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../../server/identity/throttle.ts';
import type { ShortLivedStore } from '../types.ts';
import type { RedisClient } from './client.ts';

const key = (name: string) => `cyberid:short:${name}`;

export class RedisShortLived implements ShortLivedStore {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  async get<T>(name: string): Promise<T | undefined> {
    const value = await this.#redis.get(key(name));
    return value === null ? undefined : (JSON.parse(value) as T);
  }

  async set(name: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.#redis.set(key(name), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlSeconds * 1000)));
  }

  async delete(name: string): Promise<boolean> {
    return (await this.#redis.del(key(name))) === 1;
  }

  async increment(name: string, ttlSeconds: number): Promise<number> {
    // One transaction on one key: the lifetime starts with the first increment and is never extended.
    const results = await this.#redis.multi().incr(key(name)).pexpire(key(name), ttlSeconds * 1000, 'NX').exec();
    const [error, count] = results?.[0] ?? [new Error('Redis transaction was discarded'), 0];
    if (error) throw error;
    return Number(count);
  }
}

export function redisRateLimiters(redis: RedisClient): RateLimiterFactory {
  return (options) => new RateLimiterRedis({
    ...options,
    keyPrefix: `cyberid:rl:${options.keyPrefix}`,
    storeClient: redis,
    // Fail fast (and so 503) instead of waiting for a connection that is down.
    rejectIfRedisNotReady: true,
  });
}
