// What the bench sends: the protocol scenarios as autocannon request pipelines, and the tokens they need
// (authorization codes, refresh tokens, access tokens), obtained through each provider's real endpoints.
import autocannon from 'autocannon';
import { FormBrowser } from '../test/support/browser.ts';
import { signInAndConsent, type Person } from '../test/support/platform.ts';
import type { SmsSink, Target } from './targets.ts';
import { PASSWORD, PLATFORM, type BenchPerson } from './workspace.ts';

/** One PKCE pair for every code the bench mints: the provider checks it per code; its secrecy is not the point here. */
const VERIFIER = 'bench-pkce-verifier-bench-pkce-verifier-bench-pkce';
const CHALLENGE = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(VERIFIER))).toString('base64url');
export const BASIC = `Basic ${Buffer.from(`${encodeURIComponent(PLATFORM.clientId)}:${encodeURIComponent(PLATFORM.clientSecret)}`).toString('base64')}`;
const FORM = 'application/x-www-form-urlencoded';

export interface Sample {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  /** Status and body of the first failed answer, so a broken run says why. */
  firstFailure?: string;
}

/** A signed-in browser at one provider, with remembered consent, that can mint codes without any page. */
export class PlatformSession {
  readonly target: Target;
  readonly #browser: FormBrowser;

  private constructor(target: Target, browser: FormBrowser) {
    this.target = target;
    this.#browser = browser;
  }

  static forBrowser(target: Target, browser: FormBrowser): PlatformSession {
    return new PlatformSession(target, browser);
  }

  static async signIn(target: Target, person: Person): Promise<PlatformSession> {
    const session = new PlatformSession(target, new FormBrowser(target.url));
    await session.authorize(PLATFORM.scope, person);
    return session;
  }

  authorizationUrl(scope: string, extra: Record<string, string> = {}): URL {
    const url = new URL(this.target.endpoints.authorization, this.target.url);
    url.search = new URLSearchParams({
      client_id: PLATFORM.clientId, response_type: 'code', redirect_uri: PLATFORM.redirectUri, scope,
      code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'bench', ...extra,
    }).toString();
    return url;
  }

  /** Walks the pages (sign-in and consent when shown) and returns the code. */
  async authorize(scope: string, person: Person, extra: Record<string, string> = {}): Promise<string> {
    const callback = await signInAndConsent(this.#browser, this.authorizationUrl(scope, extra), person);
    return codeOf(callback);
  }

  /** `count` codes, straight from the authorization endpoint (signed in, consent remembered: no page in between). */
  async mintCodes(count: number): Promise<string[]> {
    const url = this.authorizationUrl(PLATFORM.scope).href;
    const cookie = await this.#browser.jar.getCookieString(url);
    const codes: string[] = [];
    const worker = async () => {
      while (codes.length < count) {
        const response = await fetch(url, { redirect: 'manual', headers: { cookie } });
        codes.push(codeOf(new URL(response.headers.get('location') ?? 'about:blank', url)));
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return codes.slice(0, count);
  }

  /** Redeems a code; returns the token response. */
  async redeem(code: string): Promise<{ access_token: string; refresh_token?: string; id_token: string }> {
    const response = await fetch(new URL(this.target.endpoints.token, this.target.url), {
      method: 'POST',
      headers: { authorization: BASIC, 'content-type': FORM },
      body: redemptionBody(code),
    });
    if (!response.ok) throw new Error(`${this.target.name}: code redemption answered ${response.status} ${await response.text()}`);
    return await response.json() as { access_token: string; refresh_token?: string; id_token: string };
  }
}

function codeOf(callback: URL): string {
  const code = callback.searchParams.get('code');
  if (!code || callback.href.split('?')[0] !== PLATFORM.redirectUri) throw new Error(`no code in ${callback.origin}${callback.pathname}: ${callback.searchParams.get('error') ?? ''}`);
  return code;
}

export function redemptionBody(code: string): string {
  return new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: PLATFORM.redirectUri, code_verifier: VERIFIER }).toString();
}

export type Scenario = 'discovery' | 'jwks' | 'token' | 'refresh' | 'userinfo' | 'introspection';
export const SCENARIOS: Scenario[] = ['discovery', 'jwks', 'token', 'refresh', 'userinfo', 'introspection'];

/** What the token-consuming scenarios draw from; each scenario takes what it needs before its run. */
export interface Supplies {
  codes: string[];
  /** Requests sent after `codes` or `refreshTokens` ran out (each fails with invalid_grant: the bench's doing, not the server's). */
  ranOut: number;
  refreshTokens: string[];
  /** Brings the refresh-token pool up to `count`. */
  refillRefreshTokens(count: number): Promise<void>;
  accessTokens: string[];
  /** Replaces the access tokens (they live 10 minutes: a longer run renews them). */
  renewAccessTokens(): Promise<void>;
}

export function requestsFor(scenario: Scenario, target: Target, supplies: Supplies): autocannon.Request[] {
  const { endpoints } = target;
  let next = 0;
  const nextAccessToken = () => supplies.accessTokens[next++ % supplies.accessTokens.length]!;
  const ranOut = () => {
    supplies.ranOut += 1;
    return 'supply-exhausted';
  };
  switch (scenario) {
    case 'discovery':
      return [{ method: 'GET', path: '/.well-known/openid-configuration' }];
    case 'jwks':
      return [{ method: 'GET', path: endpoints.jwks }];
    case 'token':
      return [{
        method: 'POST', path: endpoints.token, headers: { authorization: BASIC, 'content-type': FORM },
        // A spent supply sends a code that cannot work: it shows as failed requests rather than stopping the run.
        setupRequest: (request) => ({ ...request, body: redemptionBody(supplies.codes.pop() ?? ranOut()) }),
      }];
    case 'refresh':
      // Each refresh rotates the token: the new one goes back in the pool for the next request.
      return [{
        method: 'POST', path: endpoints.token, headers: { authorization: BASIC, 'content-type': FORM },
        setupRequest: (request) => ({ ...request, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: supplies.refreshTokens.shift() ?? ranOut() }).toString() }),
        onResponse: (status, body) => {
          if (status === 200) supplies.refreshTokens.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
        },
      }];
    case 'userinfo':
      return [{ method: 'GET', path: endpoints.userinfo, setupRequest: (request) => ({ ...request, headers: { authorization: `Bearer ${nextAccessToken()}` } }) }];
    case 'introspection':
      return [{
        method: 'POST', path: endpoints.introspection, headers: { authorization: BASIC, 'content-type': FORM },
        setupRequest: (request) => ({ ...request, body: `token=${nextAccessToken()}` }),
      }];
  }
}

/**
 * One bounded autocannon run at fixed concurrency; `onTick` sees the requests answered each second. A 2xx answer
 * counts as served only if `accepts` agrees (introspection answers 200 `{"active":false}` for a dead token).
 */
export async function run(target: Target, requests: autocannon.Request[], options: { connections: number; seconds: number; onTick?: (count: number) => void; accepts?: (body: string) => boolean }): Promise<Sample> {
  let second = 0;
  let rejected = 0;
  let firstFailure: string | undefined;
  const watched = requests.map((request): autocannon.Request => ({
    ...request,
    onResponse: (status, body, context, headers) => {
      const served = status >= 200 && status < 300;
      const accepted = served && (options.accepts?.(body) ?? true);
      if (served && !accepted) rejected += 1;
      if (!accepted) firstFailure ??= `${status} ${body.slice(0, 200)}`;
      if (typeof request.onResponse === 'function') request.onResponse(status, body, context, headers);
    },
  }));
  const ticker = setInterval(() => { options.onTick?.(second); second = 0; }, 1000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: target.url, connections: options.connections, duration: options.seconds, requests: watched }, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', () => { second += 1; });
  }).finally(() => clearInterval(ticker));
  const ok = result['2xx'] - rejected;
  return {
    rps: ok / result.duration, p50: result.latency.p50, p99: result.latency.p99, ok,
    failed: result.non2xx + result.errors + result.timeouts + rejected, ...(firstFailure ? { firstFailure } : {}),
  };
}

/** What a served answer must say, per scenario (the status alone cannot tell for introspection). */
export const ACCEPTS: Partial<Record<Scenario, (body: string) => boolean>> = {
  introspection: (body) => (JSON.parse(body) as { active?: boolean }).active === true,
};

/**
 * Access tokens for userinfo and introspection (renewable), and a refillable pool of refresh tokens (offline_access needs the
 * consent page: prompt=consent). A refresh run loses the tokens of the requests still in flight when it ends, so the
 * pool is refilled before each run.
 */
export async function prepareSupplies(session: PlatformSession, person: BenchPerson, sms: SmsSink): Promise<Supplies> {
  const asPerson = { identifier: person.networkNumber, password: PASSWORD, oneTimeCode: () => sms.take(person.phone) };
  const mintAccessTokens = async () => Promise.all((await session.mintCodes(256)).map(async (code) => (await session.redeem(code)).access_token));
  const supplies: Supplies = {
    codes: [],
    ranOut: 0,
    refreshTokens: [],
    accessTokens: await mintAccessTokens(),
    async renewAccessTokens() {
      supplies.accessTokens = await mintAccessTokens();
    },
    async refillRefreshTokens(count) {
      while (supplies.refreshTokens.length < count) {
        const code = await session.authorize(`${PLATFORM.scope} offline_access`, asPerson, { prompt: 'consent' });
        const tokens = await session.redeem(code);
        if (!tokens.refresh_token) throw new Error(`${session.target.name} issued no refresh token`);
        supplies.refreshTokens.push(tokens.refresh_token);
      }
    },
  };
  return supplies;
}
