// All oidc-provider configuration in one readable place (DESIGN §3, §4, §6).
import Provider, { errors, type Account, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Store } from '../adapters/types.ts';
import { renderErrorPage, renderLogoutPage, renderLoggedOutPage } from '../interactions/pages.ts';
import type { Accounts } from './identity/accounts.ts';
import { claimValues, SCOPE_CLAIMS, SUPPORTED_SCOPES } from './identity/claims.ts';
import { derivePlatformNetworkNumber } from './identity/network-number.ts';
import type { Logger } from './logger.ts';
import { policySchema } from './policy.ts';

export const ACR_VALUES = ['cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3'] as const;

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Lifetimes in seconds for every model, set explicitly rather than inherited from library defaults. */
export const TTL = {
  AuthorizationCode: MINUTE,
  AccessToken: 10 * MINUTE,
  IdToken: HOUR,
  RefreshToken: 30 * DAY,
  Interaction: 30 * MINUTE,
  Session: 12 * HOUR,
  /** Remembered consent: a year, unless the person revokes it sooner. */
  Grant: 365 * DAY,
  ClientCredentials: 10 * MINUTE,
  DeviceCode: 10 * MINUTE,
  BackchannelAuthenticationRequest: 10 * MINUTE,
  PreAuthorizedCode: 5 * MINUTE,
} as const;

export interface ProviderDependencies {
  issuer: string;
  production: boolean;
  proxy: boolean;
  store: Store;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  pairwiseSecret: Buffer;
  accounts: Accounts;
  logger: Logger;
  /** Outbound HTTP for sector_identifier_uri and jwks_uri (see server/outbound.ts). */
  fetch: NonNullable<Configuration['fetch']>;
}

export function createProvider(deps: ProviderDependencies): Provider {
  const configuration: Configuration = {
    adapter: (model: string) => deps.store.adapterFor(model),
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
      return derivePlatformNetworkNumber(deps.pairwiseSecret, sector, accountId);
    },
    acrValues: [...ACR_VALUES],
    scopes: SUPPORTED_SCOPES,
    // acr, amr and auth_time ride on openid so every ID token tells how and when the person signed in.
    claims: {
      acr: null, amr: null, auth_time: null, iss: null, sid: null,
      ...SCOPE_CLAIMS,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
    } as unknown as Configuration['claims'],
    findAccount: async (_ctx, id) => findAccount(deps.accounts, id),

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
      properties: ['cyberid_policy'],
      validator(_ctx, key, value) {
        if (key !== 'cyberid_policy' || value === undefined) return;
        const parsed = policySchema.safeParse(value);
        if (!parsed.success) throw new errors.InvalidClientMetadata(`cyberid_policy: ${parsed.error.issues[0]?.message}`);
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
      claimsParameter: { enabled: true },
      dPoP: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
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
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => renderLogoutPage(ctx, form),
        postLogoutSuccessSource: async (ctx) => renderLoggedOutPage(ctx),
      },
    },
    rotateRefreshToken: true,
    ttl: { ...TTL },
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out, error) => renderErrorPage(ctx, out, error),
    discovery: { ui_locales_supported: ['zh-CN', 'en'], claims_locales_supported: ['zh-CN', 'en'] },
    fetch: deps.fetch,
  };

  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = deps.proxy;
  logProviderEvents(provider, deps.logger);
  return provider;
}

async function findAccount(accounts: Accounts, id: string): Promise<Account | undefined> {
  const account = await accounts.findById(id);
  if (!account) return undefined;
  return {
    accountId: account.id,
    // oidc-provider masks this down to the granted scopes and claims and removes rejected ones.
    claims: async () => ({ sub: account.id, ...claimValues(account.identity) }),
  };
}

/** Protocol errors are logged by code and client only: never tokens, identifiers or claim values. */
function logProviderEvents(provider: Provider, logger: Logger): void {
  const log = (event: string) => (ctx: KoaContextWithOIDC | undefined, error: Error & { error?: string; statusCode?: number }) => {
    const fields = { event, error: error.error ?? error.name, status: error.statusCode, client: ctx?.oidc?.client?.clientId, requestId: ctx?.state?.requestId };
    if ((error.statusCode ?? 500) >= 500) logger.error({ ...fields, err: error }, 'provider error');
    else logger.info(fields, 'protocol error');
  };
  const emitter = provider as unknown as NodeJS.EventEmitter;
  for (const event of ['authorization.error', 'backchannel.error', 'grant.error', 'introspection.error', 'jwks.error',
    'discovery.error', 'end_session.error', 'pushed_authorization_request.error', 'registration_create.error',
    'revocation.error', 'userinfo.error', 'server_error']) {
    emitter.on(event, log(event));
  }
}
