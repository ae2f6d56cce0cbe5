// Enrolment, step by step: document → registry check → face check → phone + one-time code → password →
// done (the account, its personal network number shown once, and an offer to add a passkey). The web pages
// and the JSON API both drive this one state machine. The state is short-lived and sealed at rest: it holds
// the registry's person record between steps. The phone step answers alike for every number (no oracle), and
// starts are limited per address.
import { createHash, randomBytes } from 'node:crypto';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { bearerKey } from '../../adapters/bearer.ts';
import type { GuardianRequestRepository, ShortLivedStore } from '../../adapters/types.ts';
import { DuplicateAccountError } from '../../adapters/types.ts';
import type { Translate } from '../../interactions/i18n.ts';
import type { Accounts } from '../identity/accounts.ts';
import { ageOn, todayInChina } from '../identity/claims.ts';
import { checkDocumentNumber, type FormatProblem, type IdentityDocument } from '../identity/documents.ts';
import type { FaceVerifier } from '../identity/face.ts';
import type { OneTimeCodes } from '../identity/one-time-codes.ts';
import { passwordProblem, personalStrings, type PasswordProblem } from '../identity/password-policy.ts';
import { normalisePhone, smsAllowed, type SmsCountryCodes } from '../identity/phone.ts';
import type { AttributeCipher } from '../identity/protection.ts';
import type { DocumentClaim, IdentityRegistry, MismatchReason, PersonRecord } from '../identity/registry.ts';
import { addressKey, type RateLimiterFactory } from '../identity/throttle.ts';
import type { Logger } from '../logger.ts';
import { enrolmentSms } from './forms.ts';

export const ENROLMENT_SECONDS = 30 * 60;
export const MAX_DOCUMENT_ATTEMPTS = 5;
export const MAX_FACE_ATTEMPTS = 3;
const SELF_ENROLMENT_AGE = 14;
const ADULT_AGE = 18;
/** Enrolments one address may start in the window: a family enrolling together fits; a script creating state does not. */
export const STARTS_PER_ADDRESS = 10;
export const START_WINDOW_SECONDS = 10 * 60;
/**
 * Checked instead of the guess for a number that already has a Cyber ID: no code was sent to it, and no six-digit
 * guess can equal this, so every guess is refused like a wrong code and counted like one.
 */
const NO_CODE_WAS_SENT = 'none';

export type Step = 'document' | 'face' | 'phone' | 'code' | 'password' | 'done' | 'ended';

/** Why an enrolment ended without an account. */
export type Ending = 'under_14' | 'already_enrolled' | 'too_many_document_attempts' | 'face_failed';

export interface EnrolmentState {
  step: Step;
  /** The guardian's account id when a guardian applies for a child under 14. */
  appliedBy: string | null;
  documentAttempts: number;
  faceAttempts: number;
  document?: IdentityDocument;
  person?: PersonRecord;
  verifiedAt?: number;
  /** E.164; null when a guardian enrols a child without a phone. */
  phone?: string | null;
  /** The phone was already on an account when it was entered: it was sent a notice, not a code (never shown). */
  phoneInUse?: boolean;
  accountId?: string;
  /** Kept only until it has been shown once. */
  networkNumber?: string;
  outcome?: 'active' | 'awaiting_guardian';
  /** For an account awaiting its guardian: whether any guardian the registry names is enrolled yet. */
  guardianEnrolled?: boolean;
  ending?: Ending;
}

/** A step's refusal: `code` names the message, `field` the form field it belongs to. */
export interface Refusal {
  code:
    | 'wrong_step' | 'invalid_input'
    | `document_${FormatProblem}` | 'registry_mismatch' | 'document_expired' | 'document_revoked' | 'not_under_14' | 'not_guardian'
    | 'liveness_failed' | 'face_mismatch'
    | 'phone_invalid' | 'phone_not_allowed' | 'phone_taken' | 'code_cool_down' | 'code_wrong' | 'code_expired' | 'code_exhausted'
    | `password_${PasswordProblem}` | 'phone_required';
  field?: string;
  retryAfter?: number;
  guessesLeft?: number;
}

export type StepResult = { ok: true; state: EnrolmentState } | { ok: false; refusal: Refusal; state: EnrolmentState };

export type StartResult = { started: true; id: string; state: EnrolmentState } | { started: false; retryAfter: number };

export interface EnrolmentDependencies {
  store: ShortLivedStore;
  cipher: AttributeCipher;
  accounts: Accounts;
  guardianRequests: GuardianRequestRepository;
  registry: IdentityRegistry;
  faces: FaceVerifier;
  codes: OneTimeCodes;
  /** Counters shared by every process (the store's), for the limit on starts. */
  rateLimiter: RateLimiterFactory;
  /** Where SMS may go (`CYBERID_SMS_COUNTRY_CODES`). */
  smsCountryCodes: SmsCountryCodes;
  /** The provider's public URL: account recovery is at {issuer}/recover. */
  issuer: string;
  logger: Logger;
}

/** What a registry mismatch tells the person: details that do not match are not told apart (no name oracle). */
function refusalOfMismatch(reason: MismatchReason): Refusal {
  if (reason === 'expired') return { code: 'document_expired' };
  if (reason === 'revoked') return { code: 'document_revoked' };
  return { code: 'registry_mismatch' };
}

export class Enrolments {
  readonly #deps: EnrolmentDependencies;
  readonly #starts: RateLimiterAbstract;
  readonly smsCountryCodes: SmsCountryCodes;
  /** Account recovery, offered when a verified phone turns out to belong to another Cyber ID. */
  readonly recoverUrl: string;

  constructor(deps: EnrolmentDependencies) {
    this.#deps = deps;
    this.#starts = deps.rateLimiter({ keyPrefix: 'enrolment-starts', points: STARTS_PER_ADDRESS, duration: START_WINDOW_SECONDS });
    this.smsCountryCodes = deps.smsCountryCodes;
    this.recoverUrl = new URL('/recover', deps.issuer).href;
  }

  /**
   * Starts an enrolment from `address` (the client's IP); the returned id is its bearer secret (cookie or API token).
   * Each start creates state and leads to SMS, so an address may start only a few in a window.
   */
  async start(address: string, appliedBy: string | null = null): Promise<StartResult> {
    try {
      await this.#starts.consume(addressKey(address));
    } catch (refusal) {
      // rate-limiter-flexible rejects with its result when over the limit, with an Error when the store fails.
      if (refusal instanceof Error) throw refusal;
      this.#deps.logger.info({ event: 'enrolment.start_limited' }, 'too many enrolments started from one address');
      return { started: false, retryAfter: Math.max(1, Math.ceil((refusal as { msBeforeNext: number }).msBeforeNext / 1000)) };
    }
    const id = randomBytes(24).toString('base64url');
    const state: EnrolmentState = { step: 'document', appliedBy, documentAttempts: 0, faceAttempts: 0 };
    await this.#save(id, state);
    this.#log(id, 'enrolment.started', { guardianApplied: appliedBy !== null });
    return { started: true, id, state };
  }

  async load(id: string): Promise<EnrolmentState | undefined> {
    const sealed = await this.#deps.store.get<string>(storeKey(id));
    return sealed === undefined ? undefined : this.#deps.cipher.open(sealed, `enrolment:${id}`) as EnrolmentState;
  }

  async submitDocument(id: string, state: EnrolmentState, claim: DocumentClaim): Promise<StepResult> {
    if (state.step !== 'document') return wrongStep(state);
    const format = checkDocumentNumber(claim.document.type, claim.document.number);
    if (!format.ok) return refuse(state, { code: `document_${format.problem}`, field: 'document_number' });

    state.documentAttempts += 1;
    const answer = await this.#deps.registry.verify({ ...claim, document: { type: claim.document.type, number: format.number } }, todayInChina());
    if (answer.status === 'mismatch') {
      this.#log(id, 'enrolment.registry_mismatch', { reason: answer.reason, attempt: state.documentAttempts });
      if (state.documentAttempts >= MAX_DOCUMENT_ATTEMPTS) return this.#end(id, state, 'too_many_document_attempts');
      await this.#save(id, state);
      return refuse(state, refusalOfMismatch(answer.reason));
    }

    const age = ageOn(answer.person.birthdate, todayInChina());
    if (state.appliedBy === null && age < SELF_ENROLMENT_AGE) return this.#end(id, state, 'under_14');
    if (state.appliedBy !== null) {
      await this.#save(id, state);
      if (age >= SELF_ENROLMENT_AGE) return refuse(state, { code: 'not_under_14' });
      const guardian = await this.#deps.accounts.findById(state.appliedBy);
      const guardianHashes = answer.person.guardians.map((personId) => this.#deps.accounts.personHash(personId));
      if (!guardian || !guardianHashes.includes(guardian.personHash)) return refuse(state, { code: 'not_guardian' });
    }
    Object.assign(state, { step: 'face', document: { type: claim.document.type, number: format.number }, person: answer.person, verifiedAt: Math.floor(Date.now() / 1000) });
    await this.#save(id, state);
    this.#log(id, 'enrolment.registry_verified', { documentType: claim.document.type });
    return { ok: true, state };
  }

  async submitFace(id: string, state: EnrolmentState, capture: string): Promise<StepResult> {
    if (state.step !== 'face' || !state.person) return wrongStep(state);
    const result = await this.#deps.faces.verify({ personId: state.person.personId, capture });
    this.#log(id, 'enrolment.face_checked', { passed: result.passed, live: result.live, score: result.score });
    if (!result.passed) {
      state.faceAttempts += 1;
      if (state.faceAttempts >= MAX_FACE_ATTEMPTS) return this.#end(id, state, 'face_failed');
      await this.#save(id, state);
      return refuse(state, { code: result.live ? 'face_mismatch' : 'liveness_failed' });
    }
    // Checked only now that the person has shown they are the document's holder, so document data alone
    // cannot reveal whether someone has a Cyber ID.
    if (await this.#deps.accounts.findByPerson(state.person.personId)) return this.#end(id, state, 'already_enrolled');
    state.step = 'phone';
    await this.#save(id, state);
    return { ok: true, state };
  }

  /**
   * The answer is the same whether or not the number already has a Cyber ID, so this step tells nobody who is
   * enrolled: a number in use is sent a notice (you already have a Cyber ID; recover it) through the same code
   * path, with the same cool-down and hourly cap, and its code step refuses every guess as wrong. `t` words the SMS.
   */
  async submitPhone(id: string, state: EnrolmentState, given: string, t: Translate): Promise<StepResult> {
    if (state.step !== 'phone' && state.step !== 'code') return wrongStep(state);
    const phone = normalisePhone(given);
    if (!phone) return refuse(state, { code: 'phone_invalid', field: 'phone' });
    if (!smsAllowed(phone, this.#deps.smsCountryCodes)) return refuse(state, { code: 'phone_not_allowed', field: 'phone' });
    const phoneInUse = await this.#deps.accounts.isPhoneTaken(phone);
    const sent = await this.#sendCode(phone, phoneInUse, t);
    if (!sent.sent) return refuse(state, { code: 'code_cool_down', field: 'phone', retryAfter: sent.retryAfter });
    Object.assign(state, { step: 'code', phone, phoneInUse });
    await this.#save(id, state);
    this.#log(id, 'enrolment.phone_entered', { phoneInUse });
    return { ok: true, state };
  }

  /** A guardian may enrol a child who has no phone of their own. */
  async skipPhone(id: string, state: EnrolmentState): Promise<StepResult> {
    if (state.step !== 'phone' && state.step !== 'code') return wrongStep(state);
    if (state.appliedBy === null) return refuse(state, { code: 'phone_required', field: 'phone' });
    Object.assign(state, { step: 'password', phone: null, phoneInUse: undefined });
    await this.#save(id, state);
    return { ok: true, state };
  }

  async resendCode(id: string, state: EnrolmentState, t: Translate): Promise<StepResult> {
    if (state.step !== 'code' || !state.phone) return wrongStep(state);
    const sent = await this.#sendCode(state.phone, state.phoneInUse === true, t);
    if (!sent.sent) return refuse(state, { code: 'code_cool_down', field: 'code', retryAfter: sent.retryAfter });
    return { ok: true, state };
  }

  /** Back from the code step to change the phone number. */
  async changePhone(id: string, state: EnrolmentState): Promise<StepResult> {
    if (state.step !== 'code') return wrongStep(state);
    state.step = 'phone';
    await this.#save(id, state);
    return { ok: true, state };
  }

  async submitCode(id: string, state: EnrolmentState, code: string): Promise<StepResult> {
    if (state.step !== 'code' || !state.phone) return wrongStep(state);
    const checked = await this.#deps.codes.check('enrolment', state.phone, state.phoneInUse ? NO_CODE_WAS_SENT : code);
    if (checked.result === 'wrong') return refuse(state, { code: 'code_wrong', field: 'code', guessesLeft: checked.guessesLeft });
    if (checked.result !== 'ok') return refuse(state, { code: `code_${checked.result}`, field: 'code' });
    // The person has proven they hold this phone, so they may be told: someone enrolled it since the code was sent.
    if (await this.#deps.accounts.isPhoneTaken(state.phone)) return this.#phoneTaken(id, state);
    state.step = 'password';
    await this.#save(id, state);
    return { ok: true, state };
  }

  async submitPassword(id: string, state: EnrolmentState, password: string): Promise<StepResult> {
    if (state.step !== 'password' || !state.person || !state.document || state.phone === undefined) return wrongStep(state);
    const { person, document } = state;
    const problem = passwordProblem(password, personalStrings({ phone: state.phone, birthdate: person.birthdate, documentNumber: document.number, name: person.name }));
    if (problem) return refuse(state, { code: `password_${problem}`, field: 'password' });

    const minor = ageOn(person.birthdate, todayInChina()) < ADULT_AGE;
    const awaitingGuardian = minor && state.appliedBy === null;
    let account;
    try {
      account = await this.#deps.accounts.create({
        person, document, password,
        phone: state.phone,
        guardianId: state.appliedBy,
        status: awaitingGuardian ? 'awaiting_guardian' : 'active',
        verifiedAt: new Date((state.verifiedAt ?? 0) * 1000),
      });
    } catch (error) {
      if (!(error instanceof DuplicateAccountError)) throw error;
      // Someone enrolled the same person or phone while this enrolment was open.
      if (error.field === 'phone') return this.#phoneTaken(id, state);
      return this.#end(id, state, 'already_enrolled');
    }
    if (awaitingGuardian) {
      const hashes = person.guardians.map((personId) => this.#deps.accounts.personHash(personId));
      await this.#deps.guardianRequests.add(account.id, hashes);
      state.guardianEnrolled = (await Promise.all(person.guardians.map((g) => this.#deps.accounts.findByPerson(g)))).some(Boolean);
    }
    // The person record is not needed any more; the account holds the sealed identity.
    Object.assign(state, { step: 'done', accountId: account.id, networkNumber: account.identity.networkNumber, outcome: account.status, person: undefined, document: undefined });
    await this.#save(id, state);
    this.#log(id, 'enrolment.completed', { outcome: account.status, guardianApplied: state.appliedBy !== null });
    return { ok: true, state };
  }

  /** The personal network number, the first time only. */
  async takeNetworkNumber(id: string, state: EnrolmentState): Promise<string | undefined> {
    const { networkNumber } = state;
    if (!networkNumber) return undefined;
    delete state.networkNumber;
    await this.#save(id, state);
    return networkNumber;
  }

  /** A code, or for a number in use a notice that says nothing to whoever typed the number and helps its owner. */
  #sendCode(phone: string, phoneInUse: boolean, t: Translate) {
    const sms = enrolmentSms(t, this.recoverUrl);
    return this.#deps.codes.send('enrolment', phone, phoneInUse ? () => sms.phoneInUse : sms.code);
  }

  /** A verified phone that belongs to another Cyber ID: back to the phone step, with recovery offered. */
  async #phoneTaken(id: string, state: EnrolmentState): Promise<StepResult> {
    Object.assign(state, { step: 'phone', phone: undefined, phoneInUse: undefined });
    await this.#save(id, state);
    this.#log(id, 'enrolment.phone_taken', {});
    return refuse(state, { code: 'phone_taken', field: 'phone' });
  }

  async #end(id: string, state: EnrolmentState, ending: Ending): Promise<StepResult> {
    Object.assign(state, { step: 'ended', ending, person: undefined, document: undefined });
    await this.#save(id, state);
    this.#log(id, 'enrolment.ended', { ending });
    return { ok: true, state };
  }

  async #save(id: string, state: EnrolmentState): Promise<void> {
    await this.#deps.store.set(storeKey(id), this.#deps.cipher.seal(state, `enrolment:${id}`), ENROLMENT_SECONDS);
  }

  /** Enrolments are logged by a reference derived from their id (which is a bearer secret), never with personal data. */
  #log(id: string, event: string, fields: Record<string, unknown>): void {
    const reference = createHash('sha256').update(id).digest('base64url').slice(0, 12);
    this.#deps.logger.info({ event, enrolment: reference, ...fields }, event);
  }
}

/**
 * The id is the enrolment's bearer value (its cookie, the API's token): stored under its hash (DESIGN §6). The sealed
 * state stays bound to the clear id (`enrolment:<id>` as associated data), which only the holder knows.
 */
function storeKey(id: string): string {
  return bearerKey('enrolment', id);
}

function refuse(state: EnrolmentState, refusal: Refusal): StepResult {
  return { ok: false, refusal, state };
}

function wrongStep(state: EnrolmentState): StepResult {
  return refuse(state, { code: 'wrong_step' });
}
