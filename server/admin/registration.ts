// Dynamic Client Registration (RFC 7591) and its management (RFC 7592), open only to holders of an initial access
// token an operator issued. Every registration passes through DCR_POLICY: whatever a platform asks for, it gets
// pairwise subjects, PKCE (required for every client), the authorization code flow and at most the minimal scopes;
// more needs an operator (`cyberid clients update`).
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { AuditLog } from './audit.ts';
import { OPERATOR } from './client-metadata.ts';
import { isHashedSecret, verifyClientSecret } from './client-secrets.ts';
import { describeProblems, metadataProblems } from './metadata-policy.ts';

export const DCR_POLICY = 'cyberid-dcr';
/** The most a self-registered platform may ask for; `openid` alone when it names no scope. offline_access is under the same consent rules as for any platform. */
export const DCR_SCOPES: readonly string[] = ['openid', 'verified', 'age', 'offline_access'];
const DCR_GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);

/**
 * The registration policy for one environment (`production`: server/config.ts). It runs on registration (POST) and on
 * every RFC 7592 update (PUT, ctx.oidc.client set). An update may send back the policy and scopes it read, including
 * what an operator granted since, but cannot change them.
 */
export function dcrPolicy(production: boolean) {
  return (ctx: KoaContextWithOIDC, properties: Record<string, unknown>): Promise<void> => registrationPolicy(ctx, properties, production);
}

async function registrationPolicy(ctx: KoaContextWithOIDC, properties: Record<string, unknown>, production: boolean): Promise<void> {
  const current = ctx.oidc.client as unknown as Record<string, unknown> | undefined;
  if (OPERATOR in properties) throw new errors.InvalidClientMetadata(`${OPERATOR} is set by operators, not by registration`);
  if ('cyberid_policy' in properties && !(current && isDeepStrictEqual(properties.cyberid_policy, current.cyberid_policy))) {
    throw new errors.InvalidClientMetadata('cyberid_policy is set by operators, not by registration');
  }
  if (current) properties.cyberid_policy = current.cyberid_policy;
  // oidc-provider reads these as URLs before checking their type; a non-string would surface as a server error.
  for (const field of ['redirect_uris', 'post_logout_redirect_uris', 'request_uris']) {
    const value = properties[field];
    if (value !== undefined && !(Array.isArray(value) && value.every((uri) => typeof uri === 'string' && URL.canParse(uri)))) {
      throw new errors.InvalidClientMetadata(`${field} must be an array of absolute URLs`);
    }
  }
  // The one policy of every registration path (metadata-policy.ts): https, public hosts, honest names.
  const problems = metadataProblems({ ...properties, client_id: current?.clientId }, production);
  if (problems.length) throw new errors.InvalidClientMetadata(describeProblems(problems));
  properties.subject_type = 'pairwise';
  const allowed = new Set([...DCR_SCOPES, ...(typeof current?.scope === 'string' ? current.scope.split(' ') : [])]);
  const scopes = typeof properties.scope === 'string' ? properties.scope.split(' ').filter(Boolean) : ['openid'];
  const beyond = scopes.filter((scope) => !allowed.has(scope));
  if (beyond.length) {
    throw new errors.InvalidClientMetadata(`scope ${beyond.join(' ')} needs an operator's approval; registration allows: ${DCR_SCOPES.join(' ')}`);
  }
  properties.scope = [...new Set(['openid', ...scopes])].join(' ');
  // offline_access is only granted with a refresh token grant: it is implied when grant_types is not given.
  if (properties.grant_types === undefined && scopes.includes('offline_access')) properties.grant_types = ['authorization_code', 'refresh_token'];
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

/** Registrations and their changes through RFC 7592 go to the audit log, with the client as the actor. */
export function auditRegistrations(provider: Provider, audit: AuditLog, logger: Logger): void {
  const emitter = provider as unknown as NodeJS.EventEmitter;
  const record = (action: string) => (ctx: KoaContextWithOIDC, client?: { clientId: string }) => {
    const clientId = client?.clientId ?? ctx.oidc.client?.clientId ?? 'unknown';
    const iat = ctx.oidc.entities.InitialAccessToken as { jti?: string } | undefined;
    audit.record({ actor: `registration:${clientId}`, action, target: clientId, detail: iat?.jti ? { initialAccessToken: tokenReference(iat.jti) } : {} })
      .catch((error: unknown) => logger.error({ err: error, action }, 'audit entry not written'));
  };
  emitter.on('registration_create.success', record('client.register'));
  emitter.on('registration_update.success', record('client.register-update'));
  emitter.on('registration_delete.success', record('client.register-delete'));
}

/**
 * One initial access token, one registration. A refused request (bad metadata) leaves the token usable; a successful
 * one consumes it atomically, and of registrations racing on one token only the first keeps its client.
 */
export function singleUseInitialAccessTokens(provider: Provider, audit: AuditLog) {
  const models = provider as unknown as Record<'InitialAccessToken' | 'RegistrationAccessToken', { find(value: string): Promise<{ consumed?: unknown; destroy(): Promise<void> } | undefined>; adapter: { consume(id: string): Promise<void> } }>;
  const refuse = (ctx: Context) => {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="cyberid-registration", error="invalid_token"');
    ctx.body = { error: 'invalid_token', error_description: 'initial access token already used' };
  };
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/reg') return next();
    const value = /^Bearer ([^\s]+)$/i.exec(ctx.get('authorization'))?.[1];
    const token = value ? await models.InitialAccessToken.find(value) : undefined;
    if (token?.consumed) return refuse(ctx);
    await next();
    if (ctx.status !== 201 || !value || !token) return;
    try {
      await models.InitialAccessToken.adapter.consume(value);
    } catch (error) {
      if (!(error instanceof errors.InvalidGrant)) throw error;
      const { client_id: clientId, registration_access_token: rat } = ctx.body as { client_id: string; registration_access_token?: string };
      await (provider.Client as unknown as { adapter: { destroy(id: string): Promise<void> } }).adapter.destroy(clientId);
      if (rat) await (await models.RegistrationAccessToken.find(rat))?.destroy();
      await audit.record({ actor: `registration:${clientId}`, action: 'client.register-undone', target: clientId, detail: { reason: 'initial access token used by another registration at the same time' } });
      refuse(ctx);
    }
  };
}

function invalidMetadata(ctx: Context, description: string): void {
  ctx.status = 400;
  ctx.body = { error: 'invalid_client_metadata', error_description: description };
}

function safelyDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * RFC 7592 lets an update send the client's secret, which must then match. oidc-provider compares it with the stored
 * value, a hash here: a matching plain secret is swapped for the hash before oidc-provider reads the body (which it
 * then takes already parsed, noting so once in the log).
 */
export function plainSecretOnUpdate(provider: Provider) {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  return async (ctx: Context, next: Next) => {
    const clientId = ctx.method === 'PUT' ? /^\/reg\/([^/]+)$/.exec(ctx.path)?.[1] : undefined;
    if (!clientId || !ctx.is('application/json')) return next();
    const id = safelyDecoded(clientId);
    if (id === undefined) return invalidMetadata(ctx, 'the client id in the path is not valid');
    try {
      await parse(ctx, async () => {});
    } catch (error) {
      return invalidMetadata(ctx, (error as { status?: number }).status === 413 ? 'the body is too large' : 'the body is not valid JSON');
    }
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalidMetadata(ctx, 'the body must be a JSON object');
    const client = typeof body.client_secret === 'string' ? await provider.Client.find(id) : undefined;
    if (client && verifyClientSecret(client.clientSecret, body.client_secret as string)) body.client_secret = client.clientSecret;
    await next();
  };
}
