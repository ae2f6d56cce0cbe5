// Limits at the endpoints platforms call with their own credentials (token, introspection, revocation, PAR,
// CIBA): a request quota per client, and progressive lockout of a client id, and of an address, after wrong
// client secrets. Counters live in the store's rate limiters (Redis when configured), so every process shares
// them. Installed on oidc-provider's Client model, where the client being authenticated is known and nothing
// has been processed yet; Provider.ctx is the request being served.
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { verifyClientSecret } from './admin/client-secrets.ts';
import { CredentialThrottle, IP_RULE, type RateLimiterFactory } from './identity/throttle.ts';

/** oidc-provider's names of the routes where a client authenticates. */
const CLIENT_ROUTES: ReadonlySet<string> = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request', 'backchannel_authentication']);

/** Ten wrong secrets within 15 minutes lock a client id for a minute, then 2, 4… minutes, at most a day. */
const CLIENT_SECRET_RULE = { failures: 10, windowSeconds: 15 * 60, firstLockSeconds: 60, maxLockSeconds: 24 * 3600 };

/** 429 with Retry-After; `slow_down` is the registered token-endpoint error for "back off" (RFC 8628 §3.5). */
export class TooManyRequests extends errors.OIDCProviderError {
  constructor(ctx: KoaContextWithOIDC, retryAfter: number, why: string) {
    super(429, 'slow_down');
    this.error_description = `${why}; retry after ${retryAfter} seconds`;
    ctx.set('Retry-After', String(retryAfter));
  }
}

export function limitClientCredentials(provider: Provider, createLimiter: RateLimiterFactory, requestsPerSecond: number): void {
  const quota = createLimiter({ keyPrefix: 'client-requests', points: requestsPerSecond, duration: 1 });
  const secrets = new CredentialThrottle(createLimiter, { account: CLIENT_SECRET_RULE, ip: IP_RULE }, 'client-');
  const Client = provider.Client as unknown as { find(id: unknown): Promise<unknown>; prototype: object };
  const find = Client.find.bind(Client);

  Client.find = async (id: unknown) => {
    const ctx = Provider.ctx as KoaContextWithOIDC | undefined;
    if (typeof id === 'string' && ctx && CLIENT_ROUTES.has(ctx.oidc.route)) {
      try {
        await quota.consume(id);
      } catch (refusal) {
        // rate-limiter-flexible rejects with its result when over the quota, with an Error when the store fails.
        if (refusal instanceof Error) throw refusal;
        throw new TooManyRequests(ctx, Math.max(1, Math.ceil((refusal as { msBeforeNext: number }).msBeforeNext / 1000)), 'too many requests from this client');
      }
    }
    return find(id);
  };

  // Stored secrets are hashes (server/admin/client-secrets.ts); oidc-provider would compare them as plain text.
  (Client.prototype as { compareClientSecret(given: string): Promise<boolean> }).compareClientSecret = async function compare(this: { clientId: string; clientSecret?: string }, given: string) {
    const ctx = Provider.ctx as KoaContextWithOIDC | undefined;
    if (!ctx) return verifyClientSecret(this.clientSecret, given);
    const attempt = { account: this.clientId, ip: ctx.ip };
    const verdict = await secrets.verdict(attempt);
    if (!verdict.allowed) throw new TooManyRequests(ctx, verdict.retryAfter, 'too many wrong client secrets');
    if (verifyClientSecret(this.clientSecret, given)) return true;
    const after = await secrets.failed(attempt);
    if (!after.allowed) throw new TooManyRequests(ctx, after.retryAfter, 'too many wrong client secrets');
    return false;
  };
}
