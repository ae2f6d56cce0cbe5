// The MongoDB collections and their indexes: one collection per oidc-provider model and per repository.
// Creating indexes is a deliberate step (`npm run migrate`), not a side effect of serving traffic in production.
import type { Db, IndexDescription } from 'mongodb';
import type { AdapterPayload } from 'oidc-provider';
import { bearerHash, isHashedModel, toStoredPayload } from '../bearer.ts';

/** The oidc-provider models MongoDB holds: the durable ones (the short-lived ones are in Redis, adapters/models.ts). */
export const DURABLE_MODELS = ['Grant', 'RefreshToken', 'Client', 'RegistrationAccessToken', 'InitialAccessToken'] as const;

export const modelCollection = (model: string) => `oidc_${model}`;

export const COLLECTIONS = {
  accounts: 'accounts',
  guardianRequests: 'guardian_requests',
  passkeys: 'passkeys',
  platformApprovals: 'platform_approvals',
  disclosures: 'disclosures',
  securityEvents: 'security_events',
  audit: 'audit_log',
  signingKeys: 'signing_keys',
} as const;

export const DUPLICATE_KEY = 11000;

/**
 * Unique only where the field is a string: a deleted account or a child without a phone has null there. Queries
 * must repeat the `$type` condition, or MongoDB's planner cannot use a partial index (see accounts.ts).
 */
const uniqueWhenSet = (field: string): IndexDescription => ({
  key: { [field]: 1 }, name: `${field}_unique`, unique: true, partialFilterExpression: { [field]: { $type: 'string' } },
});

function modelIndexes(model: string): IndexDescription[] {
  // MongoDB's TTL monitor removes expired documents about once a minute; reads also compare expiresAt themselves.
  const indexes: IndexDescription[] = [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }];
  if (model === 'RefreshToken') indexes.push({ key: { grantId: 1 }, name: 'grantId' });
  if (model === 'Grant') indexes.push({ key: { accountId: 1, clientId: 1, updatedAt: -1, _id: -1 }, name: 'account_client_updated' });
  return indexes;
}

export const INDEXES: Record<string, IndexDescription[]> = {
  [COLLECTIONS.accounts]: [
    { key: { 'lookups.document': 1 }, name: 'lookups.document_unique', unique: true },
    { key: { 'lookups.person': 1 }, name: 'lookups.person_unique', unique: true },
    uniqueWhenSet('lookups.phone'),
    uniqueWhenSet('lookups.networkNumber'),
    { key: { guardianId: 1, createdAt: 1 }, name: 'guardian', partialFilterExpression: { guardianId: { $type: 'string' } } },
  ],
  [COLLECTIONS.guardianRequests]: [
    { key: { minorId: 1, guardianPersonHash: 1 }, name: 'minor_guardian_unique', unique: true },
    { key: { guardianPersonHash: 1, createdAt: 1 }, name: 'guardian_created' },
  ],
  [COLLECTIONS.passkeys]: [{ key: { accountId: 1, createdAt: 1 }, name: 'account_created' }],
  [COLLECTIONS.platformApprovals]: [
    { key: { minorId: 1, clientId: 1 }, name: 'minor_client_unique', unique: true },
    { key: { guardianId: 1, status: 1, requestedAt: 1 }, name: 'guardian_status_requested' },
  ],
  // Newest first with _id breaking ties, all from the index.
  [COLLECTIONS.disclosures]: [{ key: { accountId: 1, at: -1, _id: -1 }, name: 'account_at' }, { key: { at: 1 }, name: 'at' }],
  [COLLECTIONS.securityEvents]: [{ key: { accountId: 1, at: -1, _id: -1 }, name: 'account_at' }, { key: { at: 1 }, name: 'at' }],
  [COLLECTIONS.audit]: [{ key: { at: -1, _id: -1 }, name: 'at' }, { key: { target: 1, at: -1, _id: -1 }, name: 'target_at' }],
  [COLLECTIONS.signingKeys]: [{ key: { activatesAt: 1, createdAt: 1 }, name: 'activates_created' }],
  ...Object.fromEntries(DURABLE_MODELS.map((model) => [modelCollection(model), modelIndexes(model)])),
};

/** Creates every collection's indexes (idempotent); returns how many index specifications were applied. */
export async function migrate(db: Db): Promise<number> {
  let count = 0;
  for (const [collection, indexes] of Object.entries(INDEXES)) {
    await db.collection(collection).createIndexes(indexes);
    count += indexes.length;
  }
  return count;
}

/**
 * Bearer values (refresh, initial access and registration access tokens) were the _id of their documents until
 * they were stored by hash (adapters/bearer.ts). This rehashes, in place, the documents written before: each
 * is found by the clear id its payload still carries (`jti`, which hashed documents no longer have), so it is
 * idempotent and can be interrupted. Tokens issued before keep working. Returns how many documents it rehashed.
 */
export async function rehashBearerValues(db: Db): Promise<number> {
  let count = 0;
  for (const model of DURABLE_MODELS.filter(isHashedModel)) {
    const collection = db.collection<{ _id: string; payload: AdapterPayload }>(modelCollection(model));
    for (const document of await collection.find({ 'payload.jti': { $exists: true } }).toArray()) {
      const id = document._id;
      const hashed = { ...document, _id: bearerHash(id), payload: toStoredPayload(model, id, document.payload) };
      await collection.replaceOne({ _id: hashed._id }, hashed, { upsert: true });
      await collection.deleteOne({ _id: id });
      count += 1;
    }
  }
  return count;
}

/** The indexes `migrate` would create that the database lacks (production refuses to serve without them). */
export async function missingIndexes(db: Db): Promise<string[]> {
  const missing: string[] = [];
  for (const [collection, indexes] of Object.entries(INDEXES)) {
    const present = new Set((await db.collection(collection).listIndexes().toArray().catch(noCollection)).map((index) => index.name as string));
    for (const index of indexes) if (!present.has(index.name!)) missing.push(`${collection}.${index.name}`);
  }
  return missing;
}

const NAMESPACE_NOT_FOUND = 26;

/** A collection that does not exist yet has no indexes; any other failure (authentication, network) is not hidden. */
function noCollection(error: unknown): never[] {
  if ((error as { code?: number }).code === NAMESPACE_NOT_FOUND) return [];
  throw error;
}
