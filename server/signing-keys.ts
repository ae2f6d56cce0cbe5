// The provider's signing keys, kept in the durable store so every process signs with the same key and publishes
// the same set. Keys come in generations (one ES256 and one EdDSA key). Rotation follows a schedule that every
// process computes alike from the store and the clock:
//   1. `rotate` stores a new generation that activates later: it is published at once but does not sign yet,
//      so platforms that cache the JWKS have it before they meet a token signed with it;
//   2. at activation it signs, and the generation before it stays published (verify only) for RETIRED_PUBLISHED_MS,
//      long enough for every ID token it signed to expire and for id_token_hint at logout;
//   3. after that it is unpublished and deleted.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { SigningKeyGenerationRecord, SigningKeyRepository } from '../adapters/types.ts';
import type { AttributeCipher } from './identity/protection.ts';
import { TTL } from './ttl.ts';

/** A retired generation stays published this long after its successor starts signing. */
export const RETIRED_PUBLISHED_MS = Math.max(TTL.IdToken, TTL.Session) * 1000;
/** How long a new generation is published before it signs, unless the operator says otherwise. */
export const DEFAULT_ACTIVATION_DELAY_MS = 24 * 3600 * 1000;
/** The id of the generation created on first start (fixed, so processes starting together agree on one). */
const FIRST_GENERATION = 'initial';

export type GenerationStatus = 'signing' | 'next' | 'retired' | 'expired' | 'withdrawn';

export interface GenerationView {
  id: string;
  status: GenerationStatus;
  createdAt: number;
  activatesAt: number;
  /** When it stops being published (retired generations); undefined while it signs or waits. */
  publishedUntil: number | undefined;
  keys: { kid: string; alg: string }[];
}

export interface PublishedKeys {
  /** The private JWKS for oidc-provider: the signing generation's keys first, since it signs with the first key per algorithm. */
  jwks: { keys: JWK[] };
  /** Changes whenever the set or its order does: a process rebuilds its provider when it sees a new one. */
  fingerprint: string;
  /** The next instant the schedule changes by itself (an activation or an expiry), if any. */
  nextChange: number | undefined;
}

export class KeyScheduleError extends Error {}

/** Status of every generation at `now`, in activation order. */
export function schedule(generations: SigningKeyGenerationRecord[], now: number): (SigningKeyGenerationRecord & { status: GenerationStatus; publishedUntil: number | undefined })[] {
  const live = generations.filter((g) => g.withdrawnAt === null).sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
  const active = live.filter((g) => g.activatesAt <= now);
  const signing = active.at(-1);
  return generations.map((generation) => {
    if (generation.withdrawnAt !== null) return { ...generation, status: 'withdrawn' as const, publishedUntil: generation.withdrawnAt };
    if (generation === signing) return { ...generation, status: 'signing' as const, publishedUntil: undefined };
    if (generation.activatesAt > now) return { ...generation, status: 'next' as const, publishedUntil: undefined };
    const successor = live[live.indexOf(generation) + 1]!;
    const publishedUntil = successor.activatesAt + RETIRED_PUBLISHED_MS;
    return { ...generation, status: publishedUntil > now ? 'retired' as const : 'expired' as const, publishedUntil };
  });
}

const privateJwks = z.object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string(), d: z.string() })).min(1) });

export class SigningKeys {
  readonly #repository: SigningKeyRepository;
  readonly #cipher: AttributeCipher;
  readonly #now: () => number;

  constructor(repository: SigningKeyRepository, cipher: AttributeCipher, now: () => number = Date.now) {
    this.#repository = repository;
    this.#cipher = cipher;
    this.#now = now;
  }

  /**
   * Creates the first generation when the store has none: from `legacyFile` (the data directory's jwks.json of
   * earlier versions, so existing ID tokens keep verifying) when it exists, else new keys.
   */
  async ensure(legacyFile: string): Promise<void> {
    if ((await this.#repository.list()).length) return;
    const jwks = existsSync(legacyFile) ? privateJwks.parse(JSON.parse(readFileSync(legacyFile, 'utf8'))).keys as JWK[] : await newKeyPair();
    await this.#repository.insert(this.#seal(FIRST_GENERATION, jwks, this.#now()));
  }

  async published(): Promise<PublishedKeys> {
    const now = this.#now();
    const statuses = schedule(await this.#repository.list(), now);
    const rank = { signing: 0, next: 1, retired: 2 } as Partial<Record<GenerationStatus, number>>;
    const shown = statuses.filter((g) => rank[g.status] !== undefined)
      .sort((a, b) => rank[a.status]! - rank[b.status]! || b.activatesAt - a.activatesAt);
    if (shown[0]?.status !== 'signing') throw new KeyScheduleError('no signing key generation is active (run `cyberid keys list`)');
    const keys = shown.flatMap((g) => this.#open(g));
    const changes = statuses.flatMap((g) => (g.status === 'next' ? [g.activatesAt] : g.status === 'retired' ? [g.publishedUntil!] : []));
    return {
      jwks: { keys },
      fingerprint: shown.map((g) => `${g.id}:${g.status}`).join(','),
      nextChange: changes.length ? Math.min(...changes) : undefined,
    };
  }

  async list(): Promise<GenerationView[]> {
    return schedule(await this.#repository.list(), this.#now()).map((g) => ({
      id: g.id, status: g.status, createdAt: g.createdAt, activatesAt: g.activatesAt, publishedUntil: g.publishedUntil,
      keys: g.publicKeys.map((key) => ({ kid: key.kid!, alg: key.alg! })),
    }));
  }

  /** Stores a new generation that signs `activateInMs` from now; refused while another one is waiting to activate. */
  async rotate(activateInMs: number = DEFAULT_ACTIVATION_DELAY_MS): Promise<GenerationView> {
    await this.prune();
    const waiting = (await this.list()).find((g) => g.status === 'next');
    if (waiting) throw new KeyScheduleError(`generation ${waiting.id} is already waiting to activate at ${new Date(waiting.activatesAt).toISOString()}`);
    const now = this.#now();
    const id = `${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
    await this.#repository.insert(this.#seal(id, await newKeyPair(), now + activateInMs, now));
    return (await this.list()).find((g) => g.id === id)!;
  }

  /** Unpublishes a generation at once (a leaked key). The signing generation cannot be withdrawn: rotate first. */
  async withdraw(id: string): Promise<GenerationView> {
    const generation = (await this.list()).find((g) => g.id === id);
    if (!generation) throw new KeyScheduleError(`no key generation "${id}"`);
    if (generation.status === 'signing') throw new KeyScheduleError(`generation ${id} is signing; rotate with --activate-in 0 first, then withdraw it`);
    if (generation.status === 'withdrawn') throw new KeyScheduleError(`generation ${id} is already withdrawn`);
    await this.#repository.withdraw(id, this.#now());
    return (await this.list()).find((g) => g.id === id)!;
  }

  /** Deletes generations that are no longer published (expired or withdrawn); returns their ids. */
  async prune(): Promise<string[]> {
    const gone = (await this.list()).filter((g) => g.status === 'expired' || g.status === 'withdrawn');
    for (const generation of gone) await this.#repository.remove(generation.id);
    return gone.map((g) => g.id);
  }

  #seal(id: string, keys: JWK[], activatesAt: number, createdAt = this.#now()): SigningKeyGenerationRecord {
    return {
      id, createdAt, activatesAt, withdrawnAt: null,
      publicKeys: keys.map(({ kty, crv, x, y, kid, alg, use }) => Object.fromEntries(Object.entries({ kty, crv, x, y, kid, alg, use }).filter(([, v]) => v !== undefined)) as Record<string, string>),
      sealed: this.#cipher.seal({ keys }, `signing-keys:${id}`),
    };
  }

  #open(generation: SigningKeyGenerationRecord): JWK[] {
    return privateJwks.parse(this.#cipher.open(generation.sealed, `signing-keys:${generation.id}`)).keys as JWK[];
  }
}

async function newKeyPair(): Promise<JWK[]> {
  return [await signingKey('ec', 'ES256'), await signingKey('ed25519', 'EdDSA')];
}

async function signingKey(type: 'ec' | 'ed25519', alg: 'ES256' | 'EdDSA'): Promise<JWK> {
  const { privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

/**
 * Keeps one process in step with the schedule: it reads the store every `intervalMs` (another process or the CLI
 * may have rotated) and at the schedule's own next change, and calls `onChange` when the published set differs.
 */
export class KeyWatcher {
  readonly #keys: SigningKeys;
  readonly #onChange: (keys: PublishedKeys) => void;
  readonly #onError: (error: unknown) => void;
  readonly #interval: NodeJS.Timeout;
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(keys: SigningKeys, current: PublishedKeys, intervalMs: number, onChange: (keys: PublishedKeys) => void, onError: (error: unknown) => void) {
    this.#keys = keys;
    this.#fingerprint = current.fingerprint;
    this.#onChange = onChange;
    this.#onError = onError;
    this.#interval = setInterval(() => void this.check(), intervalMs).unref();
    this.#schedule(current.nextChange);
  }

  /** Reads the schedule now (after this process changed it, say); concurrent calls share one read. */
  check(): Promise<void> {
    this.#checking ??= this.#keys.published().then((keys) => {
      this.#schedule(keys.nextChange);
      if (keys.fingerprint === this.#fingerprint) return;
      this.#fingerprint = keys.fingerprint;
      this.#onChange(keys);
    }).catch(this.#onError).finally(() => { this.#checking = undefined; });
    return this.#checking;
  }

  stop(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#timer);
  }

  #schedule(at: number | undefined): void {
    clearTimeout(this.#timer);
    // setTimeout holds at most ~24.8 days; the interval covers anything further away.
    if (at !== undefined) this.#timer = setTimeout(() => void this.check(), Math.min(Math.max(at - Date.now(), 0) + 50, 2 ** 31 - 1)).unref();
  }
}
