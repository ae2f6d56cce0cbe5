// CSRF protection for our forms: a random token in a signed, SameSite=Lax cookie that every form
// echoes back (double submit). Lax, not Strict: a Strict cookie is not sent when a person arrives from a
// platform, so a second sign-in tab would mint a new token and break the first one's form.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

const COOKIE = 'cyberid_csrf';

/** The token for this browser, minted on first use. */
export function csrfToken(ctx: Context): string {
  const existing = ctx.cookies.get(COOKIE, { signed: true });
  if (existing) return existing;
  const token = randomBytes(24).toString('base64url');
  ctx.cookies.set(COOKIE, token, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true });
  return token;
}

export function csrfValid(ctx: Context, submitted: unknown): boolean {
  const expected = ctx.cookies.get(COOKIE, { signed: true });
  if (!expected || typeof submitted !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}
