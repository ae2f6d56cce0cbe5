// Accounts on MongoDB: one document per account; the keyed lookup hashes are unique indexes.
import type { Collection, Db } from 'mongodb';
import { DuplicateAccountError, type AccountLookups, type AccountRecord, type AccountRepository } from '../types.ts';
import { COLLECTIONS, DUPLICATE_KEY } from './schema.ts';

type AccountDocument = Omit<AccountRecord, 'id'> & { _id: string };

const toDocument = ({ id, ...rest }: AccountRecord): AccountDocument => ({ _id: id, ...rest });
const toRecord = ({ _id, ...rest }: AccountDocument): AccountRecord => ({ id: _id, ...rest });

export class MongoAccounts implements AccountRepository {
  readonly #accounts: Collection<AccountDocument>;

  constructor(db: Db) {
    this.#accounts = db.collection<AccountDocument>(COLLECTIONS.accounts);
  }

  async insert(record: AccountRecord): Promise<void> {
    await this.#accounts.insertOne(toDocument(record)).catch(rethrowDuplicate);
  }

  async replace(record: AccountRecord): Promise<void> {
    const { matchedCount } = await this.#accounts.replaceOne({ _id: record.id }, toDocument(record)).catch(rethrowDuplicate);
    if (matchedCount !== 1) throw new Error(`account ${record.id} does not exist`);
  }

  async findById(id: string): Promise<AccountRecord | undefined> {
    const document = await this.#accounts.findOne({ _id: id });
    return document ? toRecord(document) : undefined;
  }

  async findByLookup(field: keyof AccountLookups, hash: string): Promise<AccountRecord | undefined> {
    // The $type condition lets MongoDB use the partial unique indexes (a query must imply an index's filter).
    const document = await this.#accounts.findOne({ [`lookups.${field}`]: { $eq: hash, $type: 'string' } });
    return document ? toRecord(document) : undefined;
  }

  async listByGuardian(guardianId: string): Promise<AccountRecord[]> {
    return (await this.#accounts.find({ guardianId: { $eq: guardianId, $type: 'string' } }, { sort: { createdAt: 1 } }).toArray()).map(toRecord);
  }
}

/** Maps MongoDB's duplicate-key error to the repository's own error, naming the field of the index. */
function rethrowDuplicate(error: unknown): never {
  const { code, keyPattern } = error as { code?: number; keyPattern?: Record<string, unknown> };
  if (code !== DUPLICATE_KEY) throw error;
  const [path] = Object.keys(keyPattern ?? {});
  if (path === '_id') throw new DuplicateAccountError('id');
  const field = path?.startsWith('lookups.') ? path.slice('lookups.'.length) as keyof AccountLookups : undefined;
  throw field ? new DuplicateAccountError(field) : error;
}
