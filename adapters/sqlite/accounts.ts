import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { DuplicateAccountError, type AccountLookups, type AccountRecord, type AccountRepository } from '../types.ts';

interface Row {
  id: string;
  status: AccountRecord['status'];
  created_at: number;
  guardian_id: string | null;
  password_hash: string;
  network_number_hash: string;
  phone_hash: string;
  document_hash: string;
  sealed: string;
}

const LOOKUP_COLUMNS: Record<keyof AccountLookups, keyof Row> = {
  networkNumber: 'network_number_hash',
  phone: 'phone_hash',
  document: 'document_hash',
};

function toRecord(row: Row): AccountRecord {
  return {
    id: row.id,
    status: row.status,
    createdAt: row.created_at,
    guardianId: row.guardian_id,
    passwordHash: row.password_hash,
    lookups: { networkNumber: row.network_number_hash, phone: row.phone_hash, document: row.document_hash },
    sealed: row.sealed,
  };
}

export class SqliteAccounts implements AccountRepository {
  readonly #insert: StatementSync;
  readonly #findById: StatementSync;
  readonly #findBy: Record<keyof AccountLookups, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`
      INSERT INTO accounts (id, status, created_at, guardian_id, password_hash, network_number_hash, phone_hash, document_hash, sealed)
      VALUES (:id, :status, :createdAt, :guardianId, :passwordHash, :networkNumber, :phone, :document, :sealed)`);
    this.#findById = db.prepare('SELECT * FROM accounts WHERE id = ?');
    this.#findBy = {
      networkNumber: db.prepare(`SELECT * FROM accounts WHERE ${LOOKUP_COLUMNS.networkNumber} = ?`),
      phone: db.prepare(`SELECT * FROM accounts WHERE ${LOOKUP_COLUMNS.phone} = ?`),
      document: db.prepare(`SELECT * FROM accounts WHERE ${LOOKUP_COLUMNS.document} = ?`),
    };
  }

  async insert(record: AccountRecord): Promise<void> {
    try {
      this.#insert.run({
        id: record.id,
        status: record.status,
        createdAt: record.createdAt,
        guardianId: record.guardianId,
        passwordHash: record.passwordHash,
        ...record.lookups,
        sealed: record.sealed,
      });
    } catch (error) {
      throw duplicateOr(error);
    }
  }

  async findById(id: string): Promise<AccountRecord | undefined> {
    const row = this.#findById.get(id) as Row | undefined;
    return row && toRecord(row);
  }

  async findByLookup(field: keyof AccountLookups, hash: string): Promise<AccountRecord | undefined> {
    const row = this.#findBy[field].get(hash) as Row | undefined;
    return row && toRecord(row);
  }
}

// SQLite extended result codes: a UNIQUE column, and the PRIMARY KEY (id).
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

/** Maps SQLite's UNIQUE violation to the repository's own error, naming the field. */
function duplicateOr(error: unknown): unknown {
  const { errcode, message } = error as { errcode?: number; message?: string };
  if (errcode === SQLITE_CONSTRAINT_PRIMARYKEY) return new DuplicateAccountError('id');
  if (errcode !== SQLITE_CONSTRAINT_UNIQUE || typeof message !== 'string') return error;
  const field = (Object.keys(LOOKUP_COLUMNS) as (keyof AccountLookups)[])
    .find((key) => message.includes(`accounts.${LOOKUP_COLUMNS[key]}`));
  return field ? new DuplicateAccountError(field) : error;
}
