// Clearer words for the protocol errors integrators trip on. oidc-provider answers a token request that lacks its
// DPoP proof or TLS certificate with "grant request is invalid" (the reason stays in its error_detail), and a fapi2
// client that skips PAR with a terse line: here both say what to send instead. Only these known reasons are
// explained; every other error keeps oidc-provider's wording.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';

/** oidc-provider's error_detail at the token endpoint → what the platform is told. */
const TOKEN_REASONS: Record<string, string> = {
  'missing DPoP proof JWT': 'this authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof signed with that key in the DPoP header of the token request',
  'DPoP proof JWT not provided': 'this client\'s tokens are sender-constrained with DPoP: send a DPoP proof in the DPoP header of the token request',
  'DPoP proof key thumbprint does not match dpop_jkt': 'the DPoP proof is signed with another key than the one this authorization code is bound to (dpop_jkt)',
  'mutual TLS client certificate not provided': 'this client\'s tokens are bound to its TLS client certificate: call the token endpoint over mutual TLS with that certificate',
};

/** oidc-provider's error_description at the authorization endpoint → what the platform is told. */
const AUTHORIZATION_REASONS: Record<string, string> = {
  'Pushed Authorization Request must be used': 'this client must use pushed authorization requests (PAR): POST the request to the pushed_authorization_request_endpoint first, then send only client_id and the request_uri it returns to the authorization endpoint',
};

/** Installs the clearer messages on `provider`. */
export function explainProtocolErrors(provider: Provider): void {
  (provider as unknown as NodeJS.EventEmitter).on('grant.error', (ctx: KoaContextWithOIDC, error: { error_detail?: string }) => {
    if (error.error_detail && Object.hasOwn(TOKEN_REASONS, error.error_detail)) ctx.state.grantErrorReason = TOKEN_REASONS[error.error_detail];
  });
  provider.use(async (ctx, next) => {
    await next();
    const reason = ctx.state.grantErrorReason as string | undefined;
    if (reason && ctx.body && typeof ctx.body === 'object' && 'error' in ctx.body) (ctx.body as Record<string, unknown>).error_description = reason;
    const location = ctx.status >= 300 && ctx.status < 400 ? ctx.response.get('Location') : '';
    if (location.includes('error_description=')) ctx.set('Location', clearerRedirect(location));
  });
}

/** The same redirect, with a known terse error_description replaced (in the query or the fragment). */
function clearerRedirect(location: string): string {
  const url = URL.parse(location);
  if (!url) return location;
  for (const params of [url.searchParams, new URLSearchParams(url.hash.slice(1))]) {
    const description = params.get('error_description');
    if (!description || !Object.hasOwn(AUTHORIZATION_REASONS, description)) continue;
    params.set('error_description', AUTHORIZATION_REASONS[description]!);
    if (params !== url.searchParams) url.hash = params.toString();
  }
  return url.href;
}
