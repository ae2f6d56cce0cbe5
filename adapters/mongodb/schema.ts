// The MongoDB collections and their indexes: one collection per oidc-provider model and per repository.
// Creating indexes is a deliberate step (`npm run migrate`), not a side effect of serving traffic in production.
import type { Db, IndexDescription } from 'mongodb';
import { isGrantBound } from '../models.ts';

/** oidc-provider's models (oidc-provider 9, the experimental PreAuthorizedCode included). */
export const OIDC_MODELS = [
  'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials', 'Client',
  'InitialAccessToken', 'RegistrationAccessToken', 'Interaction', 'ReplayDetection', 'PushedAuthorizationRequest',
  'Grant', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
] as const;

export const modelCollection = (model: string) => `oidc_${model}`;

export const COLLECTIONS = {
  accounts: 'accounts',
  guardianRequests: 'guardian_requests',
  passkeys: 'passkeys',
  platformApprovals: 'platform_approvals',
  disclosures: 'disclosures',
  securityEvents: 'security_events',
} as const;

/** Unique only where the field is a string: a deleted account or a child without a phone has null there. */
const uniqueWhenSet = (field: string): IndexDescription => ({
  key: { [field]: 1 }, name: `${field}_unique`, unique: true, partialFilterExpression: { [field]: { $type: 'string' } },
});

function modelIndexes(model: string): IndexDescription[] {
  // MongoDB's TTL monitor removes expired documents about once a minute; reads also compare expiresAt themselves.
  const indexes: IndexDescription[] = [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }];
  if (isGrantBound(model) || model === 'Interaction') indexes.push({ key: { grantId: 1 }, name: 'grantId' });
  if (model === 'Session') indexes.push({ key: { uid: 1 }, name: 'uid' }, { key: { accountId: 1 }, name: 'accountId' });
  if (model === 'DeviceCode' || model === 'BackchannelAuthenticationRequest') indexes.push({ key: { userCode: 1 }, name: 'userCode' });
  if (model === 'Grant') indexes.push({ key: { accountId: 1, clientId: 1, updatedAt: -1 }, name: 'account_client_updated' });
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
  [COLLECTIONS.disclosures]: [{ key: { accountId: 1, at: -1 }, name: 'account_at' }, { key: { at: 1 }, name: 'at' }],
  [COLLECTIONS.securityEvents]: [{ key: { accountId: 1, at: -1 }, name: 'account_at' }, { key: { at: 1 }, name: 'at' }],
  ...Object.fromEntries(OIDC_MODELS.map((model) => [modelCollection(model), modelIndexes(model)])),
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

/** The indexes `migrate` would create that the database lacks (production refuses to serve without them). */
export async function missingIndexes(db: Db): Promise<string[]> {
  const missing: string[] = [];
  for (const [collection, indexes] of Object.entries(INDEXES)) {
    const present = new Set((await db.collection(collection).listIndexes().toArray().catch(() => [])).map((index) => index.name as string));
    for (const index of indexes) if (!present.has(index.name!)) missing.push(`${collection}.${index.name}`);
  }
  return missing;
}
