// The operators' API (/admin/v1), JSON only. Callers are operator clients holding an access token this provider
// issued them with client credentials for the resource `<issuer>/admin/v1`; each route needs one admin scope.
// There is no password and no cookie: a Bearer token in the Authorization header, nothing else.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import { z } from 'zod';
import { StoreUnavailableError } from '../../adapters/outage.ts';
import type { Logger } from '../logger.ts';
import { KeyScheduleError, type SigningKeys } from '../signing-keys.ts';
import type { AuditLog } from './audit.ts';
import { formatIssues, OPERATOR, type AdminScope } from './client-metadata.ts';
import { ClientRegistryError, type ClientRegistry } from './client-registry.ts';
import { issueInitialAccessToken } from './registration.ts';

export const ADMIN_PATH = '/admin/v1';
export const adminResource = (issuer: string): string => `${issuer}${ADMIN_PATH}`;

export interface AdminApiDependencies {
  provider: Provider;
  issuer: string;
  clients: ClientRegistry;
  keys: SigningKeys;
  audit: AuditLog;
  /** Called after a key change so this process serves the new schedule without waiting for its next poll. */
  keysChanged: () => void;
  logger: Logger;
}

class AdminError extends Error {
  readonly status: number;
  readonly error: string;
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

const REALM = 'Bearer realm="cyberid-admin"';

const durationSeconds = z.number().int().min(0).max(365 * 24 * 3600);
const rotateBody = z.object({ activate_in_seconds: durationSeconds.optional() }).strict();
const tokenBody = z.object({ expires_in_seconds: durationSeconds.min(60).default(24 * 3600) }).strict();
const auditQuery = z.object({
  target: z.string().min(1).max(200).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
}).strict();

/** Everything under /admin/v1, with JSON errors for every path there (unknown ones included). */
export function adminApi(deps: AdminApiDependencies) {
  const routes = adminApiRoutes(deps).routes();
  const errors = adminErrors(deps.logger);
  return (ctx: Context, next: Next) => (ctx.path === ADMIN_PATH || ctx.path.startsWith(`${ADMIN_PATH}/`) ? errors(ctx, () => routes(ctx as Parameters<typeof routes>[0], async () => {})) : next());
}

function adminApiRoutes(deps: AdminApiDependencies): Router {
  const { provider, clients, keys, audit } = deps;
  const router = new Router({ prefix: ADMIN_PATH, sensitive: true });
  router.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', onError: () => { throw new AdminError(400, 'invalid_request', 'the body must be JSON'); } }));
  const resource = adminResource(deps.issuer);
  const allow = (scope: AdminScope) => operatorToken(provider, resource, scope);
  const actor = (ctx: Context) => `operator:${ctx.state.operator as string}`;

  router.get('/clients', allow('clients:read'), async (ctx) => {
    ctx.body = { clients: await clients.list() };
  });
  router.post('/clients', allow('clients:write'), async (ctx) => {
    const body = ctx.request.body as { kind?: unknown; scopes?: unknown } | undefined;
    if (body?.kind === 'operator') withinOwnScopes(ctx, body.scopes);
    ctx.status = 201;
    ctx.body = await clients.add(ctx.request.body, actor(ctx));
  });
  router.get('/clients/:id', allow('clients:read'), async (ctx) => {
    ctx.body = await clients.show(ctx.params.id!);
  });
  // Acting on an operator client needs every scope it holds: clients:write must not become a way to more power.
  const ownOperatorScopes = async (ctx: Context, next: Next) => {
    const target = await clients.show(ctx.params.id!).catch(() => undefined);
    if (target?.kind === 'operator') {
      withinOwnScopes(ctx, (target.metadata[OPERATOR] as { scopes: string[] }).scopes);
      withinOwnScopes(ctx, (ctx.request.body as { scopes?: unknown } | undefined)?.scopes);
    }
    await next();
  };
  router.patch('/clients/:id', allow('clients:write'), ownOperatorScopes, async (ctx) => {
    ctx.body = await clients.update(ctx.params.id!, ctx.request.body, actor(ctx));
  });
  router.post('/clients/:id/disable', allow('clients:write'), ownOperatorScopes, async (ctx) => {
    ctx.body = await clients.setEnabled(ctx.params.id!, false, actor(ctx));
  });
  router.post('/clients/:id/enable', allow('clients:write'), ownOperatorScopes, async (ctx) => {
    ctx.body = await clients.setEnabled(ctx.params.id!, true, actor(ctx));
  });
  router.post('/clients/:id/rotate-secret', allow('clients:write'), ownOperatorScopes, async (ctx) => {
    ctx.body = { client_id: ctx.params.id, client_secret: await clients.rotateSecret(ctx.params.id!, actor(ctx)) };
  });
  router.post('/initial-access-tokens', allow('clients:write'), async (ctx) => {
    const { expires_in_seconds } = parse(tokenBody, ctx.request.body ?? {});
    const issued = await issueInitialAccessToken(provider, expires_in_seconds);
    await audit.record({ actor: actor(ctx), action: 'registration-token.issue', target: issued.reference, detail: { expiresAt: issued.expiresAt } });
    ctx.status = 201;
    ctx.body = { initial_access_token: issued.token, expires_at: Math.floor(issued.expiresAt / 1000), registration_endpoint: `${deps.issuer}/reg` };
  });

  router.get('/keys', allow('keys:read'), async (ctx) => {
    ctx.body = { generations: await keys.list() };
  });
  router.post('/keys/rotate', allow('keys:write'), async (ctx) => {
    const body = parse(rotateBody, ctx.request.body ?? {});
    const generation = await keys.rotate(body.activate_in_seconds === undefined ? undefined : body.activate_in_seconds * 1000);
    await audit.record({ actor: actor(ctx), action: 'keys.rotate', target: generation.id, detail: { activatesAt: generation.activatesAt } });
    deps.keysChanged();
    ctx.status = 201;
    ctx.body = generation;
  });
  router.post('/keys/:id/withdraw', allow('keys:write'), async (ctx) => {
    const generation = await keys.withdraw(ctx.params.id!);
    await audit.record({ actor: actor(ctx), action: 'keys.withdraw', target: generation.id, detail: {} });
    deps.keysChanged();
    ctx.body = generation;
  });

  router.get('/audit', allow('audit:read'), async (ctx) => {
    ctx.body = { entries: await audit.list(parse(auditQuery, ctx.query)) };
  });
  return router;
}

/**
 * RFC 6750: no or an unusable token → 401 invalid_token; a valid operator token without the route's scope →
 * 403 insufficient_scope. Only tokens issued for the admin resource to an enabled operator client are accepted;
 * a sender-constrained (DPoP) token is refused rather than accepted as a plain Bearer token.
 */
function operatorToken(provider: Provider, resource: string, scope: AdminScope) {
  return async (ctx: Context, next: Next) => {
    const [scheme, value, extra] = (ctx.get('authorization') || '').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !value || extra !== undefined) {
      throw new AdminError(401, 'invalid_token', 'an operator access token is required (Authorization: Bearer …)', { 'WWW-Authenticate': REALM });
    }
    const invalid = (why: string) => new AdminError(401, 'invalid_token', why, { 'WWW-Authenticate': `${REALM}, error="invalid_token"` });
    const token = await provider.ClientCredentials.find(value);
    if (!token || token.isExpired) throw invalid('the access token is unknown or expired');
    if (token.aud !== resource && !(Array.isArray(token.aud) && token.aud.includes(resource))) throw invalid(`the access token is not for ${resource}`);
    if (token.isSenderConstrained()) throw invalid('sender-constrained tokens are not accepted by the admin API');
    const client = token.clientId ? await provider.Client.find(token.clientId) : undefined;
    if (!client?.[OPERATOR]) throw invalid('the client the token was issued to is not an enabled operator client');
    if (!(token.scope ?? '').split(' ').includes(scope)) {
      throw new AdminError(403, 'insufficient_scope', `this needs the ${scope} scope`, { 'WWW-Authenticate': `${REALM}, error="insufficient_scope", scope="${scope}"` });
    }
    ctx.state.operator = token.clientId;
    ctx.state.operatorScopes = (token.scope ?? '').split(' ');
    await next();
  };
}

/** Refuses granting, or acting on a client that holds, admin scopes the caller's own token does not have. */
function withinOwnScopes(ctx: Context, scopes: unknown): void {
  const own = (ctx.state.operatorScopes ?? []) as string[];
  const missing = Array.isArray(scopes) ? scopes.filter((scope) => !own.includes(scope as string)) : [];
  if (missing.length) {
    throw new AdminError(403, 'insufficient_scope', `only an operator holding ${missing.join(' ')} can grant or manage it`, { 'WWW-Authenticate': `${REALM}, error="insufficient_scope", scope="${missing.join(' ')}"` });
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new AdminError(400, 'invalid_request', formatIssues(result.error.issues));
  return result.data;
}

function adminErrors(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AdminError(404, 'not_found', `no ${ctx.method} ${ctx.path}`);
    } catch (error) {
      const known = error instanceof AdminError ? error
        : error instanceof ClientRegistryError ? new AdminError(error.status, error.error, error.message)
          : error instanceof KeyScheduleError ? new AdminError(409, 'conflict', error.message)
            : error instanceof StoreUnavailableError ? new AdminError(503, 'temporarily_unavailable', 'storage is temporarily unavailable', { 'Retry-After': '5' })
              : undefined;
      if (!known) {
        logger.error({ err: error, requestId: ctx.state.requestId }, 'admin API error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'an unexpected error; see the server log by request id' };
        return;
      }
      ctx.status = known.status;
      ctx.set(known.headers);
      ctx.body = { error: known.error, error_description: known.message };
    }
  };
}
