// One-time codes sent by SMS: six digits, stored only as a keyed hash, valid for five minutes, a limited
// number of guesses per code, a cool-down between sends, and caps on the sends to one phone per hour and per
// day for each kind of purpose (all sign-ins together, all enrolments together…), whatever the interaction.
import { randomInt } from 'node:crypto';
import type { ShortLivedStore } from '../../adapters/types.ts';
import type { LookupHasher } from './protection.ts';
import type { SmsSender } from './sms.ts';

export const CODE_LIFETIME_SECONDS = 300;
export const MAX_GUESSES = 5;
export const RESEND_COOL_DOWN_SECONDS = 60;
/** Codes one phone may receive by default, all purposes together: a person signing in to several platforms stays well below. */
export const MAX_SENDS_PER_HOUR = 10;
export const MAX_SENDS_PER_DAY = 20;

export interface SendLimits {
  perHour: number;
  perDay: number;
}

interface IssuedCode {
  codeHash: string;
  issuedAt: number;
}

export type SendResult = { sent: true; resendAfter: number } | { sent: false; retryAfter: number };

export type CheckResult =
  | { result: 'ok' }
  | { result: 'wrong'; guessesLeft: number }
  | { result: 'expired' }
  | { result: 'exhausted' };

export interface OneTimeCodeOptions {
  /** Milliseconds since the epoch; tests move it forward to see a code expire. */
  now?: () => number;
  /** Sends per phone (CYBERID_SMS_PER_PHONE); MAX_SENDS_PER_HOUR and MAX_SENDS_PER_DAY by default. */
  limits?: SendLimits;
}

export class OneTimeCodes {
  readonly #store: ShortLivedStore;
  readonly #hasher: LookupHasher;
  readonly #sms: SmsSender;
  readonly #now: () => number;
  readonly #limits: SendLimits;

  constructor(store: ShortLivedStore, hasher: LookupHasher, sms: SmsSender, options: OneTimeCodeOptions = {}) {
    this.#store = store;
    this.#hasher = hasher;
    this.#sms = sms;
    this.#now = options.now ?? Date.now;
    this.#limits = options.limits ?? { perHour: MAX_SENDS_PER_HOUR, perDay: MAX_SENDS_PER_DAY };
  }

  /** Sends a new code to `phone` (E.164) for `purpose`, replacing any earlier one; `text` words the message. */
  async send(purpose: string, phone: string, text: (code: string) => string): Promise<SendResult> {
    const key = this.#key(purpose, phone);
    const now = this.#now();
    const previous = await this.#store.get<IssuedCode>(key);
    const coolDownEnds = previous ? previous.issuedAt + RESEND_COOL_DOWN_SECONDS * 1000 : 0;
    if (now < coolDownEnds) return { sent: false, retryAfter: Math.ceil((coolDownEnds - now) / 1000) };
    // Each kind of purpose (sign-in, enrolment, phone change, recovery) has its own budget: codes asked for through
    // one (by a stranger who knows only the number) cannot use up the person's sign-in codes.
    const kind = purpose.split(':')[0];
    const phoneKey = `otp-sends:${kind}:${this.#hasher.hash('phone', phone)}`;
    if (await this.#store.increment(`${phoneKey}:hour`, 3600) > this.#limits.perHour) return { sent: false, retryAfter: 3600 };
    if (await this.#store.increment(`${phoneKey}:day`, 24 * 3600) > this.#limits.perDay) return { sent: false, retryAfter: 24 * 3600 };

    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await this.#store.set(key, { codeHash: this.#hash(key, now, code), issuedAt: now } satisfies IssuedCode, CODE_LIFETIME_SECONDS);
    await this.#sms.send(phone, text(code));
    return { sent: true, resendAfter: RESEND_COOL_DOWN_SECONDS };
  }

  /** Checks a guess; the right code is consumed, so it works once. */
  async check(purpose: string, phone: string, guess: string): Promise<CheckResult> {
    const key = this.#key(purpose, phone);
    const issued = await this.#store.get<IssuedCode>(key);
    if (!issued || this.#now() >= issued.issuedAt + CODE_LIFETIME_SECONDS * 1000) return { result: 'expired' };
    // Counted before comparing, atomically, so parallel guesses cannot exceed the limit.
    const guesses = await this.#store.increment(`${key}:${issued.issuedAt}:guesses`, CODE_LIFETIME_SECONDS);
    if (guesses > MAX_GUESSES) return { result: 'exhausted' };
    if (this.#hash(key, issued.issuedAt, guess.trim()) !== issued.codeHash) {
      return guesses === MAX_GUESSES ? { result: 'exhausted' } : { result: 'wrong', guessesLeft: MAX_GUESSES - guesses };
    }
    return (await this.#store.delete(key)) ? { result: 'ok' } : { result: 'expired' };
  }

  #key(purpose: string, phone: string): string {
    return `otp:${purpose}:${this.#hasher.hash('phone', phone)}`;
  }

  #hash(key: string, issuedAt: number, code: string): string {
    return this.#hasher.hash('one-time-code', `${key}:${issuedAt}:${code}`);
  }
}
