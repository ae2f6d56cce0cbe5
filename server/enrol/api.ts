// The enrolment steps as a JSON API for the Cyber ID app (which reads the document's chip by NFC and runs
// the camera SDK): POST /enrol/api/v1/enrolments starts one and returns its token; every other call sends
// it as a Bearer token. Errors are {error, error_description, field?} with a 4xx status, 503 when an
// authority does not answer. Starts are limited per address (429 too_many_requests).
import { bodyParser } from '@koa/bodyparser';
import { StoreUnavailableError, UNAVAILABLE } from '../../adapters/outage.ts';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { chooseLanguage, translator } from '../../interactions/i18n.ts';
import type { Accounts } from '../identity/accounts.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import { formatCountryCodes } from '../identity/phone.ts';
import { AuthorityUnavailableError } from '../identity/registry.ts';
import { SmsNotAllowedError } from '../identity/sms.ts';
import type { Logger } from '../logger.ts';
import { ENROLMENT_SECONDS, type EnrolmentState, type Enrolments, type StepResult } from './enrolment.ts';
import { documentForm, passkeyForm } from './forms.ts';

const english = translator('en');

export interface EnrolmentApiDependencies {
  enrolments: Enrolments;
  accounts: Accounts;
  passkeys: Passkeys;
  logger: Logger;
}

class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, error: string, description: string, extra: Record<string, unknown> = {}) {
    super(description);
    this.status = status;
    this.body = { error, error_description: description, ...extra };
  }
}

interface Current {
  id: string;
  state: EnrolmentState;
}

export function enrolmentApiRoutes({ enrolments, accounts, passkeys, logger }: EnrolmentApiDependencies): Router {
  const router = new Router({ prefix: '/enrol/api/v1', sensitive: true });
  router.use(apiErrors(logger));
  router.use(bodyParser({ enableTypes: ['json'], jsonLimit: '256kb', onError: () => { throw new ApiError(400, 'invalid_request', 'the body must be JSON'); } }));

  router.post('/enrolments', async (ctx) => {
    const started = await enrolments.start(ctx.ip);
    if (!started.started) {
      throw new ApiError(429, 'too_many_requests', `too many enrolments were started from this address; retry after ${started.retryAfter} seconds`, { retry_after: started.retryAfter });
    }
    ctx.status = 201;
    ctx.body = { enrolment_token: started.id, token_type: 'Bearer', expires_in: ENROLMENT_SECONDS, ...view(started.state) };
  });

  router.get('/enrolment', async (ctx) => {
    ctx.body = view((await current(ctx)).state);
  });

  const step = <T>(path: string, schema: z.ZodType<T>, run: (current: Current, body: T, ctx: Context) => Promise<StepResult>) => {
    router.post(path, async (ctx) => {
      const enrolment = await current(ctx);
      const body = schema.safeParse(ctx.request.body ?? {});
      if (!body.success) {
        const issue = body.error.issues[0];
        throw new ApiError(400, 'invalid_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`, { field: issue?.path[0] });
      }
      const result = await run(enrolment, body.data, ctx);
      if (!result.ok) throw refusalError(result, enrolments);
      ctx.body = { ...view(result.state), ...await shownOnce(enrolment.id, result.state) };
    });
  };

  step('/enrolment/document', documentForm, ({ id, state }, body) => enrolments.submitDocument(id, state, {
    document: { type: body.document_type, number: body.document_number },
    name: body.name,
    birthdate: body.birthdate,
    expiresOn: body.expires_on,
  }));
  step('/enrolment/face', z.object({ capture: z.string().min(1).max(200_000) }), ({ id, state }, body) => enrolments.submitFace(id, state, body.capture));
  step('/enrolment/phone', z.object({ phone: z.string().trim().min(1).max(32) }), ({ id, state }, body, ctx) => enrolments.submitPhone(id, state, body.phone, translator(chooseLanguage(ctx))));
  step('/enrolment/phone/resend', z.object({}), ({ id, state }, _body, ctx) => enrolments.resendCode(id, state, translator(chooseLanguage(ctx))));
  step('/enrolment/code', z.object({ code: z.string().trim().min(1).max(12) }), ({ id, state }, body) => enrolments.submitCode(id, state, body.code));
  step('/enrolment/password', z.object({ password: z.string().min(1).max(512) }), ({ id, state }, body) => enrolments.submitPassword(id, state, body.password));

  router.post('/enrolment/passkey/options', async (ctx) => {
    const { id, state } = await current(ctx);
    const account = state.step === 'done' && state.accountId ? await accounts.findById(state.accountId) : undefined;
    if (!account) throw new ApiError(409, 'wrong_step', 'a passkey can be added once the account exists', { step: state.step });
    ctx.body = await passkeys.registrationOptions(id, account);
  });

  router.post('/enrolment/passkey', async (ctx) => {
    const { id, state } = await current(ctx);
    if (state.step !== 'done' || !state.accountId) throw new ApiError(409, 'wrong_step', 'a passkey can be added once the account exists', { step: state.step });
    const body = passkeyForm.safeParse(ctx.request.body ?? {});
    if (!body.success) throw new ApiError(400, 'invalid_request', 'response: not a WebAuthn registration response', { field: 'response' });
    if (!(await passkeys.register(id, state.accountId, body.data.response as never, body.data.name))) {
      throw new ApiError(422, 'passkey_not_registered', 'the passkey did not verify, or its options expired; ask for new options');
    }
    ctx.body = { registered: true };
  });

  async function current(ctx: Context): Promise<Current> {
    const token = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(ctx.get('authorization'))?.[1];
    const state = token ? await enrolments.load(token) : undefined;
    if (!token || !state) {
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new ApiError(401, 'invalid_token', 'no enrolment with this token: it expired after 30 minutes or never existed; start a new one');
    }
    return { id: token, state };
  }

  /** The personal network number is in the answer of the step that completes the enrolment, and never again. */
  async function shownOnce(id: string, state: EnrolmentState): Promise<Record<string, string>> {
    const networkNumber = state.step === 'done' ? await enrolments.takeNetworkNumber(id, state) : undefined;
    return networkNumber ? { network_number: networkNumber } : {};
  }

  return router;
}

function view(state: EnrolmentState): Record<string, unknown> {
  return {
    step: state.step,
    ...(state.appliedBy !== null ? { applied_by_guardian: true } : {}),
    ...(state.ending ? { ending: state.ending } : {}),
    ...(state.outcome ? { account_status: state.outcome } : {}),
    ...(state.guardianEnrolled !== undefined ? { guardian_enrolled: state.guardianEnrolled } : {}),
  };
}

function refusalError(result: Extract<StepResult, { ok: false }>, enrolments: Enrolments): ApiError {
  const { refusal, state } = result;
  if (refusal.code === 'wrong_step') return new ApiError(409, 'wrong_step', `this enrolment is at the ${state.step} step`, { step: state.step });
  const description = english(`enrol.error.${refusal.code}`, {
    seconds: String(refusal.retryAfter ?? ''), left: String(refusal.guessesLeft ?? ''), codes: formatCountryCodes(enrolments.smsCountryCodes),
  });
  const extra = {
    ...(refusal.field ? { field: refusal.field } : {}),
    ...(refusal.guessesLeft !== undefined ? { guesses_left: refusal.guessesLeft } : {}),
    ...(refusal.retryAfter !== undefined ? { retry_after: refusal.retryAfter } : {}),
    // Said only once the person has proven they hold the phone: it may be their own forgotten Cyber ID.
    ...(refusal.code === 'phone_taken' ? { recover_uri: enrolments.recoverUrl } : {}),
    step: state.step,
  };
  return new ApiError(refusal.code === 'code_cool_down' ? 429 : 422, refusal.code, description, extra);
}

function apiErrors(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof ApiError) {
        ctx.status = error.status;
        ctx.body = error.body;
        if (error.body.retry_after !== undefined) ctx.set('Retry-After', String(error.body.retry_after));
      } else if (error instanceof StoreUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId, store: error.backend }, 'storage unavailable');
        ctx.status = 503;
        ctx.body = UNAVAILABLE;
      } else if (error instanceof SmsNotAllowedError) {
        // The phone step refuses such numbers first; this is the SMS sender's own guard.
        ctx.status = 422;
        ctx.body = { error: 'phone_not_allowed', error_description: 'SMS are not sent to this number' };
      } else if (error instanceof AuthorityUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId }, 'an authority did not answer');
        ctx.status = 503;
        ctx.set('Retry-After', '30');
        ctx.body = { error: 'temporarily_unavailable', error_description: 'an identity authority did not answer; try again shortly' };
      } else {
        const status = (error as { status?: number }).status;
        if (status === 413 || status === 415) {
          ctx.status = status;
          ctx.body = { error: 'invalid_request', error_description: status === 413 ? 'the body is too large' : 'the body must be JSON' };
          return;
        }
        logger.error({ err: error, requestId: ctx.state.requestId }, 'enrolment API failed');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'the enrolment could not be processed', request_id: ctx.state.requestId };
      }
    }
  };
}
