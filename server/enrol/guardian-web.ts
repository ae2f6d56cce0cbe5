// The guardian's pages at /guardian: sign in with the guardian's own Cyber ID, approve or decline a
// 14–17-year-old's waiting account or a minor's request to use a platform that needs a guardian's
// approval, or start an enrolment for a child under 14. A short session of its own, 15 minutes, in the
// short-lived store. The portal's Family section (/account/family) does all of this behind a loa2 sign-in
// and is meant to replace these pages.
import { randomBytes } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ShortLivedStore } from '../../adapters/types.ts';
import { csrfToken, csrfValid } from '../../interactions/csrf.ts';
import { chooseLanguage, translator } from '../../interactions/i18n.ts';
import { CsrfError, friendlyErrors } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import type { Account, Accounts } from '../identity/accounts.ts';
import type { PlatformAdmission } from '../identity/admission.ts';
import type { CredentialThrottle } from '../identity/throttle.ts';
import type { Logger } from '../logger.ts';
import type { Guardianship } from './guardianship.ts';

const COOKIE = 'cyberid_guardian';
const SESSION_SECONDS = 15 * 60;

export class GuardianSessions {
  readonly #store: ShortLivedStore;
  readonly #accounts: Accounts;

  constructor(store: ShortLivedStore, accounts: Accounts) {
    this.#store = store;
    this.#accounts = accounts;
  }

  async open(ctx: Context, accountId: string): Promise<void> {
    const id = randomBytes(24).toString('base64url');
    await this.#store.set(`guardian-session:${id}`, { accountId }, SESSION_SECONDS);
    ctx.cookies.set(COOKIE, id, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', maxAge: SESSION_SECONDS * 1000, overwrite: true });
  }

  /** The signed-in guardian, if the session is live and the account still active and adult. */
  async current(ctx: Context): Promise<Account | undefined> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    const session = id ? await this.#store.get<{ accountId: string }>(`guardian-session:${id}`) : undefined;
    const account = session && await this.#accounts.findById(session.accountId);
    return account?.status === 'active' ? account : undefined;
  }

  async close(ctx: Context): Promise<void> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    if (id) await this.#store.delete(`guardian-session:${id}`);
    ctx.cookies.set(COOKIE, null, { path: '/' });
  }
}

export interface GuardianWebDependencies {
  accounts: Accounts;
  guardianship: Guardianship;
  admission: PlatformAdmission;
  throttle: CredentialThrottle;
  sessions: GuardianSessions;
  /** Finds a platform's display name (the provider's client registry). */
  platformName: (clientId: string) => Promise<string>;
  logger: Logger;
}

const signInForm = z.object({ identifier: z.string().trim().max(64).default(''), password: z.string().max(256).default('') });
const decisionForm = z.object({ minor: z.string().min(1).max(64), decision: z.enum(['approve', 'decline']) });
const platformDecisionForm = decisionForm.extend({ platform: z.string().min(1).max(128) });

export function guardianWebRoutes({ accounts, guardianship, admission, throttle, sessions, platformName, logger }: GuardianWebDependencies): Router {
  const router = new Router({ prefix: '/guardian', sensitive: true });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  router.use(friendlyErrors(logger));

  const dashboard = async (ctx: Context, guardian: Account, notice?: string) => {
    const platforms = await Promise.all((await admission.pendingFor(guardian)).map(async (request) => ({ ...request, platform: await platformName(request.clientId) })));
    renderPage(ctx, 'guardian', { csrf: csrfToken(ctx), pending: await guardianship.pendingFor(guardian), platforms, notice }, { switchHref: '/guardian' });
  };

  router.get('/', async (ctx) => {
    const guardian = await sessions.current(ctx);
    if (!guardian) return renderPage(ctx, 'guardian-sign-in', { csrf: csrfToken(ctx), errors: [], fieldErrors: {}, identifier: '' });
    return dashboard(ctx, guardian);
  });
  router.get(['/sign-in', '/decide', '/decide-platform', '/sign-out'], (ctx) => {
    ctx.status = 303;
    ctx.redirect('/guardian');
  });

  router.post('/sign-in', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const body = signInForm.parse(raw);
    const refuse = (key: string, status: number, params: Record<string, string> = {}) => renderPage(ctx, 'guardian-sign-in', {
      csrf: csrfToken(ctx), identifier: body.identifier,
      errors: [{ field: 'identifier', key, params }], fieldErrors: { identifier: translator(chooseLanguage(ctx))(key, params) },
    }, { status, switchHref: '/guardian' });
    // The same rate limits and lockout as every other password check.
    const attempt = { account: await accounts.attemptSubject(body.identifier), ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfter));
      return refuse('login.error.locked', 429, { minutes: String(Math.ceil(verdict.retryAfter / 60)) });
    }
    const account = body.identifier && body.password ? await accounts.authenticate(body.identifier, body.password) : undefined;
    if (!account) await throttle.failed(attempt);
    if (account?.status !== 'active') {
      logger.info({ event: 'guardian.sign_in_failed', requestId: ctx.state.requestId }, 'guardian sign-in failed');
      return refuse(account ? 'guardian.error.not_active' : 'login.error.invalid', 401);
    }
    await throttle.succeeded(attempt);
    await sessions.open(ctx, account.id);
    ctx.status = 303;
    ctx.redirect('/guardian');
  });

  /** A signed-in guardian's form post: the CSRF token checked and the body parsed; undefined (and back to the sign-in page) without a session. */
  async function guardianPost<T>(ctx: Context, schema: z.ZodType<T>): Promise<{ guardian: Account; body: T } | undefined> {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const guardian = await sessions.current(ctx);
    if (!guardian) {
      ctx.status = 303;
      ctx.redirect('/guardian');
      return undefined;
    }
    return { guardian, body: schema.parse(raw) };
  }

  router.post('/decide', form, async (ctx) => {
    const post = await guardianPost(ctx, decisionForm);
    if (!post) return;
    const { guardian, body } = post;
    const done = body.decision === 'approve' ? await guardianship.approve(guardian, body.minor) : await guardianship.decline(guardian, body.minor);
    return dashboard(ctx, guardian, done ? `guardian.notice.${body.decision}d` : 'guardian.notice.not_pending');
  });

  router.post('/decide-platform', form, async (ctx) => {
    const post = await guardianPost(ctx, platformDecisionForm);
    if (!post) return;
    const { guardian, body } = post;
    const done = await admission.decide(guardian, body.minor, body.platform, body.decision === 'approve' ? 'approved' : 'declined');
    if (done) logger.info({ event: `guardian.platform_${body.decision}d`, guardian: guardian.id, minor: body.minor, client: body.platform }, 'guardian decided on a platform');
    return dashboard(ctx, guardian, done ? `guardian.notice.platform_${body.decision}d` : 'guardian.notice.not_pending');
  });

  router.post('/sign-out', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    await sessions.close(ctx);
    ctx.status = 303;
    ctx.redirect('/guardian');
  });

  return router;
}
