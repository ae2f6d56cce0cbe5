// The short-lived backend on Redis: sessions, interactions, codes, PAR, replay detection, access tokens,
// one-time values and rate-limit counters, each with a TTL.
import { guarded } from '../outage.ts';
import type { EphemeralBackend } from '../types.ts';
import { connectRedis, readyWithin, redisOutage, type RedisClient } from './client.ts';
import { RedisOidcModels } from './oidc-adapter.ts';
import { redisRateLimiters, RedisShortLived } from './short-lived.ts';

export interface RedisSettings {
  url: string;
  /** `url` is one node of a Redis Cluster. */
  cluster: boolean;
}

/** Connects (waiting up to `readyTimeoutMs`; the backend is usable, answering 503s, even if Redis is not up yet). */
export async function openRedisBackend(settings: RedisSettings, readyTimeoutMs = 5_000): Promise<EphemeralBackend & { connected: boolean }> {
  const redis = connectRedis(settings.url, settings.cluster);
  // An 'error' event without a listener would crash the process; the outage shows as 503s and in /readyz instead.
  redis.on('error', () => {});
  const connected = await readyWithin(redis, readyTimeoutMs);
  return { ...redisBackend(redis), connected };
}

export function redisBackend(redis: RedisClient): EphemeralBackend {
  const isOutage = redisOutage(redis);
  const safe = <T extends object>(target: T): T => guarded(target, 'redis', isOutage);
  const models = new RedisOidcModels(redis);
  const safeModels = safe(models);
  const rateLimiter = redisRateLimiters(redis);
  return {
    kind: 'redis',
    models: {
      adapter: (model, grants) => safe(models.adapter(model, grants)),
      revokeGrantTokens: safeModels.revokeGrantTokens,
    },
    shortLived: safe(new RedisShortLived(redis)),
    rateLimiter: (options) => safe(rateLimiter(options)),
    sessionsOf: safeModels.sessionsOf,
    available: () => redis.status === 'ready',
    async ping() {
      await redis.ping();
    },
    async close() {
      redis.disconnect();
    },
  };
}
