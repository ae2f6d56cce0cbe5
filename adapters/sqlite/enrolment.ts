// The embedded store's repositories for guardian requests, passkeys and short-lived values.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { GuardianRequestRepository, PasskeyRecord, PasskeyRepository, ShortLivedStore } from '../types.ts';

export class SqliteGuardianRequests implements GuardianRequestRepository {
  readonly #db: DatabaseSync;
  readonly #add: StatementSync;
  readonly #pendingFor: StatementSync;
  readonly #isPending: StatementSync;
  readonly #remove: StatementSync;
  readonly #removeAll: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#add = db.prepare('INSERT OR IGNORE INTO guardian_requests (minor_id, guardian_person_hash, created_at) VALUES (?, ?, ?)');
    this.#pendingFor = db.prepare('SELECT minor_id FROM guardian_requests WHERE guardian_person_hash = ? ORDER BY created_at');
    this.#isPending = db.prepare('SELECT 1 FROM guardian_requests WHERE minor_id = ? AND guardian_person_hash = ?');
    this.#remove = db.prepare('DELETE FROM guardian_requests WHERE minor_id = ? AND guardian_person_hash = ?');
    this.#removeAll = db.prepare('DELETE FROM guardian_requests WHERE minor_id = ?');
  }

  async add(minorId: string, guardianPersonHashes: string[]): Promise<void> {
    const now = Date.now();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const hash of guardianPersonHashes) this.#add.run(minorId, hash, now);
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async pendingFor(guardianPersonHash: string): Promise<string[]> {
    return (this.#pendingFor.all(guardianPersonHash) as { minor_id: string }[]).map((row) => row.minor_id);
  }

  async isPending(minorId: string, guardianPersonHash: string): Promise<boolean> {
    return this.#isPending.get(minorId, guardianPersonHash) !== undefined;
  }

  async remove(minorId: string, guardianPersonHash: string): Promise<void> {
    this.#remove.run(minorId, guardianPersonHash);
  }

  async removeAll(minorId: string): Promise<void> {
    this.#removeAll.run(minorId);
  }
}

interface PasskeyRow {
  id: string;
  account_id: string;
  public_key: string;
  counter: number;
  transports: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

function toPasskey(row: PasskeyRow): PasskeyRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    publicKey: row.public_key,
    counter: row.counter,
    transports: JSON.parse(row.transports) as string[],
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export class SqlitePasskeys implements PasskeyRepository {
  readonly #insert: StatementSync;
  readonly #findById: StatementSync;
  readonly #listByAccount: StatementSync;
  readonly #recordUse: StatementSync;
  readonly #rename: StatementSync;
  readonly #remove: StatementSync;
  readonly #removeAllOf: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`
      INSERT INTO passkeys (id, account_id, public_key, counter, transports, name, created_at, last_used_at)
      VALUES (:id, :accountId, :publicKey, :counter, :transports, :name, :createdAt, :lastUsedAt)`);
    this.#findById = db.prepare('SELECT * FROM passkeys WHERE id = ?');
    this.#listByAccount = db.prepare('SELECT * FROM passkeys WHERE account_id = ? ORDER BY created_at');
    this.#recordUse = db.prepare('UPDATE passkeys SET counter = ?, last_used_at = ? WHERE id = ?');
    this.#rename = db.prepare('UPDATE passkeys SET name = ? WHERE account_id = ? AND id = ?');
    this.#remove = db.prepare('DELETE FROM passkeys WHERE account_id = ? AND id = ?');
    this.#removeAllOf = db.prepare('DELETE FROM passkeys WHERE account_id = ?');
  }

  async insert(record: PasskeyRecord): Promise<void> {
    this.#insert.run({ ...record, transports: JSON.stringify(record.transports) });
  }

  async findById(id: string): Promise<PasskeyRecord | undefined> {
    const row = this.#findById.get(id) as PasskeyRow | undefined;
    return row && toPasskey(row);
  }

  async listByAccount(accountId: string): Promise<PasskeyRecord[]> {
    return (this.#listByAccount.all(accountId) as unknown as PasskeyRow[]).map(toPasskey);
  }

  async recordUse(id: string, counter: number, usedAt: number): Promise<void> {
    this.#recordUse.run(counter, usedAt, id);
  }

  async rename(accountId: string, id: string, name: string): Promise<boolean> {
    return Number(this.#rename.run(name, accountId, id).changes) === 1;
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    return Number(this.#remove.run(accountId, id).changes) === 1;
  }

  async removeAllOf(accountId: string): Promise<void> {
    this.#removeAllOf.run(accountId);
  }
}

/** Expired rows are invisible at once and removed by the store's periodic sweep. */
export class SqliteShortLived implements ShortLivedStore {
  readonly #get: StatementSync;
  readonly #set: StatementSync;
  readonly #delete: StatementSync;
  readonly #increment: StatementSync;
  readonly sweep: StatementSync;

  constructor(db: DatabaseSync) {
    this.#get = db.prepare('SELECT value FROM short_lived WHERE key = ? AND expires_at > ?');
    this.#set = db.prepare('INSERT OR REPLACE INTO short_lived (key, value, expires_at) VALUES (?, ?, ?)');
    this.#delete = db.prepare('DELETE FROM short_lived WHERE key = ? AND expires_at > ?');
    // An expired counter starts again from one with a fresh lifetime.
    this.#increment = db.prepare(`
      INSERT INTO short_lived (key, value, expires_at) VALUES (:key, '1', :expiresAt)
      ON CONFLICT (key) DO UPDATE SET
        value = CASE WHEN expires_at <= :now THEN '1' ELSE CAST(CAST(value AS INTEGER) + 1 AS TEXT) END,
        expires_at = CASE WHEN expires_at <= :now THEN :expiresAt ELSE expires_at END
      RETURNING value`);
    this.sweep = db.prepare('DELETE FROM short_lived WHERE expires_at <= ?');
  }

  async get<T>(key: string): Promise<T | undefined> {
    const row = this.#get.get(key, Date.now()) as { value: string } | undefined;
    return row && (JSON.parse(row.value) as T);
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#set.run(key, JSON.stringify(value), Date.now() + ttlSeconds * 1000);
  }

  async delete(key: string): Promise<boolean> {
    return this.#delete.run(key, Date.now()).changes === 1;
  }

  async increment(key: string, ttlSeconds: number): Promise<number> {
    const now = Date.now();
    const row = this.#increment.get({ key, now, expiresAt: now + ttlSeconds * 1000 }) as { value: string };
    return Number(row.value);
  }
}
