// A minimal form-filling user agent for HTTP-level tests: keeps cookies (with their paths), follows the
// provider's redirects, fills and submits the real HTML forms, and stops when it is sent to a platform.
// (Real-browser tests use Chromium; this one keeps protocol tests fast and exact.)
import { parse, type HTMLElement } from 'node-html-parser';
import { CookieJar } from 'tough-cookie';

export interface Page {
  url: string;
  status: number;
  html: string;
  doc: HTMLElement;
  headers: Headers;
}

export type Outcome = { kind: 'page'; page: Page } | { kind: 'redirect'; location: URL; status: number };

export class FormBrowser {
  readonly jar = new CookieJar();
  readonly #providerOrigin: string;
  readonly #acceptLanguage: string;
  readonly #headers: Record<string, string>;

  /** `headers` go with every request (e.g. X-Forwarded-For to come from another address behind the proxy). */
  constructor(providerUrl: string, acceptLanguage = 'en', headers: Record<string, string> = {}) {
    this.#providerOrigin = new URL(providerUrl).origin;
    this.#acceptLanguage = acceptLanguage;
    this.#headers = headers;
  }

  /** Loads a URL and follows redirects inside the provider; a redirect elsewhere (to a platform) ends the walk. */
  async open(url: string | URL, init: { method?: string; body?: URLSearchParams } = {}): Promise<Outcome> {
    let target = new URL(url);
    let method = init.method ?? 'GET';
    let body = init.body;
    for (let hop = 0; hop < 20; hop += 1) {
      const response = await fetch(target, {
        method,
        redirect: 'manual',
        headers: {
          ...this.#headers,
          cookie: await this.jar.getCookieString(target.href),
          'accept-language': this.#acceptLanguage,
          accept: 'text/html',
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(body ? { body: body.toString() } : {}),
      });
      for (const cookie of response.headers.getSetCookie()) await this.jar.setCookie(cookie, target.href);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        const next = new URL(location, target);
        if (next.origin !== this.#providerOrigin) return { kind: 'redirect', location: next, status: response.status };
        target = next;
        method = 'GET';
        body = undefined;
        continue;
      }
      const html = await response.text();
      return { kind: 'page', page: { url: target.href, status: response.status, html, doc: parse(html), headers: response.headers } };
    }
    throw new Error('too many redirects');
  }

  /**
   * Submits the form whose action ends with `action`, as a person would: hidden fields and pre-filled
   * values are kept, ticked and enabled checkboxes are sent, `values` replaces fields by name (an array for
   * checkboxes, [] to untick all of a name). `via` posts to a button's formaction instead (e.g. "/abort").
   */
  async submit(page: Page, action: string, values: Record<string, string | string[]> = {}, via?: string): Promise<Outcome> {
    const form = page.doc.querySelectorAll('form').find((f) => f.getAttribute('action')?.endsWith(action));
    if (!form) throw new Error(`no form posting to ${action} on ${page.url}:\n${page.html}`);
    const data = new URLSearchParams();
    for (const input of form.querySelectorAll('input')) {
      const name = input.getAttribute('name');
      const type = input.getAttribute('type') ?? 'text';
      if (!name || name in values || input.hasAttribute('disabled')) continue;
      if (type === 'checkbox' && !input.hasAttribute('checked')) continue;
      data.append(name, input.getAttribute('value') ?? (type === 'checkbox' ? 'on' : ''));
    }
    for (const [name, value] of Object.entries(values)) {
      for (const item of Array.isArray(value) ? value : [value]) data.append(name, item);
    }
    const target = via ? form.querySelectorAll('button').find((b) => b.getAttribute('formaction')?.endsWith(via))?.getAttribute('formaction') : form.getAttribute('action');
    if (!target) throw new Error(`no button posting to ${via} on ${page.url}`);
    return this.open(new URL(target, page.url), { method: 'POST', body: data });
  }

  async cookieNames(url: string): Promise<string[]> {
    return (await this.jar.getCookies(url)).map((cookie) => cookie.key);
  }
}

export function expectPage(outcome: Outcome): Page {
  if (outcome.kind !== 'page') throw new Error(`expected a page, was redirected to ${outcome.location.href}`);
  return outcome.page;
}

export function expectRedirect(outcome: Outcome): URL {
  if (outcome.kind !== 'redirect') throw new Error(`expected a redirect to the platform, got a ${outcome.page.status} page:\n${outcome.page.html.slice(0, 2000)}`);
  return outcome.location;
}
