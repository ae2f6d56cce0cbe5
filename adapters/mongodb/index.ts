// The durable backend on MongoDB: accounts, credentials, clients, grants, refresh tokens, the ledger and
// activity. Reads and writes fail fast (2 s to find a server) and become 503s while no server answers; the
// driver reconnects by itself.
import { MongoClient, type Db } from 'mongodb';
import { guarded, type OutageTest } from '../outage.ts';
import type { DurableBackend } from '../types.ts';
import { MongoAccounts } from './accounts.ts';
import { MongoDisclosures, MongoSecurityEvents } from './history.ts';
import { MongoOidcModels } from './oidc-adapter.ts';
import { MongoGuardianRequests, MongoPasskeys, MongoPlatformApprovals } from './repositories.ts';
import { migrate, missingIndexes } from './schema.ts';

/** The driver's errors that mean "no server to talk to", as opposed to an error of the operation itself. */
const OUTAGE_ERRORS = new Set([
  'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoNotConnectedError', 'MongoTopologyClosedError',
]);

export const mongoOutage: OutageTest = (error) => error instanceof Error
  && (OUTAGE_ERRORS.has(error.name) || (error as { hasErrorLabel?: (label: string) => boolean }).hasErrorLabel?.('RetryableWriteError') === true);

export function connectMongo(uri: string): MongoClient {
  return new MongoClient(uri, {
    serverSelectionTimeoutMS: 2_000,
    connectTimeoutMS: 2_000,
    // Payloads are stored as given: a field that is undefined is left out, not turned into null.
    ignoreUndefined: true,
    appName: 'cyberid',
  });
}

const WRITABLE_TOPOLOGIES = new Set(['Single', 'ReplicaSetWithPrimary', 'Sharded', 'LoadBalanced']);

export class MissingIndexesError extends Error {}

/**
 * The backend over a database. `createIndexes` (development, tests) creates what is missing; otherwise (production)
 * a missing index refuses start-up with the command that creates them.
 */
export async function openMongoBackend(db: Db, client: { close(): Promise<void> }, options: { createIndexes: boolean }): Promise<DurableBackend> {
  if (options.createIndexes) await migrate(db);
  else {
    const missing = await missingIndexes(db);
    if (missing.length) throw new MissingIndexesError(`MongoDB lacks ${missing.length} indexes (${missing.slice(0, 3).join(', ')}…); run \`npm run migrate\` first`);
  }
  const safe = <T extends object>(target: T): T => guarded(target, 'mongodb', mongoOutage);
  const models = new MongoOidcModels(db);
  const safeModels = safe(models);
  // Writes need a primary (or a mongos): without one, requests are refused at once instead of waiting 2 s each.
  let writable = true;
  (client as Partial<Pick<MongoClient, 'on'>>).on?.('topologyDescriptionChanged', ({ newDescription }) => {
    writable = WRITABLE_TOPOLOGIES.has(newDescription.type) && newDescription.hasDataBearingServers;
  });
  return {
    kind: 'mongodb',
    models: {
      adapter: (model, grants) => safe(models.adapter(model, grants)),
      revokeGrantTokens: safeModels.revokeGrantTokens,
    },
    accounts: safe(new MongoAccounts(db)),
    guardianRequests: safe(new MongoGuardianRequests(db)),
    passkeys: safe(new MongoPasskeys(db)),
    platformApprovals: safe(new MongoPlatformApprovals(db)),
    disclosures: safe(new MongoDisclosures(db)),
    securityEvents: safe(new MongoSecurityEvents(db)),
    latestGrantId: safeModels.latestGrantId,
    grantsOf: safeModels.grantsOf,
    available: () => writable,
    async ping() {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
}
