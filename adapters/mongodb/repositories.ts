// Guardian requests, passkeys and guardians' platform approvals on MongoDB.
import type { Collection, Db } from 'mongodb';
import type {
  GuardianRequestRepository, PasskeyRecord, PasskeyRepository, PlatformApprovalRecord, PlatformApprovalRepository,
} from '../types.ts';
import { COLLECTIONS, DUPLICATE_KEY } from './schema.ts';

interface GuardianRequestDocument {
  minorId: string;
  guardianPersonHash: string;
  createdAt: number;
}

export class MongoGuardianRequests implements GuardianRequestRepository {
  readonly #requests: Collection<GuardianRequestDocument>;

  constructor(db: Db) {
    this.#requests = db.collection<GuardianRequestDocument>(COLLECTIONS.guardianRequests);
  }

  async add(minorId: string, guardianPersonHashes: string[]): Promise<void> {
    const createdAt = Date.now();
    await Promise.all(guardianPersonHashes.map((guardianPersonHash) => this.#requests.updateOne(
      { minorId, guardianPersonHash }, { $setOnInsert: { minorId, guardianPersonHash, createdAt } }, { upsert: true },
    ).catch(ignoreDuplicate)));
  }

  async pendingFor(guardianPersonHash: string): Promise<string[]> {
    const requests = await this.#requests.find({ guardianPersonHash }, { sort: { createdAt: 1 } }).toArray();
    return requests.map((request) => request.minorId);
  }

  async isPending(minorId: string, guardianPersonHash: string): Promise<boolean> {
    return (await this.#requests.findOne({ minorId, guardianPersonHash })) !== null;
  }

  async remove(minorId: string, guardianPersonHash: string): Promise<void> {
    await this.#requests.deleteOne({ minorId, guardianPersonHash });
  }

  async removeAll(minorId: string): Promise<void> {
    await this.#requests.deleteMany({ minorId });
  }
}

type PasskeyDocument = Omit<PasskeyRecord, 'id'> & { _id: string };
const toPasskey = ({ _id, ...rest }: PasskeyDocument): PasskeyRecord => ({ id: _id, ...rest });

export class MongoPasskeys implements PasskeyRepository {
  readonly #passkeys: Collection<PasskeyDocument>;

  constructor(db: Db) {
    this.#passkeys = db.collection<PasskeyDocument>(COLLECTIONS.passkeys);
  }

  async insert({ id, ...rest }: PasskeyRecord): Promise<void> {
    await this.#passkeys.insertOne({ _id: id, ...rest });
  }

  async findById(id: string): Promise<PasskeyRecord | undefined> {
    const document = await this.#passkeys.findOne({ _id: id });
    return document ? toPasskey(document) : undefined;
  }

  async listByAccount(accountId: string): Promise<PasskeyRecord[]> {
    return (await this.#passkeys.find({ accountId }, { sort: { createdAt: 1 } }).toArray()).map(toPasskey);
  }

  async recordUse(id: string, counter: number, usedAt: number): Promise<void> {
    await this.#passkeys.updateOne({ _id: id }, { $set: { counter, lastUsedAt: usedAt } });
  }

  async rename(accountId: string, id: string, name: string): Promise<boolean> {
    return (await this.#passkeys.updateOne({ _id: id, accountId }, { $set: { name } })).matchedCount === 1;
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    return (await this.#passkeys.deleteOne({ _id: id, accountId })).deletedCount === 1;
  }

  async removeAllOf(accountId: string): Promise<void> {
    await this.#passkeys.deleteMany({ accountId });
  }
}

export class MongoPlatformApprovals implements PlatformApprovalRepository {
  readonly #approvals: Collection<PlatformApprovalRecord>;

  constructor(db: Db) {
    this.#approvals = db.collection<PlatformApprovalRecord>(COLLECTIONS.platformApprovals);
  }

  async request(minorId: string, clientId: string, guardianId: string): Promise<PlatformApprovalRecord> {
    const pending: PlatformApprovalRecord = { minorId, clientId, guardianId, status: 'pending', requestedAt: Date.now(), decidedAt: null };
    await this.#approvals.updateOne({ minorId, clientId }, { $setOnInsert: pending }, { upsert: true }).catch(ignoreDuplicate);
    return (await this.find(minorId, clientId))!;
  }

  async find(minorId: string, clientId: string): Promise<PlatformApprovalRecord | undefined> {
    return (await this.#approvals.findOne({ minorId, clientId }, { projection: { _id: 0 } })) ?? undefined;
  }

  async pendingFor(guardianId: string): Promise<PlatformApprovalRecord[]> {
    return this.#approvals.find({ guardianId, status: 'pending' }, { sort: { requestedAt: 1 }, projection: { _id: 0 } }).toArray();
  }

  async listFor(minorId: string): Promise<PlatformApprovalRecord[]> {
    return this.#approvals.find({ minorId }, { sort: { requestedAt: 1 }, projection: { _id: 0 } }).toArray();
  }

  async decide(minorId: string, clientId: string, guardianId: string, status: 'approved' | 'declined'): Promise<boolean> {
    const { matchedCount } = await this.#approvals.updateOne({ minorId, clientId, guardianId }, { $set: { status, decidedAt: Date.now() } });
    return matchedCount === 1;
  }
}

/** Two concurrent upserts of the same new key: one inserts, the other hits the unique index; the record exists either way. */
function ignoreDuplicate(error: unknown): void {
  if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
}
