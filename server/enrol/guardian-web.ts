// The guardian's pages. A guardian acts through the portal's Family section (/account/family), behind the
// portal's session rules: a loa2 sign-in, ended by signing out, "this wasn't me" or deletion, and for every
// decision a recent sign-in made on that device. The old /guardian address, which once signed guardians in with
// a password alone, now leads there.
import type { Context } from 'koa';
import type { Account } from '../identity/accounts.ts';
import { signedInRecently, type PortalSessions } from '../portal/sessions.ts';

/** Where a guardian goes to start a child's enrolment; it asks for a fresh sign-in when needed. */
export const ENROL_CHILD_PATH = '/account/family/enrol-child';

/** The guardian acting in this browser: the portal's signed-in person, with a recent sign-in made here. */
export class GuardianSessions {
  readonly #portal: PortalSessions;

  constructor(portal: PortalSessions) {
    this.#portal = portal;
  }

  async current(ctx: Context): Promise<Account | undefined> {
    const person = await this.#portal.current(ctx);
    return person && signedInRecently(person.session) ? person.account : undefined;
  }
}

/** /guardian and everything below it: on to the Family section (a bookmark or an old link still lands right). */
export function toFamilySection(ctx: Context): void {
  ctx.status = 303;
  ctx.redirect('/account/family');
}
