// The fapi2 security profile and the sender-constrained tokens behind it, as a bank or a government service
// would integrate them with openid-client: PAR + DPoP + private_key_jwt, the same client refused without PAR
// or without DPoP, DPoP-bound tokens refused at userinfo without their proof or with another key, mTLS-bound
// tokens (RFC 8705, certificate forwarded by the proxy as RFC 9440 Client-Cert), and JAR and optional DPoP for
// a baseline platform.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { generate } from 'selfsigned';
import { FormBrowser } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import { continueToPlatform, PLATFORM_A, type Person } from './support/platform.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const BANK = { clientId: 'bank-fapi', redirectUri: 'http://localhost:4100/callback' };
const BANK_MTLS = { clientId: 'bank-mtls', redirectUri: 'http://localhost:4101/callback' };
const GOV_JAR = { clientId: 'gov-jar', redirectUri: 'http://localhost:4102/callback' };

let provider: RunningProvider;
let dataDir: string;
let adult: Person;
let clientKey: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  dataDir = tempDataDir();
  // CYBERID_PROXY: the test plays the TLS-terminating proxy that forwards a verified client certificate.
  provider = await startProvider(dataDir, { CYBERID_PROXY: 'true' });
  adult = { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
  clientKey = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = path.join(dataDir, 'bank-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(clientKey.publicKey)), kid: 'bank-1', alg: 'ES256', use: 'sig' }] }));
  const mtlsFile = path.join(dataDir, 'bank-mtls.json');
  writeFileSync(mtlsFile, JSON.stringify({ tls_client_certificate_bound_access_tokens: true }));
  const common = ['--scope', 'openid verified', '--minimum-acr', 'cyberid:loa1', '--jwks-file', jwksFile];
  for (const args of [
    ['--id', BANK.clientId, '--name', 'Bank', '--redirect-uri', BANK.redirectUri, '--profile', 'fapi2'],
    ['--id', BANK_MTLS.clientId, '--name', 'Bank (mTLS)', '--redirect-uri', BANK_MTLS.redirectUri, '--profile', 'fapi2', '--from-file', mtlsFile],
    ['--id', GOV_JAR.clientId, '--name', 'Government service', '--redirect-uri', GOV_JAR.redirectUri],
  ]) {
    const added = await cyberid(dataDir, 'clients', 'add', ...args, ...common);
    expect([added.code, added.err]).toEqual([0, '']);
  }
});

afterAll(async () => {
  await provider?.stop();
  removeDataDir(dataDir);
});

async function configFor(clientId: string, extraHeaders: Record<string, string> = {}): Promise<oidc.Configuration> {
  const config = await oidc.discovery(new URL(provider.url), clientId, undefined, oidc.PrivateKeyJwt({ key: clientKey.privateKey, kid: 'bank-1' }), { execute: [oidc.allowInsecureRequests] });
  if (Object.keys(extraHeaders).length) {
    config[oidc.customFetch] = (url, options) => fetch(url, { ...options, headers: { ...Object.fromEntries(new Headers(options.headers)), ...extraHeaders } } as RequestInit);
  }
  return config;
}

/** PKCE, state and a redirect URI: what every authorization request here carries. */
async function requestParams(redirectUri: string) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const params = { redirect_uri: redirectUri, scope: 'openid verified', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state };
  return { verifier, state, params };
}

/** The person signs in and consents in a fresh browser; returns where the platform was sent. */
async function personApproves(url: URL): Promise<URL> {
  const browser = new FormBrowser(provider.url);
  return continueToPlatform(browser, await browser.open(url), adult);
}

async function errorOf(response: Response): Promise<[number, string]> {
  return [response.status, ((await response.json()) as { error: string }).error];
}

describe('a fapi2 client (PAR + DPoP + private_key_jwt)', () => {
  let dpopKey: oidc.CryptoKeyPair;
  let accessToken: string;

  it('completes PAR, sign-in and a DPoP-bound code redemption, and the response carries iss', async () => {
    const config = await configFor(BANK.clientId);
    dpopKey = await oidc.randomDPoPKeyPair('ES256');
    const DPoP = oidc.getDPoPHandle(config, dpopKey);
    const { verifier, state, params } = await requestParams(BANK.redirectUri);
    const url = await oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const callback = await personApproves(url);
    expect(callback.searchParams.get('iss')).toBe(provider.url); // RFC 9207

    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect(tokens.claims()?.acr).toBe('cyberid:loa1');
    accessToken = tokens.access_token;
    const userinfo = await oidc.fetchUserInfo(config, accessToken, tokens.claims()!.sub, { DPoP });
    expect(userinfo.identity_verified).toBe(true);
  });

  it('binds the access token to the DPoP key: refused at userinfo without a proof, as a bearer token, or with another key', async () => {
    const config = await configFor(BANK.clientId);
    const userinfo = `${provider.url}/me`;
    const bearer = await fetch(userinfo, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(bearer.status).toBe(401);
    const noProof = await fetch(userinfo, { headers: { authorization: `DPoP ${accessToken}` } });
    expect(await errorOf(noProof)).toEqual([400, 'invalid_request']);

    const otherKey = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(oidc.fetchUserInfo(config, accessToken, oidc.skipSubjectCheck, { DPoP: otherKey })).rejects.toMatchObject({ status: 401 });
    // The right key still works, so the refusals above were about the binding.
    await expect(oidc.fetchUserInfo(config, accessToken, oidc.skipSubjectCheck, { DPoP: oidc.getDPoPHandle(config, dpopKey) })).resolves.toHaveProperty('sub');
  });

  it('refuses the same client without PAR', async () => {
    const config = await configFor(BANK.clientId);
    const { params } = await requestParams(BANK.redirectUri);
    const response = await fetch(oidc.buildAuthorizationUrl(config, params), { redirect: 'manual' });
    const location = new URL(response.headers.get('location') ?? '', provider.url);
    expect(location.origin + location.pathname).toBe(BANK.redirectUri);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    // Said in words a developer can act on (oidc-provider's own line only says PAR "must be used").
    expect(location.searchParams.get('error_description')).toBe('this client must use pushed authorization requests (PAR): POST the request to the pushed_authorization_request_endpoint first, then send only client_id and the request_uri it returns to the authorization endpoint');
  });

  it('refuses the same client without DPoP at the token endpoint, whether or not PAR carried a proof', async () => {
    const config = await configFor(BANK.clientId);
    const unbound = await requestParams(BANK.redirectUri);
    const unboundCallback = await personApproves(await oidc.buildAuthorizationUrlWithPAR(config, unbound.params));
    await expect(oidc.authorizationCodeGrant(config, unboundCallback, { pkceCodeVerifier: unbound.verifier, expectedState: unbound.state }))
      .rejects.toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^this client's tokens are sender-constrained with DPoP: send a DPoP proof/) });

    // A code bound to a DPoP key at PAR (dpop_jkt) cannot be redeemed without a proof either.
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const request = await requestParams(BANK.redirectUri);
    const callback = await personApproves(await oidc.buildAuthorizationUrlWithPAR(config, request.params, { DPoP }));
    await expect(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state }))
      .rejects.toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^this client's tokens are sender-constrained with DPoP: send a DPoP proof/) });
  });

  it('refuses a client secret for a fapi2 client, naming the field', async () => {
    const refused = await cyberid(dataDir, 'clients', 'add', '--id', 'bank-secret', '--name', 'Bank', '--redirect-uri', BANK.redirectUri,
      '--scope', 'openid', '--profile', 'fapi2', '--auth', 'client_secret_basic');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/token_endpoint_auth_method: must be private_key_jwt for the fapi2 profile/);
  });

  it('advertises what fapi2 clients need in discovery', async () => {
    const metadata = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata).toMatchObject({
      authorization_response_iss_parameter_supported: true,
      tls_client_certificate_bound_access_tokens: true,
    });
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt']));
    expect(metadata.request_parameter_supported).toBe(true);
  });
});

describe('a fapi2 client with mTLS-bound tokens (certificate forwarded by the proxy)', () => {
  const certificate = async (name: string) => {
    const { cert } = await generate([{ name: 'commonName', value: name }], { keySize: 2048, algorithm: 'sha256' });
    return `:${Buffer.from(new X509Certificate(cert).raw).toString('base64')}:`;
  };
  let bankCert: string;
  let accessToken: string;

  it('issues a token bound to the certificate the token request came with', async () => {
    bankCert = await certificate('bank.example');
    const config = await configFor(BANK_MTLS.clientId, { 'client-cert': bankCert });
    const { verifier, state, params } = await requestParams(BANK_MTLS.redirectUri);
    const callback = await personApproves(await oidc.buildAuthorizationUrlWithPAR(config, params));
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.token_type).toBe('bearer');
    accessToken = tokens.access_token;
    const introspection = await oidc.tokenIntrospection(config, accessToken);
    expect(introspection).toMatchObject({ active: true, cnf: { 'x5t#S256': expect.any(String) } });
  });

  it('refuses the token at userinfo without the certificate or with another one', async () => {
    const userinfo = (cert?: string) => fetch(`${provider.url}/me`, { headers: { authorization: `Bearer ${accessToken}`, ...(cert ? { 'client-cert': cert } : {}) } });
    expect(await errorOf(await userinfo())).toEqual([401, 'invalid_token']);
    expect(await errorOf(await userinfo(await certificate('someone-else.example')))).toEqual([401, 'invalid_token']);
    expect((await userinfo(bankCert)).status).toBe(200);
  });

  it('refuses a Client-Cert header that is not a certificate, and a code redemption without the certificate', async () => {
    const garbage = await fetch(`${provider.url}/me`, { headers: { authorization: `Bearer ${accessToken}`, 'client-cert': ':bm90IGEgY2VydGlmaWNhdGU=:' } });
    expect(await errorOf(garbage)).toEqual([400, 'invalid_request']);
    const { verifier, state, params } = await requestParams(BANK_MTLS.redirectUri);
    const callback = await personApproves(await oidc.buildAuthorizationUrlWithPAR(await configFor(BANK_MTLS.clientId, { 'client-cert': bankCert }), params));
    await expect(oidc.authorizationCodeGrant(await configFor(BANK_MTLS.clientId), callback, { pkceCodeVerifier: verifier, expectedState: state }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('PAR, JAR and DPoP for every platform', () => {
  it('accepts a signed request object (JAR) from a baseline private_key_jwt platform', async () => {
    const config = await configFor(GOV_JAR.clientId);
    const { verifier, state, params } = await requestParams(GOV_JAR.redirectUri);
    const url = await oidc.buildAuthorizationUrlWithJAR(config, params, { key: clientKey.privateKey, kid: 'bank-1' });
    expect(url.searchParams.get('request')).toMatch(/^ey/);
    const callback = await personApproves(url);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.token_type).toBe('bearer');
  });

  it('lets a baseline platform use PAR and DPoP when it chooses to', async () => {
    const config = await oidc.discovery(new URL(provider.url), PLATFORM_A.clientId, undefined, oidc.ClientSecretBasic(PLATFORM_A.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const { verifier, state, params } = await requestParams(PLATFORM_A.redirectUri);
    const callback = await personApproves(await oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP }));
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    // Without DPoP the same platform still gets a bearer token: DPoP is its choice.
    const plain = await requestParams(PLATFORM_A.redirectUri);
    const plainCallback = await personApproves(oidc.buildAuthorizationUrl(config, plain.params));
    expect((await oidc.authorizationCodeGrant(config, plainCallback, { pkceCodeVerifier: plain.verifier, expectedState: plain.state })).token_type).toBe('bearer');
  });
});
