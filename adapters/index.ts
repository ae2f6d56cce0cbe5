// Picks the storage from configuration (DESIGN §5): the embedded SQLite file by default; REDIS_URL moves the
// short-lived artefacts to Redis; MONGODB_URI (with REDIS_URL) moves the durable data to MongoDB.
import type { Config } from '../server/config.ts';
import type { Logger } from '../server/logger.ts';
import { composeStore } from './compose.ts';
import { connectMongo, openMongoBackend } from './mongodb/index.ts';
import { openRedisBackend } from './redis/index.ts';
import { openSqliteBackend } from './sqlite/index.ts';
import type { DurableBackend, EphemeralBackend, Store } from './types.ts';

export async function openStore(config: Pick<Config, 'dataDir' | 'storage' | 'production'>, logger?: Logger): Promise<Store> {
  const { mongodb, redis } = config.storage;
  const embedded = mongodb && redis ? undefined : openSqliteBackend(config.dataDir);
  let durable: DurableBackend | undefined = embedded;
  try {
    if (mongodb) {
      const client = connectMongo(mongodb.uri);
      await client.connect();
      durable = await openMongoBackend(client.db(mongodb.database), client, { createIndexes: !config.production })
        .catch(async (error: unknown) => { await client.close(); throw error; });
    }
    let ephemeral: EphemeralBackend = embedded!;
    if (redis) {
      const backend = await openRedisBackend(redis, logger);
      if (!backend.connected) logger?.warn({ store: 'redis' }, 'Redis is not reachable yet; requests answer 503 until it is');
      ephemeral = backend;
    }
    return composeStore(durable!, ephemeral);
  } catch (error) {
    await durable?.close();
    if (embedded && embedded !== durable) await embedded.close();
    throw error;
  }
}

/** The embedded store alone (tools and tests that work on a data directory). */
export function openEmbeddedStore(dataDir: string): Store {
  const sqlite = openSqliteBackend(dataDir);
  return composeStore(sqlite, sqlite);
}
