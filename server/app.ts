// Mounts everything on the oidc-provider Koa application: request context and headers first, then health
// and metrics, static files, and the interaction routes; oidc-provider's own routes come last.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Store } from '../adapters/types.ts';
import { renderErrorPage } from '../interactions/pages.ts';
import { interactionRoutes } from '../interactions/routes.ts';
import type { Accounts } from './identity/accounts.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface AppDependencies {
  provider: Provider;
  store: Store;
  accounts: Accounts;
  logger: Logger;
  metrics: Metrics;
  production: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;
const STYLESHEET = readFileSync(new URL('../interactions/static/cyberid.css', import.meta.url));

export function mountApp({ provider, store, accounts, logger, metrics, production }: AppDependencies): void {
  (provider as unknown as NodeJS.EventEmitter).on('error', (error: Error, ctx?: Context) => logger.error({ err: error, requestId: ctx?.state?.requestId }, 'unhandled error'));

  provider.use(requestContext(logger, production));
  provider.use(metrics.middleware());

  const operations = new Router();
  operations.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  operations.get('/readyz', async (ctx) => {
    try {
      await store.ping();
      ctx.body = { status: 'ready', store: store.kind };
    } catch (error) {
      logger.warn({ err: error }, 'store not ready');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', store: store.kind };
    }
  });
  operations.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  operations.get('/static/cyberid.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = STYLESHEET;
  });
  provider.use(operations.routes());
  provider.use(interactionRoutes({ provider, accounts, logger, metrics }).routes());
}

/** Request id, access log (path only: query strings can carry personal data), security headers, friendly 404. */
function requestContext(logger: Logger, production: boolean) {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    const given = ctx.get('x-request-id');
    ctx.state.requestId = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    if (production && ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    let status: number | undefined;
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.accepts('html', 'json') === 'html') {
        renderErrorPage(ctx, 'not_found', 404);
      }
      status = ctx.status;
    } catch (error) {
      status = (error as { status?: number }).status ?? 500; // Koa answers it after this middleware
      throw error;
    } finally {
      logger.info({ requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
