// The person-facing side of the protocol: /interaction/:uid shows sign-in or consent, and the forms post
// back here. Every post carries a CSRF token; a stale tab, a second submit or a lost cookie ends on a page
// that says what to do, never on a stack trace.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import Provider, { errors, type Grant, type InteractionResults } from 'oidc-provider';
import { z } from 'zod';
import type { Accounts } from '../server/identity/accounts.ts';
import { PASSKEY_ACR, PASSWORD_ACR } from '../server/identity/assurance.ts';
import { scopeOfClaim } from '../server/identity/claims.ts';
import { webauthnResponse, type Passkeys } from '../server/identity/passkeys.ts';
import type { Logger } from '../server/logger.ts';
import type { Metrics } from '../server/metrics.ts';
import type { ClientPolicy } from '../server/policy.ts';
import { buildConsentOffer, lockedOn, preTicked, readAnswer, recordDecision, type ConsentOffer, type ConsentRequest } from './consent.ts';
import { csrfToken, csrfValid } from './csrf.ts';
import { CsrfError, friendlyErrors } from './page-errors.ts';
import { chooseLanguage } from './i18n.ts';
import { renderPage } from './pages.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

export interface InteractionDependencies {
  provider: Provider;
  accounts: Accounts;
  passkeys: Passkeys;
  logger: Logger;
  metrics: Metrics;
}

const loginForm = z.object({
  csrf: z.string().optional(),
  identifier: z.string().trim().max(64).default(''),
  password: z.string().max(256).default(''),
});

function passkeyAnswer(ctx: Context, status: number, body: object): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

const consentForm = z.object({
  csrf: z.string().optional(),
  claims: z.union([z.string(), z.array(z.string())]).default([]).transform((v) => new Set(Array.isArray(v) ? v : [v])),
  offline_access: z.literal('yes').optional(),
});

export function interactionRoutes({ provider, accounts, passkeys, logger, metrics }: InteractionDependencies): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const body = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  router.use(friendlyErrors(logger));

  router.get('/', async (ctx) => {
    const interaction = await load(ctx);
    const client = await clientOf(interaction);
    if (interaction.prompt.name === 'login') {
      if (demandsUnreachableAcr(interaction)) return finish(ctx, UNMET_ACR, false);
      return showLogin(ctx, interaction, client, {});
    }
    if (interaction.prompt.name === 'consent') return showConsent(ctx, interaction, client, await grantOf(interaction), {});
    throw new Error(`unhandled prompt ${interaction.prompt.name}`);
  });

  // Reloading or going back to a form's address (a GET) returns to the interaction's current step.
  router.get(['/login', '/consent', '/abort'], backToInteraction);

  router.post('/login', body, async (ctx) => {
    const form = loginForm.parse(ctx.request.body ?? {});
    const interaction = await load(ctx, form.csrf);
    if (interaction.prompt.name !== 'login') return backToInteraction(ctx); // a second submit or the back button
    if (demandsUnreachableAcr(interaction)) return finish(ctx, UNMET_ACR, false);
    const client = await clientOf(interaction);

    const fieldErrors: FieldErrors = {};
    if (!form.identifier) fieldErrors.identifier = 'login.error.identifier_missing';
    if (!form.password) fieldErrors.password = 'login.error.password_missing';
    if (Object.keys(fieldErrors).length) {
      return showLogin(ctx, interaction, client, { identifier: form.identifier, fieldErrors, status: 400 });
    }

    const account = await accounts.authenticate(form.identifier, form.password);
    if (!account) {
      metrics.signIns.inc({ outcome: 'failure' });
      logger.info({ event: 'sign_in.failed', client: client.clientId, interaction: interaction.uid, requestId: ctx.state.requestId }, 'sign-in failed');
      return showLogin(ctx, interaction, client, {
        identifier: form.identifier,
        fieldErrors: { identifier: 'login.error.invalid' },
        status: 401,
      });
    }
    if (account.status !== 'active') {
      // The password was right, so saying why is safe; no session is created.
      metrics.signIns.inc({ outcome: 'inactive' });
      const reason = account.status === 'suspended' ? 'login.error.suspended' : 'login.error.awaiting_guardian';
      return showLogin(ctx, interaction, client, { identifier: form.identifier, fieldErrors: { identifier: reason }, status: 403 });
    }
    metrics.signIns.inc({ outcome: 'success' });
    logger.info({ event: 'sign_in.succeeded', client: client.clientId, interaction: interaction.uid, requestId: ctx.state.requestId }, 'sign-in succeeded');
    return finish(ctx, { login: { accountId: account.id, acr: PASSWORD_ACR, amr: ['pwd'] } }, false);
  });

  // Passkey sign-in (the network credential), driven by /static/passkey.js; JSON in and out.
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  router.post('/passkey/options', json, async (ctx) => {
    const interaction = await load(ctx, ctx.get('x-csrf-token'));
    if (interaction.prompt.name !== 'login') return passkeyAnswer(ctx, 409, { error: 'wrong_step' });
    return passkeyAnswer(ctx, 200, await passkeys.authenticationOptions(`interaction:${interaction.uid}`));
  });

  router.post('/passkey', json, async (ctx) => {
    const interaction = await load(ctx, ctx.get('x-csrf-token'));
    if (interaction.prompt.name !== 'login') return passkeyAnswer(ctx, 409, { error: 'wrong_step' });
    const response = webauthnResponse.safeParse(ctx.request.body);
    const accountId = response.success ? await passkeys.authenticate(`interaction:${interaction.uid}`, response.data as never) : undefined;
    const account = accountId ? await accounts.findById(accountId) : undefined;
    if (!account) {
      metrics.signIns.inc({ outcome: 'failure' });
      logger.info({ event: 'sign_in.failed', method: 'passkey', client: interaction.params.client_id, requestId: ctx.state.requestId }, 'passkey sign-in failed');
      return passkeyAnswer(ctx, 401, { error: 'passkey_not_accepted' });
    }
    if (account.status !== 'active') {
      metrics.signIns.inc({ outcome: 'inactive' });
      return passkeyAnswer(ctx, 403, { error: 'account_inactive' });
    }
    metrics.signIns.inc({ outcome: 'success' });
    logger.info({ event: 'sign_in.succeeded', method: 'passkey', client: interaction.params.client_id, requestId: ctx.state.requestId }, 'sign-in succeeded');
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account.id, acr: PASSKEY_ACR, amr: ['pop', 'mfa'] } }, { mergeWithLastSubmission: false });
    return passkeyAnswer(ctx, 200, { redirect_to: redirectTo });
  });

  router.post('/consent', body, async (ctx) => {
    const form = consentForm.parse(ctx.request.body ?? {});
    const interaction = await load(ctx, form.csrf);
    if (interaction.prompt.name !== 'consent') return backToInteraction(ctx);
    const client = await clientOf(interaction);
    const offer = offerFor(interaction, client);
    const answer = readAnswer(offer, form.claims);
    if (!answer.ok) {
      return showConsent(ctx, interaction, client, undefined, { ticked: form.claims, missing: new Set(answer.missing), keepOffline: !!form.offline_access, status: 400 });
    }

    // The remembered grant, unless it was revoked while this page was open.
    const grant = await grantOf(interaction) ?? new provider.Grant({ accountId: interaction.session!.accountId, clientId: client.clientId });
    recordDecision(grant, offer, answer, !!form.offline_access);
    // A fresh answer is remembered for a full year from now (a copied grant would keep its old expiry).
    Object.assign(grant, { exp: undefined });
    const grantId = await grant.save();
    logger.info({ event: 'consent.granted', client: client.clientId, claims: answer.granted, rejected: answer.rejected, requestId: ctx.state.requestId }, 'consent recorded');
    return finish(ctx, { consent: { grantId } }, true);
  });

  router.post('/abort', body, async (ctx) => {
    const form = z.object({ csrf: z.string().optional() }).parse(ctx.request.body ?? {});
    const interaction = await load(ctx, form.csrf);
    logger.info({ event: 'interaction.refused', client: interaction.params.client_id, prompt: interaction.prompt.name, requestId: ctx.state.requestId }, 'person refused');
    return finish(ctx, { error: 'access_denied', error_description: 'End-User refused the request' }, false);
  });

  /** The interaction this browser is in; it must be the one in the URL (another tab may have moved on). */
  async function load(ctx: Context, submittedCsrf?: string | undefined): Promise<Interaction> {
    if (ctx.method === 'POST' && !csrfValid(ctx, submittedCsrf)) throw new CsrfError();
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    return interaction;
  }

  async function clientOf(interaction: Interaction): Promise<Client> {
    const client = await provider.Client.find(String(interaction.params.client_id));
    if (!client) throw new errors.SessionNotFound('client no longer exists');
    return client;
  }

  async function grantOf(interaction: Interaction): Promise<Grant | undefined> {
    return interaction.grantId ? provider.Grant.find(interaction.grantId) : undefined;
  }

  async function finish(ctx: Context, result: InteractionResults, mergeWithLastSubmission: boolean): Promise<void> {
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  function backToInteraction(ctx: Context): void {
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.params.uid}`);
  }

  return router;
}

type FieldErrors = Partial<Record<'identifier' | 'password', string>>;

const UNMET_ACR: InteractionResults = {
  error: 'unmet_authentication_requirements',
  error_description: 'the essential acr requested cannot be met by the available sign-in methods',
};

/**
 * A platform that marks acr essential (claims parameter) above what password sign-in gives must not be
 * answered with a login form that can never satisfy it: it gets unmet_authentication_requirements at once.
 * (acr_values alone is a preference: the ID token then states the acr actually reached.)
 */
function demandsUnreachableAcr(interaction: Interaction): boolean {
  const claims = interaction.params.claims;
  if (typeof claims !== 'string') return false;
  const acr = (JSON.parse(claims) as { id_token?: { acr?: { essential?: boolean; value?: unknown; values?: unknown } } }).id_token?.acr;
  if (!acr?.essential) return false;
  // oidc-provider checks value and values separately; either one excluding password sign-in is unreachable.
  const valuesExclude = acr.values !== undefined && !(Array.isArray(acr.values) && acr.values.includes(PASSWORD_ACR));
  const valueExcludes = acr.value !== undefined && acr.value !== PASSWORD_ACR;
  return valuesExclude || valueExcludes;
}

function platformName(client: Client): string {
  return client.clientName ?? client.clientId;
}

/** Validated and completed with defaults when the client was loaded (see extraClientMetadata in server/provider.ts). */
function policyOf(client: Client): ClientPolicy {
  return client['cyberid_policy'] as ClientPolicy;
}

/**
 * What to ask: what oidc-provider found undecided, or, when the platform asked for the consent page
 * (prompt=consent), everything it requests, so the person can change an earlier answer.
 */
function offerFor(interaction: Interaction, client: Client): ConsentOffer {
  const request: ConsentRequest = interaction.prompt.reasons.includes('consent_prompt')
    ? { missingOIDCScope: String(interaction.params.scope ?? '').split(' ').filter(Boolean), missingOIDCClaims: claimsParameterNames(interaction) }
    : interaction.prompt.details as ConsentRequest;
  return buildConsentOffer(request, {
    allowedScopes: client.scope?.split(' ') ?? [],
    policy: policyOf(client),
  });
}

function showLogin(ctx: Context, interaction: Interaction, client: Client, state: { identifier?: string; fieldErrors?: FieldErrors; status?: number }): void {
  const fieldErrors = state.fieldErrors ?? {};
  const errorList = Object.entries(fieldErrors).map(([field, key]) => ({ field, key }));
  renderPage(ctx, 'login', {
    platform: platformName(client),
    action: `/interaction/${interaction.uid}/login`,
    abortAction: `/interaction/${interaction.uid}/abort`,
    passkeyPath: `/interaction/${interaction.uid}/passkey`,
    csrf: csrfToken(ctx),
    identifier: state.identifier ?? '',
    fieldErrors,
    errors: errorList,
    focus: fieldErrors.identifier || !state.identifier ? 'identifier' : 'password',
  }, { status: state.status ?? 200, switchHref: `/interaction/${interaction.uid}` });
}

function claimsParameterNames(interaction: Interaction): string[] {
  if (typeof interaction.params.claims !== 'string') return [];
  const claims = JSON.parse(interaction.params.claims) as { id_token?: object; userinfo?: object };
  return [...new Set([...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})])];
}

/** Claims and scopes the person refused before (on the grant this page would change): shown unticked. */
function earlierRefusals(grant: Grant | undefined): Set<string> {
  if (!grant) return new Set();
  return new Set([...grant.getRejectedOIDCClaims(), ...grant.getRejectedOIDCScope().split(' ').filter(Boolean)]);
}

function showConsent(
  ctx: Context,
  interaction: Interaction,
  client: Client,
  grant: Grant | undefined,
  state: { ticked?: ReadonlySet<string>; missing?: ReadonlySet<string>; keepOffline?: boolean; status?: number },
): void {
  const offer = offerFor(interaction, client);
  const lang = chooseLanguage(ctx);
  const policy = policyOf(client);
  const refused = earlierRefusals(grant);
  const lines = offer.lines.map((line) => ({
    ...line,
    purpose: line.purpose?.[lang],
    locked: lockedOn(line),
    checked: lockedOn(line) || (state.ticked
      ? state.ticked.has(line.claim)
      : preTicked(line) && !refused.has(line.claim) && !refused.has(scopeOfClaim(line.claim) ?? '')),
    error: state.missing?.has(line.claim) ? 'consent.error.restricted' : undefined,
  }));
  renderPage(ctx, 'consent', {
    platform: platformName(client),
    action: `/interaction/${interaction.uid}/consent`,
    abortAction: `/interaction/${interaction.uid}/abort`,
    passkeyPath: `/interaction/${interaction.uid}/passkey`,
    csrf: csrfToken(ctx),
    lines,
    offlineAccess: offer.offlineAccess ? { checked: state.keepOffline ?? !refused.has('offline_access') } : undefined,
    legalBasis: policy.legal_basis?.[lang],
    errors: [...(state.missing ?? [])].map((claim) => ({ field: `claim-${claim}`, key: 'consent.error.restricted' })),
  }, { status: state.status ?? 200, switchHref: `/interaction/${interaction.uid}` });
}

/** Errors a person can meet on these pages become pages that say what to do. */
