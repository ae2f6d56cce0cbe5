// A sign-in in progress inside one interaction: which account, which factors it has proven so far, and
// what is still needed to reach the level the platform requires. Kept in the short-lived store under the
// interaction's uid, so it is bound to the browser holding that interaction's cookie.
import type { ShortLivedStore } from '../adapters/types.ts';
import type { Account } from '../server/identity/accounts.ts';
import { smsAllowed, type SmsCountryCodes } from '../server/identity/phone.ts';
import { acrOf, atLeast, LOA2, LOA3, type Acr, type Factor } from '../server/identity/assurance.ts';

export interface SignInProgress {
  accountId: string;
  factors: Factor[];
  /** When a one-time code was last sent for this sign-in (epoch ms). */
  codeSentAt?: number;
  /** The phone may receive no more codes until then (epoch ms): its hourly or daily cap was reached. */
  codeHeldUntil?: number;
}

/** What the person does next: prove a second factor (code, or passkey / QR instead), a face match, or nothing. */
export type NextStep = 'code' | 'face' | 'done';

export function nextStep(progress: SignInProgress, required: Acr): NextStep {
  const factors = new Set(progress.factors);
  const reached = acrOf(factors);
  if (reached && atLeast(reached, required)) return 'done';
  if (!reached || !atLeast(reached, LOA2)) return 'code';
  return required === LOA3 ? 'face' : 'done';
}

/**
 * A second factor by SMS needs a phone on the account (a child enrolled by a guardian may have none) in a country the
 * operator lets us text (CYBERID_SMS_COUNTRY_CODES may have been narrowed since the phone was enrolled).
 */
export function canReceiveCode(account: Account, countryCodes: SmsCountryCodes): boolean {
  return account.identity.phone !== null && smsAllowed(account.identity.phone, countryCodes);
}

const INTERACTION_LIFETIME_SECONDS = 30 * 60;

export class SignIns {
  readonly #store: ShortLivedStore;

  constructor(store: ShortLivedStore) {
    this.#store = store;
  }

  get(uid: string): Promise<SignInProgress | undefined> {
    return this.#store.get<SignInProgress>(`sign-in:${uid}`);
  }

  async save(uid: string, progress: SignInProgress): Promise<void> {
    await this.#store.set(`sign-in:${uid}`, progress, INTERACTION_LIFETIME_SECONDS);
  }

  /** Adds a proven factor; a different account than the one in progress starts over. */
  async prove(uid: string, accountId: string, factor: Factor): Promise<SignInProgress> {
    const current = await this.get(uid);
    const factors = current?.accountId === accountId ? new Set([...current.factors, factor]) : new Set([factor]);
    const progress: SignInProgress = { ...(current?.accountId === accountId ? current : {}), accountId, factors: [...factors] };
    await this.save(uid, progress);
    return progress;
  }

  async clear(uid: string): Promise<void> {
    await this.#store.delete(`sign-in:${uid}`);
  }
}
