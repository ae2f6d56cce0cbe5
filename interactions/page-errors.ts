// What a person sees when a page's request fails: a friendly page with what to do, never a stack trace. The
// scripts on those pages (polling, passkeys) ask for JSON and get the same error as `{error, error_description}`.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import { z } from 'zod';
import { StoreUnavailableError } from '../adapters/outage.ts';
import { AuthorityUnavailableError } from '../server/identity/registry.ts';
import type { Logger } from '../server/logger.ts';
import { catalogues } from './i18n.ts';
import { renderErrorPage } from './pages.ts';

/** A form arrived without this browser's CSRF token (another site, or cookies blocked). */
export class CsrfError extends Error {}

/** Marks a route its page's script calls (polling, passkeys): its errors are JSON whatever the Accept header. */
export async function answersJson(ctx: Context, next: Next): Promise<void> {
  ctx.state.answersJson = true;
  return next();
}

/** A JSON route's body: marked first, so that a body that does not parse is answered in JSON too. */
export function jsonEndpoint() {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  return (ctx: Context, next: Next) => answersJson(ctx, () => parse(ctx, next));
}

/** A page for browsers; JSON for the pages' scripts and for clients that do not take HTML. */
function answer(ctx: Context, code: string, status: number): void {
  if (ctx.state.answersJson || ctx.accepts('html', 'json') !== 'html') {
    ctx.status = status;
    ctx.body = { error: code, error_description: catalogues.en[`error.${code}`] ?? code };
  } else {
    renderErrorPage(ctx, code, status);
  }
}

export function friendlyErrors(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (error instanceof CsrfError) {
        answer(ctx, 'forbidden', 403);
      } else if (error instanceof errors.SessionNotFound) {
        answer(ctx, 'session_expired', 400);
      } else if (error instanceof AuthorityUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId }, 'an authority did not answer');
        ctx.set('Retry-After', '30');
        answer(ctx, 'authority_unavailable', 503);
      } else if (error instanceof StoreUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId, store: error.backend }, 'storage unavailable');
        answer(ctx, 'temporarily_unavailable', 503);
      } else if (error instanceof z.ZodError || (status !== undefined && status >= 400 && status < 500)) {
        answer(ctx, 'invalid_request', error instanceof z.ZodError ? 400 : status!);
      } else {
        logger.error({ err: error, requestId: ctx.state.requestId }, 'page request failed');
        answer(ctx, 'server_error', 500);
      }
    }
  };
}
