// A platform integrating "Sign in with Cyber ID" with openid-client, the way an integrator would.
import * as oidc from 'openid-client';
import type { FormBrowser, Outcome, Page } from './browser.ts';
import { expectPage, expectRedirect } from './browser.ts';

export interface PlatformRegistration {
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
}

/** The demo platforms of clients.example.json. */
export const PLATFORM_A: PlatformRegistration = { clientId: 'platform-a', clientSecret: 'platform-a-development-secret-change-me', redirectUri: 'http://localhost:4001/callback' };
export const PLATFORM_B: PlatformRegistration = { clientId: 'platform-b', clientSecret: 'platform-b-development-secret-change-me', redirectUri: 'http://localhost:4002/callback' };
export const PLATFORM_C: PlatformRegistration = { clientId: 'platform-c', redirectUri: 'http://localhost:4003/callback' };

export async function discover(issuer: string, platform: PlatformRegistration): Promise<oidc.Configuration> {
  const auth = platform.clientSecret ? oidc.ClientSecretBasic(platform.clientSecret) : oidc.None();
  // The test provider runs on http://localhost; a production issuer is https.
  return oidc.discovery(new URL(issuer), platform.clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

export interface AuthorizationRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authorizationRequest(config: oidc.Configuration, platform: PlatformRegistration, params: Record<string, string>): Promise<AuthorizationRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: platform.redirectUri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

export async function redeem(config: oidc.Configuration, request: AuthorizationRequest, callback: URL) {
  return oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  });
}

export interface Person {
  identifier: string;
  password: string;
  /** Reads the one-time code sent by SMS (from the simulated outbox), for platforms that need two factors. */
  oneTimeCode?: () => string | undefined;
}

/**
 * Walks the real pages from `start`: signs in if a sign-in form is shown (with the SMS code when asked for
 * one), consents with `consent`
 * overriding the form's fields (e.g. `{ claims: [...] }`) if a consent form is shown, and returns where
 * the platform was sent.
 */
export async function continueToPlatform(browser: FormBrowser, start: Outcome, person: Person, consent: Record<string, string | string[]> = {}): Promise<URL> {
  let outcome = start;
  if (outcome.kind === 'page' && outcome.page.doc.querySelector('input[name=password]')) {
    outcome = await browser.submit(outcome.page, '/login', { identifier: person.identifier, password: person.password });
  }
  outcome = await enterCodeIfAsked(browser, outcome, person);
  if (outcome.kind === 'page' && outcome.page.doc.querySelector('form[action$="/consent"]')) {
    outcome = await browser.submit(expectPage(outcome), '/consent', consent);
  }
  return expectRedirect(outcome);
}

/** Opens the authorization URL in `browser`, submits the sign-in form (and the SMS code if asked); returns whatever comes next. */
export async function signIn(browser: FormBrowser, url: URL, person: Person, extra: Record<string, string> = {}): Promise<Outcome> {
  const login = expectPage(await browser.open(url));
  const outcome = await browser.submit(login, '/login', { identifier: person.identifier, password: person.password, ...extra });
  return enterCodeIfAsked(browser, outcome, person);
}

async function enterCodeIfAsked(browser: FormBrowser, outcome: Outcome, person: Person): Promise<Outcome> {
  if (outcome.kind !== 'page' || !outcome.page.doc.querySelector('form[action$="/code"]')) return outcome;
  const code = person.oneTimeCode?.();
  if (!code) throw new Error('the platform needs a one-time code, and none was found for this person');
  return browser.submit(outcome.page, '/code', { code });
}

export async function signInAndConsent(browser: FormBrowser, url: URL, person: Person, consent: Record<string, string | string[]> = {}): Promise<URL> {
  return continueToPlatform(browser, await browser.open(url), person, consent);
}

/** Signs in to the portal at `start` (password and SMS code, as far as the session needs); returns the page it lands on. */
export async function portalSignIn(browser: FormBrowser, issuer: string, person: Person, start = '/account'): Promise<Page> {
  let page = expectPage(await browser.open(new URL(start, issuer)));
  if (page.doc.querySelector('form[action$="/login"]')) page = expectPage(await browser.submit(page, '/login', { identifier: person.identifier, password: person.password }));
  if (page.doc.querySelector('form[action$="/code"]')) page = expectPage(await browser.submit(page, '/code', { code: person.oneTimeCode!()! }));
  return page;
}
