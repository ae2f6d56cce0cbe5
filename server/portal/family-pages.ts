// The guardian's view: children's accounts waiting for approval, each linked minor's platforms (with the
// right to revoke them) and their requests to use platforms that need a guardian's approval, which the
// guardian can approve, decline, or change their mind about. Every decision needs a recent sign-in made on
// this device (as credential changes do): a guardian's power over a child is worth as much as the account.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Account, Accounts } from '../identity/accounts.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { PlatformAdmission } from '../identity/admission.ts';
import type { Guardianship } from '../enrol/guardianship.ts';
import { ENROL_CHILD_PATH } from '../enrol/guardian-web.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import type { PortalKit } from './kit.ts';
import type { SignedIn } from './sessions.ts';

export interface FamilyPagesDependencies {
  kit: PortalKit;
  accounts: Accounts;
  guardianship: Guardianship;
  admission: PlatformAdmission;
  connections: Connections;
  activity: SecurityActivity;
  platformName: (clientId: string) => Promise<string>;
  logger: Logger;
}

const FAMILY = '/account/family';
const minorField = z.string().min(1).max(64);
const platformField = z.string().min(1).max(128);
const decision = z.enum(['approve', 'decline']);

export function familyPages(router: Router, deps: FamilyPagesDependencies): void {
  const { kit, accounts, guardianship, admission, connections, activity, platformName, logger } = deps;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  async function show(ctx: Context, person: SignedIn, notice?: { key: string; params?: Record<string, string> }): Promise<void> {
    const guardian = person.account;
    const minors = await Promise.all((await accounts.minorsOf(guardian.id)).map(async (minor) => ({
      id: minor.id,
      name: minor.identity.name,
      birthdate: minor.identity.birthdate,
      platforms: await connections.list(minor.id),
      requests: await Promise.all((await admission.decisionsFor(minor)).map(async (request) => ({ ...request, platform: await platformName(request.clientId) }))),
    })));
    await kit.render(ctx, person, 'family', 'account-family', { pending: await guardianship.pendingFor(guardian), minors, notice });
  }

  /** The guardian's own minor, or undefined. */
  async function minorOf(guardian: Account, minorId: string): Promise<Account | undefined> {
    const minor = await accounts.findById(minorId);
    return minor?.guardianId === guardian.id ? minor : undefined;
  }

  router.get('/family', async (ctx) => {
    const person = await kit.person(ctx);
    if (person) await show(ctx, person);
  });
  // Starting a child's enrolment makes the guardian responsible for a new account: a recent sign-in first.
  router.get('/family/enrol-child', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person || !kit.recentOrSignInAgain(ctx, person, ENROL_CHILD_PATH)) return;
    await kit.render(ctx, person, 'family', 'account-enrol-child', {});
  });
  router.get(['/family/decide', '/family/decide-platform', '/family/revoke'], (ctx) => {
    ctx.status = 303;
    ctx.redirect('/account/family');
  });

  router.post('/family/decide', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ minor: minorField, decision }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, FAMILY)) return;
    const done = body.decision === 'approve' ? await guardianship.approve(person.account, body.minor) : await guardianship.decline(person.account, body.minor);
    return show(ctx, person, { key: done ? `guardian.notice.${body.decision}d` : 'guardian.notice.not_pending' });
  });

  router.post('/family/decide-platform', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ minor: minorField, platform: platformField, decision }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, FAMILY)) return;
    const done = await admission.decide(person.account, body.minor, body.platform, body.decision === 'approve' ? 'approved' : 'declined');
    if (done) logger.info({ event: `guardian.platform_${body.decision}d`, client: body.platform, requestId: ctx.state.requestId }, 'guardian decided on a platform');
    return show(ctx, person, { key: done ? `guardian.notice.platform_${body.decision}d` : 'guardian.notice.not_pending' });
  });

  // Revoking a platform for a minor also withdraws a guardian's approval of it, so the child cannot simply reconnect.
  router.post('/family/revoke', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ minor: minorField, platform: platformField }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, FAMILY)) return;
    const minor = await minorOf(person.account, body.minor);
    const revoked = minor ? await connections.revoke(minor.id, body.platform) : false;
    if (minor && (await admission.decisionsFor(minor)).some((request) => request.clientId === body.platform)) {
      await admission.decide(person.account, minor.id, body.platform, 'declined');
    }
    if (minor && revoked) {
      await activity.record(minor.id, 'platform_revoked', { userAgent: ctx.get('user-agent'), ip: ctx.ip }, { platform: body.platform, by: 'guardian' });
      logger.info({ event: 'guardian.platform_revoked', client: body.platform, requestId: ctx.state.requestId }, 'a guardian revoked a platform for a minor');
    }
    const params = { name: minor?.identity.name ?? '', platform: await platformName(body.platform) };
    return show(ctx, person, { key: revoked ? 'account.family.revoked' : 'account.platforms.not_connected', params });
  });
}
