// The embedded store: everything in one SQLite file under the data directory. It is both the durable and the
// short-lived backend.
import { storedReference } from '../bearer.ts';
import type { DurableBackend, EphemeralBackend, GrantReference } from '../types.ts';
import { SqliteAccounts } from './accounts.ts';
import { openDatabase } from './database.ts';
import { SqliteGuardianRequests, SqlitePasskeys, SqliteShortLived } from './enrolment.ts';
import { SqliteDisclosures, SqliteSecurityEvents } from './history.ts';
import { SqliteOidcModels, SqliteOidcStatements } from './oidc-adapter.ts';
import { SqliteAudit, SqliteSigningKeys } from './operations.ts';
import { WriteBatch } from './write-batch.ts';
import { SqlitePlatformApprovals, sqliteRateLimiters } from './safeguards.ts';

const SWEEP_INTERVAL_MS = 60_000;

export function openSqliteBackend(dataDir: string): DurableBackend & EphemeralBackend {
  const db = openDatabase(dataDir);
  const batch = new WriteBatch(db);
  const statements = new SqliteOidcStatements(db);
  const shortLived = new SqliteShortLived(db);
  const sweepRateLimits = db.prepare('DELETE FROM rate_limits WHERE expire <= ?');
  const sweep = setInterval(() => {
    statements.sweep.run({ now: Date.now() });
    shortLived.sweep.run(Date.now());
    sweepRateLimits.run(Date.now());
  }, SWEEP_INTERVAL_MS);
  sweep.unref();
  return {
    kind: 'sqlite',
    models: new SqliteOidcModels(statements, batch),
    accounts: new SqliteAccounts(db),
    guardianRequests: new SqliteGuardianRequests(db),
    passkeys: new SqlitePasskeys(db),
    shortLived,
    platformApprovals: new SqlitePlatformApprovals(db),
    rateLimiter: sqliteRateLimiters(db),
    disclosures: new SqliteDisclosures(db, batch),
    securityEvents: new SqliteSecurityEvents(db),
    audit: new SqliteAudit(db),
    signingKeys: new SqliteSigningKeys(db),
    async latestGrantId(accountId, clientId) {
      return (statements.latestGrant.get({ accountId, clientId, now: Date.now() }) as { id: string } | undefined)?.id;
    },
    async grantsOf(accountId) {
      return statements.grantsOf.all({ accountId, now: Date.now() }) as unknown as GrantReference[];
    },
    async listClients() {
      return (statements.clients.all({ now: Date.now() }) as { payload: string }[]).map((row) => JSON.parse(row.payload) as Record<string, unknown>);
    },
    async sessionsOf(accountId) {
      return (statements.sessionsOf.all({ accountId, now: Date.now() }) as { id: string }[]).map((row) => storedReference(row.id));
    },
    // A file on the local disk: it is there or the process could not have started.
    available: () => db.isOpen,
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      clearInterval(sweep);
      batch.close();
      db.close();
    },
  };
}
