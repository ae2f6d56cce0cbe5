// Issue 20, items 7, 4, 3 and 2, against the real server: no bearer-like path segment in the access log; every
// language switch stays on this origin, whatever the path; only the issuer's host is served, and discovery and JWKS
// say how long they may be cached; proxy headers are believed only from the trusted proxies, and the client is the
// right-most X-Forwarded-For entry that is not one of them.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'node-html-parser';
import * as oidc from 'openid-client';
import { believeForwardedHeaders, TrustedProxies } from '../server/forwarded.ts';
import { FormBrowser, expectPage } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_C, redeem, type Person } from './support/platform.ts';
import { readQrSvg } from './support/qr.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with exactly these headers and this path (fetch would neither send a foreign Host nor keep `//` paths). */
function raw(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: url.port, path, method, headers: { host: url.host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const started: RunningProvider[] = [];
async function provider(env: Record<string, string> = {}): Promise<RunningProvider> {
  const running = await startProvider(tempDataDir(), env);
  started.push(running);
  return running;
}
afterAll(async () => {
  for (const running of started) {
    await running.stop();
    removeDataDir(running.dataDir);
  }
});

describe('the development server (CYBERID_PROXY=true: loopback is the trusted proxy)', () => {
  let server: RunningProvider;
  beforeAll(async () => {
    server = await provider({ CYBERID_PROXY: 'true' });
  }, 60_000);

  it('logs no scan token and no interaction uid: only route templates (item 7)', async () => {
    const adult: Person = { identifier: server.adult.phone, password: server.adult.password, oneTimeCode: () => lastCodeSentTo(server.dataDir, server.adult.phone) };
    // A phone signed in at loa2 (platform C asks for the SMS code too).
    const phone = new FormBrowser(server.url);
    const signInC = await authorizationRequest(await discover(server.url, PLATFORM_C), PLATFORM_C, { scope: 'openid' });
    await redeem(await discover(server.url, PLATFORM_C), signInC, await continueToPlatform(phone, await phone.open(signInC.url), adult));
    // A desktop shows the sign-in page with its QR code; the phone opens the code's link.
    const desktop = new FormBrowser(server.url);
    const request = await authorizationRequest(await discover(server.url, PLATFORM_A), PLATFORM_A, { scope: 'openid' });
    const login = expectPage(await desktop.open(request.url));
    expect(login.status).toBe(200);
    const scanUrl = new URL(readQrSvg(login.doc.querySelector('img.qr')!.getAttribute('src')!));
    const token = scanUrl.pathname.split('/').at(-1)!;
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const ask = expectPage(await phone.open(scanUrl));
    expect(ask.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the log lines of the last requests

    const log = server.stdout();
    expect(token.length).toBeGreaterThan(20);
    expect(uid.length).toBeGreaterThan(10);
    expect(log.includes(token)).toBe(false);
    expect(log.includes(uid)).toBe(false);
    const routes = log.split('\n').filter((line) => line.includes('"msg":"request"')).map((line) => (JSON.parse(line) as { route?: string }).route);
    expect(routes).toEqual(expect.arrayContaining(['/scan/:token', '/interaction/:uid/login']));
    // Paths without values are still logged as they were.
    await fetch(`${server.url}/healthz`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.stdout()).toMatch(/"path":"\/healthz"/);
  }, 60_000);

  it('keeps every link of the language switch on this origin, whatever the path (item 4)', async () => {
    const hostile = ['//attacker.example/x', '/.//attacker.example/x', '/x/..//attacker.example/x', '/\\attacker.example/x', '/.\\\\attacker.example',
      '/%2F%2Fattacker.example', '/%5C%5Cattacker.example', '///attacker.example', '/enrol?next=//attacker.example'];
    const origin = new URL(server.url).origin;
    for (const path of hostile) {
      const response = await raw(server.url, path, { accept: 'text/html' });
      expect([path, response.headers['content-type']]).toEqual([path, expect.stringMatching(/^text\/html/)]);
      const links = parse(response.body).querySelectorAll('a[href]').map((a) => a.getAttribute('href')!);
      const switchLink = parse(response.body).querySelector('a.lang-switch')?.getAttribute('href');
      expect([path, switchLink]).toEqual([path, expect.stringMatching(/^\/(?![/\\])/)]);
      for (const href of links) {
        expect([path, href, new URL(href, `${origin}${path.startsWith('/') ? '' : '/'}`).origin]).toEqual([path, href, origin]);
        expect([path, href]).toEqual([path, expect.not.stringMatching(/^\s*[/\\]{2}|^\/\\|^[a-z]+:/i)]);
      }
    }
  });

  it('refuses a foreign Host or X-Forwarded-Host with 421: JSON for platforms, a page for people; health endpoints answer (item 3)', async () => {
    const port = new URL(server.url).port;
    const json = { accept: 'application/json' };
    const foreignHost = await raw(server.url, '/.well-known/openid-configuration', { ...json, host: 'attacker.example' });
    expect(foreignHost.status).toBe(421);
    expect(JSON.parse(foreignHost.body)).toEqual({ error: 'misdirected_request', error_description: `this server answers only for ${server.url}` });
    const viaProxy = await raw(server.url, '/.well-known/openid-configuration', { ...json, 'x-forwarded-host': 'attacker.example' });
    expect(viaProxy.status).toBe(421);
    expect(viaProxy.body).not.toContain('https://attacker.example');
    const firstEntry = await raw(server.url, '/.well-known/openid-configuration', { 'x-forwarded-host': `attacker.example, localhost:${port}` });
    expect(firstEntry.body).not.toContain('attacker.example');
    const otherPort = await raw(server.url, '/jwks', { host: `localhost:${Number(port) + 1}` });
    expect(otherPort.status).toBe(421);
    const otherScheme = await raw(server.url, '/.well-known/openid-configuration', { 'x-forwarded-proto': 'https' });
    expect(otherScheme.status).toBe(421);
    const page = await raw(server.url, '/enrol', { host: 'attacker.example', accept: 'text/html' });
    expect(page.status).toBe(421);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain(server.url);
    for (const path of ['/healthz', '/readyz']) expect([path, (await raw(server.url, path, { host: 'attacker.example' })).status]).toEqual([path, 200]);
  });

  it('answers for the issuer, and in development for 127.0.0.1 and [::1] on its port, always naming the issuer', async () => {
    const port = new URL(server.url).port;
    for (const host of [new URL(server.url).host, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      const response = await raw(server.url, '/.well-known/openid-configuration', { host });
      expect([host, response.status]).toEqual([host, 200]);
      const discovery = JSON.parse(response.body) as Record<string, unknown>;
      expect([host, discovery.issuer, discovery.token_endpoint]).toEqual([host, server.url, `${server.url}/token`]);
    }
  });

  it('the logout page says the platform has signed the person out and asks about Cyber ID too (item 14 wording, both languages)', async () => {
    const adult: Person = { identifier: server.adult.phone, password: server.adult.password };
    for (const [lang, said, yes, no] of [
      ['en', 'Platform A · City Services has signed you out.', 'Yes, sign out of Cyber ID too', 'No, stay signed in to Cyber ID'],
      ['zh-CN', 'Platform A · City Services已让您退出登录。', '是，同时退出网络身份认证', '否，保持登录网络身份认证'],
    ] as const) {
      const browser = new FormBrowser(server.url, lang);
      const config = await discover(server.url, PLATFORM_A);
      const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
      const tokens = await redeem(config, request, await continueToPlatform(browser, await browser.open(request.url), adult));
      const confirm = expectPage(await browser.open(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://localhost:4001/' })));
      expect(confirm.status).toBe(200);
      expect(confirm.doc.querySelector('p.lead')?.text).toContain(said);
      expect(confirm.doc.querySelectorAll('button[form="op.logoutForm"]').map((button) => button.text.trim())).toEqual([yes, no]);
    }
  });

  it('lets discovery and JWKS be cached for five minutes, well inside the day a new signing key is published before it signs', async () => {
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const response = await fetch(`${server.url}${path}`);
      expect([path, response.status, response.headers.get('cache-control')]).toEqual([path, 200, 'public, max-age=300']);
    }
  });
});

/** Twenty-five wrong passwords at unknown phone numbers, each request from `forwardedFor(attempt)`: the statuses. */
async function spray(server: RunningProvider, forwardedFor: (attempt: number) => string): Promise<number[]> {
  const config = await discover(server.url, PLATFORM_A);
  const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
  const statuses: number[] = [];
  for (let attempt = 1; attempt <= 25; attempt += 1) {
    const browser = new FormBrowser(server.url, 'en', { 'x-forwarded-for': forwardedFor(attempt) });
    const page = expectPage(await browser.open(request.url));
    statuses.push(expectPage(await browser.submit(page, '/login', { identifier: `1380013${String(8000 + attempt)}`, password: 'Password-123' })).status);
  }
  return statuses;
}

describe('trusted proxies (item 2)', () => {
  it('ignores X-Forwarded-For from a peer that is not a trusted proxy: the lockout counts the real address', async () => {
    const server = await provider({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: '192.0.2.10, 10.20.0.0/16' });
    const statuses = await spray(server, (attempt) => `198.51.100.${attempt}`);
    // Twenty failures lock the one real address (127.0.0.1), whatever the caller wrote.
    expect(statuses.slice(0, 19)).toEqual(Array(19).fill(401));
    expect(statuses.slice(19)).toEqual(Array(6).fill(429));
  }, 60_000);

  it('takes the client from the right-most X-Forwarded-For entry that is not a trusted proxy', async () => {
    const server = await provider({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: '127.0.0.1, ::1, 10.0.0.0/8' });
    // The client 198.51.100.99 went through a second proxy inside 10.0.0.0/8, whose address changes per request.
    const statuses = await spray(server, (attempt) => `203.0.113.${attempt}, 198.51.100.99, 10.1.0.${attempt}`);
    expect(statuses.slice(0, 19)).toEqual(Array(19).fill(401));
    expect(statuses.slice(19)).toEqual(Array(6).fill(429));
  }, 60_000);

  it('binds no token to a Client-Cert sent by a peer that is not a trusted proxy: the redemption is refused as without one', async () => {
    // Loopback (this test) is not the proxy here, so whatever certificate it forwards is nobody's.
    const server = await provider({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: '192.0.2.10' });
    const bank = { clientId: 'bank-mtls', redirectUri: 'http://localhost:4101/callback' };
    const key = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = path.join(server.dataDir, 'bank-jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'bank-1', alg: 'ES256', use: 'sig' }] }));
    const mtlsFile = path.join(server.dataDir, 'bank-mtls.json');
    writeFileSync(mtlsFile, JSON.stringify({ tls_client_certificate_bound_access_tokens: true }));
    const added = await cyberid(server.dataDir, 'clients', 'add', '--id', bank.clientId, '--name', 'Bank (mTLS)', '--redirect-uri', bank.redirectUri,
      '--profile', 'fapi2', '--from-file', mtlsFile, '--scope', 'openid', '--minimum-acr', 'cyberid:loa1', '--jwks-file', jwksFile);
    expect([added.code, added.err]).toEqual([0, '']);
    const { cert } = await generate([{ name: 'commonName', value: 'bank.example' }], { keySize: 2048, algorithm: 'sha256' });
    const clientCert = `:${Buffer.from(new X509Certificate(cert).raw).toString('base64')}:`;
    const config = await oidc.discovery(new URL(server.url), bank.clientId, undefined, oidc.PrivateKeyJwt({ key: key.privateKey, kid: 'bank-1' }), { execute: [oidc.allowInsecureRequests] });
    config[oidc.customFetch] = (url, options) => fetch(url, { ...options, headers: { ...Object.fromEntries(new Headers(options.headers)), 'client-cert': clientCert } } as RequestInit);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, { redirect_uri: bank.redirectUri, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const browser = new FormBrowser(server.url);
    const callback = await continueToPlatform(browser, await browser.open(url), { identifier: server.adult.phone, password: server.adult.password });
    await expect(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({ error: 'invalid_grant' });
  }, 60_000);
});

describe('which forwarded headers are believed (unit)', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
  const rewrite = (peer: string, headers: Record<string, string>) => {
    const req = { headers: { ...headers }, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
    believeForwardedHeaders(req, proxies);
    return req.headers;
  };
  const forwarded = { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-host': 'id.example.cn', 'x-forwarded-proto': 'https', 'client-cert': ':AAAA:', forwarded: 'for=1.2.3.4', host: 'id.example.cn' };

  it('removes X-Forwarded-*, Forwarded and Client-Cert from a peer that is not a trusted proxy', () => {
    expect(rewrite('203.0.113.5', forwarded)).toEqual({ host: 'id.example.cn' });
    expect(rewrite('::ffff:127.0.0.1', forwarded)).toEqual({ host: 'id.example.cn' });
  });

  it('from a trusted proxy keeps Client-Cert and reads the client and its host and scheme at the first untrusted hop', () => {
    expect(rewrite('::ffff:10.0.0.5', forwarded)).toEqual({ ...forwarded, forwarded: undefined });
    expect(rewrite('10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 198.51.100.1, 10.9.9.9', 'x-forwarded-host': 'evil.example, id.example.cn, internal.lb', 'x-forwarded-proto': 'http, https, http' }))
      .toEqual({ 'x-forwarded-for': '198.51.100.1', 'x-forwarded-host': 'id.example.cn', 'x-forwarded-proto': 'https' });
    expect(rewrite('fd00::1', { 'x-forwarded-for': '10.1.1.1, 192.0.2.1' })).toEqual({ 'x-forwarded-for': '10.1.1.1' });
    expect(rewrite('10.0.0.5', { 'x-forwarded-host': 'a.example, id.example.cn' })).toEqual({ 'x-forwarded-host': 'id.example.cn' });
  });
});
