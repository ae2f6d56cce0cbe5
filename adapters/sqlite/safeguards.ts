// The embedded store's repositories for guardians' platform approvals and for rate-limit counters.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { RateLimiterSQLite } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../../server/identity/throttle.ts';
import type { PlatformApprovalRecord, PlatformApprovalRepository } from '../types.ts';

interface ApprovalRow {
  minor_id: string;
  client_id: string;
  guardian_id: string;
  status: PlatformApprovalRecord['status'];
  requested_at: number;
  decided_at: number | null;
}

const toRecord = (row: ApprovalRow): PlatformApprovalRecord => ({
  minorId: row.minor_id,
  clientId: row.client_id,
  guardianId: row.guardian_id,
  status: row.status,
  requestedAt: row.requested_at,
  decidedAt: row.decided_at,
});

export class SqlitePlatformApprovals implements PlatformApprovalRepository {
  readonly #insert: StatementSync;
  readonly #find: StatementSync;
  readonly #pendingFor: StatementSync;
  readonly #listFor: StatementSync;
  readonly #decide: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`INSERT OR IGNORE INTO platform_approvals (minor_id, client_id, guardian_id, status, requested_at)
      VALUES (?, ?, ?, 'pending', ?)`);
    this.#find = db.prepare('SELECT * FROM platform_approvals WHERE minor_id = ? AND client_id = ?');
    this.#pendingFor = db.prepare("SELECT * FROM platform_approvals WHERE guardian_id = ? AND status = 'pending' ORDER BY requested_at");
    this.#listFor = db.prepare('SELECT * FROM platform_approvals WHERE minor_id = ? ORDER BY requested_at');
    this.#decide = db.prepare(`UPDATE platform_approvals SET status = ?, decided_at = ?
      WHERE minor_id = ? AND client_id = ? AND guardian_id = ?`);
  }

  async request(minorId: string, clientId: string, guardianId: string): Promise<PlatformApprovalRecord> {
    this.#insert.run(minorId, clientId, guardianId, Date.now());
    return (await this.find(minorId, clientId))!;
  }

  async find(minorId: string, clientId: string): Promise<PlatformApprovalRecord | undefined> {
    const row = this.#find.get(minorId, clientId) as ApprovalRow | undefined;
    return row && toRecord(row);
  }

  async pendingFor(guardianId: string): Promise<PlatformApprovalRecord[]> {
    return (this.#pendingFor.all(guardianId) as unknown as ApprovalRow[]).map(toRecord);
  }

  async listFor(minorId: string): Promise<PlatformApprovalRecord[]> {
    return (this.#listFor.all(minorId) as unknown as ApprovalRow[]).map(toRecord);
  }

  async decide(minorId: string, clientId: string, guardianId: string, status: 'approved' | 'declined'): Promise<boolean> {
    return Number(this.#decide.run(status, Date.now(), minorId, clientId, guardianId).changes) === 1;
  }
}

/**
 * rate-limiter-flexible's SQLite limiter on node:sqlite. node:sqlite's statements have better-sqlite3's
 * shape; the limiter's only other call, transaction(), wraps a single upsert statement, which SQLite
 * already runs atomically.
 */
export function sqliteRateLimiters(db: DatabaseSync): RateLimiterFactory {
  // The limiter asks for its statements on every call; compiling them once saves a parse per request.
  const statements = new Map<string, StatementSync>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, statement = db.prepare(sql));
    return statement;
  };
  const storeClient = { prepare, transaction: <T>(run: () => T) => run };
  return (options) => new RateLimiterSQLite({ ...options, storeClient, storeType: 'better-sqlite3', tableName: 'rate_limits', tableCreated: true });
}
