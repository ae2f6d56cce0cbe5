// The embedded store's operator records: the append-only audit log and the signing-key generations.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { AuditFilter, AuditRecord, AuditRepository, SigningKeyGenerationRecord, SigningKeyRepository } from '../types.ts';

export class SqliteAudit implements AuditRepository {
  readonly #append: StatementSync;
  readonly #list: StatementSync;

  constructor(db: DatabaseSync) {
    this.#append = db.prepare('INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)');
    this.#list = db.prepare(`SELECT at, actor, action, target, detail FROM audit_log
      WHERE (:target IS NULL OR target = :target) AND (:before IS NULL OR at < :before) ORDER BY at DESC, id DESC LIMIT :limit`);
  }

  async append(record: AuditRecord): Promise<void> {
    this.#append.run(record.at, record.actor, record.action, record.target, JSON.stringify(record.detail));
  }

  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    const rows = this.#list.all({ target: filter.target ?? null, before: filter.before ?? null, limit: filter.limit }) as unknown as (Omit<AuditRecord, 'detail'> & { detail: string })[];
    return rows.map((row) => ({ ...row, detail: JSON.parse(row.detail) as Record<string, unknown> }));
  }
}

interface KeyRow {
  id: string;
  created_at: number;
  activates_at: number;
  withdrawn_at: number | null;
  public_keys: string;
  sealed: string;
}

export class SqliteSigningKeys implements SigningKeyRepository {
  readonly #list: StatementSync;
  readonly #insert: StatementSync;
  readonly #withdraw: StatementSync;
  readonly #remove: StatementSync;

  constructor(db: DatabaseSync) {
    this.#list = db.prepare('SELECT * FROM signing_keys ORDER BY activates_at, created_at');
    this.#insert = db.prepare(`INSERT INTO signing_keys (id, created_at, activates_at, withdrawn_at, public_keys, sealed)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`);
    this.#withdraw = db.prepare('UPDATE signing_keys SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL');
    this.#remove = db.prepare('DELETE FROM signing_keys WHERE id = ?');
  }

  async list(): Promise<SigningKeyGenerationRecord[]> {
    return (this.#list.all() as unknown as KeyRow[]).map((row) => ({
      id: row.id, createdAt: row.created_at, activatesAt: row.activates_at, withdrawnAt: row.withdrawn_at,
      publicKeys: JSON.parse(row.public_keys) as Record<string, string>[], sealed: row.sealed,
    }));
  }

  async insert(record: SigningKeyGenerationRecord): Promise<boolean> {
    const { changes } = this.#insert.run(record.id, record.createdAt, record.activatesAt, record.withdrawnAt, JSON.stringify(record.publicKeys), record.sealed);
    return Number(changes) === 1;
  }

  async withdraw(id: string, at: number): Promise<boolean> {
    return Number(this.#withdraw.run(at, id).changes) === 1;
  }

  async remove(id: string): Promise<void> {
    this.#remove.run(id);
  }
}
