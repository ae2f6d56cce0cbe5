// Sign-in inside an interaction: password, then a one-time code by SMS (loa2), or a passkey, or approval
// by scanning a QR code on a signed-in second device; then a face match when the platform needs loa3.
// The level required is the platform's policy minimum raised by its request (acr_values, claims), and a
// session that is not strong enough continues here from what it already proved (step-up).
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { renderSVG } from 'uqr';
import { z } from 'zod';
import type { Account, Accounts } from '../server/identity/accounts.ts';
import type { SecurityActivity } from '../server/identity/activity.ts';
import { acrOf, amrOf, essentialAcrBelowPolicy, factorsOf, LOA3, requiredAcr, statedAcr, type Acr, type AcrRequest, type Factor } from '../server/identity/assurance.ts';
import { SIMULATED_SUBJECTS, SimulatedFaceVerifier, type FaceVerifier } from '../server/identity/face.ts';
import { RESEND_COOL_DOWN_SECONDS, type OneTimeCodes } from '../server/identity/one-time-codes.ts';
import { webauthnResponse, type Passkeys } from '../server/identity/passkeys.ts';
import { chinaClock } from '../server/identity/claims.ts';
import type { SmsCountryCodes } from '../server/identity/phone.ts';
import { maskPhone } from '../server/identity/sms.ts';
import type { ScanSignIns } from '../server/identity/scan-sign-in.ts';
import type { Attempt, CredentialThrottle, Verdict } from '../server/identity/throttle.ts';
import type { Logger } from '../server/logger.ts';
import type { Metrics } from '../server/metrics.ts';
import { csrfToken } from './csrf.ts';
import { translator } from './i18n.ts';
import { claimsAcrOf, jsonAnswer, platformName, policyOf, type Client, type Interaction, type InteractionKit } from './interaction.ts';
import { renderPage } from './pages.ts';
import { canReceiveCode, nextStep, type SignInProgress, type SignIns } from './sign-in.ts';
import { answersJson, jsonEndpoint } from './page-errors.ts';

export interface SignInDependencies {
  kit: InteractionKit;
  issuer: string;
  accounts: Accounts;
  passkeys: Passkeys;
  faces: FaceVerifier;
  codes: OneTimeCodes;
  throttle: CredentialThrottle;
  signIns: SignIns;
  scans: ScanSignIns;
  activity: SecurityActivity;
  /** Calling codes whose numbers may receive SMS (CYBERID_SMS_COUNTRY_CODES). */
  smsCountryCodes: SmsCountryCodes;
  /**
   * Cyber ID's own clients (the portal): the person is not asked to consent to show them their own account, and
   * their fresh sign-ins (prompt=login, asked before a sensitive change) are never offered scan to sign in.
   */
  firstPartyClients: ReadonlySet<string>;
  logger: Logger;
  metrics: Metrics;
}

/** Login prompt reasons that only ask for a stronger sign-in: the session's account and factors carry over. */
const STEP_UP_REASONS = new Set(['acr_step_up', 'essential_acr', 'essential_acrs']);

const loginForm = z.object({
  csrf: z.string().optional(),
  identifier: z.string().trim().max(64).default(''),
  password: z.string().max(256).default(''),
});
const codeForm = z.object({ csrf: z.string().optional(), code: z.string().trim().max(16).default('') });
const faceForm = z.object({ csrf: z.string().optional(), subject: z.enum(SIMULATED_SUBJECTS).optional() });
const csrfOnly = z.object({ csrf: z.string().optional() });

type FieldErrors = Partial<Record<string, string>>;
interface PageState {
  identifier?: string;
  fieldErrors?: FieldErrors;
  params?: Record<string, string>;
  notice?: { key: string; params?: Record<string, string> };
  status?: number;
  retryAfter?: number;
}

function acrRequestOf(interaction: Interaction, client: Client): AcrRequest {
  return {
    policyMinimum: policyOf(client).minimum_acr,
    acrValues: typeof interaction.params.acr_values === 'string' ? interaction.params.acr_values : undefined,
    claimsAcr: claimsAcrOf(interaction),
  };
}

/**
 * Scan to sign in can be relayed (docs/sign-in.md), so it is not offered when the portal asks for a fresh sign-in
 * before a sensitive change: that one must happen on this device, with the password and a code or a passkey.
 */
function offersScan(interaction: Interaction, client: Client, firstPartyClients: ReadonlySet<string>): boolean {
  const freshSignIn = String(interaction.params.prompt ?? '').split(' ').includes('login');
  return !(freshSignIn && firstPartyClients.has(client.clientId));
}

/** The level this interaction must reach. */
export function requiredFor(interaction: Interaction, client: Client): Acr {
  return requiredAcr(acrRequestOf(interaction, client));
}

export function signInRoutes(router: Router, deps: SignInDependencies): (ctx: Context, interaction: Interaction, client: Client) => Promise<void> {
  const { kit, accounts, passkeys, faces, codes, throttle, signIns, scans, activity, logger, metrics } = deps;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = jsonEndpoint();

  /** The current step of the login prompt, as a page. */
  async function show(ctx: Context, interaction: Interaction, client: Client, state: PageState = {}): Promise<void> {
    if (essentialAcrBelowPolicy(acrRequestOf(interaction, client))) {
      return kit.finish(ctx, { error: 'unmet_authentication_requirements', error_description: 'the essential acr values requested are below this client\'s minimum in policy' }, false);
    }
    const progress = await signIns.get(interaction.uid) ?? await continueSession(interaction);
    const account = progress && await accounts.findById(progress.accountId);
    if (!progress || account?.status !== 'active') return showIdentify(ctx, interaction, client, state);
    const step = nextStep(progress, requiredFor(interaction, client));
    if (step === 'done') return redirect(ctx, await complete(ctx, interaction, client, progress, account));
    if (step === 'code') {
      const sent = canReceiveCode(account, deps.smsCountryCodes) && progress.codeSentAt === undefined ? await sendCode(interaction, account, progress) : undefined;
      const heldUntil = sent && !sent.sent ? Date.now() + sent.retryAfter * 1000 : progress.codeHeldUntil;
      return showCode(ctx, interaction, client, account, heldUntil && heldUntil > Date.now() ? { ...state, notice: codeHeld(heldUntil) } : state);
    }
    return showFace(ctx, interaction, client, state);
  }

  /** A session that only needs a stronger sign-in keeps its account and factors (step-up). */
  async function continueSession(interaction: Interaction): Promise<SignInProgress | undefined> {
    const session = interaction.session;
    if (!session?.accountId || !interaction.prompt.reasons.every((reason) => STEP_UP_REASONS.has(reason))) return undefined;
    const progress: SignInProgress = { accountId: session.accountId, factors: [...factorsOf(session.amr as string[] | undefined)] };
    await signIns.save(interaction.uid, progress);
    return progress;
  }

  /** Where the browser goes after a proven factor: the next step, or back to the platform's flow. */
  async function advance(ctx: Context, interaction: Interaction, client: Client, progress: SignInProgress, account: Account): Promise<string> {
    const step = nextStep(progress, requiredFor(interaction, client));
    if (step === 'done') return complete(ctx, interaction, client, progress, account);
    if (step === 'code' && canReceiveCode(account, deps.smsCountryCodes) && progress.codeSentAt === undefined) await sendCode(interaction, account, progress);
    return `/interaction/${interaction.uid}`;
  }

  async function complete(ctx: Context, interaction: Interaction, client: Client, progress: SignInProgress, account: Account): Promise<string> {
    const factors = new Set(progress.factors);
    const acr = statedAcr(acrOf(factors)!, acrRequestOf(interaction, client));
    await throttle.succeeded({ account: account.id, ip: ctx.ip });
    await signIns.clear(interaction.uid);
    metrics.signIns.inc({ method: progress.factors[0]!, outcome: 'success' });
    await activity.record(account.id, 'sign_in', originOf(ctx), { method: amrOf(factors).join(' '), acr, platform: String(interaction.params.client_id) });
    logger.info({ event: 'sign_in.succeeded', acr, amr: amrOf(factors), client: interaction.params.client_id, interaction: interaction.uid, requestId: ctx.state.requestId }, 'sign-in succeeded');
    return kit.result(ctx, { login: { accountId: account.id, acr, amr: amrOf(factors) } }, false);
  }

  async function sendCode(interaction: Interaction, account: Account, progress: SignInProgress): Promise<Awaited<ReturnType<OneTimeCodes['send']>>> {
    const t = translator('zh-CN'); // SMS to Chinese numbers are written in Chinese, as at enrolment
    const sent = await codes.send(`sign-in:${interaction.uid}`, account.identity.phone!, (code) => t('sms.sign_in_code', { code, minutes: '5' }));
    const held = sent.sent || sent.retryAfter <= RESEND_COOL_DOWN_SECONDS ? {} : { codeHeldUntil: Date.now() + sent.retryAfter * 1000 };
    await signIns.save(interaction.uid, { ...progress, codeSentAt: Date.now(), ...held });
    return sent;
  }

  /** The phone has had all the codes it may have for now (MAX_SENDS_PER_HOUR / _PER_DAY): say until when. */
  function codeHeld(until: number): NonNullable<PageState['notice']> {
    return { key: 'login.code.held', params: { until: chinaClock(until) } };
  }

  /** A failed credential check: counted per account and address; may lock them. */
  async function failed(ctx: Context, attempt: Attempt, method: Factor, interaction: Interaction): Promise<Verdict> {
    metrics.signIns.inc({ method, outcome: 'failure' });
    const verdict = await throttle.failed(attempt, { code: method === 'sms' });
    if (attempt.account && !attempt.account.startsWith('unknown:')) {
      const detail = { method, platform: String(interaction.params.client_id) };
      await activity.record(attempt.account, 'sign_in_failed', originOf(ctx), detail);
      if (!verdict.allowed) await activity.record(attempt.account, 'locked', originOf(ctx), { ...detail, minutes: String(Math.ceil(verdict.retryAfter / 60)) });
    }
    logger.info({ event: verdict.allowed ? 'sign_in.failed' : 'sign_in.locked', method, client: interaction.params.client_id, interaction: interaction.uid, requestId: ctx.state.requestId }, 'sign-in failed');
    return verdict;
  }

  /** The lock page says when the lock lifts, as a clock time and in minutes, and offers recovery. */
  function locked(verdict: Exclude<Verdict, { allowed: true }>): PageState {
    const until = chinaClock(Date.now() + verdict.retryAfter * 1000);
    return { status: 429, retryAfter: verdict.retryAfter, params: { minutes: String(Math.ceil(verdict.retryAfter / 60)), until } };
  }

  async function progressOf(interaction: Interaction): Promise<{ progress: SignInProgress; account: Account } | undefined> {
    const progress = await signIns.get(interaction.uid);
    const account = progress && await accounts.findById(progress.accountId);
    return progress && account?.status === 'active' ? { progress, account } : undefined;
  }

  // Reloading or going back to a form's address (a GET) returns to the interaction's current step.
  router.get(['/login', '/code', '/code/resend', '/face'], (ctx) => kit.backToInteraction(ctx));

  router.post('/login', form, async (ctx) => {
    const body = loginForm.parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, body.csrf);
    if (interaction.prompt.name !== 'login') return kit.backToInteraction(ctx); // a second submit or the back button
    const client = await kit.clientOf(interaction);

    const fieldErrors: FieldErrors = {};
    if (!body.identifier) fieldErrors.identifier = 'login.error.identifier_missing';
    if (!body.password) fieldErrors.password = 'login.error.password_missing';
    if (Object.keys(fieldErrors).length) return showIdentify(ctx, interaction, client, { identifier: body.identifier, fieldErrors, status: 400 });

    const attempt = { account: await accounts.attemptSubject(body.identifier), ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) return showIdentify(ctx, interaction, client, { identifier: body.identifier, ...locked(verdict) });

    const account = await accounts.authenticate(body.identifier, body.password);
    if (!account) {
      const after = await failed(ctx, attempt, 'pwd', interaction);
      if (!after.allowed) return showIdentify(ctx, interaction, client, { identifier: body.identifier, ...locked(after) });
      return showIdentify(ctx, interaction, client, { identifier: body.identifier, fieldErrors: { identifier: 'login.error.invalid' }, status: 401 });
    }
    if (account.status !== 'active') {
      // The password was right, so saying why is safe; no session is created.
      metrics.signIns.inc({ method: 'pwd', outcome: 'inactive' });
      const reason = account.status === 'suspended' ? 'login.error.suspended' : 'login.error.awaiting_guardian';
      return showIdentify(ctx, interaction, client, { identifier: body.identifier, fieldErrors: { identifier: reason }, status: 403 });
    }
    const progress = await signIns.prove(interaction.uid, account.id, 'pwd');
    return redirect(ctx, await advance(ctx, interaction, client, progress, account));
  });

  router.post('/code', form, async (ctx) => {
    const body = codeForm.parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, body.csrf);
    const current = interaction.prompt.name === 'login' ? await progressOf(interaction) : undefined;
    if (!current || !canReceiveCode(current.account, deps.smsCountryCodes)) return kit.backToInteraction(ctx);
    const { progress, account } = current;
    const client = await kit.clientOf(interaction);
    if (nextStep(progress, requiredFor(interaction, client)) !== 'code') return kit.backToInteraction(ctx);
    if (!/^\d{6}$/.test(body.code)) return showCode(ctx, interaction, client, account, { fieldErrors: { code: 'login.error.code_format' }, status: 400 });

    const attempt = { account: account.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt, { code: true });
    if (!verdict.allowed) return showCode(ctx, interaction, client, account, locked(verdict));
    const checked = await codes.check(`sign-in:${interaction.uid}`, account.identity.phone!, body.code);
    if (checked.result === 'ok') {
      const proven = await signIns.prove(interaction.uid, account.id, 'sms');
      return redirect(ctx, await advance(ctx, interaction, client, proven, account));
    }
    if (checked.result === 'expired') return showCode(ctx, interaction, client, account, { fieldErrors: { code: 'login.error.code_expired' }, status: 400 });
    const after = await failed(ctx, attempt, 'sms', interaction);
    if (!after.allowed) return showCode(ctx, interaction, client, account, locked(after));
    if (checked.result === 'exhausted') return showCode(ctx, interaction, client, account, { fieldErrors: { code: 'login.error.code_exhausted' }, status: 401 });
    return showCode(ctx, interaction, client, account, { fieldErrors: { code: 'login.error.code_wrong' }, params: { left: String(checked.guessesLeft) }, status: 401 });
  });

  router.post('/code/resend', form, async (ctx) => {
    const body = csrfOnly.parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, body.csrf);
    const current = interaction.prompt.name === 'login' ? await progressOf(interaction) : undefined;
    if (!current || !canReceiveCode(current.account, deps.smsCountryCodes)) return kit.backToInteraction(ctx);
    const client = await kit.clientOf(interaction);
    const sent = await sendCode(interaction, current.account, current.progress);
    const notice = sent.sent ? { key: 'login.code.resent' }
      : sent.retryAfter <= RESEND_COOL_DOWN_SECONDS ? { key: 'login.code.wait', params: { seconds: String(sent.retryAfter) } }
        : codeHeld(Date.now() + sent.retryAfter * 1000);
    return showCode(ctx, interaction, client, current.account, { notice, status: sent.sent ? 200 : 429, ...(sent.sent ? {} : { retryAfter: sent.retryAfter }) });
  });

  router.post('/face', form, async (ctx) => {
    const body = faceForm.parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, body.csrf);
    const current = interaction.prompt.name === 'login' ? await progressOf(interaction) : undefined;
    if (!current) return kit.backToInteraction(ctx);
    const { progress, account } = current;
    const client = await kit.clientOf(interaction);
    if (nextStep(progress, requiredFor(interaction, client)) !== 'face') return kit.backToInteraction(ctx);
    // The web page has a camera only in simulation; with a real face verifier the Cyber ID app does this step.
    if (!(faces instanceof SimulatedFaceVerifier) || !body.subject) return showFace(ctx, interaction, client, { fieldErrors: { subject: 'login.error.face_choose' }, status: 400 });

    const attempt = { account: account.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) return showFace(ctx, interaction, client, locked(verdict));
    const result = await faces.verify({ personId: account.identity.personId, capture: faces.captureOf(account.identity.personId, body.subject) });
    if (result.passed) {
      const proven = await signIns.prove(interaction.uid, account.id, 'face');
      return redirect(ctx, await advance(ctx, interaction, client, proven, account));
    }
    const after = await failed(ctx, attempt, 'face', interaction);
    if (!after.allowed) return showFace(ctx, interaction, client, locked(after));
    return showFace(ctx, interaction, client, { fieldErrors: { subject: result.live ? 'login.error.face_mismatch' : 'login.error.face_not_live' }, status: 401 });
  });

  // Passkey sign-in (the network credential), driven by /static/passkey.js; JSON in and out.
  router.post('/passkey/options', json, async (ctx) => {
    const interaction = await kit.load(ctx, ctx.get('x-csrf-token'));
    if (interaction.prompt.name !== 'login') return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    return jsonAnswer(ctx, 200, await passkeys.authenticationOptions(`interaction:${interaction.uid}`));
  });

  router.post('/passkey', json, async (ctx) => {
    const interaction = await kit.load(ctx, ctx.get('x-csrf-token'));
    if (interaction.prompt.name !== 'login') return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    const verdict = await throttle.verdict({ ip: ctx.ip });
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfter));
      return jsonAnswer(ctx, 429, { error: 'too_many_attempts' });
    }
    const response = webauthnResponse.safeParse(ctx.request.body);
    const accountId = response.success ? await passkeys.authenticate(`interaction:${interaction.uid}`, response.data as never) : undefined;
    const account = accountId ? await accounts.findById(accountId) : undefined;
    if (!account) {
      await failed(ctx, { ip: ctx.ip }, 'pop', interaction);
      return jsonAnswer(ctx, 401, { error: 'passkey_not_accepted' });
    }
    if (account.status !== 'active') {
      metrics.signIns.inc({ method: 'pop', outcome: 'inactive' });
      return jsonAnswer(ctx, 403, { error: 'account_inactive' });
    }
    const client = await kit.clientOf(interaction);
    const progress = await signIns.prove(interaction.uid, account.id, 'pop');
    return jsonAnswer(ctx, 200, { redirect_to: await advance(ctx, interaction, client, progress, account) });
  });

  // Polled by /static/scan.js on the login page until the second device approves (or the code expires).
  router.get('/scan', answersJson, async (ctx) => {
    const interaction = await kit.load(ctx);
    if (interaction.prompt.name !== 'login') return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    const client = await kit.clientOf(interaction);
    if (!offersScan(interaction, client, deps.firstPartyClients)) return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    const collected = await scans.collect(interaction.uid);
    if (collected.status !== 'approved') return jsonAnswer(ctx, 200, { status: collected.status });
    const account = await accounts.findById(collected.accountId);
    if (account?.status !== 'active') return jsonAnswer(ctx, 200, { status: 'declined' });
    const progress = await signIns.prove(interaction.uid, account.id, 'mca');
    return jsonAnswer(ctx, 200, { status: 'approved', redirect_to: await advance(ctx, interaction, client, progress, account) });
  });

  async function showIdentify(ctx: Context, interaction: Interaction, client: Client, state: PageState): Promise<void> {
    const fieldErrors = state.fieldErrors ?? {};
    const errors: { field: string; key: string; params?: Record<string, string> }[] = Object.entries(fieldErrors).map(([field, key]) => ({ field, key: key! }));
    if (state.status === 429) errors.push({ field: 'identifier', key: 'login.error.locked_until', params: state.params! });
    const scan = offersScan(interaction, client, deps.firstPartyClients) ? await scans.start(interaction.uid, client.clientId, ctx.ip) : undefined;
    render(ctx, interaction, 'login', {
      ...common(ctx, interaction, client, state),
      identifier: state.identifier ?? '',
      fieldErrors,
      errors,
      focus: fieldErrors.identifier || !state.identifier ? 'identifier' : 'password',
      scan: scan && { image: `data:image/svg+xml;base64,${Buffer.from(renderSVG(`${deps.issuer}/scan/${scan.token}`, { border: 2 })).toString('base64')}`, match: scan.match, pollPath: `/interaction/${interaction.uid}/scan` },
    }, state);
  }

  function showCode(ctx: Context, interaction: Interaction, client: Client, account: Account, state: PageState): void {
    const fieldErrors = state.fieldErrors ?? {};
    const errors: { field: string; key: string; params?: Record<string, string> }[] = Object.entries(fieldErrors).map(([field, key]) => ({ field, key: key!, params: state.params }));
    if (state.status === 429 && state.params?.minutes) errors.push({ field: 'code', key: 'login.error.locked_until', params: state.params });
    render(ctx, interaction, 'login-code', {
      ...common(ctx, interaction, client, state),
      phone: canReceiveCode(account, deps.smsCountryCodes) ? maskPhone(account.identity.phone!) : undefined,
      fieldErrors,
      errors,
      params: state.params,
      notice: state.notice,
    }, state);
  }

  function showFace(ctx: Context, interaction: Interaction, client: Client, state: PageState): void {
    const fieldErrors = state.fieldErrors ?? {};
    const errors: { field: string; key: string; params?: Record<string, string> }[] = Object.entries(fieldErrors).map(([field, key]) => ({ field, key: key! }));
    if (state.status === 429) errors.push({ field: 'subject', key: 'login.error.locked_until', params: state.params! });
    render(ctx, interaction, 'login-face', {
      ...common(ctx, interaction, client, state),
      simulated: faces instanceof SimulatedFaceVerifier,
      subjects: SIMULATED_SUBJECTS,
      fieldErrors,
      errors,
    }, state);
  }

  function common(ctx: Context, interaction: Interaction, client: Client, state: PageState) {
    const required = requiredFor(interaction, client);
    return {
      platform: platformName(client),
      base: `/interaction/${interaction.uid}`,
      csrf: csrfToken(ctx),
      needsFace: required === LOA3,
      locked: state.status === 429 && state.params?.until !== undefined,
    };
  }

  function render(ctx: Context, interaction: Interaction, view: string, data: Record<string, unknown>, state: PageState): void {
    if (state.retryAfter) ctx.set('Retry-After', String(state.retryAfter));
    renderPage(ctx, view, data, { status: state.status ?? 200, switchHref: `/interaction/${interaction.uid}` });
  }

  return (ctx, interaction, client) => show(ctx, interaction, client);
}

function originOf(ctx: Context): { userAgent: string; ip: string } {
  return { userAgent: ctx.get('user-agent'), ip: ctx.ip };
}

function redirect(ctx: Context, to: string): void {
  ctx.status = 303;
  ctx.redirect(to);
}

