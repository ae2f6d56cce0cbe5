// The approving device's page, /scan/:token, for two kinds of request. Scan to sign in: opened by scanning the
// QR code on another browser's login page; the page names the platform, when it asked and from which network (what
// the server saw, never what the requester wrote), warns when that is not this device's network (then approval
// needs a deliberate tick), and approval needs the number shown on the other screen. Decoupled sign-in (CIBA): opened from the SMS link; the
// page names the platform, its binding message and what it will receive, and only the person it names can
// answer. Either way the person must already be signed in here, at loa2 or above (and at the platform's
// minimum level for CIBA, since the approval is the sign-in the platform gets).
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { answerDecoupled } from '../server/ciba.ts';
import type { Account, Accounts } from '../server/identity/accounts.ts';
import { networkPrefix } from '../server/identity/activity.ts';
import { atLeast, isAcr, LOA2, SCAN_AMR, type Acr } from '../server/identity/assurance.ts';
import { chinaClock, claimsOfScopes } from '../server/identity/claims.ts';
import type { DecoupledRequest, DecoupledSignIns } from '../server/identity/decoupled-sign-in.ts';
import type { ClientPolicy } from '../server/policy.ts';
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
  decoupled: DecoupledSignIns;
  throttle: CredentialThrottle;
  logger: Logger;
  metrics: Metrics;
}

const token = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const decisionForm = z.object({
  csrf: z.string().optional(),
  decision: z.enum(['approve', 'decline']),
  number: z.string().regex(/^\d{2}$/).optional(),
  /** Ticked by the person when the requester is on another network: "the other screen is mine and in front of me". */
  together: z.literal('yes').optional(),
});

/** What the page shows: the question, or why it cannot be asked, or the outcome. */
type ScanPage = 'ask' | 'confirm' | 'signed_out' | 'not_strong_enough' | 'gone' | 'approved' | 'confirmed' | 'declined' | 'wrong_number' | 'locked';
/** Shown with the question: an error when the person must tick that the other screen is theirs. */
interface Ask { missingTogether?: boolean }

interface SignedIn {
  account: Account;
  acr: Acr;
  amr: string[];
}

export function scanApprovalRoutes({ provider, accounts, scans, decoupled, throttle, logger, metrics }: ScanApprovalDependencies): Router {
  const router = new Router({ prefix: '/scan', sensitive: true });
  router.use(friendlyErrors(logger));
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  /**
   * The person signed in on this device, at loa2 or above and not by scanning (a relayed scan session must not
   * approve further sign-ins); or why not.
   */
  async function signedIn(ctx: Context): Promise<SignedIn | 'signed_out' | 'not_strong_enough'> {
    const session = await provider.Session.get(ctx);
    const account = session.accountId ? await accounts.findById(session.accountId) : undefined;
    if (account?.status !== 'active') return 'signed_out';
    const amr = session.amr ?? [];
    return isAcr(session.acr) && atLeast(session.acr, LOA2) && !amr.includes(SCAN_AMR) ? { account, acr: session.acr, amr } : 'not_strong_enough';
  }

  async function show(ctx: Context, page: ScanPage, request?: ScanRequest | DecoupledRequest, status = 200, ask: Ask = {}): Promise<void> {
    const client = request ? await provider.Client.find(request.clientId) : undefined;
    const scan = request && 'network' in request ? request : undefined;
    const confirm = request && 'authReqId' in request ? request : undefined;
    renderPage(ctx, 'scan', {
      page,
      platform: client ? (client.clientName ?? client.clientId) : undefined,
      asked: scan && { at: chinaClock(scan.createdAt), network: scan.network, apart: scan.network !== networkPrefix(ctx.ip) },
      missingTogether: ask.missingTogether,
      choices: scan?.choices,
      bindingMessage: confirm?.bindingMessage,
      releases: confirm ? [...claimsOfScopes(confirm.scope.split(' '))] : undefined,
      action: ctx.path,
      csrf: csrfToken(ctx),
    }, { status, switchHref: ctx.path });
  }

  router.get('/:token', async (ctx) => {
    const who = await signedIn(ctx);
    if (typeof who === 'string') return show(ctx, who, undefined, 401);
    const tokenValue = token.safeParse(ctx.params.token).success ? ctx.params.token! : undefined;
    const request = tokenValue ? await scans.pending(tokenValue) : undefined;
    if (request) return show(ctx, 'ask', request);
    const confirmation = tokenValue ? await decoupled.pendingFor(tokenValue, who.account.id) : undefined;
    if (confirmation) return show(ctx, 'confirm', confirmation);
    return show(ctx, 'gone', undefined, 410);
  });

  router.post('/:token', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const body = decisionForm.parse(raw);
    const who = await signedIn(ctx);
    if (typeof who === 'string') return show(ctx, who, undefined, 401);
    const tokenValue = token.safeParse(ctx.params.token).success ? ctx.params.token! : undefined;
    const request = tokenValue ? await scans.pending(tokenValue) : undefined;
    const confirmation = tokenValue && !request ? await decoupled.pendingFor(tokenValue, who.account.id) : undefined;
    if (confirmation) return answerConfirmation(ctx, tokenValue!, confirmation, who, body.decision);
    if (!tokenValue || !request) return show(ctx, 'gone', undefined, 410);

    if (body.decision === 'decline') {
      await scans.decline(tokenValue);
      logger.info({ event: 'scan.declined', client: request.clientId, requestId: ctx.state.requestId }, 'scan sign-in declined');
      return show(ctx, 'declined', request);
    }
    if (request.network !== networkPrefix(ctx.ip) && body.together !== 'yes') return show(ctx, 'ask', request, 400, { missingTogether: true });
    const attempt = { account: who.account.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfter));
      return show(ctx, 'locked', request, 429);
    }
    const result = await scans.approve(tokenValue, who.account.id, body.number ?? '');
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

  /** A CIBA request answered by the person it names; the platform's next poll gets tokens or access_denied. */
  async function answerConfirmation(ctx: Context, tokenValue: string, request: DecoupledRequest, who: SignedIn, decision: 'approve' | 'decline'): Promise<void> {
    const client = await provider.Client.find(request.clientId);
    const minimum = (client as unknown as { cyberid_policy?: ClientPolicy } | undefined)?.cyberid_policy?.minimum_acr ?? LOA2;
    if (decision === 'approve' && !atLeast(who.acr, minimum)) return show(ctx, 'not_strong_enough', request, 403);
    if (!client || !(await decoupled.answer(tokenValue))) return show(ctx, 'gone', undefined, 410);
    await answerDecoupled(provider, request, decision === 'approve' ? { approved: true, acr: who.acr, amr: who.amr } : { approved: false });
    metrics.signIns.inc({ method: 'ciba', outcome: decision === 'approve' ? 'success' : 'declined' });
    logger.info({ event: `ciba.${decision === 'approve' ? 'approved' : 'declined'}`, client: request.clientId, requestId: ctx.state.requestId }, 'decoupled sign-in answered');
    return show(ctx, decision === 'approve' ? 'confirmed' : 'declined', request);
  }

  return router;
}
