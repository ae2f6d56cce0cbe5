// The per-client security profile (client metadata `cyberid_profile`). Absent, a platform gets the baseline
// (code flow, S256 PKCE, refresh-token rotation; PAR, JAR and DPoP when it chooses to use them). `fapi2` is
// the FAPI 2.0 Security Profile: pushed authorization requests only, sender-constrained tokens (DPoP or an
// mTLS certificate), private_key_jwt, 30-second codes, and oidc-provider's FAPI 2.0 checks (the `iss`
// authorization response parameter is always sent, RFC 9207).
import { X509Certificate } from 'node:crypto';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { TTL } from './ttl.ts';

export const PROFILE = 'cyberid_profile';
export const FAPI2 = 'fapi2';
export const PROFILES = [FAPI2] as const;
export type Profile = (typeof PROFILES)[number];

/** FAPI 2.0 allows at most 60 s; a code is redeemed within a second or two of being issued. */
export const FAPI2_CODE_TTL = 30;

export function isFapi2(client: object | undefined): boolean {
  return (client as Record<string, unknown> | undefined)?.[PROFILE] === FAPI2;
}

/**
 * oidc-provider's extraClientMetadata validator for `cyberid_profile` (runs after the standard metadata is
 * checked, on every load and registration). A fapi2 client is made to require PAR, and to bind its tokens
 * with DPoP unless it registered mTLS binding; anything that cannot be fixed that way is refused.
 */
export function validateProfile(value: unknown, metadata: Record<string, unknown>): void {
  if (value === undefined || value === null) return;
  if (value !== FAPI2) throw new errors.InvalidClientMetadata(`${PROFILE} must be "${FAPI2}" or absent`);
  if (metadata.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new errors.InvalidClientMetadata(`${PROFILE} fapi2 requires token_endpoint_auth_method private_key_jwt`);
  }
  metadata.require_pushed_authorization_requests = true;
  if (!metadata.tls_client_certificate_bound_access_tokens) metadata.dpop_bound_access_tokens = true;
}

export const authorizationCodeTtl = (_ctx: KoaContextWithOIDC, _code: unknown, client: object): number =>
  (isFapi2(client) ? FAPI2_CODE_TTL : TTL.AuthorizationCode);

/**
 * Rotation with reuse detection protects bearer refresh tokens. A fapi2 client's are sender-constrained, and
 * FAPI 2.0 asks servers not to rotate them.
 */
export const rotateRefreshToken = (ctx: KoaContextWithOIDC): boolean => !isFapi2(ctx.oidc.client);

const CLIENT_CERT = /^:([A-Za-z0-9+/]+={0,2}):$/;

/**
 * The platform's TLS client certificate, for certificate-bound tokens (RFC 8705). TLS ends at the proxy, which
 * forwards the certificate it verified in the `Client-Cert` header (RFC 9440). The header is believed only when
 * the proxy is trusted (CYBERID_PROXY), because the proxy must also strip any Client-Cert a caller sends.
 */
export function forwardedCertificate(ctx: KoaContextWithOIDC, proxy: boolean): X509Certificate | undefined {
  if (!proxy) return undefined;
  const match = CLIENT_CERT.exec(ctx.get('client-cert').trim());
  if (!match) return undefined;
  try {
    return new X509Certificate(Buffer.from(match[1]!, 'base64'));
  } catch {
    throw new errors.InvalidRequest('the Client-Cert header does not hold a certificate');
  }
}
