// How often recovery may be tried, beyond the credential throttle that counts wrong codes and faces. Counters live
// in the store's rate limiters (shared by every process, kept across restarts). Each is keyed by what the person
// typed or where they came from, never by whether an account exists: an identifier or document that names no
// account is counted exactly like one that does, so the limits cannot be used to find out which is which.
import type { RateLimiterFactory } from '../identity/throttle.ts';

const HOUR = 3600;
const DAY = 24 * HOUR;

export const RECOVERY_LIMITS = {
  /** Recoveries started from one address. */
  startsPerAddress: { points: 20, duration: HOUR },
  /** Forgotten-password recoveries of one account, counted when the code to its phone is right. */
  perAccount: { points: 5, duration: DAY },
  /** Recoveries that give one document (keyed hash) the registry recognises, whoever it belongs to. */
  perDocument: { points: 5, duration: DAY },
  /** Codes sent (or, for an identifier that names no account, pretended to be sent) for one account or identifier. */
  codesPerAccount: { points: 10, duration: DAY },
} as const;

export type RecoveryLimit = keyof typeof RECOVERY_LIMITS;

export type Taken = { allowed: true } | { allowed: false; retryAfter: number };

export class RecoveryLimits {
  readonly #limiters: Record<RecoveryLimit, ReturnType<RateLimiterFactory>>;

  constructor(createLimiter: RateLimiterFactory) {
    const limiter = (name: RecoveryLimit) => createLimiter({ keyPrefix: `recovery-${name}`, ...RECOVERY_LIMITS[name] });
    this.#limiters = {
      startsPerAddress: limiter('startsPerAddress'),
      perAccount: limiter('perAccount'),
      perDocument: limiter('perDocument'),
      codesPerAccount: limiter('codesPerAccount'),
    };
  }

  /** Counts one against `limit` for `key`; refused (with seconds until the window frees one) when it is used up. */
  async take(limit: RecoveryLimit, key: string): Promise<Taken> {
    try {
      await this.#limiters[limit].consume(key, 1);
      return { allowed: true };
    } catch (refusal) {
      // rate-limiter-flexible rejects with its result when over the limit, with an Error when the store fails.
      if (refusal instanceof Error) throw refusal;
      return { allowed: false, retryAfter: Math.max(1, Math.ceil((refusal as { msBeforeNext: number }).msBeforeNext / 1000)) };
    }
  }
}
