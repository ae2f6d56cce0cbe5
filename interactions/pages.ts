// Rendering of every person-facing page: eta templates, the chosen language, a per-response CSP nonce,
// and never a cache. Protocol error pages and the sign-out pages of oidc-provider come through here too.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Context } from 'koa';
import { catalogues, chooseLanguage, translator, type Language } from './i18n.ts';

const eta = new Eta({ views: fileURLToPath(new URL('./views/', import.meta.url)), autoEscape: true, cache: true });

// form-action is left open on purpose: Chromium applies it to the redirect that follows a form post,
// which here is the platform's redirect URI.
const csp = (nonce: string) => [
  "default-src 'none'",
  `script-src 'nonce-${nonce}'`,
  // The passkey scripts call back to this origin.
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `href` as a path on this origin, whatever it was: a path that begins with two slashes (or a slash and a backslash,
 * which browsers read the same way) is a link to another host, so leading slashes and backslashes collapse into one;
 * anything that parses as an absolute URL keeps only its path and query. The result always starts with one `/`
 * followed by something that is not `/` or `\`, which a browser can only resolve against this origin.
 */
export function sameOriginPath(href: string): string {
  const url = new URL(href, 'http://placeholder');
  const path = `/${url.pathname.replace(/^[/\\]+/, '')}`;
  return `${path}${url.search}`;
}

/** The same page in the other language: only for GET pages, which are safe to load again. */
function languageSwitchHref(ctx: Context, other: Language): string | undefined {
  if (ctx.method !== 'GET') return undefined;
  const url = new URL(sameOriginPath(ctx.originalUrl), 'http://placeholder');
  url.searchParams.set('lang', other);
  return sameOriginPath(`${url.pathname}${url.search}`);
}

export interface PageOptions {
  status?: number;
  /** Where the language switch leads when the page answers a POST (e.g. the interaction's own page). */
  switchHref?: string;
}

export function renderPage(ctx: Context, view: string, data: Record<string, unknown>, options: PageOptions = {}): void {
  const lang = chooseLanguage(ctx);
  const otherLang: Language = lang === 'en' ? 'zh-CN' : 'en';
  const nonce = randomBytes(16).toString('base64');
  const switchHref = options.switchHref ? sameOriginPath(`${options.switchHref}?lang=${otherLang}`) : languageSwitchHref(ctx, otherLang);
  ctx.set('Content-Security-Policy', csp(nonce));
  ctx.set('Cache-Control', 'no-store');
  ctx.status = options.status ?? 200;
  ctx.type = 'html';
  ctx.body = eta.render(view, { ...data, t: translator(lang), lang, otherLang, switchHref, nonce, requestId: ctx.state.requestId });
}

export interface ErrorOut {
  error: string;
  error_description?: string | undefined;
}

/**
 * The error page: the message `error.<code>` (or a generic one for codes without their own), what to do
 * (`error.<code>_hint` where the catalogue has one), the code, and the request id that matches the log line.
 */
export function renderErrorPage(ctx: Context, code: string, status: number, detail?: string): void {
  const messageKey = `error.${code}` in catalogues.en ? `error.${code}` : 'error.invalid_request';
  const hintKey = `error.${code}_hint` in catalogues.en ? `error.${code}_hint` : 'error.what_to_do';
  renderPage(ctx, 'error', { code, messageKey, hintKey, detail }, { status });
}

/** oidc-provider's renderError: a protocol error that cannot go back to the platform (e.g. an unregistered redirect URI). */
export function renderProtocolErrorPage(ctx: Context, out: ErrorOut): void {
  // oidc-provider's descriptions are short, fixed English sentences meant for the platform's developers.
  renderErrorPage(ctx, out.error, ctx.status >= 400 ? ctx.status : 400, out.error_description);
}

/**
 * "Sign out of Cyber ID on this device?": when a platform asked (its client is known), the page first says plainly
 * that the platform has signed the person out, and the choice is whether to sign out of Cyber ID too.
 */
export function renderLogoutPage(ctx: Context & { oidc?: { client?: { clientName?: string; clientId: string } } }, form: string): void {
  const client = ctx.oidc?.client;
  renderPage(ctx, 'logout', { form, platform: client ? (client.clientName ?? client.clientId) : undefined });
}

export function renderLoggedOutPage(ctx: Context & { oidc?: { client?: { clientName?: string; clientId: string } } }): void {
  const client = ctx.oidc?.client;
  renderPage(ctx, 'logged-out', { platform: client ? (client.clientName ?? client.clientId) : undefined });
}
