// The embedded store's file: one SQLite database in WAL mode, its schema kept by numbered migrations
// recorded in PRAGMA user_version.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { AdapterPayload } from 'oidc-provider';
import { BEARER_KEY_PREFIXES, bearerHash, HASH_LENGTH, HASHED_MODELS, toStoredPayload } from '../bearer.ts';

/** A migration is SQL, or a function for one that must compute (it runs inside the migration's transaction). */
const MIGRATIONS: (string | ((db: DatabaseSync) => void))[] = [
  `CREATE TABLE oidc_models (
     model       TEXT NOT NULL,
     id          TEXT NOT NULL,
     payload     TEXT NOT NULL,
     grant_id    TEXT,
     user_code   TEXT,
     uid         TEXT,
     account_id  TEXT,
     client_id   TEXT,
     expires_at  INTEGER,
     consumed_at INTEGER,
     updated_at  INTEGER NOT NULL,
     PRIMARY KEY (model, id)
   ) STRICT;
   CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
   CREATE INDEX oidc_models_uid ON oidc_models (model, uid) WHERE uid IS NOT NULL;
   CREATE INDEX oidc_models_user_code ON oidc_models (model, user_code) WHERE user_code IS NOT NULL;
   CREATE INDEX oidc_models_account_client ON oidc_models (model, account_id, client_id) WHERE account_id IS NOT NULL;
   CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;

   CREATE TABLE accounts (
     id                  TEXT PRIMARY KEY,
     status              TEXT NOT NULL,
     created_at          INTEGER NOT NULL,
     guardian_id         TEXT REFERENCES accounts (id),
     password_hash       TEXT NOT NULL,
     network_number_hash TEXT NOT NULL UNIQUE,
     phone_hash          TEXT NOT NULL UNIQUE,
     document_hash       TEXT NOT NULL UNIQUE,
     sealed              TEXT NOT NULL
   ) STRICT;`,

  // Enrolment: the person hash (one person, one account), nullable personal fields (a child without a
  // phone, erased on deletion), guardian requests, passkeys and short-lived values.
  `CREATE TABLE accounts_v2 (
     id                  TEXT PRIMARY KEY,
     status              TEXT NOT NULL,
     created_at          INTEGER NOT NULL,
     guardian_id         TEXT,
     password_hash       TEXT,
     network_number_hash TEXT UNIQUE,
     phone_hash          TEXT UNIQUE,
     document_hash       TEXT NOT NULL UNIQUE,
     person_hash         TEXT NOT NULL UNIQUE,
     sealed              TEXT
   ) STRICT;
   INSERT INTO accounts_v2 (id, status, created_at, guardian_id, password_hash, network_number_hash, phone_hash, document_hash, person_hash, sealed)
     SELECT id, status, created_at, guardian_id, password_hash, network_number_hash, phone_hash, document_hash, 'legacy:' || id, sealed FROM accounts;
   DROP TABLE accounts;
   ALTER TABLE accounts_v2 RENAME TO accounts;

   CREATE TABLE guardian_requests (
     minor_id             TEXT NOT NULL,
     guardian_person_hash TEXT NOT NULL,
     created_at           INTEGER NOT NULL,
     PRIMARY KEY (minor_id, guardian_person_hash)
   ) STRICT;
   CREATE INDEX guardian_requests_guardian ON guardian_requests (guardian_person_hash, created_at);

   CREATE TABLE passkeys (
     id           TEXT PRIMARY KEY,
     account_id   TEXT NOT NULL,
     public_key   TEXT NOT NULL,
     counter      INTEGER NOT NULL,
     transports   TEXT NOT NULL,
     name         TEXT NOT NULL,
     created_at   INTEGER NOT NULL,
     last_used_at INTEGER
   ) STRICT;
   CREATE INDEX passkeys_account ON passkeys (account_id);

   CREATE TABLE short_lived (
     key        TEXT PRIMARY KEY,
     value      TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX short_lived_expires_at ON short_lived (expires_at);`,

  // 3: rate-limit counters (the table rate-limiter-flexible's SQLite limiter expects) and guardians'
  // approvals of platforms for minors.
  `CREATE TABLE rate_limits (
     key    TEXT PRIMARY KEY,
     points INTEGER NOT NULL DEFAULT 0,
     expire INTEGER
   );
   CREATE INDEX rate_limits_expire ON rate_limits (expire);

   CREATE TABLE platform_approvals (
     minor_id     TEXT NOT NULL,
     client_id    TEXT NOT NULL,
     guardian_id  TEXT NOT NULL,
     status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined')),
     requested_at INTEGER NOT NULL,
     decided_at   INTEGER,
     PRIMARY KEY (minor_id, client_id)
   ) STRICT;
   CREATE INDEX platform_approvals_guardian ON platform_approvals (guardian_id, status, requested_at);`,

  // 4: the person's portal: the disclosure ledger, security activity, the "wasn't me" flag and a guardian's minors.
  `ALTER TABLE accounts ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX accounts_guardian ON accounts (guardian_id) WHERE guardian_id IS NOT NULL;

   CREATE TABLE disclosures (
     id         INTEGER PRIMARY KEY,
     account_id TEXT NOT NULL,
     client_id  TEXT NOT NULL,
     claims     TEXT NOT NULL,
     acr        TEXT,
     channel    TEXT NOT NULL CHECK (channel IN ('id_token', 'userinfo')),
     at         INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX disclosures_account ON disclosures (account_id, at);
   CREATE INDEX disclosures_at ON disclosures (at);

   CREATE TABLE security_events (
     id         INTEGER PRIMARY KEY,
     account_id TEXT NOT NULL,
     type       TEXT NOT NULL,
     detail     TEXT NOT NULL,
     at         INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX security_events_account ON security_events (account_id, at);
   CREATE INDEX security_events_at ON security_events (at);`,

  // 5: operators: the append-only audit log (triggers refuse UPDATE and DELETE) and the signing-key generations.
  `CREATE TABLE audit_log (
     id     INTEGER PRIMARY KEY,
     at     INTEGER NOT NULL,
     actor  TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     detail TEXT NOT NULL
   ) STRICT;
   CREATE INDEX audit_log_at ON audit_log (at);
   CREATE INDEX audit_log_target ON audit_log (target, at);
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

   CREATE TABLE signing_keys (
     id           TEXT PRIMARY KEY,
     created_at   INTEGER NOT NULL,
     activates_at INTEGER NOT NULL,
     withdrawn_at INTEGER,
     public_keys  TEXT NOT NULL,
     sealed       TEXT NOT NULL
   ) STRICT;`,
  rehashBearerValues,
];

/**
 * Bearer values were the keys of their rows until this migration; now only their hashes are (adapters/bearer.ts).
 * Rehashed in place, so every code, token and session issued before keeps working. The rows' old cells are zeroed
 * (secure_delete) and the WAL is truncated after the migration (openDatabase), so the file keeps no clear copy.
 */
function rehashBearerValues(db: DatabaseSync): void {
  const models = [...HASHED_MODELS];
  const rows = db.prepare(`SELECT model, id, payload FROM oidc_models WHERE model IN (${models.map(() => '?').join(', ')})`)
    .all(...models) as { model: string; id: string; payload: string }[];
  const update = db.prepare('UPDATE oidc_models SET id = :hash, payload = :payload WHERE model = :model AND id = :id');
  for (const { model, id, payload } of rows) {
    const value = JSON.parse(payload) as AdapterPayload;
    // oidc-provider always wrote the id as jti: a row without one is hashed already.
    if (value.jti === undefined) continue;
    update.run({ model, id, hash: bearerHash(id), payload: JSON.stringify(toStoredPayload(model, id, value)) });
  }
  const rename = db.prepare('UPDATE short_lived SET key = :hashed WHERE key = :key');
  for (const prefix of BEARER_KEY_PREFIXES) {
    const keys = db.prepare('SELECT key FROM short_lived WHERE key LIKE ?').all(`${prefix}:%`) as { key: string }[];
    for (const { key } of keys) {
      const id = key.slice(prefix.length + 1);
      if (id.length !== HASH_LENGTH) rename.run({ key, hashed: `${prefix}:${bearerHash(id)}` });
    }
  }
}

export function openDatabase(dataDir: string): DatabaseSync {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'cyberid.sqlite');
  // Owner-only, like the keys: SQLite gives its -wal and -shm files the database file's permissions.
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  // Reads through a memory map and a 64 MiB page cache: the protocol's rows are read many times a second.
  db.exec('PRAGMA mmap_size = 268435456; PRAGMA cache_size = -65536;');
  migrate(db);
  return db;
}

function migrate(db: DatabaseSync): void {
  const { user_version: current } = db.prepare('PRAGMA user_version').get() as { user_version: number };
  if (current >= MIGRATIONS.length) return;
  // What a migration replaces is zeroed, not left in free pages (clear bearer values before rehashBearerValues).
  db.exec('PRAGMA secure_delete = ON');
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Another process opening the file at the same time may have applied it meanwhile (a rehash must run once).
      const { user_version: now } = db.prepare('PRAGMA user_version').get() as { user_version: number };
      if (now > version) {
        db.exec('COMMIT');
        continue;
      }
      const migration = MIGRATIONS[version]!;
      if (typeof migration === 'string') db.exec(migration);
      else migration(db);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
  db.exec('PRAGMA secure_delete = OFF');
  // Pages written before the migration (clear values included) leave the WAL file.
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
}
