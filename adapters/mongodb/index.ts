// The durable backend on MongoDB: accounts, credentials, clients, grants, refresh tokens, the ledger and
// activity. Reads and writes fail fast (2 s to find a server) and become 503s while no server answers; the
// driver reconnects by itself.
import { MongoClient, MongoNetworkError, MongoNotConnectedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError, type Db } from 'mongodb';
import { guarded, type OutageTest } from '../outage.ts';
import { StoreSetupError, type DurableBackend } from '../types.ts';
import { MongoAccounts } from './accounts.ts';
import { MongoDisclosures, MongoSecurityEvents } from './history.ts';
import { MongoOidcModels } from './oidc-adapter.ts';
import { MongoAudit, MongoSigningKeys } from './operations.ts';
import { MongoGuardianRequests, MongoPasskeys, MongoPlatformApprovals } from './repositories.ts';
import { migrate, missingIndexes, rehashBearerValues } from './schema.ts';

/**
 * Server replies during an election or a shutdown: NotWritablePrimary, NotPrimaryNoSecondaryOk,
 * NotPrimaryOrSecondary, InterruptedDueToReplStateChange, PrimarySteppedDown, ShutdownInProgress,
 * InterruptedAtShutdown.
 */
const STATE_CHANGE_CODES = new Set([10107, 13435, 13436, 11602, 189, 91, 11600]);

/** The driver's errors that mean "no server to talk to now", as opposed to an error of the operation itself. */
export const mongoOutage: OutageTest = (error) => error instanceof MongoNetworkError // pool cleared and timeouts included
  || error instanceof MongoServerSelectionError || error instanceof MongoNotConnectedError || error instanceof MongoTopologyClosedError
  || (error instanceof MongoServerError && (STATE_CHANGE_CODES.has(Number(error.code)) || error.hasErrorLabel('RetryableWriteError')));

export function connectMongo(uri: string): MongoClient {
  return new MongoClient(uri, {
    serverSelectionTimeoutMS: 2_000,
    connectTimeoutMS: 2_000,
    // An operation on a connection that stops answering (a network cut) fails instead of waiting for the next heartbeat.
    socketTimeoutMS: 5_000,
    // Acknowledged means on a majority, journaled: an enrolment or a grant survives losing any one member.
    writeConcern: { w: 'majority', journal: true },
    // Payloads are stored as given: a field that is undefined is left out, not turned into null.
    ignoreUndefined: true,
    appName: 'cyberid',
  });
}

const WRITABLE_TOPOLOGIES = new Set(['Single', 'ReplicaSetWithPrimary', 'Sharded', 'LoadBalanced']);

/**
 * The backend over a database. `createIndexes` (development, tests) creates what is missing; otherwise (production)
 * a missing index refuses start-up with the command that creates them.
 */
export async function openMongoBackend(db: Db, client: { close(): Promise<void> }, options: { createIndexes: boolean }): Promise<DurableBackend> {
  if (options.createIndexes) {
    await migrate(db);
    // Development and tests: documents from before bearer values were hashed are rehashed here too.
    await rehashBearerValues(db);
  }
  else {
    const missing = await missingIndexes(db);
    if (missing.length) throw new StoreSetupError(`MongoDB lacks ${missing.length} indexes (${missing.slice(0, 3).join(', ')}…); run \`npm run migrate\` first`);
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
    audit: safe(new MongoAudit(db)),
    signingKeys: safe(new MongoSigningKeys(db)),
    latestGrantId: safeModels.latestGrantId,
    grantsOf: safeModels.grantsOf,
    listClients: safeModels.listClients,
    available: () => writable,
    async ping() {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
}
