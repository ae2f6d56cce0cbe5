// What every portal page needs: the signed-in person (or off to sign in), CSRF-checked and parsed form
// posts, a recent sign-in for sensitive changes, and rendering with the portal's navigation.
import type { Context } from 'koa';
import { z } from 'zod';
import { csrfToken, csrfValid } from '../../interactions/csrf.ts';
import { CsrfError } from '../../interactions/page-errors.ts';
import { renderPage } from '../../interactions/pages.ts';
import type { Accounts } from '../identity/accounts.ts';
import { ageOn, todayInChina } from '../identity/claims.ts';
import { signedInRecently, type PortalSessions, type SignedIn } from './sessions.ts';

export const SECTIONS = ['platforms', 'history', 'security', 'credentials', 'family', 'delete'] as const;
export type Section = (typeof SECTIONS)[number];

export const SECTION_PATHS: Record<Section, string> = {
  platforms: '/account',
  history: '/account/history',
  security: '/account/security',
  credentials: '/account/credentials',
  family: '/account/family',
  delete: '/account/delete',
};

/** Where a path inside the portal may send the browser after signing in: only back into the portal. */
export function safeReturn(value: unknown): string {
  return typeof value === 'string' && /^\/account(\/[A-Za-z0-9/_.-]*)?(\?[A-Za-z0-9=&%._-]*)?$/.test(value) ? value : '/account';
}

export class PortalKit {
  readonly sessions: PortalSessions;
  readonly #accounts: Accounts;

  constructor(sessions: PortalSessions, accounts: Accounts) {
    this.sessions = sessions;
    this.#accounts = accounts;
  }

  /** The signed-in person; without one the browser is sent to sign in and undefined returned. */
  async person(ctx: Context): Promise<SignedIn | undefined> {
    const signedIn = await this.sessions.current(ctx);
    if (!signedIn) this.toSignIn(ctx, ctx.method === 'GET' ? ctx.originalUrl : '/account');
    return signedIn;
  }

  /** A form post of the signed-in person: CSRF checked, body parsed (a ZodError becomes a 400 page). */
  async post<T>(ctx: Context, schema: z.ZodType<T>): Promise<{ person: SignedIn; body: T } | undefined> {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(ctx, raw.csrf)) throw new CsrfError();
    const person = await this.person(ctx);
    return person && { person, body: schema.parse(raw) };
  }

  /**
   * Sensitive changes need a sign-in within the last five minutes; otherwise the person signs in again at
   * the provider (prompt=login) and comes back to `returnTo`. True when the caller may go on.
   */
  recentOrSignInAgain(ctx: Context, person: SignedIn, returnTo: string): boolean {
    if (signedInRecently(person.session)) return true;
    ctx.status = 303;
    ctx.redirect(`/account/sign-in?again=1&return=${encodeURIComponent(returnTo)}`);
    return false;
  }

  toSignIn(ctx: Context, returnTo: string): void {
    ctx.status = 303;
    ctx.redirect(`/account/sign-in?return=${encodeURIComponent(safeReturn(returnTo))}`);
  }

  async render(ctx: Context, person: SignedIn, section: Section, view: string, data: Record<string, unknown>, status = 200): Promise<void> {
    const minors = await this.#accounts.minorsOf(person.account.id);
    const adult = minors.length > 0 || ageOn(person.account.identity.birthdate, todayInChina()) >= 18;
    renderPage(ctx, view, {
      ...data,
      csrf: csrfToken(ctx),
      when: chinaTime,
      portal: { section, sections: SECTIONS.filter((name) => name !== 'family' || adult), paths: SECTION_PATHS },
    }, { status, switchHref: SECTION_PATHS[section] });
  }
}

/** "2026-11-22 14:03": a moment in China Standard Time, the calendar the portal's dates and filters use. */
export function chinaTime(epochMs: number): string {
  return new Date(epochMs + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
}
