// The Redis connection: a single server or a Redis Cluster, tuned to fail fast. Commands are never queued while
// the connection is down (a request answers 503 at once instead of hanging), and the client keeps reconnecting
// in the background, so service resumes by itself when Redis is back.
import { Cluster, Redis, ReplyError, type RedisOptions } from 'ioredis';
import type { OutageTest } from '../outage.ts';

export type RedisClient = Redis | Cluster;

/** Reconnect soon, then every 2 s at most, for as long as it takes. */
const reconnectDelay = (attempt: number) => Math.min(100 * attempt, 2_000);

const CONNECTION: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  enableAutoPipelining: true,
  retryStrategy: reconnectDelay,
};

export function connectRedis(url: string, cluster: boolean): RedisClient {
  if (!cluster) return new Redis(url, CONNECTION);
  const { hostname, port, username, password, protocol } = new URL(url);
  return new Cluster([{ host: hostname, port: Number(port || 6379) }], {
    enableOfflineQueue: false,
    // ioredis's cluster ready check is itself a command, which a disabled offline queue refuses; /readyz pings instead.
    enableReadyCheck: false,
    enableAutoPipelining: true,
    clusterRetryStrategy: reconnectDelay,
    redisOptions: {
      ...CONNECTION,
      ...(username ? { username: decodeURIComponent(username) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
      ...(protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
}

/** Resolves when the client is ready, or after `timeoutMs` (the caller goes on; requests answer 503 until then). */
export async function readyWithin(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

/** Replies that mean Redis cannot serve now (full, a replica after failover, loading, cluster down), not that the command is wrong. */
const UNAVAILABLE_REPLY = /^(OOM|READONLY|LOADING|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|NOREPLICAS|BUSY)\b/;

/**
 * An outage: a connection-level error (not a reply), or a reply saying Redis cannot serve now, including a
 * transaction aborted because of one.
 */
export function redisOutage(client: RedisClient): OutageTest {
  return (error) => {
    if (!(error instanceof Error)) return false;
    if (error instanceof ReplyError) {
      const replies = [error, ...((error as { previousErrors?: Error[] }).previousErrors ?? [])];
      return replies.some((reply) => UNAVAILABLE_REPLY.test(reply.message));
    }
    return client.status !== 'ready' || /timed out|ECONNRESET|ECONNREFUSED|EPIPE|Connection is closed|writeable|MaxRetries/i.test(`${error.name} ${error.message}`);
  };
}

/**
 * ioredis attaches the command and its arguments (keys, tokens, payloads) to a reply error: keep only the replies'
 * messages (a transaction's EXECABORT with the errors that caused it), never the commands.
 */
export function scrubRedisError(error: unknown): unknown {
  if (!(error instanceof Error) || !('command' in error || 'previousErrors' in error)) return error;
  const previous = (error as { previousErrors?: Error[] }).previousErrors ?? [];
  return new Error(`Redis replied: ${[error, ...previous].map((reply) => reply.message).join('; ')}`);
}
