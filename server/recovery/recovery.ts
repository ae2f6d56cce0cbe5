// Account recovery, step by step, for a person who forgot their password or lost their phone:
//   forgotten password: phone or network number → a code to the phone on file → document re-proof → face check → new password
//   lost phone:         document re-proof → face check → a new number, checked by a code sent to it → (new password)
// Whatever it changes, every session of the account ends (platforms keep their consent), the security activity
// records it and the phone is told. Until the person has passed the face check nothing they see depends on whether
// the phone number, network number or document belongs to a Cyber ID: an identifier that names no account gets the
// same code page (no code is sent, and every code is wrong), and a document that names none gets the same face step
// (which then fails like another person's face).
import { DuplicateAccountError } from '../../adapters/types.ts';
import { translator } from '../../interactions/i18n.ts';
import type { Account, Accounts } from '../identity/accounts.ts';
import type { Origin, SecurityActivity } from '../identity/activity.ts';
import { ageOn, todayInChina } from '../identity/claims.ts';
import { checkDocumentNumber, type FormatProblem } from '../identity/documents.ts';
import type { FaceVerifier } from '../identity/face.ts';
import { parseNetworkNumber } from '../identity/network-number.ts';
import type { SecurityNotifications } from '../identity/notifications.ts';
import { CODE_LIFETIME_SECONDS, MAX_GUESSES, RESEND_COOL_DOWN_SECONDS, type OneTimeCodes } from '../identity/one-time-codes.ts';
import { passwordProblem, personalStrings, type PasswordProblem } from '../identity/password-policy.ts';
import { normalisePhone } from '../identity/phone.ts';
import type { DocumentClaim, IdentityRegistry, MismatchReason } from '../identity/registry.ts';
import { addressKey, type CredentialThrottle, type Verdict } from '../identity/throttle.ts';
import type { Logger } from '../logger.ts';
import type { RecoveryLimits } from './limits.ts';
import { reference, type CodeRecord, type Ending, type RecoveryState, type RecoveryStates, type Step } from './state.ts';

export const MAX_DOCUMENT_ATTEMPTS = 5;
export const MAX_FACE_ATTEMPTS = 3;
/** Codes per number in one recovery: the first and two more. */
export const MAX_CODE_SENDS = 3;
/** Recovery is for people who may hold an account of their own; a younger child's guardian looks after theirs. */
const SELF_RECOVERY_AGE = 14;

export type RefusalCode =
  | 'wrong_step' | 'invalid_input' | 'identifier_invalid'
  | 'code_format' | 'code_wrong' | 'code_expired' | 'code_exhausted' | 'code_wait' | 'codes_used_up'
  | `document_${FormatProblem}` | 'registry_mismatch' | 'document_expired' | 'document_revoked'
  | 'face_mismatch' | 'liveness_failed'
  | 'phone_invalid' | 'phone_not_textable' | 'phone_taken'
  | `password_${PasswordProblem}` | 'confirm_mismatch'
  | 'locked' | 'too_many_recoveries' | 'too_many_codes';

/** Why a step was refused: the message (`recover.error.<code>`), the field it belongs to, and numbers it needs. */
export interface Refusal {
  code: RefusalCode;
  field?: string;
  /** Seconds until it may be tried again (answered with 429 and Retry-After). */
  retryAfter?: number;
  guessesLeft?: number;
}

export type StepResult = { ok: true; state: RecoveryState } | { ok: false; state: RecoveryState; refusal: Refusal };

export interface RecoveryDependencies {
  states: RecoveryStates;
  accounts: Accounts;
  registry: IdentityRegistry;
  faces: FaceVerifier;
  codes: OneTimeCodes;
  /** The sign-in's credential throttle: wrong codes and faces count against the same limits. */
  throttle: CredentialThrottle;
  limits: RecoveryLimits;
  /** Ends every provider session of the account and revokes its tokens (Connections.endEverything). */
  endEverything: (accountId: string) => Promise<number>;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  /** Whether an SMS may be sent to this number (E.164). */
  mayText: (e164: string) => boolean;
  logger: Logger;
  now?: () => number;
}

/** Who is asking, for limits and for the security activity. */
export type Requester = Origin;

export class Recoveries {
  readonly #deps: RecoveryDependencies;
  readonly #now: () => number;

  constructor(deps: RecoveryDependencies) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Starts a recovery, limited per address; the id is its bearer secret. */
  async start(journey: RecoveryState['journey'], from: Requester): Promise<{ started: true; id: string; state: RecoveryState } | { started: false; retryAfter: number }> {
    const taken = await this.#deps.limits.take('startsPerAddress', addressKey(from.ip));
    if (!taken.allowed) {
      this.#deps.logger.info({ event: 'recovery.refused', why: 'starts_per_address' }, 'recovery refused: too many from this address');
      return { started: false, retryAfter: taken.retryAfter };
    }
    const { id, state } = await this.#deps.states.create(journey);
    this.#log(id, 'recovery.started', { journey });
    return { started: true, id, state };
  }

  load(id: string): Promise<RecoveryState | undefined> {
    return this.#deps.states.load(id);
  }

  /** Leaves the recovery: nothing it did is undone, nothing more can be done with it. */
  end(id: string): Promise<void> {
    return this.#deps.states.end(id);
  }

  // Forgotten password ---------------------------------------------------------------------------------------------

  /** The phone number or network number of the account. A code goes to the account's phone, if there is one. */
  async identify(id: string, state: RecoveryState, given: string): Promise<StepResult> {
    if (state.step !== 'identify') return wrongStep(state);
    const networkNumber = parseNetworkNumber(given);
    const phone = networkNumber ? undefined : normalisePhone(given);
    if (!networkNumber && !phone) return refuse(state, { code: 'identifier_invalid', field: 'identifier' });

    // Both look-ups run whatever the answer, so an unknown identifier takes as long as a known one.
    const subject = await this.#deps.accounts.attemptSubject(given);
    const account = networkNumber ? await this.#deps.accounts.findByNetworkNumber(networkNumber) : await this.#deps.accounts.findByPhone(phone!);
    // Only the codes are counted here; a recovery counts against the account once its code is right, so a stranger
    // who knows the number cannot use up the owner's recoveries.
    const taken = await this.#deps.limits.take('codesPerAccount', subject);
    if (!taken.allowed) return refuse(state, { code: 'too_many_codes', field: 'identifier', retryAfter: taken.retryAfter });
    const to = account?.identity.phone;
    const texted = Boolean(to && this.#deps.mayText(to));
    if (texted) this.#sendQuietly(id, to!);
    Object.assign(state, {
      step: 'code',
      identifier: phone ? { kind: 'phone', phone } : { kind: 'network_number' },
      subject,
      accountId: account?.id,
      texted,
      code: { sentAt: this.#now(), sends: 1, guesses: 0 },
    } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    this.#log(id, 'recovery.identified', { identifier: phone ? 'phone' : 'network_number' });
    return { ok: true, state };
  }

  async resendCode(id: string, state: RecoveryState): Promise<StepResult> {
    if (state.step !== 'code' || !state.code || !state.subject) return wrongStep(state);
    const refusal = await this.#mayResend(state.code, state.subject, state.expiresAt);
    if (refusal) return refuse(state, refusal);
    const account = await this.#textedAccount(state);
    if (account?.identity.phone) this.#sendQuietly(id, account.identity.phone);
    state.code = { sentAt: this.#now(), sends: state.code.sends + 1, guesses: 0 };
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  /**
   * The code sent at `identify`. For an identifier that names no account (or an account without a phone) every
   * code is wrong, with the same counting, expiry and lockout as a real one.
   */
  async checkCode(id: string, state: RecoveryState, guess: string, from: Requester): Promise<StepResult> {
    if (state.step !== 'code' || !state.code || !state.subject) return wrongStep(state);
    if (!/^\d{6}$/.test(guess)) return refuse(state, { code: 'code_format', field: 'code' });
    const attempt = { account: state.subject, ip: from.ip };
    const verdict = await this.#deps.throttle.verdict(attempt, { code: true });
    if (!verdict.allowed) return refuse(state, locked(verdict, 'code'));
    if (this.#now() >= state.code.sentAt + CODE_LIFETIME_SECONDS * 1000) return refuse(state, { code: 'code_expired', field: 'code' });

    state.code.guesses += 1;
    await this.#deps.states.save(id, state);
    const account = await this.#textedAccount(state);
    // One store read either way (an identifier without an account asks under a key that holds nothing).
    const checked = await this.#deps.codes.check(this.#purpose(id, 'code'), account?.identity.phone ?? state.subject, guess);
    if (account && state.code.guesses <= MAX_GUESSES && checked.result === 'ok') {
      const taken = await this.#deps.limits.take('perAccount', account.id);
      if (!taken.allowed) return refuse(state, { code: 'too_many_recoveries', field: 'code', retryAfter: taken.retryAfter });
      Object.assign(state, { step: 'document', code: undefined } satisfies Partial<RecoveryState>);
      await this.#deps.states.save(id, state);
      this.#log(id, 'recovery.code_passed', {});
      return { ok: true, state };
    }
    const after = await this.#failed(id, state, attempt, 'sms', from, { code: true });
    if (!after.allowed) return refuse(state, locked(after, 'code'));
    if (state.code.guesses >= MAX_GUESSES) return refuse(state, { code: 'code_exhausted', field: 'code' });
    return refuse(state, { code: 'code_wrong', field: 'code', guessesLeft: MAX_GUESSES - state.code.guesses });
  }

  // Identity re-proof (both journeys) ------------------------------------------------------------------------------

  /**
   * The identity document, checked against the registry. Forgotten password: it must also be the account's own
   * document, which is not told here (the face check fails instead). Lost phone: it names the account, if any.
   */
  async submitDocument(id: string, state: RecoveryState, claim: DocumentClaim): Promise<StepResult> {
    if (state.step !== 'document') return wrongStep(state);
    const format = checkDocumentNumber(claim.document.type, claim.document.number);
    if (!format.ok) return refuse(state, { code: `document_${format.problem}`, field: 'document_number' });
    const document = { type: claim.document.type, number: format.number };
    const hash = this.#deps.accounts.documentHash(document);
    state.documentAttempts += 1;
    const answer = await this.#deps.registry.verify({ ...claim, document }, todayInChina());
    // Looked up whatever the registry said, so the time taken does not depend on whether an account has this document.
    const owner = await this.#deps.accounts.findByDocument(document);
    if (answer.status === 'mismatch') {
      this.#log(id, 'recovery.registry_mismatch', { reason: answer.reason, attempt: state.documentAttempts });
      if (state.documentAttempts >= MAX_DOCUMENT_ATTEMPTS) return this.#end(id, state, 'too_many_document_attempts');
      await this.#deps.states.save(id, state);
      return refuse(state, refusalOfMismatch(answer.reason));
    }
    // Counted once the registry knows the document with this name and birth date: a document number alone cannot
    // use up its holder's recoveries.
    if (state.document?.hash !== hash) {
      const taken = await this.#deps.limits.take('perDocument', hash);
      if (!taken.allowed) return refuse(state, { code: 'too_many_recoveries', field: 'document_number', retryAfter: taken.retryAfter });
      state.document = { hash, type: document.type };
    }
    const samePerson = owner !== undefined && owner.personHash === this.#deps.accounts.personHash(answer.person.personId);
    if (state.journey === 'password') {
      state.documentMatches = samePerson && owner.id === state.accountId;
    } else {
      state.accountId = samePerson ? owner.id : undefined;
      state.documentMatches = samePerson;
    }
    Object.assign(state, { step: 'face', personId: answer.person.personId } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    this.#log(id, 'recovery.registry_verified', { documentType: document.type });
    return { ok: true, state };
  }

  /**
   * The face check against the registry photo of the document's holder. Passing it proves the person is that
   * holder; only then may they learn that the document has no Cyber ID (or that the account is not usable).
   */
  async submitFace(id: string, state: RecoveryState, capture: string, from: Requester): Promise<StepResult> {
    if (state.step !== 'face' || !state.personId || !state.document) return wrongStep(state);
    // Forgotten password: the account the phone proved; lost phone: the document (whoever holds it), so that failures
    // here never lock, or reveal, an account the person has not yet shown is theirs.
    const attempt = { account: state.journey === 'password' ? state.subject : `document:${state.document.hash}`, ip: from.ip };
    const verdict = await this.#deps.throttle.verdict(attempt);
    if (!verdict.allowed) return refuse(state, locked(verdict, 'subject'));
    const result = await this.#deps.faces.verify({ personId: state.personId, capture });
    const passed = result.passed && (state.journey === 'phone' || state.documentMatches === true);
    this.#log(id, 'recovery.face_checked', { passed, live: result.live });
    if (!passed) {
      state.faceAttempts += 1;
      const after = await this.#failed(id, state, attempt, 'face', from);
      if (state.faceAttempts >= MAX_FACE_ATTEMPTS) return this.#end(id, state, 'face_failed');
      await this.#deps.states.save(id, state);
      if (!after.allowed) return refuse(state, locked(after, 'subject'));
      return refuse(state, { code: result.live ? 'face_mismatch' : 'liveness_failed', field: 'subject' });
    }

    const account = state.documentMatches && state.accountId ? await this.#deps.accounts.findById(state.accountId) : undefined;
    if (!account) return this.#end(id, state, 'no_account');
    if (account.status === 'suspended') return this.#end(id, state, 'suspended');
    if (account.status === 'awaiting_guardian') return this.#end(id, state, 'awaiting_guardian');
    if (ageOn(account.identity.birthdate, todayInChina()) < SELF_RECOVERY_AGE) return this.#end(id, state, 'under_14');
    Object.assign(state, {
      step: state.journey === 'password' ? 'password' : 'phone',
      passwordRequired: state.journey === 'password' || account.passwordChangeRequired,
    } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  // Lost phone -----------------------------------------------------------------------------------------------------

  /** The new phone number; a code is sent to it. */
  async submitPhone(id: string, state: RecoveryState, given: string): Promise<StepResult> {
    if ((state.step !== 'phone' && state.step !== 'phone_code') || !state.accountId) return wrongStep(state);
    const phone = normalisePhone(given);
    if (!phone) return refuse(state, { code: 'phone_invalid', field: 'phone' });
    if (!this.#deps.mayText(phone)) return refuse(state, { code: 'phone_not_textable', field: 'phone' });
    const record = state.newPhone === phone ? state.newPhoneCode : undefined;
    if (record) {
      const refusal = await this.#mayResend(record, state.accountId, state.expiresAt, 'phone');
      if (refusal) return refuse(state, refusal);
    }
    const sent = await this.#deps.codes.send(this.#purpose(id, 'phone'), phone, codeText);
    if (!sent.sent) return refuse(state, { code: 'code_wait', field: 'phone', retryAfter: sent.retryAfter });
    Object.assign(state, {
      step: 'phone_code',
      newPhone: phone,
      newPhoneCode: { sentAt: this.#now(), sends: (record?.sends ?? 0) + 1, guesses: 0 },
    } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  async resendPhoneCode(id: string, state: RecoveryState): Promise<StepResult> {
    if (state.step !== 'phone_code' || !state.newPhone) return wrongStep(state);
    const result = await this.submitPhone(id, state, state.newPhone);
    return result.ok ? result : refuse(result.state, { ...result.refusal, field: 'code' });
  }

  /** Back from the code to the number (a typing mistake). */
  async changeNewPhone(id: string, state: RecoveryState): Promise<StepResult> {
    if (state.step !== 'phone_code') return wrongStep(state);
    state.step = 'phone';
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  /** The code sent to the new number: the number becomes the account's, and every session ends. */
  async checkPhoneCode(id: string, state: RecoveryState, guess: string, from: Requester): Promise<StepResult> {
    if (state.step !== 'phone_code' || !state.newPhone || !state.accountId) return wrongStep(state);
    if (!/^\d{6}$/.test(guess)) return refuse(state, { code: 'code_format', field: 'code' });
    const attempt = { account: state.accountId, ip: from.ip };
    const verdict = await this.#deps.throttle.verdict(attempt, { code: true });
    if (!verdict.allowed) return refuse(state, locked(verdict, 'code'));
    const checked = await this.#deps.codes.check(this.#purpose(id, 'phone'), state.newPhone, guess);
    if (checked.result === 'expired') return refuse(state, { code: 'code_expired', field: 'code' });
    if (checked.result !== 'ok') {
      const after = await this.#failed(id, state, attempt, 'sms', from, { code: true });
      if (!after.allowed) return refuse(state, locked(after, 'code'));
      if (checked.result === 'exhausted') return refuse(state, { code: 'code_exhausted', field: 'code' });
      return refuse(state, { code: 'code_wrong', field: 'code', guessesLeft: checked.guessesLeft });
    }

    const account = await this.#deps.accounts.findById(state.accountId);
    if (!account) return this.#end(id, state, 'no_account');
    try {
      await this.#deps.accounts.changePhone(account.id, state.newPhone);
    } catch (error) {
      if (!(error instanceof DuplicateAccountError)) throw error;
      // Said only now that the person has shown the number is theirs: no one can ask whether a number is enrolled.
      state.step = 'phone';
      await this.#deps.states.save(id, state);
      return refuse(state, { code: 'phone_taken', field: 'phone' });
    }
    const sessions = await this.#deps.endEverything(account.id);
    await this.#deps.activity.record(account.id, 'phone_recovered', from);
    await this.#deps.notifications.tell(state.newPhone, 'phone_recovered');
    // The old number is the only way to reach the owner if this recovery was not theirs.
    if (account.identity.phone && account.identity.phone !== state.newPhone) await this.#deps.notifications.tell(account.identity.phone, 'phone_changed_old');
    Object.assign(state, { step: state.passwordRequired ? 'password' : 'done', phoneChanged: true, newPhoneCode: undefined } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    this.#log(id, 'recovery.phone_recovered', { sessions });
    return { ok: true, state };
  }

  /** After a lost-phone recovery: a new password too, if the person wants one. */
  async offerPassword(id: string, state: RecoveryState): Promise<StepResult> {
    if (state.step !== 'done' || state.journey !== 'phone' || !state.phoneChanged || state.passwordSet) return wrongStep(state);
    state.step = 'password';
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  /** Not now: back to the end of a lost-phone recovery whose password still works. */
  async skipPassword(id: string, state: RecoveryState): Promise<StepResult> {
    if (state.step !== 'password' || state.passwordRequired) return wrongStep(state);
    state.step = 'done';
    await this.#deps.states.save(id, state);
    return { ok: true, state };
  }

  // Both journeys --------------------------------------------------------------------------------------------------

  /** The new password (policy and confirmation); every session ends. */
  async submitPassword(id: string, state: RecoveryState, password: string, confirm: string, from: Requester): Promise<StepResult> {
    if (state.step !== 'password' || !state.accountId) return wrongStep(state);
    const account = await this.#deps.accounts.findById(state.accountId);
    if (!account) return this.#end(id, state, 'no_account');
    const problem = passwordProblem(password, personalStrings(account.identity));
    if (problem) return refuse(state, { code: `password_${problem}`, field: 'password' });
    if (password !== confirm) return refuse(state, { code: 'confirm_mismatch', field: 'confirm' });
    await this.#deps.accounts.changePassword(account.id, password);
    const sessions = await this.#deps.endEverything(account.id);
    await this.#deps.activity.record(account.id, 'password_recovered', from);
    await this.#deps.notifications.tell(account.identity.phone, 'password_recovered');
    Object.assign(state, { step: 'done', passwordSet: true, passwordRequired: false } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    this.#log(id, 'recovery.password_recovered', { sessions });
    return { ok: true, state };
  }

  /** The account a finished recovery changed, for its last page (never before the face check passed). */
  async accountOf(state: RecoveryState): Promise<Account | undefined> {
    const proven: Step[] = ['phone', 'phone_code', 'password', 'done'];
    return proven.includes(state.step) && state.accountId ? this.#deps.accounts.findById(state.accountId) : undefined;
  }

  // ----------------------------------------------------------------------------------------------------------------

  async #mayResend(record: CodeRecord, subject: string, expiresAt: number, field = 'code'): Promise<Refusal | undefined> {
    const now = this.#now();
    const coolDownEnds = record.sentAt + RESEND_COOL_DOWN_SECONDS * 1000;
    if (now < coolDownEnds) return { code: 'code_wait', field, retryAfter: Math.ceil((coolDownEnds - now) / 1000) };
    if (record.sends >= MAX_CODE_SENDS) return { code: 'codes_used_up', field, retryAfter: Math.max(1, Math.ceil((expiresAt - now) / 1000)) };
    const taken = await this.#deps.limits.take('codesPerAccount', subject);
    return taken.allowed ? undefined : { code: 'too_many_codes', field, retryAfter: taken.retryAfter };
  }

  /** The account whose phone the code went to; one look-up either way, so an unknown identifier answers as fast. */
  async #textedAccount(state: RecoveryState): Promise<Account | undefined> {
    const found = await this.#deps.accounts.findById(state.accountId ?? state.subject ?? '');
    return state.texted && found?.id === state.accountId ? found : undefined;
  }

  /**
   * Sends the code without waiting for the SMS gateway, so that the page answers as fast for an identifier that
   * names no account (to which nothing is sent). A failure is logged; the person can ask for another code.
   */
  #sendQuietly(id: string, phone: string): void {
    this.#deps.codes.send(this.#purpose(id, 'code'), phone, codeText)
      .then((sent) => { if (!sent.sent) this.#log(id, 'recovery.code_not_sent', { retryAfter: sent.retryAfter }); })
      .catch((error: unknown) => this.#deps.logger.warn({ event: 'recovery.code_failed', recovery: reference(id), err: { message: (error as Error).message } }, 'a recovery code could not be sent'));
  }

  /** A wrong code or face: counted by the throttle, and written to the account's activity when there is an account. */
  async #failed(id: string, state: RecoveryState, attempt: { account?: string | undefined; ip: string }, factor: 'sms' | 'face', from: Requester, kind: { code?: boolean } = {}): Promise<Verdict> {
    const after = await this.#deps.throttle.failed(attempt, kind);
    const accountId = state.journey === 'password' || state.documentMatches ? state.accountId : undefined;
    if (accountId) {
      const detail = { method: 'recovery', factor };
      await this.#deps.activity.record(accountId, 'sign_in_failed', from, detail);
      if (!after.allowed) await this.#deps.activity.record(accountId, 'locked', from, { ...detail, minutes: String(Math.ceil(after.retryAfter / 60)) });
    }
    this.#log(id, after.allowed ? 'recovery.failed' : 'recovery.locked', { factor });
    return after;
  }

  async #end(id: string, state: RecoveryState, ending: Ending): Promise<StepResult> {
    Object.assign(state, { step: 'ended', ending, personId: undefined, newPhone: undefined } satisfies Partial<RecoveryState>);
    await this.#deps.states.save(id, state);
    this.#log(id, 'recovery.ended', { ending });
    return { ok: true, state };
  }

  /** A one-time code's purpose: bound to this recovery. */
  #purpose(id: string, which: 'code' | 'phone'): string {
    return `recovery-${which}:${reference(id)}`;
  }

  /** Logged by a reference derived from the id, never with personal data. */
  #log(id: string, event: string, fields: Record<string, unknown>): void {
    this.#deps.logger.info({ event, recovery: reference(id), ...fields }, event);
  }
}

/** The SMS that carries a recovery code: in Chinese, as every SMS here (sign-in codes, security notices). */
function codeText(code: string): string {
  return translator('zh-CN')('recover.sms.code', { code, minutes: String(CODE_LIFETIME_SECONDS / 60) });
}

function refusalOfMismatch(reason: MismatchReason): Refusal {
  if (reason === 'expired') return { code: 'document_expired', field: 'expires_on' };
  if (reason === 'revoked') return { code: 'document_revoked', field: 'document_number' };
  return { code: 'registry_mismatch', field: 'document_number' };
}

function locked(verdict: Exclude<Verdict, { allowed: true }>, field: string): Refusal {
  return { code: 'locked', field, retryAfter: verdict.retryAfter };
}

function refuse(state: RecoveryState, refusal: Refusal): StepResult {
  return { ok: false, state, refusal };
}

function wrongStep(state: RecoveryState): StepResult {
  return { ok: false, state, refusal: { code: 'wrong_step' } };
}
