import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { DuplicateAccountError, type AccountLookups, type AccountRecord, type AccountRepository } from '../types.ts';

interface Row {
  id: string;
  status: AccountRecord['status'];
  created_at: number;
  guardian_id: string | null;
  password_hash: string | null;
  network_number_hash: string | null;
  phone_hash: string | null;
  document_hash: string;
  person_hash: string;
  sealed: string | null;
  password_change_required: number;
}

const LOOKUP_COLUMNS: Record<keyof AccountLookups, keyof Row> = {
  networkNumber: 'network_number_hash',
  phone: 'phone_hash',
  document: 'document_hash',
  person: 'person_hash',
};

function toRecord(row: Row): AccountRecord {
  return {
    id: row.id,
    status: row.status,
    createdAt: row.created_at,
    guardianId: row.guardian_id,
    passwordHash: row.password_hash,
    lookups: { networkNumber: row.network_number_hash, phone: row.phone_hash, document: row.document_hash, person: row.person_hash },
    sealed: row.sealed,
    passwordChangeRequired: row.password_change_required === 1,
  };
}

function toParameters(record: AccountRecord) {
  return {
    id: record.id,
    status: record.status,
    createdAt: record.createdAt,
    guardianId: record.guardianId,
    passwordHash: record.passwordHash,
    ...record.lookups,
    sealed: record.sealed,
    passwordChangeRequired: record.passwordChangeRequired ? 1 : 0,
  };
}

export class SqliteAccounts implements AccountRepository {
  readonly #insert: StatementSync;
  readonly #replace: StatementSync;
  readonly #findById: StatementSync;
  readonly #findBy: Record<keyof AccountLookups, StatementSync>;
  readonly #listByGuardian: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`
      INSERT INTO accounts (id, status, created_at, guardian_id, password_hash, network_number_hash, phone_hash, document_hash, person_hash, sealed, password_change_required)
      VALUES (:id, :status, :createdAt, :guardianId, :passwordHash, :networkNumber, :phone, :document, :person, :sealed, :passwordChangeRequired)`);
    this.#replace = db.prepare(`
      UPDATE accounts SET status = :status, created_at = :createdAt, guardian_id = :guardianId, password_hash = :passwordHash,
        network_number_hash = :networkNumber, phone_hash = :phone, document_hash = :document, person_hash = :person, sealed = :sealed,
        password_change_required = :passwordChangeRequired
      WHERE id = :id`);
    this.#findById = db.prepare('SELECT * FROM accounts WHERE id = ?');
    const findBy = (column: keyof Row) => db.prepare(`SELECT * FROM accounts WHERE ${column} = ?`);
    this.#findBy = {
      networkNumber: findBy(LOOKUP_COLUMNS.networkNumber),
      phone: findBy(LOOKUP_COLUMNS.phone),
      document: findBy(LOOKUP_COLUMNS.document),
      person: findBy(LOOKUP_COLUMNS.person),
    };
    this.#listByGuardian = db.prepare('SELECT * FROM accounts WHERE guardian_id = ? ORDER BY created_at');
  }

  async insert(record: AccountRecord): Promise<void> {
    try {
      this.#insert.run(toParameters(record));
    } catch (error) {
      throw duplicateOr(error);
    }
  }

  async replace(record: AccountRecord): Promise<void> {
    try {
      const { changes } = this.#replace.run(toParameters(record));
      if (changes !== 1) throw new Error(`account ${record.id} does not exist`);
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

  async listByGuardian(guardianId: string): Promise<AccountRecord[]> {
    return (this.#listByGuardian.all(guardianId) as unknown as Row[]).map(toRecord);
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
