// The disclosure ledger (DESIGN §3): every release of claims to a platform, by name (never value), with the
// level of the sign-in behind it. The person reads their own ledger in the portal. Retention is a
// configured number of days, applied on every read and by a periodic sweep, so an entry past retention is
// never shown and is soon gone from the store.
import type { DisclosureChannel, DisclosureFilter, DisclosureRecord, DisclosureRepository, PlatformUsage } from '../../adapters/types.ts';
import { ALL_CLAIMS } from './claims.ts';

const DAY_MS = 24 * 3600 * 1000;

/** The identity claims present in a released payload (ID token or userinfo), in the claim table's order. */
export function releasedClaims(payload: Record<string, unknown>): string[] {
  return ALL_CLAIMS.filter((claim) => payload[claim] !== undefined);
}

export class DisclosureLedger {
  readonly #repository: DisclosureRepository;
  readonly retentionDays: number;

  constructor(repository: DisclosureRepository, retentionDays: number) {
    this.#repository = repository;
    this.retentionDays = retentionDays;
  }

  /** The oldest moment still within retention. */
  cutoff(now = Date.now()): number {
    return now - this.retentionDays * DAY_MS;
  }

  async record(accountId: string, clientId: string, claims: string[], acr: string | null, channel: DisclosureChannel, at = Date.now()): Promise<void> {
    if (claims.length) await this.#repository.add({ accountId, clientId, claims, acr, channel, at });
  }

  list(accountId: string, filter: DisclosureFilter = {}): Promise<DisclosureRecord[]> {
    return this.#repository.list(accountId, this.cutoff(), filter);
  }

  usage(accountId: string): Promise<PlatformUsage[]> {
    return this.#repository.usage(accountId, this.cutoff());
  }

  /** Removes every entry past retention; returns how many. */
  sweep(): Promise<number> {
    return this.#repository.removeBefore(this.cutoff());
  }

  /** Account deletion: the ledger is about the person, so it goes with their data. */
  forget(accountId: string): Promise<void> {
    return this.#repository.removeAllOf(accountId);
  }
}
