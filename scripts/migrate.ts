// `npm run migrate`: prepares the configured durable store. For MongoDB it creates every collection's indexes
// (idempotent; production refuses to start without them, so serving traffic never builds an index). The embedded
// SQLite file migrates itself when opened, which this also does. Bearer values stored in clear by an earlier version
// are rehashed in place on every backend (adapters/bearer.ts): in SQLite when the file is opened, in MongoDB and
// Redis here, so the codes, tokens and sessions issued before keep working.
import { connectMongo } from '../adapters/mongodb/index.ts';
import { migrate, rehashBearerValues } from '../adapters/mongodb/schema.ts';
import { connectRedis, readyWithin } from '../adapters/redis/client.ts';
import { rehashRedisBearerValues } from '../adapters/redis/migrate.ts';
import { openSqliteBackend } from '../adapters/sqlite/index.ts';
import { ConfigError, loadConfig } from '../server/config.ts';

try {
  const config = loadConfig();
  const { mongodb } = config.storage;
  if (mongodb) {
    const client = connectMongo(mongodb.uri);
    try {
      await client.connect();
      const count = await migrate(client.db(mongodb.database));
      console.error(`MongoDB database "${mongodb.database}": ${count} indexes created or already present`);
      const rehashed = await rehashBearerValues(client.db(mongodb.database));
      console.error(`MongoDB database "${mongodb.database}": ${rehashed} tokens stored in clear rehashed`);
    } finally {
      await client.close();
    }
  } else {
    await openSqliteBackend(config.dataDir).close();
    console.error(`embedded store in ${config.dataDir}: schema up to date (bearer values stored by hash)`);
  }
  const { redis } = config.storage;
  if (redis) {
    const client = connectRedis(redis.url, redis.cluster);
    try {
      if (!await readyWithin(client, 10_000)) throw new Error('Redis is not reachable');
      const rehashed = await rehashRedisBearerValues(client);
      console.error(`Redis: ${rehashed} keys holding a bearer value in clear rehashed`);
    } finally {
      client.disconnect();
    }
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
