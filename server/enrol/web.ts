// The enrolment journey as web pages under /enrol. The enrolment's id travels in a signed, HttpOnly
// cookie; every form carries the CSRF token; GET /enrol always shows the current step, so reload and the
// back button land where the person is. Starts are limited per address (429 with the error page).
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { csrfToken, csrfValid } from '../../interactions/csrf.ts';
import { chooseLanguage, translator, type Translate } from '../../interactions/i18n.ts';
import { CsrfError, friendlyErrors, jsonEndpoint } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import type { Accounts } from '../identity/accounts.ts';
import { DOCUMENT_TYPES } from '../identity/documents.ts';
import { SIMULATED_SUBJECTS, SimulatedFaceVerifier, type FaceVerifier } from '../identity/face.ts';
import { formatNetworkNumber } from '../identity/network-number.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import { MIN_PASSWORD_LENGTH } from '../identity/password-policy.ts';
import { formatCountryCodes } from '../identity/phone.ts';
import { maskPhone } from '../identity/sms.ts';
import type { Logger } from '../logger.ts';
import { ENROLMENT_SECONDS, type EnrolmentState, type Enrolments, type Refusal, type StepResult } from './enrolment.ts';
import { ENROL_CHILD_PATH, type GuardianSessions } from './guardian-web.ts';
import { documentForm, passkeyForm } from './forms.ts';

const COOKIE = 'cyberid_enrolment';

export interface EnrolmentWebDependencies {
  enrolments: Enrolments;
  accounts: Accounts;
  faces: FaceVerifier;
  passkeys: Passkeys;
  guardianSessions: GuardianSessions;
  logger: Logger;
}

interface PageState {
  values?: Record<string, string>;
  refusal?: Refusal;
  notice?: string;
}

const csrfOnly = z.object({ csrf: z.string().optional() });

export function enrolmentWebRoutes({ enrolments, accounts, faces, passkeys, guardianSessions, logger }: EnrolmentWebDependencies): Router {
  const router = new Router({ prefix: '/enrol', sensitive: true });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = jsonEndpoint();
  router.use(friendlyErrors(logger));

  router.get('/', async (ctx) => {
    const current = await currentEnrolment(ctx);
    if (!current) return renderPage(ctx, 'enrol-start', { csrf: csrfToken(ctx) });
    return showStep(ctx, current.id, current.state, {});
  });

  router.post('/start', form, async (ctx) => {
    checkCsrf(ctx, csrfOnly.parse(ctx.request.body ?? {}).csrf);
    // A guardian signed in to the portal (recently, on this device) who chose "enrol my child" applies for the child.
    const forChild = ctx.query.for === 'child';
    const guardian = forChild ? await guardianSessions.current(ctx) : undefined;
    if (forChild && !guardian) {
      ctx.status = 303;
      return ctx.redirect(ENROL_CHILD_PATH); // a fresh sign-in first, then back here
    }
    const started = await enrolments.start(ctx.ip, guardian?.id ?? null);
    if (!started.started) {
      ctx.set('Retry-After', String(started.retryAfter));
      return renderPage(ctx, 'error', { code: 'too_many_requests', messageKey: 'enrol.error.too_many_starts', hintKey: 'enrol.error.too_many_starts_hint' }, { status: 429 });
    }
    setCookie(ctx, started.id);
    backToStep(ctx);
  });

  router.post('/restart', form, async (ctx) => {
    checkCsrf(ctx, csrfOnly.parse(ctx.request.body ?? {}).csrf);
    ctx.cookies.set(COOKIE, null, { path: '/enrol' });
    backToStep(ctx);
  });

  // Every step: parse the form, run the step, and either move on or show the step again with the refusal.
  const step = <T extends object>(path: string, schema: z.ZodType<T>, run: (id: string, state: EnrolmentState, body: T, t: Translate) => Promise<StepResult>) => {
    router.get(path, backToStep);
    router.post(path, form, async (ctx) => {
      const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
      checkCsrf(ctx, raw.csrf);
      const current = await currentEnrolment(ctx);
      if (!current) return renderPage(ctx, 'enrol-ended', { ending: 'expired', csrf: csrfToken(ctx) }, { status: 400, switchHref: '/enrol' });
      const body = schema.safeParse(raw);
      if (!body.success) {
        const field = String(body.error.issues[0]?.path[0] ?? 'main');
        return showStep(ctx, current.id, current.state, { values: valuesOf(raw), refusal: { code: 'invalid_input', field } });
      }
      const result = await run(current.id, current.state, body.data, translator(chooseLanguage(ctx)));
      if (result.ok) return backToStep(ctx);
      if (result.refusal.code === 'wrong_step') return backToStep(ctx); // a second submit or an old tab
      return showStep(ctx, current.id, result.state, { values: valuesOf(raw), refusal: result.refusal });
    });
  };

  step('/document', documentForm, (id, state, body) => enrolments.submitDocument(id, state, {
    document: { type: body.document_type, number: body.document_number },
    name: body.name,
    birthdate: body.birthdate,
    expiresOn: body.expires_on,
  }));
  step('/face', z.object({ subject: z.enum(SIMULATED_SUBJECTS) }), (id, state, body) => {
    // The web page has a camera only in simulation; with a real face verifier the app does this step.
    if (!(faces instanceof SimulatedFaceVerifier) || !state.person) return Promise.resolve({ ok: false, refusal: { code: 'wrong_step' }, state });
    return enrolments.submitFace(id, state, faces.captureOf(state.person.personId, body.subject));
  });
  step('/phone', z.object({ phone: z.string().trim().min(1).max(32) }), (id, state, body, t) => enrolments.submitPhone(id, state, body.phone, t));
  step('/phone/skip', z.object({}), (id, state) => enrolments.skipPhone(id, state));
  step('/phone/change', z.object({}), (id, state) => enrolments.changePhone(id, state));
  step('/code', z.object({ code: z.string().trim().min(1).max(12) }), (id, state, body) => enrolments.submitCode(id, state, body.code));
  step('/password', z.object({ password: z.string().min(1).max(512), confirm: z.string().max(512) }), async (id, state, body) => {
    if (body.password !== body.confirm) return { ok: false, refusal: { code: 'invalid_input', field: 'confirm' }, state };
    return enrolments.submitPassword(id, state, body.password);
  });

  router.post('/code/resend', form, async (ctx) => {
    checkCsrf(ctx, csrfOnly.parse(ctx.request.body ?? {}).csrf);
    const current = await currentEnrolment(ctx);
    if (!current) return backToStep(ctx);
    const result = await enrolments.resendCode(current.id, current.state, translator(chooseLanguage(ctx)));
    if (!result.ok && result.refusal.code === 'wrong_step') return backToStep(ctx);
    return showStep(ctx, current.id, current.state, result.ok ? { notice: 'enrol.code.resent' } : { refusal: result.refusal });
  });

  // The passkey, offered once the account exists. JSON, called by /static/passkey.js.
  router.post('/passkey/options', json, async (ctx) => {
    checkCsrf(ctx, ctx.get('x-csrf-token'));
    const current = await currentEnrolment(ctx);
    if (current?.state.step !== 'done' || !current.state.accountId) return passkeyRefused(ctx);
    const account = await accounts.findById(current.state.accountId);
    if (!account) return passkeyRefused(ctx);
    ctx.body = await passkeys.registrationOptions(current.id, account);
  });

  router.post('/passkey', json, async (ctx) => {
    checkCsrf(ctx, ctx.get('x-csrf-token'));
    const body = passkeyForm.safeParse(ctx.request.body);
    const current = await currentEnrolment(ctx);
    if (!body.success || current?.state.step !== 'done' || !current.state.accountId) return passkeyRefused(ctx);
    const registered = await passkeys.register(current.id, current.state.accountId, body.data.response as never, body.data.name);
    if (!registered) return passkeyRefused(ctx);
    logger.info({ event: 'passkey.registered', at: 'enrolment', requestId: ctx.state.requestId }, 'passkey registered');
    ctx.body = { registered: true };
  });

  async function currentEnrolment(ctx: Context): Promise<{ id: string; state: EnrolmentState } | undefined> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    const state = id ? await enrolments.load(id) : undefined;
    return id && state ? { id, state } : undefined;
  }

  async function showStep(ctx: Context, id: string, state: EnrolmentState, page: PageState): Promise<void> {
    const t = translator(chooseLanguage(ctx));
    const fieldErrors: Record<string, string> = {};
    const errors: { field: string; key: string; params?: Record<string, string> }[] = [];
    const codes = formatCountryCodes(enrolments.smsCountryCodes);
    if (page.refusal) {
      const field = page.refusal.field ?? defaultField(state);
      const key = page.refusal.code === 'invalid_input' ? `enrol.error.invalid.${field}` : `enrol.error.${page.refusal.code}`;
      const params = { seconds: String(page.refusal.retryAfter ?? ''), left: String(page.refusal.guessesLeft ?? ''), codes };
      fieldErrors[field] = t(key, params);
      errors.push({ field, key, params });
    }
    const common = { csrf: csrfToken(ctx), errors, fieldErrors, values: page.values ?? {}, forChild: state.appliedBy !== null };
    const options = { status: page.refusal ? 422 : 200, switchHref: '/enrol' };
    switch (state.step) {
      case 'document':
        return renderPage(ctx, 'enrol-document', { ...common, documentTypes: DOCUMENT_TYPES.map((value) => ({ value, label: t(`document.${value}`) })) }, options);
      case 'face':
        return renderPage(ctx, 'enrol-face', { ...common, simulated: faces instanceof SimulatedFaceVerifier, subjects: SIMULATED_SUBJECTS }, options);
      case 'phone': {
        const mainlandOnly = enrolments.smsCountryCodes.length === 1 && enrolments.smsCountryCodes[0] === '86';
        return renderPage(ctx, 'enrol-phone', {
          ...common,
          phoneHint: mainlandOnly ? t('enrol.phone.phone_hint') : t('enrol.phone.phone_hint_codes', { codes }),
          // A verified phone that belongs to another Cyber ID may be the person's own, forgotten one.
          offerRecovery: page.refusal?.code === 'phone_taken',
        }, options);
      }
      case 'code':
        return renderPage(ctx, 'enrol-code', { ...common, maskedPhone: maskPhone(state.phone ?? ''), notice: page.notice && t(page.notice) }, options);
      case 'password':
        return renderPage(ctx, 'enrol-password', { ...common, minLength: String(MIN_PASSWORD_LENGTH) }, options);
      case 'done': {
        const number = await enrolments.takeNetworkNumber(id, state);
        return renderPage(ctx, 'enrol-done', {
          ...common,
          networkNumber: number && formatNetworkNumber(number),
          outcome: state.outcome,
          guardianEnrolled: state.guardianEnrolled,
        }, options);
      }
      case 'ended':
        return renderPage(ctx, 'enrol-ended', { ending: state.ending, csrf: common.csrf }, options);
    }
  }

  return router;
}

/** The form field a refusal without its own field belongs to. */
function defaultField(state: EnrolmentState): string {
  const fields: Record<string, string> = { document: 'document_number', face: 'subject', phone: 'phone', code: 'code', password: 'password' };
  return fields[state.step] ?? 'main';
}

/** Values typed into the form, shown again with an error (never passwords or codes). */
function valuesOf(body: object): Record<string, string> {
  const { csrf: _csrf, password: _password, confirm: _confirm, code: _code, ...values } = body as Record<string, unknown>;
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, String(value)]));
}

function checkCsrf(ctx: Context, submitted: unknown): void {
  if (!csrfValid(ctx, submitted)) throw new CsrfError();
}

function setCookie(ctx: Context, id: string): void {
  ctx.cookies.set(COOKIE, id, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/enrol', maxAge: ENROLMENT_SECONDS * 1000, overwrite: true });
}

function backToStep(ctx: Context): void {
  ctx.status = 303;
  ctx.redirect('/enrol');
}

function passkeyRefused(ctx: Context): void {
  ctx.status = 400;
  ctx.body = { error: 'invalid_request', error_description: 'the passkey could not be registered; start again from the enrolment page' };
}
