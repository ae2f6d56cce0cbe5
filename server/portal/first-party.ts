// The portal signs people in the way any platform does: it is a confidential OIDC client of this provider
// (authorization code + PKCE, two factors at least), registered at start-up. Its secret is derived from the
// cookie key, so every process of a deployment derives the same one and nothing new has to be configured.
import { createHmac } from 'node:crypto';
import type { ClientMetadata, Provider } from 'oidc-provider';
import * as oidc from 'openid-client';
import type { Store } from '../../adapters/types.ts';
import { LOA2 } from '../identity/assurance.ts';
import { storedClients } from '../admin/client-records.ts';

export const PORTAL_CLIENT_ID = 'cyberid-account';

export function portalClientSecret(cookieKey: string): string {
  return createHmac('sha256', cookieKey).update('cyberid-account client secret').digest('base64url');
}

export function portalClientMetadata(issuer: string, secret: string): ClientMetadata {
  return {
    client_id: PORTAL_CLIENT_ID,
    client_secret: secret,
    client_name: 'Cyber ID',
    redirect_uris: [`${issuer}/account/callback`],
    post_logout_redirect_uris: [`${issuer}/account/signed-out`],
    scope: 'openid',
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    cyberid_policy: { minimum_acr: LOA2 },
  };
}

/** Registers (or updates) the portal's client, validated as oidc-provider will load it. */
export async function registerPortalClient(provider: Provider, store: Store, issuer: string, secret: string): Promise<void> {
  const metadata = portalClientMetadata(issuer, secret);
  await provider.Client.validate(metadata);
  await storedClients(store).upsert(PORTAL_CLIENT_ID, metadata as unknown as Record<string, unknown>);
}

/** The portal's view of the provider, discovered once on first use (the provider is not listening before start-up ends). */
export class PortalClient {
  readonly #issuer: string;
  readonly #secret: string;
  #configuration: Promise<oidc.Configuration> | undefined;

  constructor(issuer: string, secret: string) {
    this.#issuer = issuer;
    this.#secret = secret;
  }

  get redirectUri(): string {
    return `${this.#issuer}/account/callback`;
  }

  configuration(): Promise<oidc.Configuration> {
    this.#configuration ??= oidc.discovery(new URL(this.#issuer), PORTAL_CLIENT_ID, undefined, oidc.ClientSecretBasic(this.#secret), {
      // Only a development issuer is http (config refuses it in production outside localhost).
      execute: this.#issuer.startsWith('http:') ? [oidc.allowInsecureRequests] : [],
    }).catch((error: unknown) => {
      this.#configuration = undefined;
      throw error;
    });
    return this.#configuration;
  }
}
