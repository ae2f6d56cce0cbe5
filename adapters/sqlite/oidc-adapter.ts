// oidc-provider's Adapter over one SQLite table shared by every model. Expired rows are invisible at once
// and swept periodically. A bearer id (token, code, session id) is stored as its hash (adapters/bearer.ts).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { fromStoredPayload, storedId, toStoredPayload } from '../bearer.ts';
import { alreadyConsumed, GRANT_BOUND_MODELS } from '../models.ts';
import type { WriteBatch } from './write-batch.ts';
import type { GrantRevocation, OidcModelStore } from '../types.ts';

interface Row {
  payload: string;
  consumed_at: number | null;
}

const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

export class SqliteOidcStatements {
  readonly upsert: StatementSync;
  readonly find: StatementSync;
  readonly findByUid: StatementSync;
  readonly findByUserCode: StatementSync;
  readonly consume: StatementSync;
  readonly consumedGrant: StatementSync;
  readonly latestGrant: StatementSync;
  readonly grantsOf: StatementSync;
  readonly sessionsOf: StatementSync;
  readonly clients: StatementSync;
  readonly destroy: StatementSync;
  readonly revokeByGrantId: StatementSync;
  readonly sweep: StatementSync;

  constructor(db: DatabaseSync) {
    const live = '(expires_at IS NULL OR expires_at > :now)';
    this.upsert = db.prepare(`
      INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, account_id, client_id, expires_at, consumed_at, updated_at)
      VALUES (:model, :id, :payload, :grantId, :userCode, :uid, :accountId, :clientId, :expiresAt, :consumedAt, :now)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, client_id = excluded.client_id,
        expires_at = excluded.expires_at, consumed_at = excluded.consumed_at, updated_at = excluded.updated_at`);
    this.find = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = :model AND id = :id AND ${live}`);
    this.findByUid = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = :model AND uid = :uid AND ${live}`);
    this.findByUserCode = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = :model AND user_code = :userCode AND ${live}`);
    // Consuming only succeeds once: the losing side of a concurrent redemption changes no row.
    this.consume = db.prepare(`UPDATE oidc_models SET consumed_at = :now WHERE model = :model AND id = :id AND consumed_at IS NULL AND ${live}`);
    this.consumedGrant = db.prepare('SELECT grant_id FROM oidc_models WHERE model = :model AND id = :id AND consumed_at IS NOT NULL');
    this.latestGrant = db.prepare(`SELECT id FROM oidc_models WHERE model = 'Grant' AND account_id = :accountId AND client_id = :clientId AND ${live}
      ORDER BY updated_at DESC, rowid DESC LIMIT 1`);
    this.grantsOf = db.prepare(`SELECT id, client_id AS clientId FROM oidc_models WHERE model = 'Grant' AND account_id = :accountId AND ${live}`);
    this.sessionsOf = db.prepare(`SELECT id FROM oidc_models WHERE model = 'Session' AND account_id = :accountId AND ${live}`);
    this.clients = db.prepare(`SELECT payload FROM oidc_models WHERE model = 'Client' AND ${live} ORDER BY id`);
    this.destroy = db.prepare('DELETE FROM oidc_models WHERE model = :model AND id = :id');
    // Only the artefacts a grant issued; an Interaction also carries grantId but is not revoked with it.
    this.revokeByGrantId = db.prepare(`DELETE FROM oidc_models WHERE grant_id = :grantId AND model IN (${GRANT_BOUND_MODELS.map((m) => `'${m}'`).join(', ')})`);
    this.sweep = db.prepare('DELETE FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= :now');
  }
}

export class SqliteOidcModels implements OidcModelStore {
  readonly #sql: SqliteOidcStatements;

  readonly #batch: WriteBatch;

  constructor(statements: SqliteOidcStatements, batch: WriteBatch) {
    this.#sql = statements;
    this.#batch = batch;
  }

  adapter(model: string, grants: GrantRevocation): Adapter {
    return new SqliteOidcAdapter(model, this.#sql, this.#batch, grants);
  }

  /** In the group commit, after any token of the grant queued before it: none of them outlives the revocation. */
  async revokeGrantTokens(grantId: string): Promise<void> {
    await this.#batch.run(() => this.#sql.revokeByGrantId.run({ grantId }));
  }
}

class SqliteOidcAdapter implements Adapter {
  readonly #model: string;
  readonly #sql: SqliteOidcStatements;
  readonly #batch: WriteBatch;
  readonly #grants: GrantRevocation;

  constructor(model: string, statements: SqliteOidcStatements, batch: WriteBatch, grants: GrantRevocation) {
    this.#model = model;
    this.#sql = statements;
    this.#batch = batch;
    this.#grants = grants;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const row = {
      model: this.#model,
      id: storedId(this.#model, id),
      payload: JSON.stringify(toStoredPayload(this.#model, id, payload)),
      grantId: payload.grantId ?? null,
      userCode: payload.userCode ?? null,
      uid: payload.uid ?? null,
      accountId: payload.accountId ?? null,
      clientId: payload.clientId ?? null,
      expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null,
      // The payload is the whole truth on upsert, consumption included (as a reference adapter replaces the object).
      now: Date.now(),
      consumedAt: payload.consumed ? (typeof payload.consumed === 'number' ? payload.consumed * 1000 : Date.now()) : null,
    };
    await this.#batch.run(() => this.#sql.upsert.run(row));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#read(this.#sql.find.get({ model: this.#model, id: storedId(this.#model, id), now: Date.now() }), id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#read(this.#sql.findByUid.get({ model: this.#model, uid, now: Date.now() }));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#read(this.#sql.findByUserCode.get({ model: this.#model, userCode, now: Date.now() }));
  }

  /**
   * Consumes once. The loser of a concurrent redemption is treated as a replay, as oidc-provider treats a
   * sequential one: the grant and everything it issued are revoked, and the request fails with invalid_grant.
   * (The adapter does it because only here is the race visible.) Every backend does the same; see alreadyConsumed.
   */
  async consume(clearId: string): Promise<void> {
    const id = storedId(this.#model, clearId);
    const now = Date.now();
    const { changes } = await this.#batch.run(() => this.#sql.consume.run({ model: this.#model, id, now }));
    if (changes > 0) return;
    // No row changed: already consumed (or revoked/expired meanwhile, which must not succeed either).
    const consumed = this.#sql.consumedGrant.get({ model: this.#model, id }) as { grant_id: string | null } | undefined;
    if (consumed?.grant_id) await this.#grants.revokeGrant(consumed.grant_id);
    throw alreadyConsumed(this.#model);
  }

  async destroy(id: string): Promise<void> {
    await this.#batch.run(() => this.#sql.destroy.run({ model: this.#model, id: storedId(this.#model, id) }));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#grants.revokeTokens(grantId);
  }

  /** `id` is the clear id the caller gave find (put back as the payload's jti); unknown when found by uid or user code. */
  #read(row: unknown, id?: string): AdapterPayload | undefined {
    if (!row) return undefined;
    const { payload, consumed_at: consumedAt } = row as Row;
    const value = fromStoredPayload(this.#model, id, JSON.parse(payload) as AdapterPayload);
    return consumedAt === null ? value : { ...value, consumed: epochSeconds(consumedAt) };
  }
}
