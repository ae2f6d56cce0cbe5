// Accounts: a person's verified identity, sealed at rest, found by keyed hash, signed in by password.
// One person, one account: the registry's person id is kept as a keyed hash, also after deletion.
import { randomUUID } from 'node:crypto';
import type { AccountRecord, AccountRepository, AccountStatus } from '../../adapters/types.ts';
import { ageOn, todayInChina } from './claims.ts';
import type { DocumentType, IdentityDocument } from './documents.ts';
import { newPersonalNetworkNumber, parseNetworkNumber } from './network-number.ts';
import { hashPassword, verifyAgainstDecoy, verifyPassword } from './passwords.ts';
import { normalisePhone } from './phone.ts';
import type { AttributeCipher, LookupHasher } from './protection.ts';
import type { PersonRecord } from './registry.ts';

/** What the provider knows about a person; only ever stored sealed. */
export interface Identity {
  networkNumber: string;
  /** E.164, verified by a one-time code; null for a child enrolled by a guardian without a phone. */
  phone: string | null;
  name: string;
  /** YYYY-MM-DD */
  birthdate: string;
  gender: 'female' | 'male';
  documentType: DocumentType;
  documentNumber: string;
  /** Epoch seconds of the registry check. */
  verifiedAt: number;
  /** The registry's person id, which a face check at sign-in (loa3) is matched against. */
  personId: string;
}

export interface Account {
  id: string;
  status: Exclude<AccountStatus, 'deleted'>;
  guardianId: string | null;
  /** Keyed hash of the registry's person id (guardianship is checked against it). */
  personHash: string;
  identity: Identity;
  /**
   * The person said a sign-in "wasn't me": the password is turned off until account recovery sets a new one
   * (nobody who merely signs in may choose it).
   */
  passwordChangeRequired: boolean;
}

export interface NewAccount {
  person: PersonRecord;
  document: IdentityDocument;
  phone: string | null;
  password: string;
  guardianId?: string | null;
  status?: 'active' | 'awaiting_guardian';
  verifiedAt?: Date;
}

export type AccountChange = 'suspend' | 'reactivate';

export class Accounts {
  readonly #repository: AccountRepository;
  readonly #cipher: AttributeCipher;
  readonly #hasher: LookupHasher;

  constructor(repository: AccountRepository, cipher: AttributeCipher, hasher: LookupHasher) {
    this.#repository = repository;
    this.#cipher = cipher;
    this.#hasher = hasher;
  }

  /**
   * Creates an account with a fresh personal network number; rejects with DuplicateAccountError if the
   * person, document or phone is already enrolled. A person whose account was deleted gets the same
   * account id back, so their platform network numbers are the same as before.
   */
  async create(input: NewAccount): Promise<Account> {
    const tombstone = await this.#repository.findByLookup('person', this.personHash(input.person.personId));
    const id = tombstone?.status === 'deleted' ? tombstone.id : randomUUID();
    const record = await this.#newRecord(id, input);
    if (tombstone?.status === 'deleted') await this.#repository.replace(record);
    else await this.#repository.insert(record);
    return this.#open(record)!;
  }

  async #newRecord(id: string, input: NewAccount): Promise<AccountRecord> {
    const phone = input.phone === null ? null : normalisePhone(input.phone);
    if (phone === undefined) throw new RangeError('not a phone number');
    const identity: Identity = {
      networkNumber: newPersonalNetworkNumber(),
      phone,
      name: input.person.name,
      birthdate: input.person.birthdate,
      gender: input.person.gender,
      documentType: input.document.type,
      documentNumber: input.document.number,
      verifiedAt: Math.floor((input.verifiedAt ?? new Date()).getTime() / 1000),
      personId: input.person.personId,
    };
    return {
      id,
      status: input.status ?? 'active',
      createdAt: Date.now(),
      guardianId: input.guardianId ?? null,
      passwordHash: await hashPassword(input.password),
      lookups: {
        networkNumber: this.#hasher.hash('network-number', identity.networkNumber),
        phone: phone && this.phoneHash(phone),
        document: this.documentHash(input.document),
        person: this.personHash(input.person.personId),
      },
      sealed: this.#cipher.seal(identity, id),
      passwordChangeRequired: false,
    };
  }

  documentHash(document: IdentityDocument): string {
    return this.#hasher.hash('document', `${document.type}:${document.number.toUpperCase()}`);
  }

  personHash(personId: string): string {
    return this.#hasher.hash('person', personId);
  }

  phoneHash(e164: string): string {
    return this.#hasher.hash('phone', e164);
  }

  async findById(id: string): Promise<Account | undefined> {
    return this.#open(await this.#repository.findById(id));
  }

  async findByDocument(document: IdentityDocument): Promise<Account | undefined> {
    return this.#open(await this.#repository.findByLookup('document', this.documentHash(document)));
  }

  /** The person's live account, if any (deleted accounts are not returned). */
  async findByPerson(personId: string): Promise<Account | undefined> {
    return this.#open(await this.#repository.findByLookup('person', this.personHash(personId)));
  }

  /** The live account whose phone number this is (E.164), if any. */
  async findByPhone(e164: string): Promise<Account | undefined> {
    return this.#open(await this.#repository.findByLookup('phone', this.phoneHash(e164)));
  }

  async isPhoneTaken(e164: string): Promise<boolean> {
    return (await this.#repository.findByLookup('phone', this.phoneHash(e164))) !== undefined;
  }

  /** Password sign-in by personal network number or phone number. Undefined for any mismatch, in the same time. */
  async authenticate(identifier: string, password: string): Promise<Account | undefined> {
    const record = await this.#findByIdentifier(identifier);
    if (!record?.passwordHash) return verifyAgainstDecoy(password).then(() => undefined);
    return (await verifyPassword(record.passwordHash, password)) ? this.#open(record) : undefined;
  }

  /**
   * Whom a sign-in attempt with this identifier is aimed at, for rate limits: the account's id, or for an
   * identifier that matches no account a keyed hash of it (guessing at unknown numbers is limited too).
   */
  async attemptSubject(identifier: string): Promise<string> {
    const record = await this.#findByIdentifier(identifier);
    if (record) return record.id;
    const normalised = parseNetworkNumber(identifier) ?? normalisePhone(identifier) ?? identifier.trim().toUpperCase();
    return `unknown:${this.#hasher.hash('identifier', normalised)}`;
  }

  /** The account a network number names (as a person tells it: groups, lower case and look-alikes allowed). */
  async findByNetworkNumber(text: string): Promise<Account | undefined> {
    const networkNumber = parseNetworkNumber(text);
    if (!networkNumber) return undefined;
    return this.#open(await this.#findByNetworkNumber(networkNumber));
  }

  /** Checks the password of a known account (re-confirmation in the portal); same timing as a sign-in. */
  async checkPassword(id: string, password: string): Promise<boolean> {
    const record = await this.#repository.findById(id);
    if (!record?.passwordHash) return verifyAgainstDecoy(password).then(() => false);
    return verifyPassword(record.passwordHash, password);
  }

  /** A new password (the caller checked it against the password policy); clears a required change. */
  async changePassword(id: string, password: string): Promise<void> {
    const passwordHash = await hashPassword(password);
    await this.#update(id, (record) => ({ ...record, passwordHash, passwordChangeRequired: false }));
  }

  /** "This wasn't me": the password stops working at once; only account recovery sets a new one. */
  async disablePassword(id: string): Promise<void> {
    await this.#update(id, (record) => ({ ...record, passwordHash: null, passwordChangeRequired: true }));
  }

  /**
   * A new phone number (verified by a one-time code by the caller): sealed identity and lookup hash change
   * together. Rejects with DuplicateAccountError when another account has that number.
   */
  async changePhone(id: string, e164: string): Promise<void> {
    await this.#update(id, (record) => {
      const identity = { ...(this.#cipher.open(record.sealed!, record.id) as Identity), phone: e164 };
      return { ...record, sealed: this.#cipher.seal(identity, record.id), lookups: { ...record.lookups, phone: this.phoneHash(e164) } };
    });
  }

  /** The minors linked to this guardian whose accounts still exist. */
  async minorsOf(guardianId: string): Promise<Account[]> {
    return (await this.#repository.listByGuardian(guardianId)).map((record) => this.#open(record)).filter((account) => account !== undefined);
  }

  /** A guardian's approval (or application) makes a minor's account active and records the relationship. */
  async linkGuardian(minorId: string, guardianId: string): Promise<void> {
    await this.#update(minorId, (record) => ({ ...record, status: 'active', guardianId }));
  }

  async suspend(id: string): Promise<void> {
    await this.#update(id, (record) => ({ ...record, status: 'suspended' }));
  }

  /** A suspended account becomes active again, or awaits its guardian again if it never had one. */
  async reactivate(id: string): Promise<void> {
    await this.#update(id, (record) => {
      if (record.status !== 'suspended') return record;
      const minorWithoutGuardian = record.guardianId === null && this.#isMinor(record);
      return { ...record, status: minorWithoutGuardian ? 'awaiting_guardian' : 'active' };
    });
  }

  /**
   * Erases the personal data: identity, password, phone and network-number lookups. Kept: the account id and
   * the keyed hashes of the person and document, so the person is recognised if they enrol again (they get
   * this account back, not a second one with new platform network numbers).
   */
  async erase(id: string): Promise<void> {
    await this.#update(id, (record) => ({
      ...record,
      status: 'deleted',
      guardianId: null,
      passwordHash: null,
      sealed: null,
      passwordChangeRequired: false,
      lookups: { ...record.lookups, networkNumber: null, phone: null },
    }));
  }

  async #update(id: string, change: (record: AccountRecord) => AccountRecord): Promise<void> {
    const record = await this.#repository.findById(id);
    if (!record || record.status === 'deleted') throw new Error(`account ${id} does not exist`);
    await this.#repository.replace(change(record));
  }

  #isMinor(record: AccountRecord): boolean {
    const identity = this.#cipher.open(record.sealed!, record.id) as Identity;
    return ageOn(identity.birthdate, todayInChina()) < 18;
  }

  #findByNetworkNumber(networkNumber: string): Promise<AccountRecord | undefined> {
    return this.#repository.findByLookup('networkNumber', this.#hasher.hash('network-number', networkNumber));
  }

  async #findByIdentifier(identifier: string): Promise<AccountRecord | undefined> {
    const networkNumber = parseNetworkNumber(identifier);
    if (networkNumber) return this.#findByNetworkNumber(networkNumber);
    const phone = normalisePhone(identifier);
    if (phone) return this.#repository.findByLookup('phone', this.phoneHash(phone));
    return undefined;
  }

  #open(record: AccountRecord | undefined): Account | undefined {
    if (!record || record.status === 'deleted' || !record.sealed) return undefined;
    return {
      id: record.id,
      status: record.status,
      guardianId: record.guardianId,
      personHash: record.lookups.person,
      identity: this.#cipher.open(record.sealed, record.id) as Identity,
      passwordChangeRequired: record.passwordChangeRequired,
    };
  }
}
