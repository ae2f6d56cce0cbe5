// What every storage backend provides: the oidc-provider Adapter for each model and our repositories.
// Records hold only sealed attributes and keyed hashes; sealing and hashing happen in server/identity.
import type { Adapter } from 'oidc-provider';
import type { RateLimiterFactory } from '../server/identity/throttle.ts';

/** `deleted` is a tombstone: personal data erased, only the keyed hashes that recognise the person kept. */
export type AccountStatus = 'active' | 'awaiting_guardian' | 'suspended' | 'deleted';

/** The keyed hashes an account can be found by. */
export interface AccountLookups {
  /** Null once the account is deleted. */
  networkNumber: string | null;
  /** Null for a child enrolled by a guardian without a phone of their own, and once deleted. */
  phone: string | null;
  /** The document the person enrolled with. */
  document: string;
  /** The registry's identifier of the person: the same across all of their documents. */
  person: string;
}

export interface AccountRecord {
  id: string;
  status: AccountStatus;
  /** Epoch milliseconds. */
  createdAt: number;
  guardianId: string | null;
  /** Null once deleted. */
  passwordHash: string | null;
  lookups: AccountLookups;
  /** The person's identity attributes, sealed with AES-256-GCM (see server/identity/protection.ts); null once deleted. */
  sealed: string | null;
  /** Set when the person said a sign-in "wasn't me": the next sign-in must choose a new password. */
  passwordChangeRequired: boolean;
}

export interface AccountRepository {
  /** Rejects with DuplicateAccountError when any lookup hash is already taken. */
  insert(record: AccountRecord): Promise<void>;
  /** Replaces every field of an existing record; rejects with DuplicateAccountError like insert. */
  replace(record: AccountRecord): Promise<void>;
  findById(id: string): Promise<AccountRecord | undefined>;
  findByLookup(field: keyof AccountLookups, hash: string): Promise<AccountRecord | undefined>;
  /** The accounts this guardian is linked to (minors), oldest first. */
  listByGuardian(guardianId: string): Promise<AccountRecord[]>;
}

export class DuplicateAccountError extends Error {
  readonly field: keyof AccountLookups | 'id';
  constructor(field: keyof AccountLookups | 'id') {
    super(`an account with this ${field} already exists`);
    this.field = field;
  }
}

/** The store cannot be used as configured (indexes missing, a server too old): start-up stops with this message. */
export class StoreSetupError extends Error {}

/** A 14–17-year-old's account waiting for one of the guardians the registry names. */
export interface GuardianRequestRepository {
  add(minorId: string, guardianPersonHashes: string[]): Promise<void>;
  /** Minor account ids waiting for the guardian with this person hash, oldest first. */
  pendingFor(guardianPersonHash: string): Promise<string[]>;
  isPending(minorId: string, guardianPersonHash: string): Promise<boolean>;
  remove(minorId: string, guardianPersonHash: string): Promise<void>;
  removeAll(minorId: string): Promise<void>;
}

export interface PasskeyRecord {
  /** The WebAuthn credential id, base64url. */
  id: string;
  accountId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface PasskeyRepository {
  insert(record: PasskeyRecord): Promise<void>;
  findById(id: string): Promise<PasskeyRecord | undefined>;
  listByAccount(accountId: string): Promise<PasskeyRecord[]>;
  recordUse(id: string, counter: number, usedAt: number): Promise<void>;
  /** False when the account has no passkey with this id. */
  rename(accountId: string, id: string, name: string): Promise<boolean>;
  /** False when the account has no passkey with this id. */
  remove(accountId: string, id: string): Promise<boolean>;
  removeAllOf(accountId: string): Promise<void>;
}

/** Short-lived values with a lifetime: enrolments, one-time codes, WebAuthn challenges, counters. */
export interface ShortLivedStore {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** True only for the one caller that removed a live value, so it can serve as an atomic "consume". */
  delete(key: string): Promise<boolean>;
  /** Adds one and returns the new count, atomically; the lifetime starts with the first increment. */
  increment(key: string, ttlSeconds: number): Promise<number>;
}

/** A guardian's decision on a minor using a platform whose operator requires it (policy `guardian_approval`). */
export type PlatformApprovalStatus = 'pending' | 'approved' | 'declined';

export interface PlatformApprovalRecord {
  minorId: string;
  clientId: string;
  /** The guardian linked to the minor's account when the request was made. */
  guardianId: string;
  status: PlatformApprovalStatus;
  requestedAt: number;
  decidedAt: number | null;
}

export interface PlatformApprovalRepository {
  /** The existing record for this minor and platform, or a new pending one. */
  request(minorId: string, clientId: string, guardianId: string): Promise<PlatformApprovalRecord>;
  find(minorId: string, clientId: string): Promise<PlatformApprovalRecord | undefined>;
  /** Pending requests addressed to this guardian, oldest first. */
  pendingFor(guardianId: string): Promise<PlatformApprovalRecord[]>;
  /** Every request made for this minor, whatever its status, oldest first. */
  listFor(minorId: string): Promise<PlatformApprovalRecord[]>;
  /**
   * Records the guardian's decision, on a pending request or changing an earlier one; false when there is no
   * request for this minor and platform addressed to this guardian.
   */
  decide(minorId: string, clientId: string, guardianId: string, status: 'approved' | 'declined'): Promise<boolean>;
}

/** How claims reached a platform: in an ID token (token endpoint) or from userinfo. */
export type DisclosureChannel = 'id_token' | 'userinfo';

/** One release of claims to a platform: the names only, never the values. */
export interface DisclosureRecord {
  accountId: string;
  clientId: string;
  claims: string[];
  acr: string | null;
  channel: DisclosureChannel;
  /** Epoch milliseconds. */
  at: number;
}

export interface DisclosureFilter {
  clientId?: string | undefined;
  /** Epoch milliseconds, inclusive. */
  from?: number | undefined;
  /** Epoch milliseconds, exclusive. */
  to?: number | undefined;
}

/** First and last release of claims to one platform. */
export interface PlatformUsage {
  clientId: string;
  first: number;
  last: number;
}

/** The disclosure ledger (DESIGN §3). Reads take `since`, the retention cut-off: older entries are never returned. */
export interface DisclosureRepository {
  add(record: DisclosureRecord): Promise<void>;
  /** Newest first. */
  list(accountId: string, since: number, filter: DisclosureFilter): Promise<DisclosureRecord[]>;
  usage(accountId: string, since: number): Promise<PlatformUsage[]>;
  /** Deletes entries older than `cutoff`; returns how many. */
  removeBefore(cutoff: number): Promise<number>;
  removeAllOf(accountId: string): Promise<void>;
}

/** Something that happened to an account's security: a sign-in, a failure, a lock, a credential change. */
export interface SecurityEventRecord {
  accountId: string;
  type: string;
  /** Non-personal details: method, level, platform id, browser, address prefix. */
  detail: Record<string, string>;
  at: number;
}

export interface SecurityEventRepository {
  add(record: SecurityEventRecord): Promise<void>;
  /** Newest first, at most `limit`. */
  list(accountId: string, since: number, limit: number): Promise<SecurityEventRecord[]>;
  removeBefore(cutoff: number): Promise<number>;
  removeAllOf(accountId: string): Promise<void>;
}

/** One change an operator made (a platform client, a key, a registration token), as written to the audit log. */
export interface AuditRecord {
  /** Epoch milliseconds. */
  at: number;
  /** Who made it: `operator:<client id>` (admin API), `cli:<user>` (the cyberid command), `registration:<client id>` (DCR). */
  actor: string;
  /** `client.add`, `client.update`, `client.disable`, `keys.rotate`… */
  action: string;
  /** The client id or key generation the change is about. */
  target: string;
  /** Names of the fields that changed and other non-secret details; never a secret or a token. */
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  target?: string | undefined;
  /** Entries strictly older than this epoch-milliseconds time (paging backwards). */
  before?: number | undefined;
  limit: number;
}

/** The audit log is append-only: the repository offers no update and no delete. */
export interface AuditRepository {
  append(record: AuditRecord): Promise<void>;
  /** Newest first. */
  list(filter: AuditFilter): Promise<AuditRecord[]>;
}

/** A generation of the provider's signing keys (one ES256 and one EdDSA key), sealed at rest. */
export interface SigningKeyGenerationRecord {
  id: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When it starts signing; until then it is only published. */
  activatesAt: number;
  /** Set when an operator withdrew it (a compromised key): unpublished at once. */
  withdrawnAt: number | null;
  /** The public JWKs (kid, kty, crv, x, alg), for listing without unsealing. */
  publicKeys: Record<string, string>[];
  /** The private JWKS, sealed with the attribute key (AES-256-GCM). */
  sealed: string;
}

export interface SigningKeyRepository {
  /** Oldest activation first. */
  list(): Promise<SigningKeyGenerationRecord[]>;
  /** False when a generation with this id exists already (two processes creating the first one together). */
  insert(record: SigningKeyGenerationRecord): Promise<boolean>;
  withdraw(id: string, at: number): Promise<boolean>;
  /** Deletes a generation that no token can still need. */
  remove(id: string): Promise<void>;
}

/** A live Grant (a platform's remembered consent) of an account. */
export interface GrantReference {
  id: string;
  clientId: string;
}

/** Revokes a grant in every store that holds its artefacts (the durable one and the short-lived one). */
export interface GrantRevocation {
  /** Deletes every token the grant issued (GRANT_BOUND_MODELS), wherever it is stored. */
  revokeTokens(grantId: string): Promise<void>;
  /** A replayed code or token: the Grant itself and everything it issued. */
  revokeGrant(grantId: string): Promise<void>;
}

/** One backend's share of oidc-provider's models (adapters/models.ts says which model goes where). */
export interface OidcModelStore {
  /** The adapter for one model; `grants` reaches every store, so revocation is never partial. */
  adapter(model: string, grants: GrantRevocation): Adapter;
  /** Deletes the grant-bound tokens this backend holds for the grant. */
  revokeGrantTokens(grantId: string): Promise<void>;
}

/** A storage backend process (or file) the provider depends on. */
export interface StoreComponent {
  /** 'sqlite', 'mongodb', 'redis'. */
  readonly kind: string;
  /** False while the backend is known to be unreachable: requests then fail fast instead of half-writing. */
  available(): boolean;
  /** Throws when the backend cannot serve requests (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What must last: people, their credentials and history, platforms, grants and refresh tokens (DESIGN §5). */
export interface DurableBackend extends StoreComponent {
  models: OidcModelStore;
  accounts: AccountRepository;
  guardianRequests: GuardianRequestRepository;
  passkeys: PasskeyRepository;
  platformApprovals: PlatformApprovalRepository;
  disclosures: DisclosureRepository;
  securityEvents: SecurityEventRepository;
  audit: AuditRepository;
  signingKeys: SigningKeyRepository;
  latestGrantId(accountId: string, clientId: string): Promise<string | undefined>;
  grantsOf(accountId: string): Promise<GrantReference[]>;
  /** Every registered client's metadata, as stored (the operator's view; oidc-provider finds them one by one). */
  listClients(): Promise<Record<string, unknown>[]>;
}

/** What is short-lived: sessions, interactions, codes, PAR, replay detection, one-time values, rate limits. */
export interface EphemeralBackend extends StoreComponent {
  models: OidcModelStore;
  shortLived: ShortLivedStore;
  rateLimiter: RateLimiterFactory;
  /** References to the account's live sessions (see Store.sessionsOf). */
  sessionsOf(accountId: string): Promise<string[]>;
}

/** What the provider uses: a durable backend and a short-lived one (the same SQLite file for the embedded store). */
export interface Store {
  /** 'sqlite', 'sqlite+redis', 'mongodb+redis'. */
  readonly kind: string;
  /** The oidc-provider adapter factory: one adapter per model name. */
  adapterFor(model: string): Adapter;
  accounts: AccountRepository;
  guardianRequests: GuardianRequestRepository;
  passkeys: PasskeyRepository;
  shortLived: ShortLivedStore;
  platformApprovals: PlatformApprovalRepository;
  /** Failure counters for rate limits and lockout, shared by every process on this store. */
  rateLimiter: RateLimiterFactory;
  disclosures: DisclosureRepository;
  securityEvents: SecurityEventRepository;
  audit: AuditRepository;
  signingKeys: SigningKeyRepository;
  listClients(): Promise<Record<string, unknown>[]>;
  /** The newest live Grant (remembered consent) of an account at a client, whichever session created it. */
  latestGrantId(accountId: string, clientId: string): Promise<string | undefined>;
  /** Every live Grant of an account, at every client. */
  grantsOf(accountId: string): Promise<GrantReference[]>;
  /**
   * Every live provider Session of an account (every browser it is signed in on), as references that the Session
   * adapter's find and destroy accept: session ids are stored only as hashes (adapters/bearer.ts), and a reference is
   * neither the cookie nor usable as one.
   */
  sessionsOf(accountId: string): Promise<string[]>;
  /** False while a backend is known to be unreachable (checked before each request; costs nothing). */
  available(): boolean;
  /** Each backend and whether it answers now (used by /readyz). */
  check(): Promise<{ kind: string; up: boolean }[]>;
  close(): Promise<void>;
}
