// Enrolment, step by step: document → registry check → face check → phone + one-time code → password →
// done (the account, its personal network number shown once, and an offer to add a passkey). The web pages
// and the JSON API both drive this one state machine. The state is short-lived and sealed at rest: it holds
// the registry's person record between steps.
import { createHash, randomBytes } from 'node:crypto';
import type { GuardianRequestRepository, ShortLivedStore } from '../../adapters/types.ts';
import { DuplicateAccountError } from '../../adapters/types.ts';
import type { Accounts } from '../identity/accounts.ts';
import { ageOn, todayInChina } from '../identity/claims.ts';
import { checkDocumentNumber, type FormatProblem, type IdentityDocument } from '../identity/documents.ts';
import type { FaceVerifier } from '../identity/face.ts';
import type { OneTimeCodes } from '../identity/one-time-codes.ts';
import { passwordProblem, personalStrings, type PasswordProblem } from '../identity/password-policy.ts';
import { normalisePhone } from '../identity/phone.ts';
import type { AttributeCipher } from '../identity/protection.ts';
import type { DocumentClaim, IdentityRegistry, MismatchReason, PersonRecord } from '../identity/registry.ts';
import type { Logger } from '../logger.ts';

export const ENROLMENT_SECONDS = 30 * 60;
export const MAX_DOCUMENT_ATTEMPTS = 5;
export const MAX_FACE_ATTEMPTS = 3;
const SELF_ENROLMENT_AGE = 14;
const ADULT_AGE = 18;

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
    | 'phone_invalid' | 'phone_taken' | 'code_cool_down' | 'code_wrong' | 'code_expired' | 'code_exhausted'
    | `password_${PasswordProblem}` | 'phone_required';
  field?: string;
  retryAfter?: number;
  guessesLeft?: number;
}

export type StepResult = { ok: true; state: EnrolmentState } | { ok: false; refusal: Refusal; state: EnrolmentState };

export interface EnrolmentDependencies {
  store: ShortLivedStore;
  cipher: AttributeCipher;
  accounts: Accounts;
  guardianRequests: GuardianRequestRepository;
  registry: IdentityRegistry;
  faces: FaceVerifier;
  codes: OneTimeCodes;
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

  constructor(deps: EnrolmentDependencies) {
    this.#deps = deps;
  }

  /** Starts an enrolment; the returned id is its bearer secret (cookie or API token). */
  async start(appliedBy: string | null = null): Promise<{ id: string; state: EnrolmentState }> {
    const id = randomBytes(24).toString('base64url');
    const state: EnrolmentState = { step: 'document', appliedBy, documentAttempts: 0, faceAttempts: 0 };
    await this.#save(id, state);
    this.#log(id, 'enrolment.started', { guardianApplied: appliedBy !== null });
    return { id, state };
  }

  async load(id: string): Promise<EnrolmentState | undefined> {
    const sealed = await this.#deps.store.get<string>(`enrolment:${id}`);
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

  async submitPhone(id: string, state: EnrolmentState, given: string, message: (code: string) => string): Promise<StepResult> {
    if (state.step !== 'phone' && state.step !== 'code') return wrongStep(state);
    const phone = normalisePhone(given);
    if (!phone) return refuse(state, { code: 'phone_invalid', field: 'phone' });
    if (await this.#deps.accounts.isPhoneTaken(phone)) return refuse(state, { code: 'phone_taken', field: 'phone' });
    const sent = await this.#deps.codes.send('enrolment', phone, message);
    if (!sent.sent) return refuse(state, { code: 'code_cool_down', field: 'phone', retryAfter: sent.retryAfter });
    Object.assign(state, { step: 'code', phone });
    await this.#save(id, state);
    return { ok: true, state };
  }

  /** A guardian may enrol a child who has no phone of their own. */
  async skipPhone(id: string, state: EnrolmentState): Promise<StepResult> {
    if (state.step !== 'phone' && state.step !== 'code') return wrongStep(state);
    if (state.appliedBy === null) return refuse(state, { code: 'phone_required', field: 'phone' });
    Object.assign(state, { step: 'password', phone: null });
    await this.#save(id, state);
    return { ok: true, state };
  }

  async resendCode(id: string, state: EnrolmentState, message: (code: string) => string): Promise<StepResult> {
    if (state.step !== 'code' || !state.phone) return wrongStep(state);
    const sent = await this.#deps.codes.send('enrolment', state.phone, message);
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
    const checked = await this.#deps.codes.check('enrolment', state.phone, code);
    if (checked.result === 'wrong') return refuse(state, { code: 'code_wrong', field: 'code', guessesLeft: checked.guessesLeft });
    if (checked.result !== 'ok') return refuse(state, { code: `code_${checked.result}`, field: 'code' });
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
      if (error.field === 'phone') {
        state.step = 'phone';
        await this.#save(id, state);
        return refuse(state, { code: 'phone_taken', field: 'phone' });
      }
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

  async #end(id: string, state: EnrolmentState, ending: Ending): Promise<StepResult> {
    Object.assign(state, { step: 'ended', ending, person: undefined, document: undefined });
    await this.#save(id, state);
    this.#log(id, 'enrolment.ended', { ending });
    return { ok: true, state };
  }

  async #save(id: string, state: EnrolmentState): Promise<void> {
    await this.#deps.store.set(`enrolment:${id}`, this.#deps.cipher.seal(state, `enrolment:${id}`), ENROLMENT_SECONDS);
  }

  /** Enrolments are logged by a reference derived from their id (which is a bearer secret), never with personal data. */
  #log(id: string, event: string, fields: Record<string, unknown>): void {
    const reference = createHash('sha256').update(id).digest('base64url').slice(0, 12);
    this.#deps.logger.info({ event, enrolment: reference, ...fields }, event);
  }
}

function refuse(state: EnrolmentState, refusal: Refusal): StepResult {
  return { ok: false, refusal, state };
}

function wrongStep(state: EnrolmentState): StepResult {
  return refuse(state, { code: 'wrong_step' });
}
