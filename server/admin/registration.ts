// Dynamic Client Registration (RFC 7591) and its management (RFC 7592), open only to holders of an initial access
// token an operator issued. Every registration passes through DCR_POLICY: whatever a platform asks for, it gets
// pairwise subjects, PKCE (required for every client), the authorization code flow and at most the minimal scopes;
// more needs an operator (`cyberid clients update`).
import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { AuditLog } from './audit.ts';
import { OPERATOR } from './client-metadata.ts';
import { isHashedSecret } from './client-secrets.ts';

export const DCR_POLICY = 'cyberid-dcr';
/** The most a self-registered platform may ask for; `openid` alone when it names no scope. */
export const DCR_SCOPES: readonly string[] = ['openid', 'verified', 'age'];
const DCR_GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);

export async function dcrPolicy(_ctx: KoaContextWithOIDC, properties: Record<string, unknown>): Promise<void> {
  for (const field of ['cyberid_policy', OPERATOR]) {
    if (field in properties) throw new errors.InvalidClientMetadata(`${field} is set by operators, not by registration`);
  }
  properties.subject_type = 'pairwise';
  const scopes = typeof properties.scope === 'string' ? properties.scope.split(' ').filter(Boolean) : ['openid'];
  const beyond = scopes.filter((scope) => !DCR_SCOPES.includes(scope));
  if (beyond.length) {
    throw new errors.InvalidClientMetadata(`scope ${beyond.join(' ')} needs an operator's approval; registration allows: ${DCR_SCOPES.join(' ')}`);
  }
  properties.scope = [...new Set(['openid', ...scopes])].join(' ');
  const grantTypes = Array.isArray(properties.grant_types) ? properties.grant_types as unknown[] : ['authorization_code'];
  const refused = grantTypes.filter((grant) => !DCR_GRANT_TYPES.has(grant as string));
  if (refused.length) throw new errors.InvalidClientMetadata(`grant_types ${refused.join(' ')} cannot be registered; allowed: authorization_code refresh_token`);
}

/** Issues an initial access token for one registration window; the value is shown once. */
export async function issueInitialAccessToken(provider: Provider, expiresInSeconds: number): Promise<{ token: string; reference: string; expiresAt: number }> {
  const token = new provider.InitialAccessToken({ expiresIn: expiresInSeconds, policies: [DCR_POLICY] });
  const value = await token.save();
  return { token: value, reference: tokenReference(value), expiresAt: Date.now() + expiresInSeconds * 1000 };
}

/** A token's name in the audit log: a short hash, never the value. */
export const tokenReference = (value: string): string => `iat-${createHash('sha256').update(value).digest('base64url').slice(0, 12)}`;

/**
 * RFC 7592 reads return the stored metadata, whose secret is a hash: it is left out (the plain secret was shown
 * once, at registration). A newly issued secret is plain and stays.
 */
export function hideSecretHashes() {
  return async (ctx: Context, next: Next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path.startsWith('/reg/') && body && isHashedSecret(body.client_secret)) {
      delete body.client_secret;
      delete body.client_secret_expires_at;
    }
  };
}

/** Registrations and their changes through RFC 7592 go to the audit log, with the client as the actor; an initial access token serves one registration. */
export function handleRegistrationEvents(provider: Provider, audit: AuditLog, logger: Logger): void {
  const emitter = provider as unknown as NodeJS.EventEmitter;
  const record = (action: string) => (ctx: KoaContextWithOIDC, client?: { clientId: string }) => {
    const clientId = client?.clientId ?? ctx.oidc.client?.clientId ?? 'unknown';
    const iat = ctx.oidc.entities.InitialAccessToken as { jti?: string } | undefined;
    audit.record({ actor: `registration:${clientId}`, action, target: clientId, detail: iat?.jti ? { initialAccessToken: tokenReference(iat.jti) } : {} })
      .catch((error: unknown) => logger.error({ err: error, action }, 'audit entry not written'));
  };
  emitter.on('registration_create.success', (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    record('client.register')(ctx, client);
    // One token, one registration: a refused request (bad metadata) leaves it usable, a successful one uses it up.
    const iat = ctx.oidc.entities.InitialAccessToken as { destroy(): Promise<void> } | undefined;
    iat?.destroy().catch((error: unknown) => logger.error({ err: error }, 'initial access token not removed'));
  });
  emitter.on('registration_update.success', record('client.register-update'));
  emitter.on('registration_delete.success', record('client.register-delete'));
}
