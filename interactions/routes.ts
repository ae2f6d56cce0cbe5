// The person-facing side of the protocol: /interaction/:uid shows the current step (sign-in, a platform's
// admission rules, or consent), and the forms post back here. Every post carries a CSRF token; a stale tab,
// a second submit or a lost cookie ends on a page that says what to do, never on a stack trace.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Grant } from 'oidc-provider';
import { z } from 'zod';
import type { PlatformAdmission } from '../server/identity/admission.ts';
import { scopeOfClaim } from '../server/identity/claims.ts';
import { ADMISSION_REASON } from '../server/provider.ts';
import { buildConsentOffer, lockedOn, preTicked, readAnswer, recordDecision, type ConsentOffer, type ConsentRequest } from './consent.ts';
import { csrfToken } from './csrf.ts';
import { chooseLanguage } from './i18n.ts';
import { jsonAnswer, platformName, policyOf, type Client, type Interaction, InteractionKit } from './interaction.ts';
import { answersJson, friendlyErrors } from './page-errors.ts';
import { renderPage } from './pages.ts';
import { signInRoutes, type SignInDependencies } from './sign-in-routes.ts';

export interface InteractionDependencies extends Omit<SignInDependencies, 'kit'> {
  provider: Provider;
  admission: PlatformAdmission;
}

const consentForm = z.object({
  csrf: z.string().optional(),
  claims: z.union([z.string(), z.array(z.string())]).default([]).transform((v) => new Set(Array.isArray(v) ? v : [v])),
  offline_access: z.literal('yes').optional(),
});

export function interactionRoutes(deps: InteractionDependencies): Router {
  const { accounts, admission, logger, metrics } = deps;
  const kit = new InteractionKit(deps.provider);
  const router = new Router({ prefix: '/interaction/:uid', sensitive: true });
  const body = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  router.use(friendlyErrors(logger));
  const showSignIn = signInRoutes(router, { ...deps, kit });

  router.get('/', async (ctx) => {
    const interaction = await kit.load(ctx);
    const client = await kit.clientOf(interaction);
    if (interaction.prompt.name === 'login') return showSignIn(ctx, interaction, client);
    if (interaction.prompt.name !== 'consent') throw new Error(`unhandled prompt ${interaction.prompt.name}`);
    if (interaction.prompt.reasons.includes(ADMISSION_REASON)) return showAdmission(ctx, interaction, client);
    if (deps.firstPartyClients.has(client.clientId)) return consentToFirstParty(ctx, interaction);
    return showConsent(ctx, interaction, client, await grantOf(interaction), {});
  });

  router.get(['/consent', '/abort'], (ctx) => kit.backToInteraction(ctx));

  // Polled by /static/admission.js on the guardian-wait page; once the guardian approves, the flow continues.
  router.get('/admission', answersJson, async (ctx) => {
    const interaction = await kit.load(ctx);
    if (interaction.prompt.name !== 'consent' || !interaction.session?.accountId) return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    const client = await kit.clientOf(interaction);
    const account = await accounts.findById(interaction.session.accountId);
    if (account?.status !== 'active') return jsonAnswer(ctx, 409, { error: 'wrong_step' });
    const verdict = await admission.admit(account, client.clientId, policyOf(client));
    if (!verdict.admitted) return jsonAnswer(ctx, 200, { status: verdict.reason });
    // Back through oidc-provider, which asks for consent next if anything is still undecided.
    return jsonAnswer(ctx, 200, { status: 'admitted', redirect_to: await kit.result(ctx, {}, true) });
  });

  router.post('/consent', body, async (ctx) => {
    const form = consentForm.parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, form.csrf);
    if (interaction.prompt.name !== 'consent' || interaction.prompt.reasons.includes(ADMISSION_REASON)) return kit.backToInteraction(ctx);
    const client = await kit.clientOf(interaction);
    const offer = offerFor(interaction, client);
    const answer = readAnswer(offer, form.claims);
    if (!answer.ok) {
      return showConsent(ctx, interaction, client, undefined, { ticked: form.claims, missing: new Set(answer.missing), keepOffline: !!form.offline_access, status: 400 });
    }

    // The remembered grant, unless it was revoked while this page was open.
    const grant = await grantOf(interaction) ?? new kit.provider.Grant({ accountId: interaction.session!.accountId, clientId: client.clientId });
    recordDecision(grant, offer, answer, !!form.offline_access);
    // A fresh answer is remembered for a full year from now (a copied grant would keep its old expiry).
    Object.assign(grant, { exp: undefined });
    const grantId = await grant.save();
    metrics.consents.inc({ decision: answer.rejected.length ? 'approved_partially' : 'approved' });
    logger.info({ event: 'consent.granted', client: client.clientId, claims: answer.granted, rejected: answer.rejected, requestId: ctx.state.requestId }, 'consent recorded');
    return kit.finish(ctx, { consent: { grantId } }, true);
  });

  router.post('/abort', body, async (ctx) => {
    const form = z.object({ csrf: z.string().optional() }).parse(ctx.request.body ?? {});
    const interaction = await kit.load(ctx, form.csrf);
    if (interaction.prompt.name === 'consent') metrics.consents.inc({ decision: 'refused' });
    logger.info({ event: 'interaction.refused', client: interaction.params.client_id, prompt: interaction.prompt.name, requestId: ctx.state.requestId }, 'person refused');
    return kit.finish(ctx, { error: 'access_denied', error_description: 'End-User refused the request' }, false);
  });

  /** The portal shows the person their own account: nothing is released, so nothing is asked. */
  async function consentToFirstParty(ctx: Context, interaction: Interaction): Promise<void> {
    const grant = await grantOf(interaction) ?? new kit.provider.Grant({ accountId: interaction.session!.accountId, clientId: String(interaction.params.client_id) });
    grant.addOIDCScope('openid');
    return kit.finish(ctx, { consent: { grantId: await grant.save() } }, true);
  }

  /** Under the platform's minimum age: a page that says so. A minor waiting for a guardian: a page that waits. */
  async function showAdmission(ctx: Context, interaction: Interaction, client: Client): Promise<void> {
    const account = interaction.session?.accountId ? await accounts.findById(interaction.session.accountId) : undefined;
    if (account?.status !== 'active') return kit.finish(ctx, { error: 'access_denied', error_description: 'account not active' }, false);
    const verdict = await admission.admit(account, client.clientId, policyOf(client));
    if (verdict.admitted) return kit.finish(ctx, {}, true);
    if (verdict.reason === 'awaiting_guardian' && !(await admission.askGuardian(account, client.clientId))) {
      return renderAdmission(ctx, interaction, client, { reason: 'no_guardian' });
    }
    if (verdict.reason === 'awaiting_guardian') {
      logger.info({ event: 'admission.awaiting_guardian', client: client.clientId, requestId: ctx.state.requestId }, 'a minor waits for a guardian');
    }
    return renderAdmission(ctx, interaction, client, verdict.reason === 'under_age' ? { reason: 'under_age', minimumAge: String(verdict.minimumAge) } : { reason: verdict.reason });
  }

  function renderAdmission(ctx: Context, interaction: Interaction, client: Client, data: { reason: string; minimumAge?: string }): void {
    renderPage(ctx, 'admission', {
      ...data,
      platform: platformName(client),
      abortAction: `/interaction/${interaction.uid}/abort`,
      pollPath: `/interaction/${interaction.uid}/admission`,
      checkAgain: `/interaction/${interaction.uid}`,
      csrf: csrfToken(ctx),
    }, { status: data.reason === 'awaiting_guardian' ? 200 : 403, switchHref: `/interaction/${interaction.uid}` });
  }

  async function grantOf(interaction: Interaction): Promise<Grant | undefined> {
    return interaction.grantId ? kit.provider.Grant.find(interaction.grantId) : undefined;
  }

  return router;
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
    csrf: csrfToken(ctx),
    lines,
    offlineAccess: offer.offlineAccess ? { checked: state.keepOffline ?? !refused.has('offline_access') } : undefined,
    legalBasis: policy.legal_basis?.[lang],
    errors: [...(state.missing ?? [])].map((claim) => ({ field: `claim-${claim}`, key: 'consent.error.restricted' })),
  }, { status: state.status ?? 200, switchHref: `/interaction/${interaction.uid}` });
}
