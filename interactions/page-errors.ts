// What a person sees when a page's request fails: a friendly page with what to do, never a stack trace.
import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import { z } from 'zod';
import { StoreUnavailableError } from '../adapters/outage.ts';
import { AuthorityUnavailableError } from '../server/identity/registry.ts';
import type { Logger } from '../server/logger.ts';
import { renderErrorPage } from './pages.ts';

/** A form arrived without this browser's CSRF token (another site, or cookies blocked). */
export class CsrfError extends Error {}

export function friendlyErrors(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (error instanceof CsrfError) {
        renderErrorPage(ctx, 'forbidden', 403);
      } else if (error instanceof errors.SessionNotFound) {
        renderErrorPage(ctx, 'session_expired', 400);
      } else if (error instanceof AuthorityUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId }, 'an authority did not answer');
        ctx.set('Retry-After', '30');
        renderErrorPage(ctx, 'authority_unavailable', 503);
      } else if (error instanceof StoreUnavailableError) {
        logger.warn({ err: error, requestId: ctx.state.requestId, store: error.backend }, 'storage unavailable');
        renderErrorPage(ctx, 'temporarily_unavailable', 503);
      } else if (error instanceof z.ZodError || status === 400 || status === 413 || status === 415) {
        renderErrorPage(ctx, 'invalid_request', 400);
      } else {
        logger.error({ err: error, requestId: ctx.state.requestId }, 'page request failed');
        renderErrorPage(ctx, 'server_error', 500);
      }
    }
  };
}
