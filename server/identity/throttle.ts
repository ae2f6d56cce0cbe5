// Rate limits and progressive lockout on every credential check (password, one-time code, face, QR
// approval), per account and per IP address, and for one-time codes a count of their own per account that no
// sign-in forgives. Counters live in the configured store through rate-limiter-flexible, so every process sees
// the same counts and a restart does not forget them.
import { isIP } from 'node:net';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateLimiterOptions {
  keyPrefix: string;
  /** Failures allowed within `duration` seconds. */
  points: number;
  duration: number;
}

export type RateLimiterFactory = (options: RateLimiterOptions) => RateLimiterAbstract;

/** Who made an attempt: the account it was aimed at (when known) and the address it came from. */
export interface Attempt {
  account?: string | undefined;
  ip: string;
}

export type Verdict = { allowed: true } | { allowed: false; retryAfter: number };

/** What was checked: a one-time code also counts against the account's code lockout. */
export interface CheckKind {
  code?: boolean;
}

interface LockoutRule {
  /** Failures within the window that lock the subject. */
  failures: number;
  windowSeconds: number;
  /** The first lock; each further lock within a day doubles it, up to `maxLockSeconds`. */
  firstLockSeconds: number;
  maxLockSeconds: number;
}

/** Five wrong guesses lock an account for a minute, then 2, 4, 8… minutes, at most a day. */
export const ACCOUNT_RULE: LockoutRule = { failures: 5, windowSeconds: 15 * 60, firstLockSeconds: 60, maxLockSeconds: 24 * 3600 };
/** An address that fails 20 times in 15 minutes (many accounts, or one) is locked for 15 minutes, then longer. */
export const IP_RULE: LockoutRule = { failures: 20, windowSeconds: 15 * 60, firstLockSeconds: 15 * 60, maxLockSeconds: 24 * 3600 };

const DAY = 24 * 3600;

/**
 * Wrong one-time codes per account, across every interaction and page (sign-in, phone change). Unlike the account
 * rule, a successful sign-in does not forgive them: someone holding the password could otherwise guess a few codes,
 * sign in with the password alone at a loa1 platform, and guess on. They are counted over a day (a 15-minute window
 * could be fed four guesses at a time forever): five wrong codes lock code checks for 15 minutes, the next five for
 * 30, then 60…, so at most 35 guesses a day against a million codes.
 */
export const CODE_RULE: LockoutRule = { failures: 5, windowSeconds: DAY, firstLockSeconds: 15 * 60, maxLockSeconds: DAY };

class ProgressiveLockout {
  readonly #rule: LockoutRule;
  readonly #failures: RateLimiterAbstract;
  readonly #locks: RateLimiterAbstract;

  constructor(name: string, rule: LockoutRule, createLimiter: RateLimiterFactory) {
    this.#rule = rule;
    this.#failures = createLimiter({ keyPrefix: `${name}-failures`, points: rule.failures, duration: rule.windowSeconds });
    this.#locks = createLimiter({ keyPrefix: `${name}-locks`, points: 1_000_000, duration: DAY });
  }

  /** Seconds until the subject may try again; 0 when it is not locked. */
  async lockedFor(subject: string): Promise<number> {
    const state = await this.#failures.get(subject);
    return state && state.consumedPoints > this.#rule.failures ? Math.max(1, Math.ceil(state.msBeforeNext / 1000)) : 0;
  }

  /** Counts a failure; the one that reaches the limit locks the subject, and returns for how long. */
  async fail(subject: string): Promise<number> {
    const state = await this.#failures.penalty(subject, 1);
    if (state.consumedPoints < this.#rule.failures) return 0;
    const lockNumber = (await this.#locks.penalty(subject, 1)).consumedPoints;
    const seconds = Math.min(this.#rule.firstLockSeconds * 2 ** (lockNumber - 1), this.#rule.maxLockSeconds);
    await this.#failures.block(subject, seconds);
    return seconds;
  }

  async forgive(subject: string): Promise<void> {
    await Promise.all([this.#failures.delete(subject), this.#locks.delete(subject)]);
  }
}

export class CredentialThrottle {
  readonly #accounts: ProgressiveLockout;
  readonly #addresses: ProgressiveLockout;
  readonly #codes: ProgressiveLockout;

  /** `namespace` keeps other credentials' counts (platforms' client secrets) apart from people's. */
  constructor(createLimiter: RateLimiterFactory, rules: { account: LockoutRule; ip: LockoutRule; code?: LockoutRule } = { account: ACCOUNT_RULE, ip: IP_RULE }, namespace = '') {
    this.#accounts = new ProgressiveLockout(`${namespace}account`, rules.account, createLimiter);
    this.#addresses = new ProgressiveLockout(`${namespace}ip`, rules.ip, createLimiter);
    this.#codes = new ProgressiveLockout(`${namespace}code`, rules.code ?? CODE_RULE, createLimiter);
  }

  /** Asked before checking a credential: a locked account or address is not even checked. */
  async verdict(attempt: Attempt, kind: CheckKind = {}): Promise<Verdict> {
    return verdictOf(await Promise.all([
      attempt.account ? this.#accounts.lockedFor(attempt.account) : 0,
      this.#addresses.lockedFor(attempt.ip),
      attempt.account && kind.code ? this.#codes.lockedFor(attempt.account) : 0,
    ]));
  }

  /** A wrong credential; the verdict says whether this attempt locked the account or address. */
  async failed(attempt: Attempt, kind: CheckKind = {}): Promise<Verdict> {
    return verdictOf(await Promise.all([
      attempt.account ? this.#accounts.fail(attempt.account) : 0,
      this.#addresses.fail(attempt.ip),
      attempt.account && kind.code ? this.#codes.fail(attempt.account) : 0,
    ]));
  }

  /**
   * A successful sign-in clears its account's record, but not its wrong codes (CODE_RULE). The address keeps its
   * count: one valid account must not let an attacker's address guess on at others.
   */
  async succeeded(attempt: Attempt): Promise<void> {
    if (attempt.account) await this.#accounts.forgive(attempt.account);
  }
}

/** Locked for as long as the longer of the account's and the address's locks. */
function verdictOf(lockSeconds: number[]): Verdict {
  const retryAfter = Math.max(...lockSeconds);
  return retryAfter ? { allowed: false, retryAfter } : { allowed: true };
}

/**
 * What a per-address limit counts: an IPv4 address, or the /64 of an IPv6 one (a subscriber is given a whole /64, so
 * counting single IPv6 addresses would limit nothing).
 */
export function addressKey(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
