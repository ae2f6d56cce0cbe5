// While a store is down, a platform's authorization request should come back to it as
// `error=temporarily_unavailable` (so it can say something useful) rather than end on our 503 page. Checking the
// client and redirect URI needs the store, so each process remembers the redirect URIs of the clients it served
// recently; only an exact match to a remembered URI is redirected to, so nothing here can be turned into an open
// redirect. A disabled client's remembered URI gets the error too: it receives no code, only the same refusal.
import type { Context } from 'koa';

/** Clients remembered per process: enough for every platform of a national service, bounded all the same. */
const MAX_CLIENTS = 10_000;

export class KnownRedirects {
  readonly #byClient = new Map<string, ReadonlySet<string>>();

  /** After an authorization request oidc-provider handled: its client's registered redirect URIs. */
  remember(clientId: string, redirectUris: readonly string[]): void {
    this.#byClient.delete(clientId); // re-inserted last: the oldest entry is the one evicted
    this.#byClient.set(clientId, new Set(redirectUris));
    if (this.#byClient.size > MAX_CLIENTS) this.#byClient.delete(this.#byClient.keys().next().value!);
  }

  /**
   * Where an authorization request goes back with `temporarily_unavailable`, or undefined when it cannot be known
   * safely (unknown client or URI, a response mode other than query or fragment).
   */
  errorRedirect(ctx: Context, issuer: string): string | undefined {
    const params = ctx.query;
    const one = (name: string) => (typeof params[name] === 'string' ? params[name] : undefined);
    const clientId = one('client_id');
    const redirectUri = one('redirect_uri');
    if (!clientId || !redirectUri || !this.#byClient.get(clientId)?.has(redirectUri)) return undefined;
    const mode = one('response_mode') ?? 'query';
    if (mode !== 'query' && mode !== 'fragment') return undefined;
    const answer = new URLSearchParams({ error: 'temporarily_unavailable', error_description: 'Cyber ID is briefly unavailable; try again in a moment', iss: issuer });
    const state = one('state');
    if (state !== undefined) answer.set('state', state);
    const url = new URL(redirectUri);
    if (mode === 'fragment') url.hash = answer.toString();
    else for (const [name, value] of answer) url.searchParams.set(name, value);
    return url.href;
  }
}
