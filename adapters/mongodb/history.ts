// The disclosure ledger and security activity on MongoDB: append-only apart from retention and account deletion.
import type { Collection, Db, Filter } from 'mongodb';
import type {
  DisclosureFilter, DisclosureRecord, DisclosureRepository, PlatformUsage, SecurityEventRecord, SecurityEventRepository,
} from '../types.ts';
import { COLLECTIONS } from './schema.ts';

const NEWEST_FIRST = { at: -1, _id: -1 } as const;

export class MongoDisclosures implements DisclosureRepository {
  readonly #entries: Collection<DisclosureRecord>;

  constructor(db: Db) {
    this.#entries = db.collection<DisclosureRecord>(COLLECTIONS.disclosures);
  }

  async add(record: DisclosureRecord): Promise<void> {
    await this.#entries.insertOne({ ...record });
  }

  async list(accountId: string, since: number, filter: DisclosureFilter): Promise<DisclosureRecord[]> {
    const at: Record<string, number> = { $gte: Math.max(since, filter.from ?? since) };
    if (filter.to !== undefined) at.$lt = filter.to;
    const query: Filter<DisclosureRecord> = { accountId, at, ...(filter.clientId !== undefined ? { clientId: filter.clientId } : {}) };
    return this.#entries.find(query, { sort: NEWEST_FIRST, projection: { _id: 0 } }).toArray();
  }

  async usage(accountId: string, since: number): Promise<PlatformUsage[]> {
    const groups = await this.#entries.aggregate<{ _id: string; first: number; last: number }>([
      { $match: { accountId, at: { $gte: since } } },
      { $group: { _id: '$clientId', first: { $min: '$at' }, last: { $max: '$at' } } },
    ]).toArray();
    return groups.map((group) => ({ clientId: group._id, first: group.first, last: group.last }));
  }

  async removeBefore(cutoff: number): Promise<number> {
    return (await this.#entries.deleteMany({ at: { $lt: cutoff } })).deletedCount;
  }

  async removeAllOf(accountId: string): Promise<void> {
    await this.#entries.deleteMany({ accountId });
  }
}

export class MongoSecurityEvents implements SecurityEventRepository {
  readonly #events: Collection<SecurityEventRecord>;

  constructor(db: Db) {
    this.#events = db.collection<SecurityEventRecord>(COLLECTIONS.securityEvents);
  }

  async add(record: SecurityEventRecord): Promise<void> {
    await this.#events.insertOne({ ...record });
  }

  async list(accountId: string, since: number, limit: number): Promise<SecurityEventRecord[]> {
    return this.#events.find({ accountId, at: { $gte: since } }, { sort: NEWEST_FIRST, limit, projection: { _id: 0 } }).toArray();
  }

  async removeBefore(cutoff: number): Promise<number> {
    return (await this.#events.deleteMany({ at: { $lt: cutoff } })).deletedCount;
  }

  async removeAllOf(accountId: string): Promise<void> {
    await this.#events.deleteMany({ accountId });
  }
}
