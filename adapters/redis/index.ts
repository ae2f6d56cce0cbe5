// The short-lived backend on Redis: sessions, interactions, codes, PAR, replay detection, access tokens,
// one-time values and rate-limit counters, each with a TTL.
import type { Logger } from '../../server/logger.ts';
import { guarded } from '../outage.ts';
import { StoreSetupError, type EphemeralBackend } from '../types.ts';
import { connectRedis, readyWithin, redisOutage, scrubRedisError, type RedisClient } from './client.ts';
import { RedisOidcModels } from './oidc-adapter.ts';
import { redisRateLimiters, RedisShortLived } from './short-lived.ts';

export interface RedisSettings {
  url: string;
  /** `url` is one node of a Redis Cluster. */
  cluster: boolean;
}

/** PEXPIRE … NX / GT, which the adapter relies on, arrived in Redis 7.0. */
const MINIMUM_MAJOR_VERSION = 7;
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * Connects (waiting up to `readyTimeoutMs`; if Redis is not up yet the backend is still returned, and requests answer
 * 503 until it is). Refuses a Redis older than 7.0.
 */
export async function openRedisBackend(settings: RedisSettings, logger?: Logger, readyTimeoutMs = 5_000): Promise<EphemeralBackend & { connected: boolean }> {
  const redis = connectRedis(settings.url, settings.cluster);
  // Without a listener an 'error' event would crash the process. The outage shows as 503s and in /readyz; the log
  // says why (a refused connection, a wrong password), at most every 30 s, without the URL.
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    logger?.warn({ store: 'redis', reason: error.message }, 'Redis connection problem');
  });
  const connected = await readyWithin(redis, readyTimeoutMs);
  if (connected) {
    const version = /redis_version:(\d+)/.exec(await redis.info('server'))?.[1];
    if (Number(version) < MINIMUM_MAJOR_VERSION) {
      redis.disconnect();
      throw new StoreSetupError(`Redis ${MINIMUM_MAJOR_VERSION}.0 or newer is required (this server is ${version}.x)`);
    }
  }
  return { ...redisBackend(redis), connected };
}

export function redisBackend(redis: RedisClient): EphemeralBackend {
  const isOutage = redisOutage(redis);
  const safe = <T extends object>(target: T): T => guarded(target, 'redis', isOutage, scrubRedisError);
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
