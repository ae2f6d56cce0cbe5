// All oidc-provider configuration in one readable place (DESIGN §3, §4, §6).
import { createSecretKey } from 'node:crypto';
import Provider, { errors, interactionPolicy, type Account, type Configuration, type Grant, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import { StoreUnavailableError } from '../adapters/outage.ts';
import type { Store } from '../adapters/types.ts';
import { renderLoggedOutPage, renderLogoutPage, renderProtocolErrorPage } from '../interactions/pages.ts';
import type { Accounts } from './identity/accounts.ts';
import type { PlatformAdmission } from './identity/admission.ts';
import { ACR_VALUES, atLeast, isAcr, requiredAcr } from './identity/assurance.ts';
import { claimsOfScopes, claimValues, isClaimName, SCOPE_CLAIMS, SUPPORTED_SCOPES, type ClaimName } from './identity/claims.ts';
import { derivePlatformNetworkNumber } from './identity/network-number.ts';
import { adminResource } from './admin/api.ts';
import { ADMIN_SCOPES, OPERATOR } from './admin/client-metadata.ts';
import { providerClients } from './admin/client-records.ts';
import { cibaFeature } from './ciba.ts';
import { limitClientCredentials } from './client-limits.ts';
import type { DecoupledSignIns } from './identity/decoupled-sign-in.ts';
import type { SmsSender } from './identity/sms.ts';
import { DCR_POLICY, dcrPolicy } from './admin/registration.ts';
import { productionFromEnvironment } from './admin/metadata-policy.ts';
import type { Logger } from './logger.ts';
import { authorizationCodeTtl, forwardedCertificate, isFapi2, PROFILE, rotateRefreshToken, validateProfile } from './security-profile.ts';
import { TTL } from './ttl.ts';
import { explainProtocolErrors } from './protocol-messages.ts';
import { policyProblems, policySchema, type ClientPolicy } from './policy.ts';

export interface ProviderDependencies {
  issuer: string;
  proxy: boolean;
  store: Store;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  pairwiseSecret: Buffer;
  accounts: Accounts;
  admission: PlatformAdmission;
  logger: Logger;
  /** Decoupled sign-in (CIBA): the approval links and the SMS that carries them; absent where nothing is served (the CLI). */
  decoupled?: { signIns: DecoupledSignIns; sms: SmsSender };
  /** Token, introspection, revocation, PAR and CIBA requests each client may make per second (server/client-limits.ts). */
  clientRequestsPerSecond: number;
  /** Outbound HTTP for sector_identifier_uri and jwks_uri (see server/outbound.ts). */
  fetch: NonNullable<Configuration['fetch']>;
  /** config.production: the registration policy (server/admin/metadata-policy.ts) is stricter; absent, NODE_ENV decides. */
  production?: boolean;
}

export function createProvider(deps: ProviderDependencies): Provider {
  const clients = providerClients(deps.store);
  // A KeyObject is prepared once; a Buffer key is converted on every HMAC (a measurable share of each token request).
  const pairwiseKey = createSecretKey(deps.pairwiseSecret);
  const configuration: Configuration = {
    adapter: (model: string) => (model === 'Client' ? clients : deps.store.adapterFor(model)),
    jwks: deps.jwks as Configuration['jwks'],
    cookies: {
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },

    responseTypes: ['code'],
    pkce: { required: () => true },
    subjectTypes: ['pairwise'],
    pairwiseIdentifier: async (_ctx, accountId, client) => {
      const sector: unknown = client.sectorIdentifier;
      if (typeof sector !== 'string') throw new Error(`client ${client.clientId} has no sector identifier`);
      return derivePlatformNetworkNumber(pairwiseKey, sector, accountId);
    },
    acrValues: [...ACR_VALUES],
    scopes: SUPPORTED_SCOPES,
    // acr, amr and auth_time ride on openid so every ID token tells how and when the person signed in.
    claims: {
      acr: null, amr: null, auth_time: null, iss: null, sid: null,
      ...SCOPE_CLAIMS,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
    } as unknown as Configuration['claims'],
    findAccount: async (ctx, id) => findAccount(deps.accounts, id, allowedScopes(ctx.oidc.client)),
    // The level of the sign-in behind an access token travels with it (stored with opaque tokens, returned by
    // introspection), so a userinfo release is written to the ledger with its acr like an ID token's.
    extraTokenClaims: async (ctx) => {
      const source = (ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken) as { acr?: string } | undefined;
      return source?.acr ? { acr: source.acr } : undefined;
    },
    loadExistingGrant: async (ctx) => loadExistingGrant(ctx, deps.store),

    clientAuthMethods: ['client_secret_basic', 'private_key_jwt', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      subject_type: 'pairwise',
    },
    // A platform must always name its redirect URI, even when it registered only one.
    allowOmittingSingleRegisteredRedirectUri: false,
    extraClientMetadata: {
      properties: ['cyberid_policy', OPERATOR, PROFILE],
      // Every platform carries an operator policy and an explicit scope list (without one, oidc-provider would
      // let it request any scope). Checked as strictly as the clients file; defaults are filled in. Operator
      // clients (admin API) carry their admin scopes instead and sign no one in.
      validator(_ctx, key, value, metadata) {
        const properties = metadata as Record<string, unknown>;
        if (key === PROFILE) return validateProfile(value, properties);
        if (key === OPERATOR) {
          const scopes = (value as { scopes?: unknown } | undefined)?.scopes;
          if (value !== undefined && !(Array.isArray(scopes) && scopes.length && scopes.every((s) => (ADMIN_SCOPES as readonly unknown[]).includes(s)))) {
            throw new errors.InvalidClientMetadata(`${OPERATOR}.scopes must list admin scopes (${ADMIN_SCOPES.join(' ')})`);
          }
          return;
        }
        if (properties[OPERATOR]) {
          properties.cyberid_policy = undefined;
          return;
        }
        if (!metadata.scope) throw new errors.InvalidClientMetadata('scope is required: the scopes the operator allows this platform');
        const parsed = policySchema.safeParse(value ?? {});
        if (!parsed.success) throw new errors.InvalidClientMetadata(`cyberid_policy: ${parsed.error.issues[0]?.message}`);
        const problems = policyProblems(parsed.data, metadata.scope.split(' '));
        if (problems.length) throw new errors.InvalidClientMetadata(problems.map(([field, message]) => `${field}: ${message}`).join('; '));
        properties.cyberid_policy = parsed.data;
      },
    },
    enabledJWA: {
      // What we sign with: our keys are ES256 (default) and EdDSA.
      idTokenSigningAlgValues: ['ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['ES256', 'EdDSA'],
      authorizationSigningAlgValues: ['ES256', 'EdDSA'],
      // What we verify from platforms' own keys.
      clientAuthSigningAlgValues: ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
      requestObjectSigningAlgValues: ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'Ed25519'],
    },

    features: {
      devInteractions: { enabled: false },
      claimsParameter: {
        enabled: true,
        // Naming a Cyber ID claim outside the platform's allowed scopes is a request error, not something to ask the person.
        assertClaimsParameter: async (_ctx, claims, client) => {
          const allowed = claimsOfScopes(allowedScopes(client));
          const requested = [...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})];
          const refused = requested.filter((claim) => isClaimName(claim) && !allowed.has(claim));
          if (refused.length) {
            throw new errors.InvalidRequest(`claims not allowed for this client: ${[...new Set(refused)].join(', ')}`);
          }
        },
      },
      dPoP: { enabled: true },
      // Certificate-bound tokens (RFC 8705) with the certificate the TLS-terminating proxy forwards: only behind one.
      mTLS: { enabled: deps.proxy, certificateBoundAccessTokens: true, getCertificate: (ctx) => forwardedCertificate(ctx, deps.proxy) as never },
      // Only fapi2 clients get oidc-provider's FAPI 2.0 checks (server/security-profile.ts).
      fapi: { enabled: true, profile: (_ctx, client) => (isFapi2(client) ? '2.0' : undefined) as never },
      // Operator clients get admin API tokens this way (server/admin/api.ts); platforms cannot use it.
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The admin API is the only resource server: granted to operator clients, with their admin scopes.
        getResourceServerInfo: async (_ctx, resource, client) => {
          const operator = (client as unknown as Record<string, { scopes: string[] } | undefined>)[OPERATOR];
          if (resource !== adminResource(deps.issuer) || !operator) throw new errors.InvalidTarget('unknown resource, or not one this client may use');
          return { scope: operator.scopes.join(' '), audience: resource, accessTokenFormat: 'opaque', accessTokenTTL: TTL.ClientCredentials };
        },
      },
      // Dynamic registration only with an initial access token an operator issued, and always under DCR_POLICY.
      registration: {
        enabled: true,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        policies: { [DCR_POLICY]: dcrPolicy(deps.production ?? productionFromEnvironment()) as never },
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      pushedAuthorizationRequests: { enabled: true },
      ciba: cibaFeature(deps.decoupled && { issuer: deps.issuer, accounts: deps.accounts, admission: deps.admission, decoupled: deps.decoupled.signIns, sms: deps.decoupled.sms }),
      requestObjects: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      // A platform may introspect only its own tokens: another platform must not learn its network numbers.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      // Platforms that register a backchannel_logout_uri are told when a person signs out, revokes them in the portal, or ends every session.
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => renderLogoutPage(ctx, form),
        postLogoutSuccessSource: async (ctx) => renderLoggedOutPage(ctx),
      },
    },
    rotateRefreshToken,
    ttl: { ...TTL, AuthorizationCode: authorizationCodeTtl as never, RefreshToken: refreshTokenTtl },
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    interactions: {
      policy: interactionChecks(deps),
      url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError: async (ctx, out) => renderProtocolErrorPage(ctx, out),
    discovery: { ui_locales_supported: ['zh-CN', 'en'], claims_locales_supported: ['zh-CN', 'en'] },
    fetch: deps.fetch,
  };

  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = deps.proxy;
  // server/forwarded.ts has already reduced X-Forwarded-For to the one client address (the right-most entry that is
  // not a trusted proxy, CYBERID_TRUSTED_PROXIES) and removed it from other peers; Koa reads that one entry.
  (provider as unknown as { maxIpsCount: number }).maxIpsCount = 1;
  limitClientCredentials(provider, deps.store.rateLimiter, deps.clientRequestsPerSecond);
  provider.use(sayUserCodeUnsupported);
  explainProtocolErrors(provider);
  logProviderEvents(provider, deps.logger);
  return provider;
}

/**
 * Decoupled sign-in refuses `user_code` (the person answers on their own signed-in device, which a code would not
 * strengthen), and oidc-provider's discovery always says it is supported; `discovery` configuration only fills
 * fields it leaves out, so the answer is corrected on its way out.
 */
async function sayUserCodeUnsupported(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    (ctx.body as Record<string, unknown>).backchannel_user_code_parameter_supported = false;
  }
}

/**
 * A public browser client's refresh token that is not sender-constrained (DPoP) keeps the lifetime of the
 * token it replaced, so rotation cannot stretch a stolen token forever (oidc-provider's own rule).
 */
function refreshTokenTtl(ctx: KoaContextWithOIDC, token: { isSenderConstrained(): boolean }, client: { applicationType?: string; clientAuthMethod?: string }): number {
  const rotated = ctx?.oidc?.entities.RotatedRefreshToken as { remainingTTL: number } | undefined;
  if (rotated && client.applicationType === 'web' && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
    return rotated.remainingTTL;
  }
  return TTL.RefreshToken;
}

/**
 * Remembered consent belongs to the person and the platform, not to one browser session. Each session still
 * gets a Grant of its own, because oidc-provider revokes per grant (sign-out, token revocation, replay): a
 * new session starts from a copy of the newest live Grant of this person at this platform, decisions and
 * expiry included, so signing out on one device does not end another device's tokens.
 */
async function loadExistingGrant(ctx: KoaContextWithOIDC, store: Store): Promise<Grant | undefined> {
  // oidc-provider calls this only once the person is known, so session, account and client are set.
  const { client, session, account, result, provider } = ctx.oidc;
  const ownId = result?.consent?.grantId ?? session!.grantIdFor(client!.clientId);
  if (ownId) return provider.Grant.find(ownId);
  const rememberedId = await store.latestGrantId(account!.accountId, client!.clientId);
  const remembered = rememberedId ? await provider.Grant.find(rememberedId) : undefined;
  if (!remembered) return undefined;
  const copy = new provider.Grant({ accountId: account!.accountId, clientId: client!.clientId });
  const decisions = remembered as unknown as { openid?: unknown; rejected?: unknown; exp?: number };
  Object.assign(copy, { openid: structuredClone(decisions.openid), rejected: structuredClone(decisions.rejected), exp: decisions.exp });
  await copy.save();
  return copy;
}

/** The consent prompt's reason when a platform's admission rules are not met (see interactions/routes.ts). */
export const ADMISSION_REASON = 'platform_admission';

/**
 * oidc-provider's prompts plus ours: a session below the level this request requires signs in again
 * (step-up, in the same interaction), and a person the platform does not admit yet (under its minimum age,
 * or a minor waiting for a guardian's approval) is stopped before consent, so nothing is released.
 */
function interactionChecks(deps: Pick<ProviderDependencies, 'accounts' | 'admission'>): interactionPolicy.Prompt[] {
  const { Check, base } = interactionPolicy;
  const prompts = base();
  prompts.get('login')!.checks.add(new Check('acr_step_up', 'a stronger sign-in is required', (ctx) => {
    const { oidc } = ctx;
    if (!oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT; // no_session asks for a sign-in
    const required = requiredAcr({
      policyMinimum: policyOf(oidc.client!).minimum_acr,
      acrValues: typeof oidc.params?.acr_values === 'string' ? oidc.params.acr_values : undefined,
      claimsAcr: (oidc.claims as { id_token?: { acr?: { essential?: boolean; value?: unknown; values?: unknown } } }).id_token?.acr,
    });
    return isAcr(oidc.acr) && atLeast(oidc.acr, required) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  prompts.get('consent')!.checks.add(new Check(ADMISSION_REASON, 'the platform does not admit this person yet', async (ctx) => {
    const { oidc } = ctx;
    const policy = policyOf(oidc.client!);
    if (policy.minimum_age === undefined && !policy.guardian_approval) return Check.NO_NEED_TO_PROMPT;
    const account = await deps.accounts.findById(oidc.session!.accountId!);
    if (!account) return Check.NO_NEED_TO_PROMPT; // findAccount already refuses it
    return (await deps.admission.admit(account, oidc.client!.clientId, policy)).admitted ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  return prompts;
}

function policyOf(client: { [key: string]: unknown }): ClientPolicy {
  return client.cyberid_policy as ClientPolicy;
}

function allowedScopes(client: { scope?: string | undefined } | undefined): string[] {
  return client?.scope?.split(' ') ?? [];
}

async function findAccount(accounts: Accounts, id: string, scopes: string[]): Promise<Account | undefined> {
  const account = await accounts.findById(id);
  if (account?.status !== 'active') return undefined;
  // Only the claims the platform's policy allows today, whatever a remembered grant says; oidc-provider then
  // masks them down to the granted scopes and claims and removes rejected ones.
  const allowed = claimsOfScopes(scopes);
  return {
    accountId: account.id,
    claims: async () => ({
      sub: account.id,
      ...Object.fromEntries(Object.entries(claimValues(account.identity)).filter(([claim]) => allowed.has(claim as ClaimName))),
    }),
  };
}

/** Protocol errors are logged by code and client only: never tokens, identifiers or claim values. */
function logProviderEvents(provider: Provider, logger: Logger): void {
  const log = (event: string) => (ctx: KoaContextWithOIDC | undefined, error: Error & { error?: string; statusCode?: number }) => {
    const fields = { event, error: error.error ?? error.name, status: error.statusCode, client: ctx?.oidc?.client?.clientId, requestId: ctx?.state?.requestId };
    if (error instanceof StoreUnavailableError) logger.warn({ ...fields, store: error.backend, cause: error.error_detail }, 'storage unavailable');
    else if ((error.statusCode ?? 500) >= 500) logger.error({ ...fields, err: error }, 'provider error');
    else logger.info(fields, 'protocol error');
  };
  const emitter = provider as unknown as NodeJS.EventEmitter;
  for (const event of ['authorization.error', 'backchannel.error', 'grant.error', 'introspection.error', 'jwks.error',
    'discovery.error', 'end_session.error', 'pushed_authorization_request.error', 'registration_create.error', 'registration_read.error', 'registration_update.error', 'registration_delete.error',
    'revocation.error', 'userinfo.error', 'server_error']) {
    emitter.on(event, log(event));
  }
}
