// Decoupled sign-in (CIBA, poll mode) end to end: a counter platform registered by the operator CLI starts a
// request with the network number the person tells the clerk and a binding message; openid-client polls; the
// person opens the SMS link on their phone, where they are signed in to Cyber ID, sees the platform, the
// message and what it will receive, and approves (tokens) or declines (access_denied). Nobody else can answer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { generate } from 'selfsigned';
import { FormBrowser, expectPage, type Page } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import type { Person } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const COUNTER = 'city-hall-counter';

let provider: RunningProvider;
let dataDir: string;
let config: oidc.Configuration;
let clientAssertion: oidc.ClientAuth;
let platformKeys: Server;

/**
 * The counter platform's key server: OpenID CIBA makes a pairwise platform authenticate with private_key_jwt
 * and a jwks_uri (whose host is the sector of its network numbers). Served over HTTPS on loopback with a
 * self-signed certificate the provider is told to trust (NODE_EXTRA_CA_CERTS), as a developer would.
 */
async function startPlatformKeys(dir: string): Promise<{ jwksUri: string; caFile: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  clientAssertion = oidc.PrivateKeyJwt({ key: privateKey, kid: 'counter-1' });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'counter-1', alg: 'ES256', use: 'sig' }] });
  const tls = await generate([{ name: 'commonName', value: 'counter platform' }], { keyType: 'ec', curve: 'P-256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
  platformKeys = createServer({ key: tls.private, cert: tls.cert }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise<void>((resolve) => platformKeys.listen(0, '127.0.0.1', resolve));
  const caFile = path.join(dir, 'counter-ca.pem');
  writeFileSync(caFile, tls.cert);
  return { jwksUri: `https://127.0.0.1:${(platformKeys.address() as AddressInfo).port}/jwks`, caFile };
}

beforeAll(async () => {
  dataDir = tempDataDir();
  const { jwksUri, caFile } = await startPlatformKeys(dataDir);
  provider = await startProvider(dataDir, { NODE_EXTRA_CA_CERTS: caFile });
  // A CIBA-only platform: no redirect URI, no browser of its own.
  const added = await cyberid(dataDir, 'clients', 'add', '--id', COUNTER, '--name', 'City Hall counter', '--scope', 'openid verified age', '--grant-type', 'ciba', '--jwks-uri', jwksUri);
  expect([added.code, added.err]).toEqual([0, '']);
  config = await oidc.discovery(new URL(provider.url), COUNTER, undefined, clientAssertion, { execute: [oidc.allowInsecureRequests] });
});

afterAll(async () => {
  await provider?.stop();
  platformKeys?.close();
  removeDataDir(dataDir);
});

const person = (who: 'adult' | 'minor'): Person => ({
  identifier: provider[who].networkNumber, password: provider[who].password, oneTimeCode: () => lastCodeSentTo(dataDir, provider[who].phone),
});

/** The person's phone: signed in to the Cyber ID portal with password and SMS code (loa2). */
async function signedInPhone(who: Person): Promise<FormBrowser> {
  const phone = new FormBrowser(provider.url);
  let page = expectPage(await phone.open(new URL('/account', provider.url)));
  page = expectPage(await phone.submit(page, '/login', { identifier: who.identifier, password: who.password }));
  page = expectPage(await phone.submit(page, '/code', { code: who.oneTimeCode!()! }));
  expect(page.status).toBe(200);
  return phone;
}

/** The approval link in the latest SMS to `phone`, as the person taps it. */
function linkSentTo(phone: string): { url: URL; text: string } {
  const national = phone.replace(/\D/g, '').slice(-11);
  const messages = readFileSync(path.join(dataDir, 'sms-outbox.jsonl'), 'utf8').trim().split('\n')
    .map((line) => JSON.parse(line) as { to: string; text: string })
    .filter((message) => message.to.replace(/\D/g, '').endsWith(national));
  const text = messages.at(-1)!.text;
  return { url: new URL(text.match(/https?:\/\/\S+\/scan\/[A-Za-z0-9_-]+/)![0]), text };
}

async function startRequest(params: Record<string, string>) {
  return oidc.initiateBackchannelAuthentication(config, { scope: 'openid verified age', login_hint: provider.adult.networkNumber, ...params });
}

/** One poll, without openid-client's waiting, to see the pending and refused states. */
async function pollOnce(authReqId: string): Promise<{ error?: string }> {
  return oidc.genericGrantRequest(config, 'urn:openid:params:grant-type:ciba', { auth_req_id: authReqId }).then(() => ({}), (error: { error?: string }) => ({ error: error.error }));
}

const heading = (page: Page) => page.doc.querySelector('h1')?.text.trim();

describe('decoupled sign-in (CIBA, poll mode)', () => {
  it('is advertised in discovery', async () => {
    const metadata = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata).toMatchObject({
      backchannel_authentication_endpoint: `${provider.url}/backchannel`,
      backchannel_token_delivery_modes_supported: ['poll'],
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['urn:openid:params:grant-type:ciba']));
  });

  it('is approved on the person\'s phone, and the platform\'s poll then receives tokens', async () => {
    const phone = await signedInPhone(person('adult'));
    const started = await startRequest({ binding_message: 'Counter 3 #4711' });
    expect(started.auth_req_id).toBeTruthy();
    expect(await pollOnce(started.auth_req_id)).toEqual({ error: 'authorization_pending' });

    const { url, text } = linkSentTo(provider.adult.phone);
    expect(text).toContain('City Hall counter');
    expect(text).toContain('Counter 3 #4711');
    const ask = expectPage(await phone.open(url));
    expect(heading(ask)).toBe('City Hall counter asks you to confirm it is you');
    expect(ask.doc.querySelector('.binding-message')?.text).toBe('Counter 3 #4711');
    expect(ask.doc.querySelectorAll('ul.releases li').map((li) => li.text.trim())).toEqual(expect.arrayContaining(['That your identity is verified']));

    const confirmed = expectPage(await phone.submit(ask, url.pathname, { decision: 'approve' }));
    expect([confirmed.status, heading(confirmed)]).toEqual([200, 'Confirmed']);

    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, { ...started, interval: 0 });
    const claims = tokens.claims()!;
    expect(claims.acr).toBe('cyberid:loa2');
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'sms']));
    expect(claims.sub).not.toContain(provider.adult.networkNumber.replace(/\s/g, ''));
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ identity_verified: true, age_over_18: true });

    // The link works once.
    const again = expectPage(await phone.open(url));
    expect([again.status, heading(again)]).toEqual([410, 'This code has expired or was already used']);
  });

  it('gives the platform access_denied when the person declines', async () => {
    const phone = await signedInPhone(person('adult'));
    const started = await startRequest({ binding_message: 'Counter 5' });
    const { url } = linkSentTo(provider.adult.phone);
    const declined = expectPage(await phone.submit(expectPage(await phone.open(url)), url.pathname, { decision: 'decline' }));
    expect(heading(declined)).toBe('Declined');
    expect(await pollOnce(started.auth_req_id)).toEqual({ error: 'access_denied' });
  });

  it('lets only the named person answer, and only when signed in', async () => {
    await startRequest({ binding_message: 'Counter 7' });
    const { url } = linkSentTo(provider.adult.phone);
    const stranger = new FormBrowser(provider.url);
    const signedOut = expectPage(await stranger.open(url));
    expect([signedOut.status, heading(signedOut)]).toEqual([401, 'Sign in on this device first']);
    const someoneElse = await signedInPhone(person('minor'));
    const notTheirs = expectPage(await someoneElse.open(url));
    expect([notTheirs.status, heading(notTheirs)]).toEqual([410, 'This code has expired or was already used']);
  });

  it('refuses what it cannot act on with the CIBA error codes', async () => {
    const refusal = (params: Record<string, string>) => startRequest(params).then(() => undefined, (error: { error?: string }) => error.error);
    expect(await refusal({ login_hint: 'AAAA BBBB CCCC DDDD' })).toBe('unknown_user_id');
    expect(await refusal({ binding_message: 'x'.repeat(41) })).toBe('invalid_binding_message');
    expect(await refusal({ binding_message: 'line\nbreak' })).toBe('invalid_binding_message');
    expect(await refusal({ login_hint_token: 'eyJhbGciOiJub25lIn0.e30.' , login_hint: '' })).toBe('invalid_request');
    expect(await refusal({ scope: 'openid phone' })).toBe('invalid_scope');
  });

  it('logged no errors along the way', () => {
    expect(provider.stdout().split('\n').filter((line) => line.includes('"level":50'))).toEqual([]);
  });

  it('is refused to a platform that did not register the CIBA grant', async () => {
    const platformA = await oidc.discovery(new URL(provider.url), 'platform-a', undefined, oidc.ClientSecretBasic('platform-a-development-secret-change-me'), { execute: [oidc.allowInsecureRequests] });
    await expect(oidc.initiateBackchannelAuthentication(platformA, { scope: 'openid', login_hint: provider.adult.networkNumber }))
      .rejects.toMatchObject({ error: 'invalid_request' });
  });
});
