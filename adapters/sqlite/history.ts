// The embedded store's account history: the disclosure ledger and security activity. Both are append-only
// apart from retention and account deletion.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { WriteBatch } from './write-batch.ts';
import type { DisclosureFilter, DisclosureRecord, DisclosureRepository, PlatformUsage, SecurityEventRecord, SecurityEventRepository } from '../types.ts';

interface DisclosureRow {
  account_id: string;
  client_id: string;
  claims: string;
  acr: string | null;
  channel: DisclosureRecord['channel'];
  at: number;
}

export class SqliteDisclosures implements DisclosureRepository {
  readonly #add: StatementSync;
  readonly #list: StatementSync;
  readonly #usage: StatementSync;
  readonly #removeBefore: StatementSync;
  readonly #removeAllOf: StatementSync;
  readonly #batch: WriteBatch;

  constructor(db: DatabaseSync, batch: WriteBatch) {
    this.#batch = batch;
    this.#add = db.prepare('INSERT INTO disclosures (account_id, client_id, claims, acr, channel, at) VALUES (?, ?, ?, ?, ?, ?)');
    // Absent filters match everything: a NULL parameter switches its condition off.
    this.#list = db.prepare(`SELECT * FROM disclosures WHERE account_id = :accountId AND at >= :since
      AND (:clientId IS NULL OR client_id = :clientId) AND (:from IS NULL OR at >= :from) AND (:to IS NULL OR at < :to)
      ORDER BY at DESC, id DESC`);
    this.#usage = db.prepare(`SELECT client_id, MIN(at) AS first, MAX(at) AS last FROM disclosures
      WHERE account_id = ? AND at >= ? GROUP BY client_id`);
    this.#removeBefore = db.prepare('DELETE FROM disclosures WHERE at < ?');
    this.#removeAllOf = db.prepare('DELETE FROM disclosures WHERE account_id = ?');
  }

  async add(record: DisclosureRecord): Promise<void> {
    const claims = JSON.stringify(record.claims);
    await this.#batch.run(() => this.#add.run(record.accountId, record.clientId, claims, record.acr, record.channel, record.at));
  }

  async list(accountId: string, since: number, filter: DisclosureFilter): Promise<DisclosureRecord[]> {
    const rows = this.#list.all({ accountId, since, clientId: filter.clientId ?? null, from: filter.from ?? null, to: filter.to ?? null }) as unknown as DisclosureRow[];
    return rows.map((row) => ({
      accountId: row.account_id, clientId: row.client_id, claims: JSON.parse(row.claims) as string[], acr: row.acr, channel: row.channel, at: row.at,
    }));
  }

  async usage(accountId: string, since: number): Promise<PlatformUsage[]> {
    return (this.#usage.all(accountId, since) as { client_id: string; first: number; last: number }[])
      .map((row) => ({ clientId: row.client_id, first: row.first, last: row.last }));
  }

  async removeBefore(cutoff: number): Promise<number> {
    return Number(this.#removeBefore.run(cutoff).changes);
  }

  async removeAllOf(accountId: string): Promise<void> {
    this.#removeAllOf.run(accountId);
  }
}

export class SqliteSecurityEvents implements SecurityEventRepository {
  readonly #add: StatementSync;
  readonly #list: StatementSync;
  readonly #removeBefore: StatementSync;
  readonly #removeAllOf: StatementSync;

  constructor(db: DatabaseSync) {
    this.#add = db.prepare('INSERT INTO security_events (account_id, type, detail, at) VALUES (?, ?, ?, ?)');
    this.#list = db.prepare('SELECT * FROM security_events WHERE account_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?');
    this.#removeBefore = db.prepare('DELETE FROM security_events WHERE at < ?');
    this.#removeAllOf = db.prepare('DELETE FROM security_events WHERE account_id = ?');
  }

  async add(record: SecurityEventRecord): Promise<void> {
    this.#add.run(record.accountId, record.type, JSON.stringify(record.detail), record.at);
  }

  async list(accountId: string, since: number, limit: number): Promise<SecurityEventRecord[]> {
    const rows = this.#list.all(accountId, since, limit) as { account_id: string; type: string; detail: string; at: number }[];
    return rows.map((row) => ({ accountId: row.account_id, type: row.type, detail: JSON.parse(row.detail) as Record<string, string>, at: row.at }));
  }

  async removeBefore(cutoff: number): Promise<number> {
    return Number(this.#removeBefore.run(cutoff).changes);
  }

  async removeAllOf(accountId: string): Promise<void> {
    this.#removeAllOf.run(accountId);
  }
}
