// What every interaction route needs: the interaction this browser is in (checked against the URL and
// the CSRF token), its platform, the platform's policy, and how to end the interaction or return to it.
import type { Context } from 'koa';
import Provider, { errors, type InteractionResults } from 'oidc-provider';
import type { ClientPolicy } from '../server/policy.ts';
import { csrfValid } from './csrf.ts';
import { CsrfError } from './page-errors.ts';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
export type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

export class InteractionKit {
  readonly provider: Provider;

  constructor(provider: Provider) {
    this.provider = provider;
  }

  /** The interaction this browser is in; it must be the one in the URL (another tab may have moved on). */
  async load(ctx: Context, submittedCsrf?: unknown): Promise<Interaction> {
    if (ctx.method === 'POST' && !csrfValid(ctx, submittedCsrf)) throw new CsrfError();
    const interaction = await this.provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    // The platform's ui_locales choose this interaction's language (OIDC Core 3.1.2.1), before cookie and browser.
    if (typeof interaction.params.ui_locales === 'string') ctx.state.uiLocales = interaction.params.ui_locales;
    return interaction;
  }

  async clientOf(interaction: Interaction): Promise<Client> {
    const client = await this.provider.Client.find(String(interaction.params.client_id));
    if (!client) throw new errors.SessionNotFound('client no longer exists');
    return client;
  }

  /** Ends the interaction and returns where the browser goes next (back into oidc-provider). */
  result(ctx: Context, result: InteractionResults, mergeWithLastSubmission: boolean): Promise<string> {
    return this.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission });
  }

  async finish(ctx: Context, result: InteractionResults, mergeWithLastSubmission: boolean): Promise<void> {
    const redirectTo = await this.result(ctx, result, mergeWithLastSubmission);
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  /** Reloading, going back or submitting twice lands on the interaction's current step. */
  backToInteraction(ctx: Context): void {
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.params.uid}`);
  }
}

/** A JSON answer to the page scripts (passkey, QR and guardian polling). */
export function jsonAnswer(ctx: Context, status: number, body: object): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

export function platformName(client: Client): string {
  return client.clientName ?? client.clientId;
}

/** Validated and completed with defaults when the client was loaded (see extraClientMetadata in server/provider.ts). */
export function policyOf(client: Client): ClientPolicy {
  return client['cyberid_policy'] as ClientPolicy;
}

export type ClaimsAcr = { essential?: boolean; value?: unknown; values?: unknown } | undefined;

/** `claims.id_token.acr` of the request, if the platform used the claims parameter for it. */
export function claimsAcrOf(interaction: Interaction): ClaimsAcr {
  if (typeof interaction.params.claims !== 'string') return undefined;
  return (JSON.parse(interaction.params.claims) as { id_token?: { acr?: ClaimsAcr } }).id_token?.acr ?? undefined;
}
