// What every storage backend provides: the oidc-provider Adapter for each model and our repositories.
// Records hold only sealed attributes and keyed hashes; sealing and hashing happen in server/identity.
import type { Adapter } from 'oidc-provider';

export type AccountStatus = 'active' | 'awaiting_guardian';

/** The keyed hashes an account can be found by. */
export interface AccountLookups {
  networkNumber: string;
  phone: string;
  document: string;
}

export interface AccountRecord {
  id: string;
  status: AccountStatus;
  /** Epoch milliseconds. */
  createdAt: number;
  guardianId: string | null;
  passwordHash: string;
  lookups: AccountLookups;
  /** The person's identity attributes, sealed with AES-256-GCM (see server/identity/protection.ts). */
  sealed: string;
}

export interface AccountRepository {
  /** Rejects with DuplicateAccountError when any lookup hash is already taken. */
  insert(record: AccountRecord): Promise<void>;
  findById(id: string): Promise<AccountRecord | undefined>;
  findByLookup(field: keyof AccountLookups, hash: string): Promise<AccountRecord | undefined>;
}

export class DuplicateAccountError extends Error {
  readonly field: keyof AccountLookups | 'id';
  constructor(field: keyof AccountLookups | 'id') {
    super(`an account with this ${field} already exists`);
    this.field = field;
  }
}

export interface Store {
  readonly kind: string;
  /** The oidc-provider adapter factory: one adapter per model name. */
  adapterFor(model: string): Adapter;
  accounts: AccountRepository;
  /** The newest live Grant (remembered consent) of an account at a client, whichever session created it. */
  latestGrantId(accountId: string, clientId: string): Promise<string | undefined>;
  /** Throws when the backing store cannot serve requests (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
