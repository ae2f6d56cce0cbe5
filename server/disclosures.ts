// Writes the disclosure ledger from what oidc-provider actually answered: the identity claims in each ID
// token from the token endpoint and in each userinfo response, with the acr of the sign-in behind them.
// Fails closed: a release that cannot be written to the ledger is not delivered. At the token endpoint the tokens
// just issued are then withdrawn and the authorization code made usable again, so the platform's retry succeeds
// once the ledger can be written (otherwise it would meet a consumed code: invalid_grant, and a revoked grant).
import type { Context, Next } from 'koa';
import { decodeJwt } from 'jose';
import { StoreUnavailableError, UNAVAILABLE } from '../adapters/outage.ts';
import type { DisclosureChannel } from '../adapters/types.ts';
import { releasedClaims, type DisclosureLedger } from './identity/ledger.ts';
import type { Logger } from './logger.ts';

interface Withdrawable {
  destroy(): Promise<void>;
}

interface OidcContext {
  route?: string;
  params?: { grant_type?: unknown };
  entities?: { AccessToken?: Withdrawable; RefreshToken?: Withdrawable; AuthorizationCode?: { save(): Promise<unknown> } };
  client?: { clientId: string };
  account?: { accountId: string };
  accessToken?: { extra?: { acr?: string } };
}

export function recordDisclosures(ledger: DisclosureLedger, firstPartyClients: ReadonlySet<string>, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    await next();
    const oidc = (ctx as Context & { oidc?: OidcContext }).oidc;
    const route = oidc?.route;
    if (ctx.status !== 200 || (route !== 'token' && route !== 'userinfo')) return;
    const clientId = oidc!.client?.clientId;
    const accountId = oidc!.account?.accountId;
    if (!clientId || !accountId || firstPartyClients.has(clientId)) return;
    const release = releaseOf(route, ctx.body, oidc!);
    if (!release) return;
    try {
      await ledger.record(accountId, clientId, release.claims, release.acr, release.channel);
    } catch (error) {
      if (error instanceof StoreUnavailableError) logger.warn({ store: error.backend, requestId: ctx.state.requestId }, 'storage unavailable; release withheld');
      else logger.error({ err: error, requestId: ctx.state.requestId }, 'disclosure ledger write failed; release withheld');
      if (route === 'token') await withdrawIssued(oidc!, logger, ctx.state.requestId as string);
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = UNAVAILABLE;
    }
  };
}

/**
 * An authorization code's tokens that will not be delivered are destroyed and the code is saved again without its
 * "consumed" mark (same expiry). Best effort: with the store down this fails too, and is logged; the code then
 * expires unused. Refresh-token grants are not undone: the platform's next refresh meets the rotated token.
 */
async function withdrawIssued(oidc: OidcContext, logger: Logger, requestId: string): Promise<void> {
  if (oidc.params?.grant_type !== 'authorization_code') return;
  const { AccessToken, RefreshToken, AuthorizationCode } = oidc.entities ?? {};
  try {
    await Promise.all([AccessToken?.destroy(), RefreshToken?.destroy()]);
    await AuthorizationCode?.save();
  } catch (error) {
    logger.warn({ err: { message: (error as Error).message }, requestId }, 'could not withdraw the undelivered tokens; the authorization code stays used');
  }
}

function releaseOf(route: 'token' | 'userinfo', body: unknown, oidc: OidcContext): { claims: string[]; acr: string | null; channel: DisclosureChannel } | undefined {
  if (route === 'token') {
    const idToken = (body as { id_token?: unknown } | undefined)?.id_token;
    if (typeof idToken !== 'string') return undefined;
    const payload = decodeJwt(idToken);
    return { claims: releasedClaims(payload), acr: typeof payload.acr === 'string' ? payload.acr : null, channel: 'id_token' };
  }
  // A platform that registered signed userinfo gets a JWT; otherwise a JSON object.
  const payload = typeof body === 'string' ? decodeJwt(body) : body as Record<string, unknown>;
  return { claims: releasedClaims(payload), acr: oidc.accessToken?.extra?.acr ?? null, channel: 'userinfo' };
}
