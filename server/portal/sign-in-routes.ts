// Signing in to the portal: an ordinary authorization code flow with PKCE against this provider, redeemed
// over HTTP with openid-client like any platform's. The flow's state, nonce and verifier wait in the
// short-lived store under the state, which a cookie binds to this browser.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import * as oidc from 'openid-client';
import type { ShortLivedStore } from '../../adapters/types.ts';
import { csrfValid } from '../../interactions/csrf.ts';
import { CsrfError } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import type { Logger } from '../logger.ts';
import type { PortalClient } from './first-party.ts';
import { safeReturn, type PortalKit } from './kit.ts';

const FLOW_COOKIE = 'cyberid_account_flow';
const FLOW_SECONDS = 30 * 60;
/** A sign-in asked for again must be this fresh when it comes back (clock skew allowed). */
const SKEW_SECONDS = 30;

interface PendingSignIn {
  verifier: string;
  nonce: string;
  returnTo: string;
  /** Epoch seconds when a fresh sign-in (prompt=login) was asked for; absent for a first sign-in. */
  again?: number;
}

export interface PortalSignInDependencies {
  kit: PortalKit;
  client: PortalClient;
  provider: Provider;
  store: ShortLivedStore;
  issuer: string;
  logger: Logger;
}

export function portalSignInRoutes(router: Router, { kit, client, provider, store, issuer, logger }: PortalSignInDependencies): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  router.get('/sign-in', async (ctx) => {
    const config = await client.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const again = ctx.query.again === '1';
    await store.set(`portal-flow:${state}`, { verifier, nonce, returnTo: safeReturn(ctx.query.return), ...(again ? { again: Math.floor(Date.now() / 1000) } : {}) } satisfies PendingSignIn, FLOW_SECONDS);
    ctx.cookies.set(FLOW_COOKIE, state, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/account', maxAge: FLOW_SECONDS * 1000, overwrite: true });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: client.redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(again ? { prompt: 'login' } : {}),
    });
    ctx.status = 303;
    ctx.redirect(url.href);
  });

  router.get('/callback', async (ctx) => {
    const state = ctx.cookies.get(FLOW_COOKIE, { signed: true });
    ctx.cookies.set(FLOW_COOKIE, null, { path: '/account' });
    const pending = state ? await store.get<PendingSignIn>(`portal-flow:${state}`) : undefined;
    if (!state || !pending || !(await store.delete(`portal-flow:${state}`))) return ended(ctx, 'expired', 400);
    if (typeof ctx.query.error === 'string') return ended(ctx, ctx.query.error === 'access_denied' ? 'cancelled' : 'failed', 400);

    // A callback openid-client rejects (no iss, a forged response parameter…) is a failed sign-in, not our fault.
    const tokens = await oidc.authorizationCodeGrant(await client.configuration(), new URL(ctx.originalUrl, issuer), {
      pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true,
    }).catch((error: unknown) => {
      if (error instanceof oidc.ClientError || error instanceof oidc.ResponseBodyError || error instanceof oidc.AuthorizationResponseError) return undefined;
      throw error;
    });
    if (!tokens) return ended(ctx, 'failed', 400);
    const claims = tokens.claims()!;
    if (pending.again && (claims.auth_time ?? 0) < pending.again - SKEW_SECONDS) return ended(ctx, 'failed', 400);
    // The portal is the provider itself: it reads whose token this is instead of resolving a pairwise sub,
    // and then retires the token, which it has no other use for.
    const token = await provider.AccessToken.find(tokens.access_token);
    if (!token?.accountId) return ended(ctx, 'failed', 400);
    await token.destroy();
    await kit.sessions.open(ctx, { accountId: token.accountId, authTime: claims.auth_time!, acr: String(claims.acr), amr: Array.isArray(claims.amr) ? claims.amr.map(String) : [], idToken: tokens.id_token!, createdAt: Date.now() });
    logger.info({ event: 'portal.signed_in', acr: claims.acr, requestId: ctx.state.requestId }, 'signed in to the portal');
    ctx.status = 303;
    ctx.redirect(pending.returnTo);
  });

  // Signing out of the portal signs out of Cyber ID on this browser (RP-initiated logout, with its confirmation page).
  router.post('/sign-out', form, async (ctx) => {
    if (!csrfValid(ctx, (ctx.request.body as Record<string, unknown> | undefined)?.csrf)) throw new CsrfError();
    const signedIn = await kit.sessions.current(ctx);
    await kit.sessions.close(ctx);
    ctx.status = 303;
    if (!signedIn) return ctx.redirect('/account/signed-out');
    const url = oidc.buildEndSessionUrl(await client.configuration(), { id_token_hint: signedIn.session.idToken, post_logout_redirect_uri: `${issuer}/account/signed-out` });
    ctx.redirect(url.href);
  });

  router.get('/signed-out', (ctx) => ended(ctx, 'signed_out', 200));
}

/** The page after the portal session ended or could not start, with a way back in. */
export function ended(ctx: Context, reason: string, status: number): void {
  renderPage(ctx, 'account-ended', { reason }, { status });
}
