// A small platform that integrates "Sign in with Cyber ID" the way an integrator would: Koa and openid-client,
// the authorization code flow with PKCE, state and nonce, then the ID token's claims and userinfo shown on the page.
// It is a demonstration (sessions in memory, plain http on localhost), not a template for production.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Eta } from 'eta';
import Koa, { type Context } from 'koa';
import * as oidc from 'openid-client';

const eta = new Eta({ views: fileURLToPath(new URL('./views/', import.meta.url)), autoEscape: true, cache: true });

export interface DemoPlatformOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  name: string;
  /** The port its registered redirect URI names (clients.example.json). */
  port: number;
  scope: string;
  /** The other demo platform, linked so the person can compare what each one receives. */
  other?: { name: string; url: string } | undefined;
}

interface Session {
  pending?: { verifier: string; state: string; nonce: string };
  signedIn?: { sub: string; idToken: string; claims: Record<string, unknown>; userinfo: Record<string, unknown> };
  error?: string;
}

export interface DemoPlatform {
  url: string;
  close(): Promise<void>;
}

export async function startDemoPlatform(options: DemoPlatformOptions): Promise<DemoPlatform> {
  const origin = `http://localhost:${options.port}`;
  const redirectUri = `${origin}/callback`;
  // Plain http is accepted only because the demo provider runs on http://localhost.
  const config = await oidc.discovery(new URL(options.issuer), options.clientId, undefined, oidc.ClientSecretBasic(options.clientSecret), {
    execute: options.issuer.startsWith('http://') ? [oidc.allowInsecureRequests] : [],
  });
  const sessions = new Map<string, Session>();
  // Cookies are not kept apart by port: each demo platform on localhost needs a cookie name of its own.
  const sessionCookie = `demo_session_${options.clientId}`;
  const sessionOf = (ctx: Context): Session => {
    let id = ctx.cookies.get(sessionCookie);
    if (!id || !sessions.has(id)) {
      id = randomBytes(16).toString('base64url');
      sessions.set(id, {});
      ctx.cookies.set(sessionCookie, id, { httpOnly: true, sameSite: 'lax' });
    }
    return sessions.get(id)!;
  };

  const app = new Koa();
  app.use(async (ctx) => {
    const session = sessionOf(ctx);
    if (ctx.path === '/' && ctx.method === 'GET') {
      ctx.type = 'html';
      const { signedIn, error } = session;
      session.error = undefined;
      ctx.body = eta.render('platform', {
        name: options.name, clientId: options.clientId, issuer: options.issuer, other: options.other, error,
        signedIn: signedIn && {
          sub: signedIn.sub,
          acr: signedIn.claims.acr,
          amr: signedIn.claims.amr,
          authTime: typeof signedIn.claims.auth_time === 'number' ? new Date(signedIn.claims.auth_time * 1000).toISOString() : undefined,
          idTokenClaims: JSON.stringify(signedIn.claims, null, 2),
          userinfo: JSON.stringify(signedIn.userinfo, null, 2),
        },
      });
    } else if (ctx.path === '/login' && ctx.method === 'POST') {
      const pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
      session.pending = pending;
      ctx.redirect(oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri, scope: options.scope, state: pending.state, nonce: pending.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier), code_challenge_method: 'S256',
      }).href);
    } else if (ctx.path === '/callback' && ctx.method === 'GET') {
      const { pending } = session;
      session.pending = undefined;
      try {
        if (!pending) throw new Error('no sign-in was started from this browser');
        const tokens = await oidc.authorizationCodeGrant(config, new URL(ctx.href), {
          pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce,
        });
        const claims = tokens.claims()!;
        const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        session.signedIn = { sub: claims.sub, idToken: tokens.id_token!, claims, userinfo };
      } catch (error) {
        // An error the provider sent back (access_denied when the person refused, say) or a failed check.
        session.error = error instanceof oidc.AuthorizationResponseError ? `${error.error}: ${error.error_description ?? ''}` : (error as Error).message;
      }
      ctx.redirect('/');
    } else if (ctx.path === '/logout' && ctx.method === 'POST') {
      const idToken = session.signedIn?.idToken;
      session.signedIn = undefined;
      // RP-initiated logout: the person also signs out at Cyber ID, then comes back here.
      ctx.redirect(idToken ? oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: `${origin}/` }).href : '/');
    } else {
      ctx.status = 404;
      ctx.body = 'not found';
    }
  });
  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(options.port, 'localhost', () => resolve(listening)).once('error', reject);
  });
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
