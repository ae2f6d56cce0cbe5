// Outbound HTTP of the provider (sector_identifier_uri, jwks_uri, back-channel logout). Everything goes through
// oidc-provider's SSRF-guarded dispatcher, except the local demo site, which is trusted by its exact origin
// and certificate, and, outside production only, platforms on this machine (a developer's platform on
// localhost must be able to receive its back-channel logout tokens).
import type { Configuration } from 'oidc-provider';
import { Agent, fetch as undiciFetch } from 'undici';

export interface PinnedOrigin {
  origin: string;
  /** PEM certificate that origin presents (self-signed). */
  certificate: string;
}

type Fetch = NonNullable<Configuration['fetch']>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function outboundFetch(pinned?: PinnedOrigin, allowLoopback = false): Fetch {
  const agent = pinned && new Agent({ connect: { ca: pinned.certificate } });
  return (url, options) => {
    const target = new URL(url);
    const pinnedHere = pinned && target.origin === pinned.origin;
    if (!pinnedHere && !(allowLoopback && LOOPBACK.has(target.hostname))) return fetch(url, options);
    const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
    // No redirects: a redirect would leave the trusted origin without oidc-provider's SSRF guard.
    return undiciFetch(url as string | URL, { ...(rest as object), redirect: 'error', ...(agent && pinnedHere ? { dispatcher: agent } : {}) }) as unknown as Promise<Response>;
  };
}
