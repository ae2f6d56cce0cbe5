// What a client's metadata may say, checked field by field with zod before oidc-provider sees it: platforms (sign
// in people) and operator clients (call the admin API with client credentials). The clients file, the CLI and
// the admin API all validate with these schemas, so a mistake gets the same message naming the field everywhere.
import { z } from 'zod';
import { SUPPORTED_SCOPES } from '../identity/claims.ts';
import { PORTAL_CLIENT_ID } from '../portal/first-party.ts';
import { CIBA_GRANT } from '../ciba.ts';
import { policyProblems, policySchema } from '../policy.ts';
import { FAPI2, PROFILES } from '../security-profile.ts';

/** The admin API's scopes (resource server `<issuer>/admin/v1`), granted to operator clients only. */
export const ADMIN_SCOPES = ['clients:read', 'clients:write', 'keys:read', 'keys:write', 'audit:read'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export const clientId = z.string().regex(/^[A-Za-z0-9_-]{3,64}$/, 'letters, digits, "-" and "_" only (3–64 characters, no dots)')
  // oidc-provider keys session state by client id, and MongoDB field names cannot hold dots.
  .refine((id) => id !== PORTAL_CLIENT_ID, `"${PORTAL_CLIENT_ID}" is Cyber ID's own account portal`);

const scope = z.string().superRefine((value, ctx) => {
  const scopes = value.split(' ');
  if (!scopes.includes('openid')) ctx.addIssue({ code: 'custom', message: 'must include openid' });
  for (const unknown of scopes.filter((s) => !SUPPORTED_SCOPES.includes(s))) {
    ctx.addIssue({ code: 'custom', message: `unknown scope "${unknown}" (supported: ${SUPPORTED_SCOPES.join(' ')})` });
  }
});

const url = z.url({ protocol: /^https?$/ });

/** A platform's own public keys (private_key_jwt, signed request objects); a private part is refused. */
export const publicJwks = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional() }).refine((key) => !('d' in key) && !('k' in key), 'must be public keys only (no "d" or "k")')).min(1),
}).strict();

const authMethods = ['private_key_jwt', 'client_secret_basic', 'none'] as const;

/** A platform's metadata without its secret (the secret is generated, never chosen by an operator). */
export const platformFields = z.object({
  client_id: clientId,
  client_name: z.string().min(1),
  application_type: z.enum(['web', 'native']).optional(),
  /** Empty only for a platform that uses decoupled sign-in (CIBA) alone. */
  redirect_uris: z.array(url).default([]),
  /** `[]` for a CIBA-only platform (no browser redirects); otherwise the code flow. */
  response_types: z.union([z.tuple([]), z.tuple([z.literal('code')])]).optional(),
  post_logout_redirect_uris: z.array(url).optional(),
  backchannel_logout_uri: url.optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  sector_identifier_uri: z.url({ protocol: /^https$/ }).optional(),
  scope,
  grant_types: z.array(z.enum(['authorization_code', 'refresh_token', CIBA_GRANT])).optional(),
  /** Decoupled sign-in (CIBA) is offered in poll mode only. */
  backchannel_token_delivery_mode: z.literal('poll').optional(),
  token_endpoint_auth_method: z.enum(authMethods).default('client_secret_basic'),
  jwks_uri: z.url({ protocol: /^https$/ }).optional(),
  jwks: publicJwks.optional(),
  id_token_signed_response_alg: z.enum(['ES256', 'EdDSA']).optional(),
  /** The security profile (server/security-profile.ts); null returns a platform to the baseline. */
  cyberid_profile: z.enum(PROFILES).nullish(),
  // What any platform may opt into without the fapi2 profile.
  require_pushed_authorization_requests: z.boolean().optional(),
  require_signed_request_object: z.boolean().optional(),
  dpop_bound_access_tokens: z.boolean().optional(),
  tls_client_certificate_bound_access_tokens: z.boolean().optional(),
  logo_uri: url.optional(),
  policy_uri: url.optional(),
  tos_uri: url.optional(),
  cyberid_policy: policySchema.prefault({}),
}).strict();

type PlatformFields = z.infer<typeof platformFields>;

/** Rules across fields; `hasSecret` says whether the client has (or will be given) a secret. */
export function platformProblems(client: PlatformFields, hasSecret: boolean): [string, string][] {
  const problems: [string, string][] = [];
  const method = client.token_endpoint_auth_method;
  if (method === 'client_secret_basic' && !hasSecret) problems.push(['client_secret', 'is required for client_secret_basic']);
  if (method !== 'client_secret_basic' && hasSecret) problems.push(['client_secret', `must not be set for ${method}`]);
  if (method === 'private_key_jwt' && !client.jwks_uri && !client.jwks) problems.push(['jwks_uri', 'or jwks is required for private_key_jwt']);
  if (client.jwks_uri && client.jwks) problems.push(['jwks', 'cannot be given together with jwks_uri']);
  if (client.cyberid_profile === FAPI2 && method !== 'private_key_jwt') problems.push(['token_endpoint_auth_method', 'must be private_key_jwt for the fapi2 profile']);
  const codeFlow = client.response_types?.length !== 0;
  if (codeFlow && !client.redirect_uris.length) problems.push(['redirect_uris', 'at least one is required (or response_types [] for a CIBA-only platform)']);
  if (client.grant_types?.includes(CIBA_GRANT)) {
    if (method === 'none') problems.push(['token_endpoint_auth_method', 'must authenticate the platform for decoupled sign-in (CIBA)']);
    if (!client.backchannel_token_delivery_mode) problems.push(['backchannel_token_delivery_mode', 'must be "poll" with the CIBA grant type']);
    // OpenID CIBA: a pairwise subject's sector is the jwks_uri host, or the sector_identifier_uri's with redirects too.
    if (!client.jwks_uri) problems.push(['jwks_uri', 'is required with the CIBA grant type (its host is the sector of the network numbers)']);
    if (codeFlow && !client.sector_identifier_uri) problems.push(['sector_identifier_uri', 'is required with both CIBA and redirect URIs']);
  }
  if (client.dpop_bound_access_tokens && client.tls_client_certificate_bound_access_tokens) {
    problems.push(['dpop_bound_access_tokens', 'cannot be combined with tls_client_certificate_bound_access_tokens: tokens are bound one way']);
  }
  return [...problems, ...policyProblems(client.cyberid_policy, client.scope.split(' '))];
}

export const operatorFields = z.object({
  client_id: clientId,
  client_name: z.string().min(1),
  token_endpoint_auth_method: z.enum(['private_key_jwt', 'client_secret_basic']).default('client_secret_basic'),
  jwks_uri: z.url({ protocol: /^https$/ }).optional(),
  jwks: publicJwks.optional(),
  /** The admin scopes this operator client may be granted. */
  scopes: z.array(z.enum(ADMIN_SCOPES)).min(1),
}).strict().superRefine((client, ctx) => {
  if (client.token_endpoint_auth_method === 'private_key_jwt' && !client.jwks_uri && !client.jwks) {
    ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'or jwks_uri is required for private_key_jwt' });
  }
});

export type OperatorFields = z.infer<typeof operatorFields>;

/** Marks an operator client's stored metadata; its value lists the admin scopes it may be granted. */
export const OPERATOR = 'cyberid_operator';

/** oidc-provider metadata of an operator client: client credentials only, no redirect, no person. */
export function operatorMetadata({ scopes, ...client }: OperatorFields): Record<string, unknown> {
  return { ...client, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], [OPERATOR]: { scopes } };
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}
