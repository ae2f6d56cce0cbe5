// Operator records on MongoDB: the append-only audit log (the repository only inserts and reads; deploy.md says
// how to make the database refuse the rest) and the signing-key generations.
import type { Collection, Db } from 'mongodb';
import type { AuditFilter, AuditRecord, AuditRepository, SigningKeyGenerationRecord, SigningKeyRepository } from '../types.ts';
import { COLLECTIONS, DUPLICATE_KEY } from './schema.ts';

export class MongoAudit implements AuditRepository {
  readonly #entries: Collection<AuditRecord>;

  constructor(db: Db) {
    this.#entries = db.collection<AuditRecord>(COLLECTIONS.audit);
  }

  async append(record: AuditRecord): Promise<void> {
    await this.#entries.insertOne({ ...record });
  }

  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    const query = {
      ...(filter.target !== undefined ? { target: { $eq: filter.target } } : {}),
      ...(filter.before !== undefined ? { at: { $lt: filter.before } } : {}),
    };
    return this.#entries.find(query, { sort: { at: -1, _id: -1 }, limit: filter.limit, projection: { _id: 0 } }).toArray();
  }
}

type KeyDocument = Omit<SigningKeyGenerationRecord, 'id'> & { _id: string };

export class MongoSigningKeys implements SigningKeyRepository {
  readonly #generations: Collection<KeyDocument>;

  constructor(db: Db) {
    this.#generations = db.collection<KeyDocument>(COLLECTIONS.signingKeys);
  }

  async list(): Promise<SigningKeyGenerationRecord[]> {
    const documents = await this.#generations.find({}, { sort: { activatesAt: 1, createdAt: 1 } }).toArray();
    return documents.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
  }

  async insert({ id, ...rest }: SigningKeyGenerationRecord): Promise<boolean> {
    try {
      await this.#generations.insertOne({ _id: id, ...rest });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  async withdraw(id: string, at: number): Promise<boolean> {
    return (await this.#generations.updateOne({ _id: id, withdrawnAt: null }, { $set: { withdrawnAt: at } })).modifiedCount === 1;
  }

  async remove(id: string): Promise<void> {
    await this.#generations.deleteOne({ _id: id });
  }
}
