// `npm run migrate`: prepares the configured durable store. For MongoDB it creates every collection's indexes
// (idempotent; production refuses to start without them, so serving traffic never builds an index). The embedded
// SQLite file migrates itself when opened, which this also does.
import { connectMongo } from '../adapters/mongodb/index.ts';
import { migrate } from '../adapters/mongodb/schema.ts';
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
    } finally {
      await client.close();
    }
  } else {
    await openSqliteBackend(config.dataDir).close();
    console.error(`embedded store in ${config.dataDir}: schema up to date`);
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
