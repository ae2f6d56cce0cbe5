// Deleting the account: after a recent sign-in and an explicit confirmation, everything the account
// reaches is revoked (sessions, tokens, grants, with back-channel logout), passkeys, ledger and activity are
// removed and the identity is erased; the page before says what is kept and why.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { z } from 'zod';
import type { GuardianRequestRepository } from '../../adapters/types.ts';
import type { Accounts } from '../identity/accounts.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { DisclosureLedger } from '../identity/ledger.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import type { PortalKit } from './kit.ts';
import { ended } from './sign-in-routes.ts';

export interface DeletePageDependencies {
  kit: PortalKit;
  accounts: Accounts;
  passkeys: Passkeys;
  connections: Connections;
  ledger: DisclosureLedger;
  activity: SecurityActivity;
  guardianRequests: GuardianRequestRepository;
  logger: Logger;
}

const PAGE = '/account/delete';

export function deletePage(router: Router, deps: DeletePageDependencies): void {
  const { kit, accounts, passkeys, connections, ledger, activity, guardianRequests, logger } = deps;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  router.get('/delete', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person || !kit.recentOrSignInAgain(ctx, person, PAGE)) return;
    await kit.render(ctx, person, 'delete', 'account-delete', { platforms: (await connections.list(person.account.id)).length, error: false });
  });

  router.post('/delete', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ understood: z.literal('yes').optional() }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, PAGE)) return;
    if (!body.understood) {
      return kit.render(ctx, person, 'delete', 'account-delete', { platforms: (await connections.list(person.account.id)).length, error: true }, 400);
    }
    const accountId = person.account.id;
    await connections.endEverything(accountId, { keepConsent: false });
    await passkeys.removeAllOf(accountId);
    await guardianRequests.removeAll(accountId);
    await ledger.forget(accountId);
    await activity.forget(accountId);
    await accounts.erase(accountId);
    await kit.sessions.close(ctx);
    logger.warn({ event: 'portal.account_deleted', requestId: ctx.state.requestId }, 'the person deleted their account');
    ended(ctx, 'deleted', 200);
  });
}
