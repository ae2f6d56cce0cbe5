// Outbound HTTP of the provider (sector_identifier_uri, jwks_uri). Everything goes through oidc-provider's
// SSRF-guarded dispatcher, except the local demo site, which is trusted by its exact origin and certificate.
import type { Configuration } from 'oidc-provider';
import { Agent, fetch as undiciFetch } from 'undici';

export interface PinnedOrigin {
  origin: string;
  /** PEM certificate that origin presents (self-signed). */
  certificate: string;
}

type Fetch = NonNullable<Configuration['fetch']>;

export function outboundFetch(pinned?: PinnedOrigin): Fetch {
  if (!pinned) return (url, options) => fetch(url, options);
  const agent = new Agent({ connect: { ca: pinned.certificate } });
  return (url, options) => {
    if (new URL(url).origin !== pinned.origin) return fetch(url, options);
    const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
    // No redirects: a redirect would leave the pinned origin without oidc-provider's SSRF guard.
    return undiciFetch(url as string | URL, { ...(rest as object), redirect: 'error', dispatcher: agent }) as unknown as Promise<Response>;
  };
}
