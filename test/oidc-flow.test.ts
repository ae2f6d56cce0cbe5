// The foundation end to end: the real server over HTTP, openid-client as the platform, the real sign-in
// and consent forms, and a restart on the same data directory.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { FormBrowser, expectPage, expectRedirect } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, signIn, PLATFORM_A, PLATFORM_B, PLATFORM_C, redeem, signInAndConsent, type Person } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const ADULT_BIRTHDATE = '1988-03-15'; // server/identity/simulation/registry.json, sim-0001

let provider: RunningProvider;
let dataDir: string;
let adult: Person;

beforeAll(async () => {
  dataDir = tempDataDir();
  provider = await startProvider(dataDir);
  adult = { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
});

afterAll(async () => {
  await provider?.stop();
  removeDataDir(dataDir);
});

describe('discovery and keys', () => {
  it('advertises pairwise subjects, the code flow with S256 PKCE, every claim and every acr', async () => {
    const metadata = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata.subject_types_supported).toEqual(['pairwise']);
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining([
      'sub', 'identity_verified', 'identity_verified_at', 'document_type', 'age_over_14', 'age_over_18',
      'name', 'birthdate', 'gender', 'phone_number', 'phone_number_verified', 'id_document_number', 'acr', 'amr', 'auth_time',
    ]));
    expect(metadata.acr_values_supported).toEqual(['cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'verified', 'age', 'profile', 'phone', 'id_document', 'offline_access']));
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['ES256', 'EdDSA']);
  });

  it('publishes public signing keys only', async () => {
    const { keys } = await (await fetch(`${provider.url}/jwks`)).json() as { keys: Record<string, string>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA']);
    for (const key of keys) {
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
    }
  });
});

describe('the code flow with PKCE at platform A', () => {
  let subAtA: string;
  let refreshToken: string;

  it('signs the adult in through the real forms and returns exactly the consented claims', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age profile phone offline_access', prompt: 'consent' });
    const browser = new FormBrowser(provider.url);
    const callback = await signInAndConsent(browser, request.url, adult);
    const tokens = await redeem(config, request, callback);

    // The ID token verifies against the published JWKS with the default ES256.
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${provider.url}/jwks`)), { issuer: provider.url, audience: PLATFORM_A.clientId });
    expect(protectedHeader.alg).toBe('ES256');
    subAtA = payload.sub!;
    expect(parseNetworkNumber(subAtA)).toBe(subAtA);
    expect(subAtA).not.toBe(parseNetworkNumber(provider.adult.networkNumber)); // the personal number never leaves
    expect(payload.acr).toBe('cyberid:loa1');
    expect(payload.amr).toEqual(['pwd']);

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, subAtA);
    expect(userinfo).toEqual({
      sub: subAtA,
      identity_verified: true,
      identity_verified_at: expect.any(Number),
      document_type: 'resident_id_card',
      age_over_14: true,
      age_over_18: true,
      name: '李明',
      birthdate: ADULT_BIRTHDATE,
      gender: 'male',
      phone_number: '+8613800138000',
      phone_number_verified: true,
    });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    refreshToken = tokens.refresh_token!;
  });

  it('gives the same person another sub at platform B (another sector) and the same sub at C (A\'s sector)', async () => {
    const browser = new FormBrowser(provider.url);
    const configB = await discover(provider.url, PLATFORM_B);
    const requestB = await authorizationRequest(configB, PLATFORM_B, { scope: 'openid verified' });
    const subAtB = (await redeem(configB, requestB, await signInAndConsent(browser, requestB.url, adult))).claims()!.sub;

    const configC = await discover(provider.url, PLATFORM_C);
    const requestC = await authorizationRequest(configC, PLATFORM_C, { scope: 'openid age' });
    // Same browser: the session is reused, only consent for C is asked.
    const subAtC = (await redeem(configC, requestC, await signInAndConsent(browser, requestC.url, adult))).claims()!.sub;

    expect(parseNetworkNumber(subAtB)).toBe(subAtB);
    expect(subAtB).not.toBe(subAtA);
    expect(subAtC).toBe(subAtA);
  });

  it('remembers consent across sessions: a new browser signs in without the consent page', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age' });
    const browser = new FormBrowser(provider.url);
    const callback = expectRedirect(await signIn(browser, request.url, adult));
    const tokens = await redeem(config, request, callback);
    expect(tokens.claims()!.sub).toBe(subAtA);
    expect(tokens.scope?.split(' ').sort()).toEqual(['age', 'openid', 'verified']);
  });

  it('keeps the sub and honours refresh tokens after a restart on the same data directory', async () => {
    // Same ports: the issuer is the same, and A's sector is the demo site's host, port included.
    const ports = { PORT: new URL(provider.url).port, CYBERID_DEMO_SITE_PORT: demoSitePort(provider.stdout()) };
    await provider.stop();
    provider = await startProvider(dataDir, ports);

    const config = await discover(provider.url, PLATFORM_A);
    const refreshed = await oidc.refreshTokenGrant(config, refreshToken);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(refreshToken); // rotated
    const userinfo = await oidc.fetchUserInfo(config, refreshed.access_token, subAtA);
    expect(userinfo.sub).toBe(subAtA);
    // The rotated-out token is spent.
    await expect(oidc.refreshTokenGrant(config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });

    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const tokens = await redeem(config, request, await signInAndConsent(new FormBrowser(provider.url), request.url, adult));
    expect(tokens.claims()!.sub).toBe(subAtA);
  });
});

describe('consent', () => {
  it('leaves an unticked optional claim out of the ID token and userinfo, even when asked for in the claims parameter', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, {
      scope: 'openid verified profile',
      prompt: 'consent',
      claims: JSON.stringify({ id_token: { gender: null, name: null }, userinfo: { gender: null } }),
    });
    const browser = new FormBrowser(provider.url);
    const consentPage = expectPage(await signIn(browser, request.url, { ...adult, identifier: provider.adult.phone }));
    const offered = consentPage.doc.querySelectorAll('input[name=claims]').map((input) => input.getAttribute('value'));
    expect(offered).toEqual(['identity_verified', 'identity_verified_at', 'document_type', 'name', 'birthdate', 'gender']);
    // identity_verified is required by platform A's policy: ticked and locked.
    const required = consentPage.doc.querySelector('input[value=identity_verified]')!;
    expect(required.hasAttribute('checked') && required.hasAttribute('disabled')).toBe(true);

    const shared = ['identity_verified_at', 'name']; // document_type, birthdate and gender unticked
    const tokens = await redeem(config, request, expectRedirect(await browser.submit(consentPage, '/consent', { claims: shared })));
    const idToken = tokens.claims()!;
    expect(idToken.name).toBe('李明');
    expect(idToken).not.toHaveProperty('gender');
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
    expect(Object.keys(userinfo).sort()).toEqual(['identity_verified', 'identity_verified_at', 'name', 'sub']);
  });

  it('reports a scope whose claims were all unticked as not granted', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified phone', prompt: 'consent' });
    const browser = new FormBrowser(provider.url);
    const consentPage = expectPage(await signIn(browser, request.url, adult));
    // Consent is remembered for this person at A from earlier tests: only the phone claims are new.
    const offered = consentPage.doc.querySelectorAll('input[name=claims]').map((input) => input.getAttribute('value'));
    expect(offered).toEqual(expect.arrayContaining(['phone_number', 'phone_number_verified']));
    const tokens = await redeem(config, request, expectRedirect(await browser.submit(consentPage, '/consent', { claims: offered.filter((c) => !c!.startsWith('phone')) as string[] })));
    expect(tokens.scope?.split(' ')).not.toContain('phone');
    expect(tokens.scope?.split(' ')).toContain('verified');
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo).not.toHaveProperty('phone_number');
    expect(userinfo).not.toHaveProperty('phone_number_verified');
    expect(userinfo.identity_verified).toBe(true);
  });

  it('refuses a claims parameter naming a claim outside the platform\'s policy, before anyone signs in', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid', claims: JSON.stringify({ userinfo: { id_document_number: { essential: true } } }) });
    const callback = expectRedirect(await new FormBrowser(provider.url).open(request.url));
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toContain('id_document_number');
  });

  it('sends access_denied to the redirect URI when the person refuses', async () => {
    const config = await discover(provider.url, PLATFORM_B);
    const request = await authorizationRequest(config, PLATFORM_B, { scope: 'openid verified id_document', prompt: 'consent' });
    const browser = new FormBrowser(provider.url);
    const consentPage = expectPage(await signIn(browser, request.url, adult));
    expect(consentPage.html).toContain('Exam registration rules, art. 12'); // the legal basis of the restricted claim
    const callback = expectRedirect(await browser.submit(consentPage, '/consent', {}, '/abort'));
    expect(callback.origin + callback.pathname).toBe(PLATFORM_B.redirectUri);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.state);
    await expect(redeem(config, request, callback)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('requires an explicit tick for a required restricted claim, then releases it', async () => {
    const config = await discover(provider.url, PLATFORM_B);
    const request = await authorizationRequest(config, PLATFORM_B, { scope: 'openid verified id_document', prompt: 'consent' });
    const browser = new FormBrowser(provider.url);
    const consentPage = expectPage(await signIn(browser, request.url, adult));
    const restricted = consentPage.doc.querySelector('input[value=id_document_number]')!;
    expect(restricted.hasAttribute('checked')).toBe(false);

    const again = expectPage(await browser.submit(consentPage, '/consent'));
    expect(again.status).toBe(400);
    expect(again.doc.querySelector('#error-id_document_number')).not.toBeNull();

    const tokens = await redeem(config, request, expectRedirect(await browser.submit(again, '/consent', { claims: ['id_document_number'] })));
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.id_document_number).toBe('110105198803151232');
  });
});

describe('remembered consent across devices', () => {
  it('survives signing out on another device: each session has its own grant', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const first = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
    const phone = new FormBrowser(provider.url);
    const { refresh_token: refreshToken } = await redeem(config, first, await signInAndConsent(phone, first.url, adult));

    const laptop = new FormBrowser(provider.url);
    const second = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    await redeem(config, second, expectRedirect(await signIn(laptop, second.url, adult))); // remembered: no consent page
    const confirm = expectPage(await laptop.open(`${provider.url}/session/end?client_id=${PLATFORM_A.clientId}`));
    const signedOut = expectPage(await laptop.submit(confirm, '/session/end/confirm', { logout: 'yes' }));
    expect(signedOut.html).toContain('You are signed out');

    const refreshed = await oidc.refreshTokenGrant(config, refreshToken!);
    expect(refreshed.access_token).toEqual(expect.any(String));
  });

  it('lets the person change an earlier answer when the platform asks for the consent page again', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const first = await authorizationRequest(config, PLATFORM_A, { scope: 'openid profile', prompt: 'consent' });
    await redeem(config, first, await signInAndConsent(new FormBrowser(provider.url), first.url, adult, { claims: ['name', 'birthdate'] }));

    const again = await authorizationRequest(config, PLATFORM_A, { scope: 'openid profile', prompt: 'consent' });
    const browser = new FormBrowser(provider.url);
    const consentPage = expectPage(await signIn(browser, again.url, adult));
    const boxes = Object.fromEntries(consentPage.doc.querySelectorAll('input[name=claims]').map((i) => [i.getAttribute('value'), i.hasAttribute('checked')]));
    expect(boxes).toEqual({ name: true, birthdate: true, gender: false }); // the earlier refusal is shown as it stands
    const tokens = await redeem(config, again, expectRedirect(await browser.submit(consentPage, '/consent', { claims: ['name', 'gender'] })));
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.gender).toBe('male');
    expect(userinfo).not.toHaveProperty('birthdate');
  });
});

describe('bad input', () => {
  it('answers a request without PKCE with invalid_request at the redirect URI', async () => {
    const url = new URL(`${provider.url}/auth`);
    url.search = new URLSearchParams({ client_id: PLATFORM_A.clientId, redirect_uri: PLATFORM_A.redirectUri, response_type: 'code', scope: 'openid', state: 'abc' }).toString();
    const callback = expectRedirect(await new FormBrowser(provider.url).open(url));
    expect(callback.origin + callback.pathname).toBe(PLATFORM_A.redirectUri);
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('shows an error page, and never redirects, for an unregistered redirect URI', async () => {
    const url = new URL(`${provider.url}/auth`);
    url.search = new URLSearchParams({ client_id: PLATFORM_A.clientId, redirect_uri: 'https://attacker.example/steal', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGtSFhtS8c', code_challenge_method: 'S256' }).toString();
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html', 'accept-language': 'en' } });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    const html = await response.text();
    expect(html).toContain('invalid_redirect_uri');
    expect(html).toContain('has not registered');
    expect(html).not.toMatch(/\bat .+\.(js|ts):\d+/); // no stack trace
  });

  it('shows the form again after a wrong password, with no session, and the same interaction still works', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const browser = new FormBrowser(provider.url);
    const retry = expectPage(await signIn(browser, request.url, { ...adult, password: 'not the password' }));
    expect(retry.status).toBe(401);
    expect(retry.doc.querySelector('#identifier-error')?.text).toBe('The network number, phone number or password is not correct.');
    expect(retry.doc.querySelector('#identifier')?.getAttribute('aria-invalid')).toBe('true');
    expect(retry.doc.querySelector('#identifier')?.getAttribute('value')).toBe(adult.identifier);
    expect(await browser.cookieNames(`${provider.url}/auth`)).not.toContain('_session');

    const callback = await continueToPlatform(browser, { kind: 'page', page: retry }, adult);
    expect((await redeem(config, request, callback)).claims()!.acr).toBe('cyberid:loa1');
  });

  it('meets an essential acr by asking for the code, and states the level asked for', async () => {
    const config = await discover(provider.url, PLATFORM_A); // policy minimum loa1
    for (const [acr, stated, amr] of [
      [{ essential: true, value: 'cyberid:loa2' }, 'cyberid:loa2', ['pwd', 'otp', 'sms', 'mfa']],
      [{ essential: true, values: ['cyberid:loa2', 'cyberid:loa3'] }, 'cyberid:loa2', ['pwd', 'otp', 'sms', 'mfa']],
      [{ essential: true, values: ['cyberid:loa1'] }, 'cyberid:loa1', ['pwd']],
    ] as const) {
      const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid', claims: JSON.stringify({ id_token: { acr } }) });
      const callback = await signInAndConsent(new FormBrowser(provider.url), request.url, adult);
      const claims = (await redeem(config, request, callback)).claims()!;
      expect([acr, claims.acr, claims.amr]).toEqual([acr, stated, amr]);
    }
  });

  it('answers an essential acr below the platform\'s policy minimum with unmet_authentication_requirements, without a login loop', async () => {
    const config = await discover(provider.url, PLATFORM_B); // policy minimum loa2
    for (const acr of [{ essential: true, value: 'cyberid:loa1' }, { essential: true, values: ['cyberid:loa1'] }, { essential: true, values: [] }]) {
      const request = await authorizationRequest(config, PLATFORM_B, { scope: 'openid', claims: JSON.stringify({ id_token: { acr } }) });
      const callback = expectRedirect(await new FormBrowser(provider.url).open(request.url));
      expect([acr, callback.searchParams.get('error')]).toEqual([acr, 'unmet_authentication_requirements']);
      expect(callback.searchParams.get('state')).toBe(request.state);
    }
  });

  it('refuses a form posted without its CSRF token, with a page that says what to do', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const browser = new FormBrowser(provider.url);
    const refused = expectPage(await signIn(browser, request.url, adult, { csrf: 'forged' }));
    expect(refused.status).toBe(403);
    expect(refused.html).toContain('not sent from this page');

    // The consent form and the refusal button check it too.
    const consentRequest = await authorizationRequest(config, PLATFORM_A, { scope: 'openid', prompt: 'consent' });
    const consentPage = expectPage(await signIn(browser, consentRequest.url, adult));
    expect(expectPage(await browser.submit(consentPage, '/consent', { csrf: 'forged' })).status).toBe(403);
    expect(expectPage(await browser.submit(consentPage, '/consent', { csrf: 'forged' }, '/abort')).status).toBe(403);
    // Nothing was decided: the genuine form still works.
    expect((await redeem(config, consentRequest, expectRedirect(await browser.submit(consentPage, '/consent')))).claims()!.sub).toEqual(expect.any(String));
  });
});

function demoSitePort(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.includes('"msg":"listening"'))!;
  return new URL((JSON.parse(line) as { demoSite: string }).demoSite).port;
}
