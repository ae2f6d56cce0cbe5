// Accounts: a person's verified identity, sealed at rest, found by keyed hash, signed in by password.
import { randomUUID } from 'node:crypto';
import type { AccountRecord, AccountRepository, AccountStatus } from '../../adapters/types.ts';
import { newPersonalNetworkNumber, parseNetworkNumber } from './network-number.ts';
import { hashPassword, verifyAgainstDecoy, verifyPassword } from './passwords.ts';
import { normalisePhone } from './phone.ts';
import type { AttributeCipher, LookupHasher } from './protection.ts';
import type { DocumentType, IdentityDocument, PersonRecord } from './registry.ts';

/** What the provider knows about a person; only ever stored sealed. */
export interface Identity {
  networkNumber: string;
  /** E.164 */
  phone: string;
  name: string;
  /** YYYY-MM-DD */
  birthdate: string;
  gender: 'female' | 'male';
  documentType: DocumentType;
  documentNumber: string;
  /** Epoch seconds of the registry check. */
  verifiedAt: number;
}

export interface Account {
  id: string;
  status: AccountStatus;
  guardianId: string | null;
  identity: Identity;
}

export interface NewAccount {
  person: PersonRecord;
  document: IdentityDocument;
  phone: string;
  password: string;
  guardianId?: string;
  status?: AccountStatus;
  verifiedAt?: Date;
}

export class Accounts {
  readonly #repository: AccountRepository;
  readonly #cipher: AttributeCipher;
  readonly #hasher: LookupHasher;

  constructor(repository: AccountRepository, cipher: AttributeCipher, hasher: LookupHasher) {
    this.#repository = repository;
    this.#cipher = cipher;
    this.#hasher = hasher;
  }

  /** Creates an account with a fresh personal network number. Rejects with DuplicateAccountError if the document or phone is already enrolled. */
  async create(input: NewAccount): Promise<Account> {
    const phone = normalisePhone(input.phone);
    if (!phone) throw new RangeError('not a phone number');
    const id = randomUUID();
    const identity: Identity = {
      networkNumber: newPersonalNetworkNumber(),
      phone,
      name: input.person.name,
      birthdate: input.person.birthdate,
      gender: input.person.gender,
      documentType: input.document.type,
      documentNumber: input.document.number,
      verifiedAt: Math.floor((input.verifiedAt ?? new Date()).getTime() / 1000),
    };
    const record: AccountRecord = {
      id,
      status: input.status ?? 'active',
      createdAt: Date.now(),
      guardianId: input.guardianId ?? null,
      passwordHash: await hashPassword(input.password),
      lookups: {
        networkNumber: this.#hasher.hash('network-number', identity.networkNumber),
        phone: this.#hasher.hash('phone', phone),
        document: this.documentHash(input.document),
      },
      sealed: this.#cipher.seal(identity, id),
    };
    await this.#repository.insert(record);
    return this.#open(record);
  }

  documentHash(document: IdentityDocument): string {
    return this.#hasher.hash('document', `${document.type}:${document.number.toUpperCase()}`);
  }

  async findById(id: string): Promise<Account | undefined> {
    const record = await this.#repository.findById(id);
    return record && this.#open(record);
  }

  async findByDocument(document: IdentityDocument): Promise<Account | undefined> {
    const record = await this.#repository.findByLookup('document', this.documentHash(document));
    return record && this.#open(record);
  }

  /** Password sign-in by personal network number or phone number. Undefined for any mismatch, in the same time. */
  async authenticate(identifier: string, password: string): Promise<Account | undefined> {
    const record = await this.#findByIdentifier(identifier);
    if (!record) return verifyAgainstDecoy(password).then(() => undefined);
    return (await verifyPassword(record.passwordHash, password)) ? this.#open(record) : undefined;
  }

  async #findByIdentifier(identifier: string): Promise<AccountRecord | undefined> {
    const networkNumber = parseNetworkNumber(identifier);
    if (networkNumber) return this.#repository.findByLookup('networkNumber', this.#hasher.hash('network-number', networkNumber));
    const phone = normalisePhone(identifier);
    if (phone) return this.#repository.findByLookup('phone', this.#hasher.hash('phone', phone));
    return undefined;
  }

  #open(record: AccountRecord): Account {
    return {
      id: record.id,
      status: record.status,
      guardianId: record.guardianId,
      identity: this.#cipher.open(record.sealed, record.id) as Identity,
    };
  }
}
