// The second device's side of scan to sign in: /scan/:token, opened by scanning the QR code on another
// browser's login page. The person must already be signed in here (at loa2 or above); the page names the
// platform and the browser that asked, and approval needs the number shown on the other screen.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Account, Accounts } from '../server/identity/accounts.ts';
import { atLeast, isAcr, LOA2 } from '../server/identity/assurance.ts';
import type { ScanRequest, ScanSignIns } from '../server/identity/scan-sign-in.ts';
import type { CredentialThrottle } from '../server/identity/throttle.ts';
import type { Logger } from '../server/logger.ts';
import type { Metrics } from '../server/metrics.ts';
import { csrfToken, csrfValid } from './csrf.ts';
import { CsrfError, friendlyErrors } from './page-errors.ts';
import { renderPage } from './pages.ts';

export interface ScanApprovalDependencies {
  provider: Provider;
  accounts: Accounts;
  scans: ScanSignIns;
  throttle: CredentialThrottle;
  logger: Logger;
  metrics: Metrics;
}

const token = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const decisionForm = z.object({
  csrf: z.string().optional(),
  decision: z.enum(['approve', 'decline']),
  number: z.string().regex(/^\d{2}$/).optional(),
});

/** What the page shows: the question, or why it cannot be asked, or the outcome. */
type ScanPage = 'ask' | 'signed_out' | 'not_strong_enough' | 'gone' | 'approved' | 'declined' | 'wrong_number' | 'locked';

export function scanApprovalRoutes({ provider, accounts, scans, throttle, logger, metrics }: ScanApprovalDependencies): Router {
  const router = new Router({ prefix: '/scan' });
  router.use(friendlyErrors(logger));
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  /** The person signed in on this device, at loa2 or above; or why not. */
  async function signedIn(ctx: Context): Promise<Account | 'signed_out' | 'not_strong_enough'> {
    const session = await provider.Session.get(ctx);
    const account = session.accountId ? await accounts.findById(session.accountId) : undefined;
    if (account?.status !== 'active') return 'signed_out';
    return isAcr(session.acr) && atLeast(session.acr, LOA2) ? account : 'not_strong_enough';
  }

  async function show(ctx: Context, page: ScanPage, request?: ScanRequest, status = 200): Promise<void> {
    const client = request ? await provider.Client.find(request.clientId) : undefined;
    renderPage(ctx, 'scan', {
      page,
      platform: client ? (client.clientName ?? client.clientId) : undefined,
      browser: request?.browser,
      choices: request?.choices,
      action: ctx.path,
      csrf: csrfToken(ctx),
    }, { status, switchHref: ctx.path });
  }

  router.get('/:token', async (ctx) => {
    const who = await signedIn(ctx);
    if (typeof who === 'string') return show(ctx, who, undefined, 401);
    const request = token.safeParse(ctx.params.token).success ? await scans.pending(ctx.params.token!) : undefined;
    if (!request) return show(ctx, 'gone', undefined, 410);
    return show(ctx, 'ask', request);
  });

  router.post('/:token', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const body = decisionForm.parse(raw);
    const who = await signedIn(ctx);
    if (typeof who === 'string') return show(ctx, who, undefined, 401);
    const tokenValue = token.safeParse(ctx.params.token).success ? ctx.params.token! : undefined;
    const request = tokenValue ? await scans.pending(tokenValue) : undefined;
    if (!tokenValue || !request) return show(ctx, 'gone', undefined, 410);

    if (body.decision === 'decline') {
      await scans.decline(tokenValue);
      logger.info({ event: 'scan.declined', client: request.clientId, requestId: ctx.state.requestId }, 'scan sign-in declined');
      return show(ctx, 'declined', request);
    }
    const attempt = { account: who.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfter));
      return show(ctx, 'locked', request, 429);
    }
    const result = await scans.approve(tokenValue, who.id, body.number ?? '');
    if (result === 'gone') return show(ctx, 'gone', undefined, 410);
    if (result === 'wrong_number') {
      metrics.signIns.inc({ method: 'mca', outcome: 'failure' });
      await throttle.failed(attempt);
      logger.info({ event: 'scan.wrong_number', client: request.clientId, requestId: ctx.state.requestId }, 'scan sign-in: wrong number picked; the code is burnt');
      return show(ctx, 'wrong_number', request, 401);
    }
    logger.info({ event: 'scan.approved', client: request.clientId, requestId: ctx.state.requestId }, 'scan sign-in approved');
    return show(ctx, 'approved', request);
  });

  return router;
}
