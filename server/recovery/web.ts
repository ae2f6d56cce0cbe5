// Account recovery as web pages under /recover. The recovery's id travels in a signed, HttpOnly, SameSite=Strict
// cookie (path /recover); every form carries the CSRF token; GET /recover always shows the current step, so reload
// and the back button land where the person is, and a form posted for another step just goes back there.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { csrfToken, csrfValid } from '../../interactions/csrf.ts';
import { chooseLanguage, translator, type Translate } from '../../interactions/i18n.ts';
import { CsrfError, friendlyErrors } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import { DOCUMENT_TYPES } from '../identity/documents.ts';
import { SIMULATED_SUBJECTS, SimulatedFaceVerifier, type FaceVerifier } from '../identity/face.ts';
import { CODE_LIFETIME_SECONDS } from '../identity/one-time-codes.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../identity/password-policy.ts';
import { formatCountryCodes, smsAllowed, type SmsCountryCodes } from '../identity/phone.ts';
import { maskPhone } from '../identity/sms.ts';
import type { Store } from '../../adapters/types.ts';
import type { Accounts } from '../identity/accounts.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { SecurityNotifications } from '../identity/notifications.ts';
import type { OneTimeCodes } from '../identity/one-time-codes.ts';
import type { IdentityRegistry } from '../identity/registry.ts';
import type { CredentialThrottle } from '../identity/throttle.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from '../portal/connections.ts';
import { RecoveryLimits } from './limits.ts';
import { Recoveries, type Refusal, type StepResult } from './recovery.ts';
import { RECOVERY_SECONDS, RecoveryStates, type Journey, type RecoveryState } from './state.ts';

const COOKIE = 'cyberid_recovery';

export interface RecoveryWebDependencies {
  recoveries: Recoveries;
  faces: FaceVerifier;
  passkeys: Passkeys;
  smsCountryCodes: SmsCountryCodes;
  logger: Logger;
}

interface PageState {
  values?: Record<string, string>;
  refusal?: Refusal;
  notice?: string;
}

const journeyForm = z.object({ journey: z.enum(['password', 'phone']) });
const codeForm = z.object({ code: z.string().trim().max(16).default('') });
const documentForm = z.object({
  document_type: z.enum(DOCUMENT_TYPES),
  document_number: z.string().trim().min(1).max(32),
  name: z.string().trim().min(1).max(100),
  birthdate: z.iso.date(),
  expires_on: z.iso.date(),
});

/** Refusals answered with 429 and Retry-After; wrong credentials with 401; the rest as below. */
const STATUS: Partial<Record<Refusal['code'], number>> = {
  locked: 429, too_many_recoveries: 429, too_many_codes: 429, code_wait: 429, codes_used_up: 429,
  code_wrong: 401, code_exhausted: 401, face_mismatch: 401, liveness_failed: 401,
  registry_mismatch: 422, document_expired: 422, document_revoked: 422,
  phone_taken: 409,
};

/** What server/app.ts hands over to mount /recover. */
export interface AccountRecoveryDependencies {
  store: Pick<Store, 'shortLived' | 'rateLimiter'>;
  accounts: Accounts;
  registry: IdentityRegistry;
  faces: FaceVerifier;
  codes: OneTimeCodes;
  throttle: CredentialThrottle;
  connections: Pick<Connections, 'endEverything'>;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  passkeys: Passkeys;
  /** Where an SMS may go (CYBERID_SMS_COUNTRY_CODES). */
  smsCountryCodes: SmsCountryCodes;
  logger: Logger;
}

/** The /recover pages with everything they need, built from the app's dependencies. */
export function accountRecovery(deps: AccountRecoveryDependencies): Router {
  const recoveries = new Recoveries({
    states: new RecoveryStates(deps.store.shortLived),
    accounts: deps.accounts,
    registry: deps.registry,
    faces: deps.faces,
    codes: deps.codes,
    throttle: deps.throttle,
    limits: new RecoveryLimits(deps.store.rateLimiter),
    // Platforms keep the person's consent: losing a password or a phone is not a reason to forget what they agreed to.
    endEverything: (accountId) => deps.connections.endEverything(accountId, { keepConsent: true }),
    activity: deps.activity,
    notifications: deps.notifications,
    mayText: (e164) => smsAllowed(e164, deps.smsCountryCodes),
    logger: deps.logger,
  });
  return recoveryWebRoutes({ recoveries, faces: deps.faces, passkeys: deps.passkeys, smsCountryCodes: deps.smsCountryCodes, logger: deps.logger });
}

export function recoveryWebRoutes({ recoveries, faces, passkeys, smsCountryCodes, logger }: RecoveryWebDependencies): Router {
  const router = new Router({ prefix: '/recover', sensitive: true });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  router.use(friendlyErrors(logger));

  router.get('/', async (ctx) => {
    const current = await currentRecovery(ctx);
    if (!current) return renderPage(ctx, 'recover-start', { csrf: csrfToken(ctx), errors: [] });
    return show(ctx, current.state, {});
  });

  router.get(['/start', '/restart'], backToStep);
  router.post('/start', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    checkCsrf(ctx, raw.csrf);
    const body = journeyForm.safeParse(raw);
    if (!body.success) return backToStep(ctx);
    return start(ctx, body.data.journey);
  });

  // Start again: this recovery is left (nothing it changed is undone); with a journey, the other one begins at once.
  router.post('/restart', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    checkCsrf(ctx, raw.csrf);
    const id = ctx.cookies.get(COOKIE, { signed: true });
    if (id) await recoveries.end(id);
    ctx.cookies.set(COOKIE, null, { path: '/recover' });
    const body = journeyForm.safeParse(raw);
    if (!body.success) return backToStep(ctx);
    return start(ctx, body.data.journey);
  });

  async function start(ctx: Context, journey: Journey): Promise<void> {
    const started = await recoveries.start(journey, origin(ctx));
    if (!started.started) {
      ctx.set('Retry-After', String(started.retryAfter));
      const t = translator(chooseLanguage(ctx));
      const errors = [{ field: `start-${journey}`, key: 'recover.error.too_many_starts', params: { wait: waitText(t, started.retryAfter) } }];
      return renderPage(ctx, 'recover-start', { csrf: csrfToken(ctx), errors }, { status: 429, switchHref: '/recover' });
    }
    ctx.cookies.set(COOKIE, started.id, { signed: true, httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: '/recover', maxAge: RECOVERY_SECONDS * 1000, overwrite: true });
    backToStep(ctx);
  }

  /** Every step: parse the form, run the step, and either go on to the next or show this one again with the refusal. */
  const step = <T extends object>(path: string, schema: z.ZodType<T>, run: (id: string, state: RecoveryState, body: T, ctx: Context) => Promise<StepResult>, notice?: string) => {
    router.get(path, backToStep);
    router.post(path, form, async (ctx) => {
      const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
      checkCsrf(ctx, raw.csrf);
      const current = await currentRecovery(ctx);
      if (!current) return renderPage(ctx, 'recover-ended', { ending: 'expired', minutes: String(RECOVERY_SECONDS / 60), csrf: csrfToken(ctx), errors: [] }, { status: 400, switchHref: '/recover' });
      const body = schema.safeParse(raw);
      if (!body.success) {
        const field = String(body.error.issues[0]?.path[0] ?? 'main');
        return show(ctx, current.state, { values: valuesOf(raw), refusal: { code: 'invalid_input', field } });
      }
      const result = await run(current.id, current.state, body.data, ctx);
      if (result.ok) return notice ? show(ctx, result.state, { notice }) : backToStep(ctx);
      if (result.refusal.code === 'wrong_step') return backToStep(ctx); // a second submit, an old tab, or a skipped step
      return show(ctx, result.state, { values: valuesOf(raw), refusal: result.refusal });
    });
  };

  step('/identify', z.object({ identifier: z.string().trim().min(1).max(64) }), (id, state, body) => recoveries.identify(id, state, body.identifier));
  step('/code', codeForm, (id, state, body, ctx) => recoveries.checkCode(id, state, body.code, origin(ctx)));
  step('/code/resend', z.object({}), (id, state) => recoveries.resendCode(id, state), 'recover.code.resent');
  step('/document', documentForm, (id, state, body) => recoveries.submitDocument(id, state, {
    document: { type: body.document_type, number: body.document_number },
    name: body.name,
    birthdate: body.birthdate,
    expiresOn: body.expires_on,
  }));
  step('/face', z.object({ subject: z.enum(SIMULATED_SUBJECTS) }), (id, state, body, ctx) => {
    // The web page has a camera only in simulation; with a real face verifier the Cyber ID app does this step.
    if (!(faces instanceof SimulatedFaceVerifier) || !state.personId) return Promise.resolve({ ok: false, refusal: { code: 'wrong_step' }, state });
    return recoveries.submitFace(id, state, faces.captureOf(state.personId, body.subject), origin(ctx));
  });
  step('/phone', z.object({ phone: z.string().trim().min(1).max(32) }), (id, state, body) => recoveries.submitPhone(id, state, body.phone));
  step('/phone/code', codeForm, (id, state, body, ctx) => recoveries.checkPhoneCode(id, state, body.code, origin(ctx)));
  step('/phone/resend', z.object({}), (id, state) => recoveries.resendPhoneCode(id, state), 'recover.phone_code.resent');
  step('/phone/change', z.object({}), (id, state) => recoveries.changeNewPhone(id, state));
  step('/password', z.object({ password: z.string().min(1).max(MAX_PASSWORD_LENGTH * 4), confirm: z.string().max(MAX_PASSWORD_LENGTH * 4) }),
    (id, state, body, ctx) => recoveries.submitPassword(id, state, body.password, body.confirm, origin(ctx)));
  step('/password/offer', z.object({}), (id, state) => recoveries.offerPassword(id, state));
  step('/password/skip', z.object({}), (id, state) => recoveries.skipPassword(id, state));

  async function currentRecovery(ctx: Context): Promise<{ id: string; state: RecoveryState } | undefined> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    const state = id ? await recoveries.load(id) : undefined;
    return id && state ? { id, state } : undefined;
  }

  async function show(ctx: Context, state: RecoveryState, page: PageState): Promise<void> {
    const t = translator(chooseLanguage(ctx));
    const fieldErrors: Record<string, string> = {};
    const errors: { field: string; key: string; params?: Record<string, string> }[] = [];
    let status = 200;
    if (page.refusal) {
      const { code, field = defaultField(state), retryAfter, guessesLeft } = page.refusal;
      const key = code === 'invalid_input' ? `recover.error.invalid.${field}` : `recover.error.${code}`;
      const params = { left: String(guessesLeft ?? ''), wait: retryAfter ? waitText(t, retryAfter) : '', min: String(MIN_PASSWORD_LENGTH), codes: formatCountryCodes(smsCountryCodes) };
      fieldErrors[field] = t(key, params);
      errors.push({ field, key, params });
      status = STATUS[code] ?? 400;
      if (retryAfter && status === 429) ctx.set('Retry-After', String(retryAfter));
    }
    const common = {
      csrf: csrfToken(ctx), errors, fieldErrors, values: page.values ?? {}, notice: page.notice && t(page.notice),
      journey: state.journey, steps: stepsOf(state), minutes: String(CODE_LIFETIME_SECONDS / 60),
    };
    const options = { status, switchHref: '/recover' };
    switch (state.step) {
      case 'identify':
        return renderPage(ctx, 'recover-identify', common, options);
      case 'code':
        return renderPage(ctx, 'recover-code', {
          ...common,
          // What the person typed, masked; for a network number the page does not say which phone (that would tell).
          maskedPhone: state.identifier?.phone && maskPhone(state.identifier.phone),
        }, options);
      case 'document':
        return renderPage(ctx, 'recover-document', { ...common, documentTypes: DOCUMENT_TYPES.map((value) => ({ value, label: t(`document.${value}`) })) }, options);
      case 'face':
        return renderPage(ctx, 'recover-face', { ...common, simulated: faces instanceof SimulatedFaceVerifier, subjects: SIMULATED_SUBJECTS }, options);
      case 'phone': {
        const mainlandOnly = smsCountryCodes.length === 1 && smsCountryCodes[0] === '86';
        const phoneHint = mainlandOnly ? t('enrol.phone.phone_hint') : t('enrol.phone.phone_hint_codes', { codes: formatCountryCodes(smsCountryCodes) });
        return renderPage(ctx, 'recover-phone', { ...common, phoneHint }, options);
      }
      case 'phone_code':
        return renderPage(ctx, 'recover-phone-code', { ...common, maskedPhone: maskPhone(state.newPhone ?? '') }, options);
      case 'password':
        return renderPage(ctx, 'recover-password', { ...common, required: state.passwordRequired === true, phoneChanged: state.phoneChanged === true, minLength: String(MIN_PASSWORD_LENGTH) }, options);
      case 'done': {
        const account = await recoveries.accountOf(state);
        const keys = account ? await passkeys.list(account.id) : [];
        return renderPage(ctx, 'recover-done', {
          ...common,
          passwordSet: state.passwordSet === true,
          phoneChanged: state.phoneChanged === true,
          maskedPhone: account?.identity.phone ? maskPhone(account.identity.phone) : undefined,
          passkeys: keys.map((passkey) => passkey.name),
        }, options);
      }
      case 'ended':
        return renderPage(ctx, 'recover-ended', { ...common, ending: state.ending ?? 'expired', minutes: String(RECOVERY_SECONDS / 60) }, options);
    }
  }

  return router;
}

/** "3 minutes", "2 hours", "40 seconds": how long until the person may try again, in their language. */
export function waitText(t: Translate, seconds: number): string {
  if (seconds < 60) return t('recover.wait.seconds', { n: String(seconds) });
  const minutes = Math.ceil(seconds / 60);
  if (minutes === 1) return t('recover.wait.minute');
  if (minutes < 120) return t('recover.wait.minutes', { n: String(minutes) });
  return t('recover.wait.hours', { n: String(Math.ceil(minutes / 60)) });
}

/** The steps the progress bar shows for this recovery (a code is part of the step that asked for the number). */
function stepsOf(state: RecoveryState): string[] {
  if (state.journey === 'password') return ['identify', 'document', 'face', 'password', 'done'];
  return ['document', 'face', 'phone', ...(state.passwordRequired || state.passwordSet || state.step === 'password' ? ['password'] : []), 'done'];
}

/** The form field a refusal without its own field belongs to. */
function defaultField(state: RecoveryState): string {
  const fields: Partial<Record<RecoveryState['step'], string>> = {
    identify: 'identifier', code: 'code', document: 'document_number', face: 'subject', phone: 'phone', phone_code: 'code', password: 'password',
  };
  return fields[state.step] ?? 'main';
}

/** Values typed into the form, shown again with an error (never passwords or codes). */
function valuesOf(body: Record<string, unknown>): Record<string, string> {
  const { csrf: _csrf, password: _password, confirm: _confirm, code: _code, ...values } = body;
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, String(value)]));
}

function origin(ctx: Context): { userAgent: string; ip: string } {
  return { userAgent: ctx.get('user-agent'), ip: ctx.ip };
}

function checkCsrf(ctx: Context, submitted: unknown): void {
  if (!csrfValid(ctx, submitted)) throw new CsrfError();
}

function backToStep(ctx: Context): void {
  ctx.status = 303;
  ctx.redirect('/recover');
}
