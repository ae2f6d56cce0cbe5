// Security activity (sign-ins, failures, locks, credential changes) and "this wasn't me", which secures the
// account: the password stops working, every session (provider, portal, guardian pages) ends, every token is
// revoked, the phone is told, and the person reviews their passkeys right there before recovery sets a new
// password. Nobody who merely signs in next can choose it.
import { createHash, randomBytes } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ShortLivedStore } from '../../adapters/types.ts';
import { csrfToken, csrfValid } from '../../interactions/csrf.ts';
import { CsrfError } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import type { Accounts } from '../identity/accounts.ts';
import { provenOnThisDevice } from '../identity/assurance.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { SecurityNotifications } from '../identity/notifications.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import { chinaTime, type PortalKit } from './kit.ts';
import { ended } from './sign-in-routes.ts';

export interface SecurityPagesDependencies {
  kit: PortalKit;
  accounts: Accounts;
  passkeys: Passkeys;
  connections: Connections;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  /** Where the passkey review after "this wasn't me" is kept (by hash of its cookie). */
  store: ShortLivedStore;
  logger: Logger;
}

/** The passkey review after "this wasn't me": a cookie of its own, good for this one page for 15 minutes. */
const REVIEW_COOKIE = 'cyberid_review';
const REVIEW_PATH = '/account/security/review';
const REVIEW_SECONDS = 15 * 60;
interface Review {
  accountId: string;
  mayRemove: boolean;
}
const reviewKey = (id: string) => `passkey-review:${createHash('sha256').update(id).digest('base64url')}`;

export function securityPages(router: Router, { kit, accounts, passkeys, connections, activity, notifications, store, logger }: SecurityPagesDependencies): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });
  const origin = (ctx: Context) => ({ userAgent: ctx.get('user-agent'), ip: ctx.ip });

  router.get('/security', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person) return;
    await kit.render(ctx, person, 'security', 'account-security', { events: await activity.list(person.account.id), retentionDays: activity.retentionDays });
  });

  router.post('/security/not-me', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({}).passthrough());
    if (!post) return;
    const { account } = post.person;
    await accounts.disablePassword(account.id);
    const sessions = await connections.endEverything(account.id, { keepConsent: true });
    await activity.record(account.id, 'sessions_ended', origin(ctx), { sessions: String(sessions) });
    await kit.sessions.close(ctx);
    await notifications.tell(account.identity.phone, 'not_me');
    logger.warn({ event: 'portal.not_me', sessions, requestId: ctx.state.requestId }, 'the person reported a sign-in that was not theirs: password off, every session ended');
    const review = randomBytes(24).toString('base64url');
    // Passkeys may be removed here only by a sign-in made on this device: a relayed scan session that pressed
    // "this wasn't me" must not also strip the person's passkeys.
    const mayRemove = provenOnThisDevice(post.person.session.amr ?? []);
    await store.set(reviewKey(review), { accountId: account.id, mayRemove } satisfies Review, REVIEW_SECONDS);
    ctx.cookies.set(REVIEW_COOKIE, review, { signed: true, httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: REVIEW_PATH, maxAge: REVIEW_SECONDS * 1000, overwrite: true });
    ctx.status = 303;
    ctx.redirect(REVIEW_PATH);
  });

  /** The review in this browser, or undefined once it has ended. */
  async function reviewed(ctx: Context): Promise<Review | undefined> {
    const id = ctx.cookies.get(REVIEW_COOKIE, { signed: true });
    return id ? store.get<Review>(reviewKey(id)) : undefined;
  }

  async function showReview(ctx: Context, review: Review, notice?: string): Promise<void> {
    renderPage(ctx, 'account-secured', { passkeys: await passkeys.list(review.accountId), mayRemove: review.mayRemove, notice, when: chinaTime, csrf: csrfToken(ctx) }, { switchHref: REVIEW_PATH });
  }

  router.get('/security/review', async (ctx) => {
    const review = await reviewed(ctx);
    if (!review) return ended(ctx, 'not_me', 200);
    await showReview(ctx, review);
  });

  router.post('/security/review', form, async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const { id } = z.object({ id: z.string().min(1).max(1024) }).parse(raw);
    const review = await reviewed(ctx);
    if (!review) return ended(ctx, 'not_me', 200);
    if (!review.mayRemove) return showReview(ctx, review);
    const removed = await passkeys.remove(review.accountId, id);
    if (removed) await activity.record(review.accountId, 'passkey_removed', origin(ctx), { during: 'not_me' });
    await showReview(ctx, review, removed ? 'account.credentials.passkey_removed' : 'account.credentials.passkey_gone');
  });
}
