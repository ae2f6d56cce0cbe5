// Every storage configuration the provider supports, for suites that run the same cases against each: the
// embedded SQLite file, SQLite with Redis, and MongoDB with Redis (a single server and a one-node Cluster).
// MongoDB is a real server when MONGODB_URI is set, otherwise the in-process stand-in, and the name says which.
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { composeStore } from '../../adapters/compose.ts';
import { connectMongo, openMongoBackend } from '../../adapters/mongodb/index.ts';
import { openRedisBackend } from '../../adapters/redis/index.ts';
import { openSqliteBackend } from '../../adapters/sqlite/index.ts';
import type { DurableBackend, EphemeralBackend, Store } from '../../adapters/types.ts';
import { mongoStandIn } from './mongo-stand-in.ts';
import type { RedisServer } from './redis.ts';
import { removeDataDir, tempDataDir } from './server.ts';

export const REAL_MONGODB = process.env.MONGODB_URI;
export const MONGODB_LABEL = REAL_MONGODB ? 'mongodb' : 'mongodb stand-in';

/** One backend's data for one test: open() may be called again after close() and sees the same data. */
export interface BackendFixture {
  open(): Promise<Store>;
  dispose(): Promise<void>;
  /** The Redis server holding the short-lived data, if any (tests inspect its keys). */
  redisUrl?: string;
}

export interface BackendKind {
  name: string;
  fixture(): Promise<BackendFixture>;
}

export interface RedisServers {
  single: RedisServer;
  cluster: RedisServer;
}

export function backendKinds(redis: () => RedisServers): BackendKind[] {
  return [
    { name: 'sqlite', fixture: async () => sqliteWith(undefined) },
    { name: 'sqlite + redis', fixture: async () => sqliteWith(await redisPart(redis().single, false)) },
    { name: `${MONGODB_LABEL} + redis`, fixture: async () => mongoWith(await redisPart(redis().single, false)) },
    { name: `${MONGODB_LABEL} + redis cluster`, fixture: async () => mongoWith(await redisPart(redis().cluster, true)) },
  ];
}

interface RedisPart {
  url: string;
  open(): Promise<EphemeralBackend>;
}

/** Empties the server, then connects a fresh client per open(), with the provider's own connection settings. */
async function redisPart(server: RedisServer, cluster: boolean): Promise<RedisPart> {
  const admin = new Redis(server.url);
  await admin.flushall();
  admin.disconnect();
  return {
    url: server.url,
    async open() {
      const backend = await openRedisBackend({ url: server.url, cluster });
      if (!backend.connected) throw new Error(`Redis at ${server.url} did not become ready`);
      return backend;
    },
  };
}

function sqliteWith(redis: RedisPart | undefined): BackendFixture {
  const dataDir = tempDataDir();
  return {
    async open() {
      const sqlite = openSqliteBackend(dataDir);
      return composeStore(sqlite, redis ? await redis.open() : sqlite);
    },
    async dispose() {
      removeDataDir(dataDir);
    },
    ...(redis ? { redisUrl: redis.url } : {}),
  };
}

let databases = 0;

function mongoWith(redis: RedisPart): BackendFixture {
  if (REAL_MONGODB) {
    const name = `cyberid_test_${process.pid}_${databases += 1}`;
    return {
      async open() {
        const client = await connectMongo(REAL_MONGODB).connect();
        return composeStore(await openMongoBackend(client.db(name), client, { createIndexes: true }), await redis.open());
      },
      async dispose() {
        const client = await new MongoClient(REAL_MONGODB).connect();
        await client.db(name).dropDatabase();
        await client.close();
      },
      redisUrl: redis.url,
    };
  }
  const standIn = mongoStandIn();
  return {
    async open() {
      const durable: DurableBackend = await openMongoBackend(standIn.db as unknown as Db, standIn, { createIndexes: true });
      return composeStore(durable, await redis.open());
    },
    async dispose() {},
    redisUrl: redis.url,
  };
}
