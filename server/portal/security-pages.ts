// Security activity (sign-ins, failures, locks, credential changes) and "this wasn't me", which signs the
// account out everywhere, revokes every token and makes the next sign-in choose a new password.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { z } from 'zod';
import type { Accounts } from '../identity/accounts.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import type { PortalKit } from './kit.ts';
import { ended } from './sign-in-routes.ts';

export interface SecurityPagesDependencies {
  kit: PortalKit;
  accounts: Accounts;
  connections: Connections;
  activity: SecurityActivity;
  logger: Logger;
}

export function securityPages(router: Router, { kit, accounts, connections, activity, logger }: SecurityPagesDependencies): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  router.get('/security', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person) return;
    await kit.render(ctx, person, 'security', 'account-security', { events: await activity.list(person.account.id), retentionDays: activity.retentionDays });
  });

  router.post('/security/not-me', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({}).passthrough());
    if (!post) return;
    const accountId = post.person.account.id;
    const sessions = await connections.endEverything(accountId, { keepConsent: true });
    await accounts.requirePasswordChange(accountId);
    await activity.record(accountId, 'sessions_ended', { userAgent: ctx.get('user-agent'), ip: ctx.ip }, { sessions: String(sessions) });
    await kit.sessions.close(ctx);
    logger.warn({ event: 'portal.not_me', sessions, requestId: ctx.state.requestId }, 'the person reported a sign-in that was not theirs: every session ended');
    ended(ctx, 'not_me', 200);
  });
}
