// Where a recovery's progress lives between pages: the short-lived store, under a keyed hash of the recovery's
// random id (the bearer value kept in the person's cookie), sealed with a key derived from that same id. Someone
// who reads the store or a backup finds neither an id that works nor anything readable: the account, the person
// record and the new phone number in the state can only be opened by the browser that holds the cookie.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { ShortLivedStore } from '../../adapters/types.ts';
import type { DocumentType } from '../identity/documents.ts';

/** A recovery lasts at most this long from its start, whatever the person does. */
export const RECOVERY_SECONDS = 30 * 60;

export type Journey = 'password' | 'phone';

/**
 * Forgotten password: identify → code → document → face → password → done.
 * Lost phone: document → face → phone → phone_code → (password) → done.
 */
export type Step = 'identify' | 'code' | 'document' | 'face' | 'phone' | 'phone_code' | 'password' | 'done' | 'ended';

/** Why a recovery ended without changing anything. */
export type Ending = 'too_many_document_attempts' | 'face_failed' | 'no_account' | 'suspended' | 'awaiting_guardian' | 'under_14';

/** A code sent (or, for an identifier that names no account, pretended to be sent): the same bookkeeping either way. */
export interface CodeRecord {
  sentAt: number;
  sends: number;
  /** Guesses at the code sent last. */
  guesses: number;
}

export interface RecoveryState {
  journey: Journey;
  step: Step;
  /** Epoch ms; the state is gone after it. */
  expiresAt: number;
  /** Forgotten password: what the person typed, and whether it was a phone number (shown masked) or a network number. */
  identifier?: { kind: 'phone' | 'network_number'; phone?: string };
  /** The credential throttle's subject: the account's id, or `unknown:<keyed hash>` of an identifier that names none. */
  subject?: string;
  /**
   * The account this recovery is about: named by the identifier (forgotten password) or by the document (lost phone).
   * Undefined when there is none; nothing on the pages depends on it until the person has passed the face check.
   */
  accountId?: string;
  /** Whether the code of the `code` step really went out (an account with a phone). */
  texted?: boolean;
  code?: CodeRecord;
  documentAttempts: number;
  faceAttempts: number;
  /** Keyed hash of the document given, and the registry's person id for the face check. */
  document?: { hash: string; type: DocumentType };
  personId?: string;
  /** Forgotten password: the document given is the account's own (registry person and document hash). */
  documentMatches?: boolean;
  /** Lost phone: the new number (E.164) a code was sent to. */
  newPhone?: string;
  newPhoneCode?: CodeRecord;
  phoneChanged?: boolean;
  passwordSet?: boolean;
  /** The password must be set before the recovery is done (lost phone after "this wasn't me"). */
  passwordRequired?: boolean;
  ending?: Ending;
}

const KEY_INFO = 'cyberid recovery state key';

export class RecoveryStates {
  readonly #store: ShortLivedStore;
  readonly #now: () => number;

  constructor(store: ShortLivedStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /** A new recovery; the id is its bearer secret, for the cookie only. */
  async create(journey: Journey): Promise<{ id: string; state: RecoveryState }> {
    const id = randomBytes(32).toString('base64url');
    const state: RecoveryState = {
      journey,
      step: journey === 'password' ? 'identify' : 'document',
      expiresAt: this.#now() + RECOVERY_SECONDS * 1000,
      documentAttempts: 0,
      faceAttempts: 0,
    };
    await this.save(id, state);
    return { id, state };
  }

  async load(id: string): Promise<RecoveryState | undefined> {
    const sealed = await this.#store.get<string>(storeKey(id));
    if (sealed === undefined) return undefined;
    const state = open(id, sealed);
    return state && state.expiresAt > this.#now() ? state : undefined;
  }

  /** Saves with what is left of the recovery's lifetime: going on does not extend it. */
  async save(id: string, state: RecoveryState): Promise<void> {
    const ttl = Math.ceil((state.expiresAt - this.#now()) / 1000);
    if (ttl <= 0) return;
    await this.#store.set(storeKey(id), seal(id, state), ttl);
  }

  async end(id: string): Promise<void> {
    await this.#store.delete(storeKey(id));
  }
}

/** A short reference for logs, derived from the id (which is a bearer secret): enough to follow one recovery. */
export function reference(id: string): string {
  return createHash('sha256').update(`cyberid recovery reference:${id}`).digest('base64url').slice(0, 12);
}

function storeKey(id: string): string {
  return `recovery:${createHash('sha256').update(`cyberid recovery id:${id}`).digest('base64url')}`;
}

function keyOf(id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', id, Buffer.alloc(0), KEY_INFO, 32));
}

function seal(id: string, state: RecoveryState): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(id), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
}

function open(id: string, sealed: string): RecoveryState | undefined {
  const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
  if (!iv || !tag || !body) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(id), iv);
    decipher.setAuthTag(tag);
    return JSON.parse(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')) as RecoveryState;
  } catch {
    return undefined;
  }
}
