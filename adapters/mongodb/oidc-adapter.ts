// oidc-provider's Adapter on MongoDB: one collection per model, the payload stored as a sub-document beside the
// fields it is looked up by. Expired documents are invisible at once (reads compare expiresAt with the provider's
// clock) and removed by the TTL index. It holds the durable models only (adapters/models.ts); short-lived ones are in
// Redis. Client ids must not contain dots: payloads use them as field names. A token's _id is its hash (adapters/bearer.ts).
import type { Db } from 'mongodb';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { fromStoredPayload, storedId, toStoredPayload } from '../bearer.ts';
import { alreadyConsumed, GRANT_BOUND_MODELS, SHORT_LIVED_MODELS } from '../models.ts';
import type { GrantReference, GrantRevocation, OidcModelStore } from '../types.ts';
import { modelCollection } from './schema.ts';

interface ModelDocument {
  _id: string;
  payload: AdapterPayload;
  grantId?: string;
  uid?: string;
  userCode?: string;
  accountId?: string;
  clientId?: string;
  expiresAt?: Date | null;
  /** Set by consume, or from the payload's `consumed` on upsert. */
  consumedAt?: Date | null;
  updatedAt: Date;
}

const DURABLE_GRANT_BOUND_MODELS = GRANT_BOUND_MODELS.filter((model) => !SHORT_LIVED_MODELS.has(model));

const live = () => ({ $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date() } }] });

export class MongoOidcModels implements OidcModelStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  adapter(model: string, grants: GrantRevocation): Adapter {
    return new MongoOidcAdapter(model, this.#db, grants);
  }

  /** The grant-bound models MongoDB holds (refresh tokens); the others live in Redis. */
  async revokeGrantTokens(grantId: string): Promise<void> {
    await Promise.all(DURABLE_GRANT_BOUND_MODELS.map((model) => this.#collection(model).deleteMany({ grantId })));
  }

  async latestGrantId(accountId: string, clientId: string): Promise<string | undefined> {
    const grant = await this.#collection('Grant').findOne({ accountId, clientId, ...live() }, { sort: { updatedAt: -1, _id: -1 }, projection: { _id: 1 } });
    return grant?._id;
  }

  async grantsOf(accountId: string): Promise<GrantReference[]> {
    const grants = await this.#collection('Grant').find({ accountId, ...live() }, { projection: { _id: 1, clientId: 1 } }).toArray();
    return grants.map((grant) => ({ id: grant._id, clientId: grant.clientId! }));
  }

  async listClients(): Promise<Record<string, unknown>[]> {
    const clients = await this.#collection('Client').find(live(), { sort: { _id: 1 }, projection: { payload: 1 } }).toArray();
    return clients.map((client) => client.payload as Record<string, unknown>);
  }

  #collection(model: string) {
    return this.#db.collection<ModelDocument>(modelCollection(model));
  }
}

class MongoOidcAdapter implements Adapter {
  readonly #model: string;
  readonly #collection;
  readonly #grants: GrantRevocation;

  constructor(model: string, db: Db, grants: GrantRevocation) {
    this.#model = model;
    this.#collection = db.collection<ModelDocument>(modelCollection(model));
    this.#grants = grants;
  }

  async upsert(clearId: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    // Bearer ids are stored by their hash (adapters/bearer.ts).
    const id = storedId(this.#model, clearId);
    const now = Date.now();
    // The payload is the whole truth on upsert, consumption included (as every backend replaces the object).
    const consumed = payload.consumed ? (typeof payload.consumed === 'number' ? payload.consumed * 1000 : now) : undefined;
    const document: ModelDocument = {
      _id: id,
      payload: toStoredPayload(this.#model, clearId, payload),
      ...(payload.grantId ? { grantId: payload.grantId } : {}),
      ...(payload.uid ? { uid: payload.uid } : {}),
      ...(payload.userCode ? { userCode: payload.userCode } : {}),
      ...(payload.accountId ? { accountId: payload.accountId } : {}),
      ...(payload.clientId ? { clientId: payload.clientId } : {}),
      ...(typeof expiresIn === 'number' ? { expiresAt: new Date(now + expiresIn * 1000) } : {}),
      ...(consumed !== undefined ? { consumedAt: new Date(consumed) } : {}),
      updatedAt: new Date(now),
    };
    await this.#collection.replaceOne({ _id: id }, document, { upsert: true });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#read(await this.#collection.findOne({ _id: storedId(this.#model, id) }), id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#read(await this.#collection.findOne({ uid, ...live() }));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#read(await this.#collection.findOne({ userCode, ...live() }));
  }

  /** Consumes once (one conditional update); the losing side of a race is a replay and revokes the grant. */
  async consume(clearId: string): Promise<void> {
    const id = storedId(this.#model, clearId);
    const { modifiedCount } = await this.#collection.updateOne({ _id: id, consumedAt: null, ...live() }, { $set: { consumedAt: new Date() } });
    if (modifiedCount === 1) return;
    const consumed = await this.#collection.findOne({ _id: id, consumedAt: { $ne: null } }, { projection: { grantId: 1 } });
    if (consumed?.grantId) await this.#grants.revokeGrant(consumed.grantId);
    throw alreadyConsumed(this.#model);
  }

  async destroy(id: string): Promise<void> {
    await this.#collection.deleteOne({ _id: storedId(this.#model, id) });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#grants.revokeTokens(grantId);
  }

  /** `clearId` (put back as the payload's jti) is unknown when found by uid or user code. */
  #read(document: ModelDocument | null, clearId?: string): AdapterPayload | undefined {
    if (!document || (document.expiresAt && document.expiresAt.getTime() <= Date.now())) return undefined;
    const payload = fromStoredPayload(this.#model, clearId, document.payload);
    return document.consumedAt ? { ...payload, consumed: Math.floor(document.consumedAt.getTime() / 1000) } : payload;
  }
}
