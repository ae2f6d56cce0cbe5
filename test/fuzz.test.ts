// Issue 8: a property-based fuzz run (fast-check) over every endpoint and form of the real server. Each route gets
// hostile requests built from a plausible one — parameters dropped, replaced, duplicated and renamed, bodies
// malformed, wrong content types, 1 MB bodies, Unicode, NUL and control characters, JWT-shaped garbage and really
// signed JWTs with random claims, garbage Authorization, DPoP, Client-Cert and cookies, path traversal — sent in
// real contexts (a live interaction at each sign-in step, a signed-in portal, an enrolment at each step, an
// operator's token, a CIBA platform's assertion) with valid and forged CSRF tokens. Every answer must be below 500,
// in the endpoint's standard shape (a JSON `{error, error_description?}` from the OAuth/OIDC endpoints and the JSON
// APIs, an HTML page from people's pages) and free of stack traces; the server must log no error while fuzzed.
// What every route shares (methods nobody serves, Content-Encoding, forged proxy headers, malformed HTTP) has a
// property of its own, so that one cause fails one test.
//
// The server runs as `npm start` runs it (node server/main.ts, embedded store, demo data), behind a trusted proxy
// (CYBERID_PROXY=true, as production requires), so X-Forwarded-For spreads the cases over many addresses (throttling
// would otherwise end the run's depth after 20 wrong passwords) and the proxy's headers are fuzzed too.
//
// Cases are counted per route and printed with the statuses they got, and the seed: FUZZ_SEED=<seed> replays a run,
// FUZZ_RUNS=<n> changes the number of cases per route (default 100). A failure prints fast-check's counterexample,
// the request as curl, the answer and the server's log lines for it.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { generate } from 'selfsigned';
import { FormBrowser, expectPage, type Page } from './support/browser.ts';
import { cyberid } from './support/cli.ts';
import {
  build, caseArb, contentEncodingArb, curlOf, fuzzKeys, headBytes, hostileString, proxyHeadersArb, jwtGarbage, MAX_HEAD_BYTES, METHODS, PATH_NOISES, problemsWith, send, sendRaw, signedJwt,
  type Case, type HeaderSpec, type Kind, type ParamSpec, type PathChoices, type Resolver, type Value, type WireRequest, type WireResponse,
} from './support/fuzz.ts';
import { authorizationRequest, discover, PLATFORM_A, PLATFORM_B, redeem, signIn, signInAndConsent, type Person } from './support/platform.ts';
import { readQrSvg } from './support/qr.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_508);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const PER_ROUTE_TIMEOUT = 180_000;

const A_CALLBACK = PLATFORM_A.redirectUri;
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGtSFhtS8c';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

let provider: RunningProvider;
let dataDir: string;
let base: URL;
let discovery: Record<string, unknown>;
/** Run-time values the cases refer to by name (tokens, ids), shared by every route. */
const refs: Record<string, string> = {};
/** References made afresh each time (a client assertion with a new jti). */
const dynamicRefs: Record<string, () => Promise<string>> = {};
const COUNTER = 'fuzz-counter';
let platformKeys: Server | undefined;
const counts = new Map<string, number>();
/** Statuses seen per route: how deep the cases got (a route answered only 403 never got past its CSRF check). */
const statuses = new Map<string, Map<string, number>>();
let serial = 0;
let fuzzStartedAt = 0;
const startedMs = Date.now();

// ---- contexts: the browsers, enrolments and tokens requests are sent in ------------------------------------

interface ContextOptions {
  browser?: FormBrowser;
  cookieHeader?: string;
  csrf?: string;
  refs?: Record<string, string>;
  refresh?: (context: FuzzContext) => Promise<void>;
  /** Refresh before every n-th use (e.g. 1: a fresh one each time). */
  every?: number;
}

class FuzzContext {
  readonly name: string;
  browser: FormBrowser | undefined;
  cookieHeader: string | undefined;
  csrf: string | undefined;
  readonly refs: Record<string, string>;
  readonly refresh: ((context: FuzzContext) => Promise<void>) | undefined;
  readonly every: number | undefined;
  /** Used up by the last answer (its interaction finished, say): refreshed before the next use. */
  stale = false;
  uses = 0;

  constructor(name: string, options: ContextOptions) {
    this.name = name;
    this.browser = options.browser;
    this.cookieHeader = options.cookieHeader;
    this.csrf = options.csrf;
    this.refs = options.refs ?? {};
    this.refresh = options.refresh;
    this.every = options.every;
  }

  async ready(): Promise<void> {
    const due = this.every !== undefined && this.uses % this.every === 0;
    this.uses += 1;
    if (this.refresh && (this.stale || due)) {
      await this.refresh(this);
      this.stale = false;
    }
  }

  async cookies(path: string): Promise<string> {
    if (this.cookieHeader !== undefined) return this.cookieHeader;
    if (!this.browser) return '';
    // The cookies a browser would send to this URL (bent and hostile paths match what they match).
    const url = URL.parse(path, base.href) ?? base;
    return this.browser.jar.getCookieString(url.href);
  }
}

const contexts: Record<string, FuzzContext> = {};

function resolverFor(context: FuzzContext | undefined): Resolver {
  const other = context?.name === 'identify' ? contexts.portal : contexts.identify;
  return {
    ref: (name) => context?.refs[name] ?? refs[name] ?? dynamicRefs[name]?.(),
    cookies: (path) => (context ? context.cookies(path) : Promise.resolve('')),
    csrf: context?.csrf,
    otherCsrf: other?.csrf,
    hmacSecret: PLATFORM_A.clientSecret!,
  };
}

// ---- routes --------------------------------------------------------------------------------------------------

interface Route {
  method: string;
  /** A path, with `:name` parameters. */
  path: string;
  kind: Kind;
  body?: 'form' | 'json' | 'none';
  fields?: ParamSpec;
  query?: ParamSpec;
  pathParams?: Record<string, PathChoices>;
  headers?: HeaderSpec;
  /** The contexts a case may be sent in (cookies, CSRF token, references); none for the platforms' endpoints. */
  contexts?: string[];
  csrf?: { field: string } | 'header';
  runs?: number;
  /** Cases never to send (e.g. the confirmation that deletes the account the other routes use). */
  unsafe?: (c: Case) => boolean;
  /** Ends the session or the flow its context stands for: bent paths that would still reach it are not tried. */
  ending?: boolean;
  /** Sees each answer (to keep a rotated token, say). */
  after?: (response: WireResponse, context: FuzzContext | undefined) => void;
}

const routeId = (route: Route) => `${route.method} ${route.path}`;

const ref = (name: string): fc.Arbitrary<Value> => fc.constant({ ref: name });
const oneOf = (...values: Value[]): fc.Arbitrary<Value> => fc.constantFrom(...values);
const json = (...values: unknown[]): fc.Arbitrary<Value> => fc.constantFrom(...values.map((value) => ({ json: value })));
const jwt = (): fc.Arbitrary<Value> => fc.oneof(jwtGarbage() as fc.Arbitrary<Value>, signedJwt());
const digits = (n: number): fc.Arbitrary<Value> => fc.integer({ min: 0, max: 10 ** n - 1 }).map((v) => String(v).padStart(n, '0'));

const clientIds = oneOf('platform-a', 'platform-b', 'platform-c', 'platform-d', 'cyberid-account', 'fuzz-operator', COUNTER, { ref: 'dcrClientId' }, 'PLATFORM-A', 'platform-a ');
const redirectUris = oneOf(A_CALLBACK, PLATFORM_B.redirectUri, `${A_CALLBACK}?x=1`, `${A_CALLBACK}#f`, 'http://localhost:4001', 'https://localhost:4001/callback',
  'http://localhost:4001/callback/../evil', 'http://evil.example/callback', { ref: 'portalCallback' }, 'http://LOCALHOST:4001/callback');
const scopes = oneOf('openid', 'openid verified', 'openid verified age profile phone offline_access', 'openid id_document', 'verified', 'openid openid',
  'openid clients:read', 'clients:read clients:write keys:write audit:read', 'openid x', 'offline_access');
const resources = oneOf({ ref: 'adminResource' }, 'https://127.0.0.1:1/', 'urn:x', '', 'http://localhost:4001/', 'not a url');
const claimsParameter: fc.Arbitrary<Value> = fc.oneof(
  fc.constantFrom('{}', 'null', '[]', '"x"', '{"id_token":null}', '{"userinfo":{"id_document_number":{"essential":true}}}', '{"id_token":{"acr":{"essential":true,"values":["cyberid:loa3"]}}}',
    '{"id_token":{"acr":{"essential":true,"value":1}}}', '{"id_token":{"acr":{"values":"x"}}}', '{"id_token":{"acr":null}}', '{"id_token":{"__proto__":{"essential":true}}}',
    '{"id_token":{"name":{"essential":"yes"},"birthdate":null}}', '{"userinfo":{"sub":{"value":"x"}}}', '{"id_token":{"auth_time":{"essential":true}},"userinfo":[]}',
    '{"id_token":{"acr":{"essential":true,"values":[]}}}', '{"id_token":', '{"id_token":{"acr":{"essential":true,"values":[null,{}]}}}', '{"id_token":{"acr":{"essential":true,"value":"cyberid:loa3"}}}'),
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.dictionary(fc.constantFrom('id_token', 'userinfo', 'x'), fc.dictionary(fc.constantFrom('acr', 'name', 'sub', 'id_document_number', 'age_over_18', 'amr', 'x', '__proto__'),
    fc.oneof(fc.constant(null), fc.record({ essential: fc.oneof(fc.boolean(), fc.string()), value: fc.jsonValue({ maxDepth: 1 }), values: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] })),
    { maxKeys: 4 }), { maxKeys: 3 }).map((value) => JSON.stringify(value)),
);

const authorizationParams: ParamSpec = {
  base: { client_id: 'platform-a', redirect_uri: A_CALLBACK, response_type: 'code', scope: 'openid verified', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'fuzz-state', nonce: 'fuzz-nonce' },
  names: ['prompt', 'max_age', 'acr_values', 'claims', 'request', 'request_uri', 'login_hint', 'id_token_hint', 'ui_locales', 'claims_locales', 'response_mode', 'dpop_jkt',
    'resource', 'display', 'registration', 'authorization_details', 'lang', 'client_secret'],
  values: {
    client_id: clientIds,
    redirect_uri: redirectUris,
    response_type: oneOf('code', 'code id_token', 'token', 'none', 'id_token', 'code token', 'CODE'),
    scope: scopes,
    prompt: oneOf('none', 'login', 'consent', 'select_account', 'create', 'login consent', 'none login'),
    max_age: oneOf('0', '-1', 'abc', '1e10', '999999999999999999999'),
    acr_values: oneOf('cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3', 'cyberid:loa3 cyberid:loa1', 'urn:x', ''),
    claims: claimsParameter,
    request: jwt(),
    request_uri: fc.oneof(oneOf('urn:ietf:params:oauth:request_uri:x', 'https://127.0.0.1:1/r'), ref('parRequestUri')),
    id_token_hint: fc.oneof(ref('idToken'), jwt()),
    response_mode: oneOf('query', 'fragment', 'form_post', 'jwt', 'query.jwt', 'form_post.jwt', 'web_message'),
    ui_locales: oneOf('en', 'zh-CN', 'xx', '', 'en zh-CN'),
    login_hint: oneOf('13800138000', '+8613800138000', 'x'),
    resource: resources,
    code_challenge: oneOf(CHALLENGE, 'short', 'A'.repeat(129), ''),
    code_challenge_method: oneOf('S256', 'plain', 's256', ''),
    dpop_jkt: oneOf('x', 'A'.repeat(43)),
    authorization_details: json([{ type: 'x' }], '[', {}),
  },
  maxExtra: 5,
};

const clientAuth: HeaderSpec = { authorization: [ref('basicA'), ref('basicB'), ref('basicOperator'), ref('basicPortal')], dpop: true };

const tokenParams: ParamSpec = {
  base: { grant_type: 'authorization_code', code: 'fuzz-code', redirect_uri: A_CALLBACK, code_verifier: VERIFIER },
  names: ['refresh_token', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'resource', 'audience', 'device_code', 'auth_req_id',
    'subject_token', 'subject_token_type', 'assertion', 'logout_token', 'id_token_hint', 'dpop_jkt'],
  values: {
    grant_type: oneOf('authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:openid:params:grant-type:ciba',
      'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange', 'password', 'implicit'),
    refresh_token: fc.oneof(ref('refreshToken'), jwtGarbage() as fc.Arbitrary<Value>),
    code: fc.oneof(ref('accessToken'), oneOf('x', 'A'.repeat(43))),
    client_id: clientIds,
    client_secret: oneOf(PLATFORM_A.clientSecret!, 'x', ''),
    client_assertion: fc.oneof(ref('cibaAssertion'), jwt()),
    client_assertion_type: oneOf('urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'x'),
    scope: scopes,
    resource: resources,
    logout_token: jwt(),
    id_token_hint: fc.oneof(ref('idToken'), jwt()),
    code_verifier: oneOf(VERIFIER, 'short', 'A'.repeat(129), ''),
    auth_req_id: fc.oneof(ref('authReqId'), oneOf('x', '')),
  },
};

const tokenLookup: ParamSpec = {
  base: { token: { ref: 'accessToken' } },
  names: ['token_type_hint', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'],
  values: {
    token: fc.oneof(ref('accessToken'), ref('refreshToken'), ref('idToken'), ref('operatorToken'), jwtGarbage() as fc.Arbitrary<Value>),
    token_type_hint: oneOf('access_token', 'refresh_token', 'id_token', 'x'),
    client_id: clientIds,
    client_assertion: jwt(),
  },
};

const registrationMetadata: ParamSpec = {
  base: { redirect_uris: { json: ['https://rp.example/cb'] }, client_name: 'Fuzz RP', token_endpoint_auth_method: 'client_secret_basic' },
  names: ['jwks', 'jwks_uri', 'sector_identifier_uri', 'grant_types', 'response_types', 'scope', 'logo_uri', 'post_logout_redirect_uris', 'backchannel_logout_uri',
    'cyberid_policy', 'cyberid_operator', 'application_type', 'subject_type', 'id_token_signed_response_alg', 'default_max_age', 'require_auth_time',
    'request_object_signing_alg', 'client_id', 'client_secret', 'contacts', 'initiate_login_uri', 'dpop_bound_access_tokens', 'require_pushed_authorization_requests'],
  values: {
    redirect_uris: json([], 'x', ['x'], ['http://127.0.0.1:1/cb', 'https://other.example/cb'], ['https://rp.example/cb#f'], [null], [{}], [1], ['javascript:alert(1)'], Array(50).fill('https://rp.example/cb')),
    jwks: json({ keys: [] }, { keys: [{ kty: 'EC' }] }, { keys: 'x' }, [], { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'x' }] }),
    jwks_uri: oneOf('https://127.0.0.1:1/jwks', 'http://localhost:1/jwks', 'file:///etc/passwd'),
    sector_identifier_uri: oneOf('https://127.0.0.1:1/s.json', 'https://[::1]:1/s.json', 'http://127.0.0.1:1/s.json'),
    grant_types: json(['client_credentials'], ['implicit'], 'authorization_code', [], ['refresh_token']),
    response_types: json(['code'], ['token'], 'code', []),
    scope: scopes,
    token_endpoint_auth_method: oneOf('none', 'private_key_jwt', 'client_secret_post', 'client_secret_jwt', 'tls_client_auth', 'x'),
    cyberid_policy: json({}, { minimum_acr: 'cyberid:loa1' }, 'x', null),
    cyberid_operator: json({ scopes: ['keys:write'] }, { scopes: [] }, 'x'),
    application_type: oneOf('web', 'native', 'x'),
    subject_type: oneOf('public', 'pairwise', 'x'),
    id_token_signed_response_alg: oneOf('none', 'HS256', 'RS256', 'EdDSA', 'ES256'),
    default_max_age: json(-1, 'x', 1e308, 0),
    require_auth_time: json('yes', true, null),
    client_id: fc.oneof(ref('dcrClientId'), oneOf('platform-a')),
    backchannel_logout_uri: oneOf('http://127.0.0.1:1/bc', 'https://rp.example/bc#x'),
    post_logout_redirect_uris: json(['https://rp.example/'], 'x', [1]),
    contacts: json(['a@b'], 'x', [{}]),
  },
};

const webauthnAssertion: ParamSpec = {
  base: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { json: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA', userHandle: 'AAAA' } } },
  names: ['authenticatorAttachment', 'clientExtensionResults'],
  values: {
    type: oneOf('public-key', 'x', ''),
    response: json({}, [], 'x', { clientDataJSON: Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: 'x', origin: 'http://localhost' })).toString('base64url') },
      { clientDataJSON: '!!!', authenticatorData: '', signature: '' }, { clientDataJSON: 'A'.repeat(20_000) }),
    id: oneOf('', 'A'.repeat(2_000), '%%'),
  },
};

const passkeyRegistration: ParamSpec = {
  base: { response: { json: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'o2NmbXRkbm9uZQ' } } }, name: 'Fuzz key' },
  values: {
    response: json({}, 'x', [], { id: 'x', rawId: 'x', type: 'public-key', response: {} }, { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: '!', attestationObject: '' } }),
  },
};

const SIM = {
  documentTypes: ['resident_id_card', 'hmt_residence_permit', 'hk_macao_travel_permit', 'taiwan_travel_permit', 'foreign_permanent_resident_card', 'overseas_chinese_passport', 'passport', ''],
  numbers: ['110105199012072049', '110105198803151232', '810000199205051066', 'H12345678', '510107197501014016', '370202198306305012', '440305201409211112', '110105199012072048', 'EB7654321', '11010519901207204X'],
  names: ['王芳', '李明', 'ANNA SCHMIDT', '陈浩', 'Wang Fang'],
  dates: ['1990-12-07', '1988-03-15', '2014-09-21', '2038-12-07', '2025-01-01', '2099-01-01', '1990-02-30', '1990-13-01', '19901207'],
};
const documentFields: ParamSpec = {
  base: { document_type: 'resident_id_card', document_number: '110105199012072049', name: '王芳', birthdate: '1990-12-07', expires_on: '2038-12-07' },
  values: {
    document_type: oneOf(...SIM.documentTypes), document_number: oneOf(...SIM.numbers), name: oneOf(...SIM.names), birthdate: oneOf(...SIM.dates), expires_on: oneOf(...SIM.dates),
  },
};
const phones = oneOf('13700137099', '+8613700137098', '13800138000', '1370013709', '+1 555 0100', '+86 137 0013 7097', '137-0013-7096', '０１３７００１３７０９５');
const passwords = oneOf('Lantern-river-autumn-42', 'password', '12345678', 'a'.repeat(512), 'a'.repeat(513), 'CyberID-demo-adult', '王芳1990-12-07');
const decisions = oneOf('approve', 'decline', 'APPROVE', '');
const platforms = oneOf('platform-a', 'platform-b', 'platform-d', 'cyberid-account', 'nobody');
const bearer = (...names: string[]): HeaderSpec => ({ authorization: names.map((name) => ref(name)) });

const IDENTIFY = ['identify'];
const uid: Record<string, PathChoices> = { uid: { refs: ['uid'] } };
const ENROL_API_CONTEXTS = ['enrolApi:document', 'enrolApi:face', 'enrolApi:phone', 'enrolApi:code', 'enrolApi:password', 'enrolApi:done'];
const ENROL_WEB_CONTEXTS = ['enrolWeb:document', 'enrolWeb:face', 'enrolWeb:code'];
const operatorAuth = bearer('bearerOperator', 'bearerReader', 'bearerAccessToken', 'basicOperator');
const adminIds: PathChoices = { refs: ['dcrClientId'], literals: ['platform-d', 'platform-c', 'platform-a', 'cyberid-account', 'nobody'] };
const mutableIds: PathChoices = { refs: ['dcrClientId'], literals: ['platform-d', 'platform-c', 'nobody'] };

/** A used-up interaction: finished (back into oidc-provider or off to the platform). */
const interactionFinished = (response: WireResponse, context: FuzzContext | undefined) => {
  const location = String(response.headers.location ?? '');
  if (context && (/\/auth\/[^/?]+/.test(location) || location.startsWith('http://localhost:400'))) context.stale = true;
};

const ROUTES: Route[] = [
  // Operations and static files
  { method: 'GET', path: '/healthz', kind: 'json' },
  { method: 'GET', path: '/readyz', kind: 'json' },
  { method: 'GET', path: '/metrics', kind: 'text' },
  { method: 'GET', path: '/static/:file', kind: 'asset', pathParams: { file: { literals: ['cyberid.css', 'passkey.js', 'poll.js', 'webauthn.js', 'admission.js', 'scan.js'] } } },

  // OpenID Connect, as discovery advertises it
  { method: 'GET', path: '/.well-known/openid-configuration', kind: 'json' },
  { method: 'GET', path: '/jwks', kind: 'json' },
  { method: 'GET', path: '/auth', kind: 'html', query: authorizationParams, contexts: ['session', 'none'], runs: RUNS * 2 },
  // Resuming the interaction moves it on: the login page is made again afterwards.
  { method: 'GET', path: '/auth/:uid', kind: 'html', pathParams: uid, contexts: IDENTIFY, after: (_response, context) => { if (context) context.stale = true; } },
  { method: 'POST', path: '/request', kind: 'json', body: 'form', fields: { ...authorizationParams, names: [...authorizationParams.names!, 'client_assertion', 'client_assertion_type'] }, headers: clientAuth },
  { method: 'GET', path: '/me', kind: 'json', headers: bearer('bearerAccessToken', 'dpopAccessToken', 'bearerOperator'), query: { names: ['access_token'], values: { access_token: ref('accessToken') } } },
  { method: 'POST', path: '/me', kind: 'json', body: 'form', headers: bearer('bearerAccessToken', 'dpopAccessToken'), fields: { base: { access_token: { ref: 'accessToken' } } } },
  { method: 'POST', path: '/token/introspection', kind: 'json', body: 'form', fields: tokenLookup, headers: clientAuth },
  { method: 'POST', path: '/token', kind: 'json', body: 'form', fields: tokenParams, headers: clientAuth, after: keepTokens, runs: RUNS * 2 },
  { method: 'POST', path: '/token/revocation', kind: 'json', body: 'form', fields: tokenLookup, headers: clientAuth },
  { method: 'POST', path: '/backchannel', kind: 'json', body: 'form', headers: clientAuth,
    fields: {
      base: { client_id: COUNTER, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: { ref: 'cibaAssertion' }, scope: 'openid verified', login_hint: { ref: 'adultNetworkNumber' }, binding_message: 'Counter 7' },
      names: ['login_hint_token', 'id_token_hint', 'user_code', 'requested_expiry', 'acr_values', 'client_notification_token', 'request', 'ui_locales', 'resource', 'authorization_details'],
      values: {
        client_id: clientIds, client_assertion: fc.oneof(ref('cibaAssertion'), jwt()), scope: scopes, login_hint: fc.oneof(ref('adultNetworkNumber'), ref('minorNetworkNumber'), oneOf('0000-0000', '')),
        binding_message: oneOf('Counter 7', '窗口 7', 'x'.repeat(41), '<b>7</b>', '', '\u202e7'), requested_expiry: oneOf('0', '-1', '1e9', 'x', '30', '600'),
        request: jwt(), id_token_hint: fc.oneof(ref('idToken'), jwt()), login_hint_token: jwt(), acr_values: oneOf('cyberid:loa3', 'x'), ui_locales: oneOf('en', 'zh-CN', 'x'),
      },
    } },
  { method: 'POST', path: '/reg', kind: 'json', body: 'json', fields: registrationMetadata, headers: bearer('bearerIat', 'bearerRat', 'bearerOperator'), runs: RUNS * 2 },
  { method: 'GET', path: '/reg/:id', kind: 'json', pathParams: { id: mutableIds }, headers: bearer('bearerRat', 'bearerIat'), after: keepRegistrationToken },
  { method: 'PUT', path: '/reg/:id', kind: 'json', body: 'json', pathParams: { id: mutableIds }, fields: { ...registrationMetadata, base: { ...registrationMetadata.base, client_id: { ref: 'dcrClientId' }, client_secret: 'not-the-secret' } }, headers: bearer('bearerRat', 'bearerIat'), after: keepRegistrationToken, runs: RUNS * 2 },
  { method: 'DELETE', path: '/reg/:id', kind: 'json', pathParams: { id: mutableIds }, headers: bearer('bearerRat', 'bearerIat') },
  { method: 'GET', path: '/session/end', kind: 'html', contexts: ['endSession'], query: endSessionParams() },
  { method: 'POST', path: '/session/end/confirm', kind: 'html', body: 'form', contexts: ['endSessionConfirm'], csrf: { field: 'xsrf' }, fields: { base: { logout: 'yes' }, values: { logout: oneOf('yes', 'no', '') } }, ending: true, after: (response, context) => { if (context && response.status === 303) context.stale = true; } },
  { method: 'GET', path: '/session/end/success', kind: 'html', contexts: ['endSession'], query: { names: ['client_id', 'state'], values: { client_id: clientIds } } },

  // The interaction: sign-in, step-up, consent (a real interaction of platform A; the code and face steps of real sign-ins)
  { method: 'GET', path: '/interaction/:uid', kind: 'html', pathParams: uid, contexts: ['identify', 'consent', 'code', 'face'] },
  { method: 'GET', path: '/interaction/:uid/:step', kind: 'html', pathParams: { ...uid, step: { literals: ['login', 'code', 'face', 'consent', 'abort'], only: true } }, contexts: IDENTIFY },
  { method: 'POST', path: '/interaction/:uid/login', kind: 'html', body: 'form', pathParams: uid, contexts: IDENTIFY, csrf: { field: 'csrf' }, after: interactionFinished,
    fields: { base: { identifier: 'nobody@example', password: 'wrong-password' }, values: { identifier: oneOf('13800138000', '+8613800138000', 'X'.repeat(64), 'X'.repeat(65)), password: passwords } } },
  { method: 'POST', path: '/interaction/:uid/code', kind: 'html', body: 'form', pathParams: uid, contexts: ['code'], csrf: { field: 'csrf' }, fields: { base: { code: '000000' }, values: { code: digits(6) } } },
  { method: 'POST', path: '/interaction/:uid/code/resend', kind: 'html', body: 'form', pathParams: uid, contexts: ['code'], csrf: { field: 'csrf' } },
  { method: 'POST', path: '/interaction/:uid/face', kind: 'html', body: 'form', pathParams: uid, contexts: ['face'], csrf: { field: 'csrf' }, fields: { base: { subject: 'someone_else' }, values: { subject: oneOf('someone_else', 'printed_photo', 'OWN_FACE', '') } } },
  { method: 'POST', path: '/interaction/:uid/consent', kind: 'html', body: 'form', pathParams: uid, contexts: ['consent'], csrf: { field: 'csrf' }, after: interactionFinished,
    fields: { names: ['claims', 'offline_access'], values: { claims: oneOf('identity_verified', 'identity_verified_at', 'name', 'birthdate', 'phone_number', 'id_document_number', 'sub', 'x', '__proto__'), offline_access: oneOf('yes', 'no', '') }, maxExtra: 6 } },
  { method: 'POST', path: '/interaction/:uid/abort', kind: 'html', body: 'form', pathParams: uid, contexts: IDENTIFY, csrf: { field: 'csrf' }, after: interactionFinished, ending: true },
  { method: 'GET', path: '/interaction/:uid/admission', kind: 'json', pathParams: uid, contexts: ['consent', 'identify'] },
  { method: 'GET', path: '/interaction/:uid/scan', kind: 'json', pathParams: uid, contexts: IDENTIFY },
  { method: 'POST', path: '/interaction/:uid/passkey/options', kind: 'json', body: 'json', pathParams: uid, contexts: IDENTIFY, csrf: 'header' },
  { method: 'POST', path: '/interaction/:uid/passkey', kind: 'json', body: 'json', pathParams: uid, contexts: IDENTIFY, csrf: 'header', fields: webauthnAssertion },

  // The approving device (signed in to the portal at loa2): a login page's QR code (scan to sign in) or a CIBA request's SMS link
  { method: 'GET', path: '/scan/:token', kind: 'html', pathParams: { token: { refs: ['scanToken'] } }, contexts: ['scan', 'scanCiba'] },
  { method: 'POST', path: '/scan/:token', kind: 'html', body: 'form', pathParams: { token: { refs: ['scanToken'] } }, contexts: ['scan', 'scanCiba'], csrf: { field: 'csrf' },
    fields: { base: { decision: 'approve', number: '42' }, values: { decision: decisions, number: digits(2) } } },

  // Enrolment, the JSON API (an enrolment at every step)
  { method: 'POST', path: '/enrol/api/v1/enrolments', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer') },
  { method: 'GET', path: '/enrol/api/v1/enrolment', kind: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer') },
  { method: 'POST', path: '/enrol/api/v1/enrolment/document', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'), fields: documentFields },
  { method: 'POST', path: '/enrol/api/v1/enrolment/face', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'),
    fields: { base: { capture: 'sim:live:photo-41d3' }, values: { capture: oneOf('sim:live:photo-0000', 'sim:spoof:photo-41d3', 'sim:', 'sim:live:', 'A'.repeat(200_001), 'data:image/png;base64,AAAA') } } },
  { method: 'POST', path: '/enrol/api/v1/enrolment/phone', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'), fields: { base: { phone: '13700137099' }, values: { phone: phones } } },
  { method: 'POST', path: '/enrol/api/v1/enrolment/phone/resend', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer') },
  { method: 'POST', path: '/enrol/api/v1/enrolment/code', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'), fields: { base: { code: '000000' }, values: { code: digits(6) } } },
  { method: 'POST', path: '/enrol/api/v1/enrolment/password', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'), fields: { base: { password: 'x' }, values: { password: passwords } } },
  { method: 'POST', path: '/enrol/api/v1/enrolment/passkey/options', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer') },
  { method: 'POST', path: '/enrol/api/v1/enrolment/passkey', kind: 'json', body: 'json', contexts: ENROL_API_CONTEXTS, headers: bearer('bearer'), fields: passkeyRegistration },

  // Enrolment, the web pages (an enrolment at the document, face and code steps)
  { method: 'GET', path: '/enrol', kind: 'html', contexts: ENROL_WEB_CONTEXTS },
  { method: 'GET', path: '/enrol/:step', kind: 'html', pathParams: { step: { literals: ['document', 'face', 'phone', 'code', 'password'], only: true } }, contexts: ENROL_WEB_CONTEXTS },
  { method: 'POST', path: '/enrol/start', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, query: { names: ['for'], values: { for: oneOf('child', 'x') } } },
  { method: 'POST', path: '/enrol/restart', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' } },
  { method: 'POST', path: '/enrol/document', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, fields: documentFields },
  { method: 'POST', path: '/enrol/face', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, fields: { base: { subject: 'someone_else' }, values: { subject: oneOf('own_face', 'someone_else', 'printed_photo', '') } } },
  { method: 'POST', path: '/enrol/phone', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, fields: { base: { phone: '13700137098' }, values: { phone: phones } } },
  { method: 'POST', path: '/enrol/phone/skip', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' } },
  { method: 'POST', path: '/enrol/phone/change', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' } },
  { method: 'POST', path: '/enrol/code', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, fields: { base: { code: '000000' }, values: { code: digits(6) } } },
  { method: 'POST', path: '/enrol/code/resend', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' } },
  { method: 'POST', path: '/enrol/password', kind: 'html', body: 'form', contexts: ENROL_WEB_CONTEXTS, csrf: { field: 'csrf' }, fields: { base: { password: 'x', confirm: 'x' }, values: { password: passwords, confirm: passwords } } },
  { method: 'POST', path: '/enrol/passkey/options', kind: 'json', body: 'json', contexts: ENROL_WEB_CONTEXTS, csrf: 'header' },
  { method: 'POST', path: '/enrol/passkey', kind: 'json', body: 'json', contexts: ENROL_WEB_CONTEXTS, csrf: 'header', fields: passkeyRegistration },

  // Account recovery: a recovery in progress (forgotten password, at its first step), or none.
  { method: 'GET', path: '/recover', kind: 'html', contexts: ['recovery', 'none'] },
  { method: 'POST', path: '/recover/:step', kind: 'html', body: 'form', contexts: ['recovery', 'none'], csrf: { field: 'csrf' },
    pathParams: { step: { literals: ['start', 'restart', 'identify', 'code', 'code/resend', 'document', 'face', 'phone', 'phone/code', 'phone/resend', 'phone/change', 'password', 'password/offer', 'password/skip'], only: true } },
    fields: { base: { journey: 'password', identifier: '13800138000', code: '000000', document_type: 'resident_id_card', document_number: '110105199012072049', name: '王芳', subject: 'own_face', phone: '13700137096', password: 'x', confirm: 'x' },
      values: { journey: oneOf('password', 'phone', 'x'), identifier: phones, code: digits(6), phone: phones, password: passwords, confirm: passwords } } },

  // The old guardian pages: every address leads to the portal's Family section.
  { method: 'GET', path: '/guardian', kind: 'html' },
  { method: 'GET', path: '/guardian/:step', kind: 'html', pathParams: { step: { literals: ['sign-in', 'decide', 'decide-platform', 'sign-out'], only: true } } },
  { method: 'POST', path: '/guardian/:step', kind: 'html', body: 'form', pathParams: { step: { literals: ['sign-in', 'decide', 'decide-platform', 'sign-out'], only: true } }, fields: { base: { identifier: 'nobody', password: 'wrong' } } },

  // Admin API (an operator client's token; a reader's; a platform's)
  { method: 'GET', path: '/admin/v1/clients', kind: 'json', headers: operatorAuth },
  { method: 'POST', path: '/admin/v1/clients', kind: 'json', body: 'json', headers: operatorAuth, runs: RUNS * 2,
    // An operator client (kind, scopes) or, with kind replaced, a platform (redirect URIs, scope); client_id only sometimes.
    fields: { base: { kind: 'operator', client_name: 'Fuzz', scopes: { json: ['clients:read'] }, redirect_uris: { json: ['https://rp.example/cb'] }, scope: 'openid' },
      names: ['client_id', 'cyberid_policy', 'client_secret', 'sector_identifier_uri'],
      values: { ...registrationMetadata.values, kind: oneOf('platform', 'operator', 'x'), client_id: oneOf('fuzz-new', 'platform-a', ''), scopes: json(['keys:write'], ['clients:read'], 'x', []) } } },
  { method: 'GET', path: '/admin/v1/clients/:id', kind: 'json', pathParams: { id: adminIds }, headers: operatorAuth },
  { method: 'PATCH', path: '/admin/v1/clients/:id', kind: 'json', body: 'json', pathParams: { id: mutableIds }, headers: operatorAuth,
    fields: { base: { client_name: 'Fuzzed' }, names: ['scope', 'redirect_uris', 'cyberid_policy', 'scopes', 'kind'], values: { ...registrationMetadata.values, scopes: json(['keys:write'], ['clients:read'], 'x') } } },
  { method: 'POST', path: '/admin/v1/clients/:id/:action', kind: 'json', body: 'json', pathParams: { id: mutableIds, action: { literals: ['disable', 'enable', 'rotate-secret'], only: true } }, headers: operatorAuth },
  { method: 'POST', path: '/admin/v1/initial-access-tokens', kind: 'json', body: 'json', headers: operatorAuth, fields: { base: { expires_in_seconds: { json: 3600 } }, values: { expires_in_seconds: json(-1, 0, 59, 60, 1e20, '60', null, 31_536_001, 1.5) } } },
  { method: 'GET', path: '/admin/v1/keys', kind: 'json', headers: operatorAuth },
  { method: 'POST', path: '/admin/v1/keys/rotate', kind: 'json', body: 'json', headers: operatorAuth, fields: { base: { activate_in_seconds: { json: 0 } }, values: { activate_in_seconds: json(-1, 1e20, '0', null) } } },
  { method: 'POST', path: '/admin/v1/keys/:id/withdraw', kind: 'json', body: 'json', pathParams: { id: { literals: ['initial', 'nobody'] } }, headers: operatorAuth },
  { method: 'GET', path: '/admin/v1/audit', kind: 'json', headers: operatorAuth, query: { names: ['target', 'before', 'limit'], values: { target: clientIds, before: oneOf('0', '-1', '1e30', String(Date.now()), 'x'), limit: oneOf('0', '1', '1000', '1001', '-5', 'x') } } },

  // The portal (the demo adult, signed in at loa2; sign-out and "this wasn't me" come last, as they end the session)
  { method: 'GET', path: '/account', kind: 'html', contexts: ['portal'] },
  { method: 'GET', path: '/account/history', kind: 'html', contexts: ['portal'], query: historyQuery() },
  { method: 'GET', path: '/account/history.json', kind: 'html', contexts: ['portal'], query: historyQuery() },
  { method: 'GET', path: '/account/history.csv', kind: 'html', contexts: ['portal'], query: historyQuery() },
  { method: 'GET', path: '/account/:page', kind: 'html', contexts: ['portal'],
    pathParams: { page: { literals: ['security', 'credentials', 'family', 'delete', 'network-number', 'signed-out', 'password', 'phone', 'phone/confirm', 'passkeys/rename', 'passkeys/remove', 'family/decide', 'family/revoke', 'family/enrol-child', 'security/review'], only: true } } },
  { method: 'GET', path: '/account/sign-in', kind: 'html', contexts: ['portal', 'none'], query: { names: ['return', 'again'], values: { return: oneOf('/account/history', '//evil.example', '/account/../admin', 'https://evil.example/'), again: oneOf('1', '0') } } },
  { method: 'GET', path: '/account/callback', kind: 'html', contexts: ['portalFlow'],
    query: { base: { code: 'fuzz-code', state: { ref: 'state' }, iss: { ref: 'issuer' } }, names: ['error', 'error_description', 'session_state', 'id_token', 'response'], values: { error: oneOf('access_denied', 'login_required', 'x'), state: ref('state'), response: jwt(), id_token: jwt() } } },
  { method: 'POST', path: '/account/platforms/revoke', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { platform: 'nobody' }, values: { platform: platforms } } },
  { method: 'POST', path: '/account/password', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { current: 'wrong', password: 'x', confirm: 'x' }, values: { password: passwords, confirm: passwords } } },
  { method: 'POST', path: '/account/phone', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { phone: '13700137097' }, values: { phone: phones } } },
  { method: 'POST', path: '/account/phone/confirm', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { code: '000000' }, values: { code: digits(6) } } },
  { method: 'POST', path: '/account/passkeys/options', kind: 'json', body: 'json', contexts: ['portal'], csrf: 'header' },
  { method: 'POST', path: '/account/passkeys', kind: 'json', body: 'json', contexts: ['portal'], csrf: 'header', fields: passkeyRegistration },
  { method: 'POST', path: '/account/passkeys/rename', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { id: 'x', name: 'Fuzz' } } },
  { method: 'POST', path: '/account/passkeys/remove', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { id: 'x' } } },
  { method: 'POST', path: '/account/family/decide', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { minor: 'x', decision: 'approve' }, values: { minor: ref('minorId'), decision: decisions } } },
  { method: 'POST', path: '/account/family/decide-platform', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { minor: 'x', platform: 'platform-d', decision: 'approve' }, values: { minor: ref('minorId'), platform: platforms, decision: decisions } } },
  { method: 'POST', path: '/account/security/review', kind: 'html', body: 'form', contexts: ['portal', 'none'], csrf: { field: 'csrf' }, fields: { base: { id: 'x' } } },
  { method: 'POST', path: '/account/family/revoke', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { base: { minor: 'x', platform: 'platform-d' }, values: { minor: ref('minorId'), platform: platforms } } },
  { method: 'POST', path: '/account/delete', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, fields: { names: ['understood'], values: { understood: oneOf('no', 'YES', 'yes ', 'on', 'true') } },
    unsafe: (c) => 'params' in c.body && c.body.params.some(([name, value]) => name === 'understood' && value === 'yes'), ending: true },
  { method: 'POST', path: '/account/sign-out', kind: 'html', body: 'form', contexts: ['portal'], csrf: { field: 'csrf' }, ending: true },
  // "This wasn't me" ends every session of the person: the 16-year-old's own portal session, so the adult's stays.
  { method: 'POST', path: '/account/security/not-me', kind: 'html', body: 'form', contexts: ['portalMinor'], csrf: { field: 'csrf' }, ending: true },
];

function endSessionParams(): ParamSpec {
  return {
    base: { client_id: 'platform-a', id_token_hint: { ref: 'idToken' }, post_logout_redirect_uri: 'http://localhost:4001/', state: 'fuzz-state' },
    names: ['ui_locales', 'logout_hint', 'logout_token'],
    values: { client_id: clientIds, id_token_hint: fc.oneof(ref('idToken'), jwt()), post_logout_redirect_uri: redirectUris, logout_token: jwt() },
  };
}

function historyQuery(): ParamSpec {
  return { names: ['platform', 'from', 'to'], values: { platform: platforms, from: oneOf('2026-01-01', '2026-02-30', '9999-12-31', '0000-01-01', ''), to: oneOf('2026-12-31', '2026-13-01', '') } };
}

function keepTokens(response: WireResponse): void {
  if (response.status !== 200) return;
  try {
    const body = JSON.parse(response.text) as { access_token?: string; refresh_token?: string; token_type?: string };
    if (body.refresh_token) refs.refreshToken = body.refresh_token;
    if (body.access_token && body.token_type === 'Bearer' && !body.refresh_token) return; // a client credentials token: keep the person's
    if (body.access_token) {
      refs.accessToken = body.access_token;
      refs.bearerAccessToken = `Bearer ${body.access_token}`;
      refs.dpopAccessToken = `DPoP ${body.access_token}`;
    }
  } catch { /* judged elsewhere */ }
}

function keepRegistrationToken(response: WireResponse): void {
  try {
    const token = (JSON.parse(response.text) as { registration_access_token?: string }).registration_access_token;
    if (token) refs.bearerRat = `Bearer ${token}`;
  } catch { /* judged elsewhere */ }
}

// ---- running one case ---------------------------------------------------------------------------------------

function contextFor(route: Route, c: Case): FuzzContext | undefined {
  const names = route.contexts;
  if (!names?.length) return undefined;
  const name = names[c.contextIndex % names.length]!;
  return name === 'none' ? undefined : contexts[name];
}

/** The request as text, to tell a stack trace the server wrote from one the request itself carried (echoed). */
function requestText(request: WireRequest): string {
  const parts = [request.path, ...Object.values(request.headers).flat(), request.body?.toString('utf8') ?? ''];
  const decoded = parts.map((part) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      return part;
    }
  });
  return [...parts, ...decoded].join('\n');
}

async function logLinesOf(requestId: string | undefined): Promise<string[]> {
  if (!requestId) return [];
  await new Promise((r) => setTimeout(r, 150));
  return provider.stdout().split('\n').filter((line) => line.includes(`"requestId":"${requestId}"`)).map((line) => (line.length > 3_000 ? `${line.slice(0, 3_000)}…` : line));
}

function count(id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

interface RunOptions {
  /** Judge Koa's own 404 for what no route serves (tolerated elsewhere); `only`: judge nothing else. */
  judgeFallback404?: boolean | 'only';
  /**
   * For a property about one thing every route shares (a header, a method): the same case without it. When that
   * fails too, the failure is the route's own (its own property reports it) and not counted against this one.
   */
  baseline?: () => Promise<boolean>;
}

async function runCase(id: string, route: Route, kind: Kind, c: Case, options: RunOptions = {}): Promise<void> {
  const failure = await attempt(id, route, kind, c, options);
  if (failure && !(options.baseline && !(await options.baseline()))) throw new Error(failure);
}

/** Sends one case; a description of what is wrong with the answer, or undefined. */
async function attempt(id: string, route: Route, kind: Kind, c: Case, options: RunOptions = {}, counted = true): Promise<string | undefined> {
  const context = contextFor(route, c);
  await context?.ready();
  const requestId = `fuzz-${SEED}-${++serial}`;
  const request = await build(route, c, resolverFor(context), requestId);
  if (counted) count(id);
  let response: WireResponse;
  try {
    response = await send(base, request);
  } catch (error) {
    // Node refuses a head above 16 KiB with 431 and closes the connection, maybe before the client has read the answer.
    if (headBytes(request) > MAX_HEAD_BYTES) return undefined;
    return `${id}: no answer (${(error as Error).message})\n  ${curlOf(base, request)}\n  log: ${(await logLinesOf(requestId)).join('\n       ')}`;
  }
  if (counted) {
    const seen = statuses.get(id) ?? new Map<string, number>();
    seen.set(String(response.status), (seen.get(String(response.status)) ?? 0) + 1);
    statuses.set(id, seen);
  }
  route.after?.(response, context);
  const problems = problemsWith(kind, request, response, requestText(request), options);
  if (!problems.length) return undefined;
  const answeredId = String(response.headers['x-request-id'] ?? requestId);
  return [
    `${id}${context ? ` (in context ${context.name})` : ''}: ${problems.join('; ')}`,
    `  request:  ${curlOf(base, request)}`,
    `  answer:   ${response.status} ${response.headers['content-type'] ?? ''} ${JSON.stringify(response.text.slice(0, 400))}`,
    `  log:      ${(await logLinesOf(answeredId)).join('\n            ') || '(no line with this request id)'}`,
  ].join('\n');
}

/** True when `c` sent as the route's own case (its own method, its path unbent, no `drop` headers) passes. */
function passesAsRouteCase(route: Route, c: Case, drop: (name: string) => boolean = () => false): () => Promise<boolean> {
  return async () => (await attempt('baseline', { ...route, after: undefined }, route.kind, {
    ...c, method: route.method, pathNoise: 'none', headers: c.headers.filter(([name]) => !drop(name)),
  }, {}, false)) === undefined;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---- set-up: one server, and the real contexts ----------------------------------------------------------

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const uidOf = (page: Page) => /\/interaction\/([^/?#]+)/.exec(page.url)?.[1] ?? (() => { throw new Error(`not an interaction page: ${page.url}`); })();
function inputOf(page: Page, name: string): string {
  const value = page.doc.querySelector(`input[name=${name}]`)?.getAttribute('value');
  if (!value) throw new Error(`no ${name} input on ${page.url}:\n${page.html.slice(0, 1_500)}`);
  return value;
}
const scanTokenOf = (page: Page) => new URL(readQrSvg(page.doc.querySelector('img.qr')!.getAttribute('src')!)).pathname.split('/').pop()!;

async function api(method: string, path: string, options: { auth?: string; json?: unknown; form?: Record<string, string> } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(path, base), {
    method,
    headers: {
      accept: 'application/json',
      ...(options.auth ? { authorization: options.auth } : {}),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

function lastSmsCode(phone: string): string {
  const code = lastCodeSentTo(dataDir, phone);
  if (!code) throw new Error(`no code was sent to ${phone}`);
  return code;
}

async function setUp(): Promise<void> {
  dataDir = tempDataDir();
  // The CIBA platform's keys, on an https jwks_uri the provider trusts (its sector is that host), as a platform publishes them.
  const keys = await fuzzKeys();
  const tls = await generate([{ name: 'commonName', value: 'fuzz platform' }], { keyType: 'ec', curve: 'P-256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
  const jwks = JSON.stringify({ keys: [keys.es256.jwk, keys.eddsa.jwk] });
  platformKeys = createHttpsServer({ key: tls.private, cert: tls.cert }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise<void>((resolve) => platformKeys!.listen(0, '127.0.0.1', resolve));
  const caFile = path.join(dataDir, 'fuzz-ca.pem');
  writeFileSync(caFile, tls.cert);
  // Behind a TLS-terminating proxy, as in production: X-Forwarded-For, X-Forwarded-Proto and Client-Cert are read, and fuzzed.
  provider = await startProvider(dataDir, { CYBERID_PROXY: 'true', NODE_EXTRA_CA_CERTS: caFile });
  base = new URL(provider.url);
  refs.clientCert = `:${Buffer.from(tls.cert.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64')}:`;
  refs.adultNetworkNumber = provider.adult.networkNumber;
  refs.minorNetworkNumber = provider.minor.networkNumber;
  const adult: Person = { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.adult.phone) };
  discovery = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
  const configA = await discover(provider.url, PLATFORM_A);
  const configB = await discover(provider.url, PLATFORM_B);
  refs.issuer = provider.url;
  refs.adminResource = `${provider.url}/admin/v1`;
  refs.portalCallback = `${provider.url}/account/callback`;
  refs.basicA = basic(PLATFORM_A.clientId, PLATFORM_A.clientSecret!);
  refs.basicB = basic(PLATFORM_B.clientId, PLATFORM_B.clientSecret!);

  // Browser T: the adult signed in at platform A, with tokens (and the consent page again, on demand).
  const t = new FormBrowser(provider.url);
  const tokenRequest = await authorizationRequest(configA, PLATFORM_A, { scope: 'openid verified offline_access', prompt: 'consent' });
  const tokens = await redeem(configA, tokenRequest, await signInAndConsent(t, tokenRequest.url, adult));
  refs.accessToken = tokens.access_token;
  refs.bearerAccessToken = `Bearer ${tokens.access_token}`;
  refs.dpopAccessToken = `DPoP ${tokens.access_token}`;
  refs.refreshToken = tokens.refresh_token!;
  refs.idToken = tokens.id_token!;
  contexts.session = new FuzzContext('session', { browser: t });
  contexts.consent = new FuzzContext('consent', {
    browser: t,
    refresh: async (context) => {
      const request = await authorizationRequest(configA, PLATFORM_A, { scope: 'openid verified profile phone offline_access', prompt: 'consent' });
      const page = expectPage(await t.open(request.url));
      context.refs.uid = uidOf(page);
      context.csrf = inputOf(page, 'csrf');
    },
  });
  await contexts.consent.refresh!(contexts.consent);

  // A pushed authorization request, whose request_uri /auth may be given.
  const par = await api('POST', '/request', { auth: refs.basicA, form: { client_id: 'platform-a', redirect_uri: A_CALLBACK, response_type: 'code', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' } });
  refs.parRequestUri = String(par.body.request_uri);

  // A login page (identify step) of platform A, refreshed as its interaction ends.
  const identify = new FormBrowser(provider.url);
  const loginPage = async () => expectPage(await identify.open((await authorizationRequest(configA, PLATFORM_A, { scope: 'openid verified' })).url));
  contexts.identify = new FuzzContext('identify', {
    browser: identify,
    every: 25,
    refresh: async (context) => {
      const page = await loginPage();
      context.refs.uid = uidOf(page);
      context.csrf = inputOf(page, 'csrf');
    },
  });
  await contexts.identify.refresh!(contexts.identify);

  // Platform B needs loa2: the adult's password was right, the SMS code step waits.
  const b = new FormBrowser(provider.url);
  const bRequest = await authorizationRequest(configB, PLATFORM_B, { scope: 'openid verified' });
  const codePage = expectPage(await b.submit(expectPage(await b.open(bRequest.url)), '/login', { identifier: adult.identifier, password: adult.password }));
  expect(codePage.doc.querySelector('form[action$="/code"]')).not.toBeNull();
  contexts.code = new FuzzContext('code', { browser: b, csrf: inputOf(codePage, 'csrf'), refs: { uid: uidOf(codePage) } });

  // Platform A asked for loa3: password and SMS code done, the face step waits.
  const f = new FormBrowser(provider.url);
  const facePage = expectPage(await signIn(f, (await authorizationRequest(configA, PLATFORM_A, { scope: 'openid', acr_values: 'cyberid:loa3' })).url, adult));
  expect(facePage.doc.querySelector('form[action$="/face"]')).not.toBeNull();
  contexts.face = new FuzzContext('face', { browser: f, csrf: inputOf(facePage, 'csrf'), refs: { uid: uidOf(facePage) } });

  // The portal, signed in at loa2; it also approves scan-to-sign-in requests.
  const p = new FormBrowser(provider.url);
  const account = expectPage(await signIn(p, new URL('/account/sign-in', provider.url), adult));
  expect(new URL(account.url).pathname).toBe('/account');
  contexts.portal = new FuzzContext('portal', { browser: p, csrf: inputOf(account, 'csrf') });
  const minor: Person = { identifier: provider.minor.networkNumber, password: provider.minor.password, oneTimeCode: () => lastCodeSentTo(dataDir, provider.minor.phone) };
  const pm = new FormBrowser(provider.url);
  contexts.portalMinor = new FuzzContext('portalMinor', { browser: pm, csrf: inputOf(expectPage(await signIn(pm, new URL('/account/sign-in', provider.url), minor)), 'csrf') });
  const s = new FormBrowser(provider.url);
  contexts.scan = new FuzzContext('scan', {
    browser: p,
    csrf: contexts.portal.csrf,
    every: 4,
    refresh: async (context) => {
      context.refs.scanToken = scanTokenOf(expectPage(await s.open((await authorizationRequest(configA, PLATFORM_A, { scope: 'openid' })).url)));
    },
  });
  // The portal's sign-in callback: a fresh flow (cookie and state) for every case.
  contexts.portalFlow = new FuzzContext('portalFlow', {
    every: 1,
    refresh: async (context) => {
      const response = await fetch(new URL('/account/sign-in', base), { redirect: 'manual' });
      context.cookieHeader = response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]).join('; ');
      context.refs.state = new URL(response.headers.get('location')!).searchParams.get('state')!;
    },
  });

  // Browser E: signed in at platform A, on the sign-out confirmation page.
  const e = new FormBrowser(provider.url);
  const eRequest = await authorizationRequest(configA, PLATFORM_A, { scope: 'openid' });
  await signInAndConsent(e, eRequest.url, adult);
  contexts.endSession = new FuzzContext('endSession', {
    browser: e,
    refresh: async (context) => {
      context.csrf = inputOf(expectPage(await e.open(`${provider.url}/session/end?client_id=platform-a`)), 'xsrf');
    },
  });
  await contexts.endSession.refresh!(contexts.endSession);
  // Every sign-out page stores a new xsrf in the session: the confirmation gets a fresh page before each case.
  contexts.endSessionConfirm = new FuzzContext('endSessionConfirm', {
    browser: e,
    every: 1,
    refresh: async (context) => {
      context.csrf = inputOf(expectPage(await e.open(`${provider.url}/session/end?client_id=platform-a`)), 'xsrf');
    },
  });

  refs.minorId = 'unknown-minor';

  // A recovery in progress: forgotten password, at the step that asks for the phone number.
  const r = new FormBrowser(provider.url);
  const recovery = expectPage(await r.submit(expectPage(await r.open(`${provider.url}/recover`)), '/recover/start', { journey: 'password' }));
  contexts.recovery = new FuzzContext('recovery', { browser: r, csrf: inputOf(recovery, 'csrf') });

  // Enrolment on the web: at the document, face and code steps.
  const enrolWeb = async (steps: [string, Record<string, string>][]) => {
    const w = new FormBrowser(provider.url);
    let page = expectPage(await w.submit(expectPage(await w.open(`${provider.url}/enrol`)), '/enrol/start'));
    for (const [action, values] of steps) page = expectPage(await w.submit(page, action, values));
    return new FuzzContext('enrolWeb', { browser: w, csrf: inputOf(page, 'csrf') });
  };
  const doc = (type: string, number: string, name: string, birthdate: string, expires: string) => ({ document_type: type, document_number: number, name, birthdate, expires_on: expires });
  contexts['enrolWeb:document'] = await enrolWeb([]);
  contexts['enrolWeb:face'] = await enrolWeb([['/enrol/document', doc('overseas_chinese_passport', 'EB7654321', '刘洋', '1979-11-02', '2031-11-01')]]);
  contexts['enrolWeb:code'] = await enrolWeb([
    ['/enrol/document', doc('resident_id_card', '110108198004040033', '赵建国', '1980-04-04', '2040-04-04')],
    ['/enrol/face', { subject: 'own_face' }],
    ['/enrol/phone', { phone: '13700137011' }],
  ]);

  // Enrolment through the API: one enrolment at every step.
  const enrolApi = async (steps: [string, unknown][]) => {
    const started = await api('POST', '/enrol/api/v1/enrolments', { json: {} });
    const auth = `Bearer ${String(started.body.enrolment_token)}`;
    for (const [path, body] of steps) {
      const answer = await api('POST', `/enrol/api/v1/enrolment/${path}`, { auth, json: typeof body === 'function' ? (body as () => unknown)() : body });
      if (answer.status !== 200) throw new Error(`enrolment step ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return new FuzzContext('enrolApi', { refs: { bearer: auth } });
  };
  contexts['enrolApi:document'] = await enrolApi([]);
  contexts['enrolApi:face'] = await enrolApi([['document', doc('resident_id_card', '110105199012072049', '王芳', '1990-12-07', '2038-12-07')]]);
  contexts['enrolApi:phone'] = await enrolApi([['document', doc('hmt_residence_permit', '810000199205051066', '黄嘉欣', '1992-05-05', '2031-05-04')], ['face', { capture: 'sim:live:photo-5f02' }]]);
  contexts['enrolApi:code'] = await enrolApi([['document', doc('hk_macao_travel_permit', 'M87654321', '孙丽', '1995-02-28', '2034-06-30')], ['face', { capture: 'sim:live:photo-3a6c' }], ['phone', { phone: '13700137003' }]]);
  contexts['enrolApi:password'] = await enrolApi([['document', doc('taiwan_travel_permit', '08123456', '林志强', '1985-08-20', '2030-08-19')], ['face', { capture: 'sim:live:photo-0e7d' }],
    ['phone', { phone: '13700137004' }], ['code', () => ({ code: lastSmsCode('13700137004') })]]);
  contexts['enrolApi:done'] = await enrolApi([['document', doc('foreign_permanent_resident_card', '911276198507150017', 'ANNA SCHMIDT', '1985-07-15', '2033-07-14')], ['face', { capture: 'sim:live:photo-a8f1' }],
    ['phone', { phone: '13700137005' }], ['code', () => ({ code: lastSmsCode('13700137005') })], ['password', { password: 'Lantern-river-autumn-42' }]]);

  // Operators: a writer (no keys:write) and a reader, made with the CLI; an initial access token and a registered client.
  const operator = async (id: string, scope: string) => {
    const run = await cyberid(dataDir, 'clients', 'add', '--operator', '--id', id, '--name', `Fuzz ${id}`, '--scopes', scope, '--json');
    if (run.code !== 0) throw new Error(`cyberid clients add: ${run.err}`);
    const secret = run.json<{ client_secret: string }>().client_secret;
    const token = await api('POST', '/token', { auth: basic(id, secret), form: { grant_type: 'client_credentials', resource: refs.adminResource!, scope } });
    if (token.status !== 200) throw new Error(`operator token: ${JSON.stringify(token.body)}`);
    return { basic: basic(id, secret), token: String(token.body.access_token) };
  };
  const writer = await operator('fuzz-operator', 'clients:read clients:write keys:read audit:read');
  const reader = await operator('fuzz-reader', 'clients:read');
  refs.basicOperator = writer.basic;
  refs.operatorToken = writer.token;
  refs.bearerOperator = `Bearer ${writer.token}`;
  refs.bearerReader = `Bearer ${reader.token}`;
  const iat = async () => String((await api('POST', '/admin/v1/initial-access-tokens', { auth: refs.bearerOperator, json: { expires_in_seconds: 3600 } })).body.initial_access_token);
  const registered = await api('POST', '/reg', { auth: `Bearer ${await iat()}`, json: { redirect_uris: ['https://rp.example/cb'], client_name: 'Fuzz RP' } });
  expect(registered.status).toBe(201);
  refs.dcrClientId = String(registered.body.client_id);
  refs.bearerRat = `Bearer ${String(registered.body.registration_access_token)}`;
  refs.bearerIat = `Bearer ${await iat()}`;
  refs.basicPortal = basic('cyberid-account', 'not-the-secret');

  // A CIBA-only platform (private_key_jwt with the fuzzer's keys); a pending request of it; its SMS link for the approval page.
  const counter = await cyberid(dataDir, 'clients', 'add', '--id', COUNTER, '--name', 'Fuzz counter', '--scope', 'openid verified age', '--grant-type', 'ciba',
    '--jwks-uri', `https://127.0.0.1:${(platformKeys.address() as AddressInfo).port}/jwks`);
  if (counter.code !== 0) throw new Error(`cyberid clients add ${COUNTER}: ${counter.err}`);
  dynamicRefs.cibaAssertion = () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'fuzz-es256' }).setIssuer(COUNTER).setSubject(COUNTER)
    .setAudience(provider.url).setJti(randomUUID()).setIssuedAt().setExpirationTime('2m').sign(keys.es256.privateKey);
  const backchannel = async () => {
    const answer = await api('POST', '/backchannel', { form: {
      client_id: COUNTER, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await dynamicRefs.cibaAssertion!(),
      scope: 'openid verified', login_hint: provider.adult.networkNumber, binding_message: 'Counter 7',
    } });
    if (answer.status !== 200) throw new Error(`backchannel: ${answer.status} ${JSON.stringify(answer.body)}`);
    const national = provider.adult.phone.replace(/\D/g, '').slice(-11);
    const link = readFileSync(path.join(dataDir, 'sms-outbox.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { to: string; text: string })
      .filter((message) => message.to.replace(/\D/g, '').endsWith(national)).at(-1)?.text.match(/\/scan\/([A-Za-z0-9_-]+)/)?.[1];
    if (!link) throw new Error('no approval link was sent');
    return { authReqId: String(answer.body.auth_req_id), token: link };
  };
  refs.authReqId = (await backchannel()).authReqId;
  contexts.scanCiba = new FuzzContext('scanCiba', {
    browser: contexts.portal.browser,
    csrf: contexts.portal.csrf,
    every: 3,
    refresh: async (context) => {
      context.refs.scanToken = (await backchannel()).token;
    },
  });

  fuzzStartedAt = provider.stdout().length;
  print(`fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${RUNS} cases per route, server ${provider.url}, set up in ${Math.round((Date.now() - startedMs) / 1000)} s`);
}

beforeAll(setUp, 180_000);

afterAll(async () => {
  platformKeys?.close();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const width = Math.max(...[...counts.keys()].map((k) => k.length), 10);
  const lines = [...counts.entries()].map(([id, n]) => {
    const seen = [...(statuses.get(id) ?? new Map<string, number>()).entries()].sort(([a], [b]) => a.localeCompare(b)).map(([status, k]) => `${status}×${k}`).join(' ');
    return `  ${id.padEnd(width)} ${String(n).padStart(5)}   ${seen}`;
  });
  print(['', `fuzz: cases tried per endpoint (seed ${SEED}), with the statuses they got:`, ...lines, `  ${'TOTAL'.padEnd(width)} ${String(total).padStart(5)}  in ${Math.round((Date.now() - startedMs) / 1000)} s`, ''].join('\n'));
  await provider?.stop();
  if (dataDir) removeDataDir(dataDir);
});

// ---- the properties -------------------------------------------------------------------------------------

describe('discovery', () => {
  it('advertises only endpoints this fuzz run covers', () => {
    const covered = new Set(ROUTES.map((route) => route.path));
    const advertised = Object.entries(discovery).filter(([key]) => key.endsWith('_endpoint') || key === 'jwks_uri').map(([key, url]) => [key, new URL(String(url)).pathname] as const);
    expect(advertised.map(([key]) => key).sort()).toEqual(expect.arrayContaining(['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'introspection_endpoint',
      'revocation_endpoint', 'pushed_authorization_request_endpoint', 'registration_endpoint', 'end_session_endpoint', 'jwks_uri']));
    expect(advertised.filter(([, path]) => !covered.has(path))).toEqual([]);
  });
});

describe('every route, hostile requests in real contexts: no 5xx, standard errors, no stack traces', () => {
  ROUTES.forEach((route, index) => {
    const id = routeId(route);
    it(id, async () => {
      let cases = caseArb(caseOptionsOf(route));
      if (route.unsafe) cases = cases.filter((c) => !route.unsafe!(c));
      await fc.assert(fc.asyncProperty(cases, (c) => runCase(id, route, route.kind, c)), { numRuns: route.runs ?? RUNS, seed: SEED + index });
    }, PER_ROUTE_TIMEOUT);
  });
});

/** Cases for any of the routes `eligible` keeps: each built like that route's own, then changed by `change`. */
function anyRoute(eligible: (route: Route) => boolean, change: (route: Route, base: CaseOptions) => fc.Arbitrary<Case>): fc.Arbitrary<readonly [Route, Case]> {
  const routes = ROUTES.filter(eligible);
  // The route travels as its id, so that a counterexample prints as "POST /token" and the case.
  return fc.constantFrom(...routes.map(routeId)).chain((id) => {
    const route = routes.find((r) => routeId(r) === id)!;
    return change(route, caseOptionsOf(route)).filter((c) => !route.unsafe?.(c)).map((c) => [id, c] as const);
  }).map(([id, c]) => [Object.assign(Object.create(routePrinter) as Route, routes.find((r) => routeId(r) === id)!), c] as const);
}

/** Routes print as their id in counterexamples. */
const routePrinter = { toString(this: Route) { return routeId(this); }, [Symbol.for('fast-check/toStringMethod')](this: Route) { return routeId(this); } };

type CaseOptions = Parameters<typeof caseArb>[0];

function caseOptionsOf(route: Route): CaseOptions {
  return {
    method: fc.constant(route.method),
    pathParams: route.pathParams ?? {},
    ...(route.query ? { query: route.query } : {}),
    body: route.body ?? 'none',
    ...(route.fields ? { fields: route.fields } : {}),
    ...(route.headers ? { headers: route.headers } : {}),
  };
}

/** Methods a route does not serve, and its path bent (koa-router ignores case and a trailing slash: not tried on ending routes). */
const otherMethods = anyRoute(() => true, (route, options) => {
  const noises = route.ending ? PATH_NOISES.filter((noise) => noise !== 'upper-case' && noise !== 'trailing-slash') : PATH_NOISES;
  return caseArb({ ...options, method: fc.constantFrom(...METHODS), pathNoise: fc.constantFrom('none' as const, ...noises) })
    .filter((c) => c.method !== route.method || c.pathNoise !== 'none')
    .filter((c) => !(route.ending && c.method === route.method && (c.pathNoise === 'none')));
});

const PREFIXES: [string, Kind][] = [['/', 'html'], ['/interaction/', 'html'], ['/account/', 'html'], ['/enrol/', 'html'], ['/guardian/', 'html'], ['/recover/', 'html'], ['/scan/x/', 'html'],
  ['/static/', 'asset'], ['/.well-known/', 'json'], ['/enrol/api/v1/', 'json'], ['/admin/v1/', 'json'], ['/reg/x/', 'json'], ['/token/', 'json'], ['/session/end/', 'html']];

/** A path under one of our prefixes that no route serves. */
const unknownPaths = fc.tuple(fc.constantFrom(...PREFIXES), hostileString(40), fc.constantFrom(...METHODS)).chain(([[prefix, kind], segment, method]) => caseArb({
  method: fc.constant(method), pathParams: {}, body: method === 'GET' || method === 'HEAD' ? 'none' : 'json',
}).map((c) => [{ method, path: `${prefix}${encodeURIComponent(segment.toWellFormed()) || 'nothing-here'}`, kind } satisfies Route, c] as const));

describe('what no route serves, and what every route shares', () => {
  it('every route with methods it does not serve, and with its path bent (case, trailing slash, dot segments, encoded slash)', async () => {
    await fc.assert(fc.asyncProperty(otherMethods, ([route, c]) => runCase('ANY (other methods, bent paths)', { ...route, after: undefined }, route.kind, c, { baseline: passesAsRouteCase(route, c) })),
      { numRuns: RUNS * 6, seed: SEED - 1 });
  }, PER_ROUTE_TIMEOUT);

  it('paths nobody serves, under every prefix', async () => {
    await fc.assert(fc.asyncProperty(unknownPaths, ([route, c]) => runCase('ANY (unknown paths)', route, route.kind, c)), { numRuns: RUNS * 3, seed: SEED - 2 });
  }, PER_ROUTE_TIMEOUT);

  it('the 404 for a path or a method nobody serves is in the format its endpoint speaks (a JSON error to a JSON client, a page to a browser)', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(otherMethods, unknownPaths), ([route, c]) => runCase('ANY (404 format)', { ...route, after: undefined }, route.kind, c, { judgeFallback404: 'only' })),
      { numRuns: RUNS * 3, seed: SEED - 4 });
  }, PER_ROUTE_TIMEOUT);

  it('every route that reads a body, with a Content-Encoding (gzip, deflate, br: valid or broken; unknown codings)', async () => {
    const cases = anyRoute((route) => route.body !== undefined && !route.ending, (_route, options) => fc.tuple(caseArb(options), contentEncodingArb())
      .filter(([c]) => c.body.type !== 'none')
      .map(([c, encoding]) => ({ ...c, headers: [...c.headers, encoding] })));
    await fc.assert(fc.asyncProperty(cases, ([route, c]) => runCase('ANY (Content-Encoding)', route, route.kind, c, { baseline: passesAsRouteCase(route, c, (name) => name === 'content-encoding') })),
      { numRuns: RUNS * 3, seed: SEED - 5 });
  }, PER_ROUTE_TIMEOUT);

  it('every route with forged proxy headers (Host, X-Forwarded-Host, -Proto, -For, Forwarded)', async () => {
    const cases = anyRoute((route) => !route.ending, (_route, options) => fc.tuple(caseArb(options), proxyHeadersArb())
      .map(([c, forged]) => ({ ...c, headers: [...c.headers, ...forged] })));
    const forged = new Set(['host', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'forwarded']);
    await fc.assert(fc.asyncProperty(cases, ([route, c]) => runCase('ANY (proxy headers)', route, route.kind, c, { baseline: passesAsRouteCase(route, c, (name) => forged.has(name)) })),
      { numRuns: RUNS * 3, seed: SEED - 6 });
  }, PER_ROUTE_TIMEOUT);

  it('malformed HTTP on a raw socket (NUL and control characters, bad framing, oversized headers): never a 5xx', async () => {
    const target = fc.oneof(
      fc.constantFrom('/', '/token', '/auth?client_id=platform-a', '/interaction/x/login', '/enrol/api/v1/enrolment', '*', 'http://evil.example/token', '//', '/%00', '/a b', '/\u0000',
        '/static/../../package.json', `/${'a'.repeat(20_000)}`, '/account?\u0001=\u0002'),
      hostileString(30).map((s) => `/${s}`),
    );
    const header = fc.oneof(
      fc.constantFrom('Host: localhost', 'Host:', 'Host: a\u0000b', 'X-A: b\u0000c', 'X-A: b\rc', 'X-A:\tb', ' folded: continuation', 'X-A: b\r\n continued', 'NoColon',
        'Bad Name: x', 'Content-Length: 5', 'Content-Length: 5\r\nContent-Length: 6', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked',
        'Transfer-Encoding: chunked\r\nContent-Length: 3', 'Transfer-Encoding: gzip, chunked', 'Content-Type: application/json', `X-Big: ${'a'.repeat(20_000)}`, 'Expect: 100-continue',
        'Expect: fuzz', 'Connection: upgrade\r\nUpgrade: websocket', 'Authorization: Basic \u00ff\u00fe', 'Cookie: _session=\u0000'),
      fc.tuple(fc.string({ maxLength: 10 }), hostileString(20)).map(([n, v]) => `${n}: ${v}`),
    );
    const rawRequest = fc.record({
      // Sometimes after a well-formed request on the same keep-alive connection (pipelined), as a confused client or proxy would.
      after: fc.constantFrom('', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n',
        'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b'),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'G\u0000T', 'get', '', 'POST /x', 'PRI', 'HEAD'),
      target,
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'http/1.1', '', 'HTTP/1.1 extra'),
      headers: fc.array(header, { maxLength: 5 }),
      close: fc.boolean(),
      body: fc.oneof(fc.constant(''), fc.constantFrom('0\r\n\r\n', 'zz\r\nab\r\n0\r\n\r\n', '5\r\nab\r\n', '{"a":1}', 'a=b'), hostileString(50)),
    });
    await fc.assert(fc.asyncProperty(rawRequest, async (r) => {
      count('RAW (socket)');
      const bytes = Buffer.from(`${r.after}${r.method} ${r.target} ${r.version}\r\n${r.headers.join('\r\n')}${r.headers.length ? '\r\n' : ''}${r.close ? 'Connection: close\r\n' : ''}\r\n${r.body}`, 'utf8');
      const answer = await sendRaw(base, bytes);
      for (const status of [...answer.text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]))) {
        if (status >= 500) throw new Error(`raw request answered ${status}: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}\n${answer.text.slice(0, 600)}`);
      }
      const body = answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4);
      if (/node_modules|^\s*at \S.*:\d+:\d+\)?$/m.test(body)) throw new Error(`a stack trace in the answer to ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}:\n${body.slice(0, 600)}`);
    }), { numRuns: RUNS * 2, seed: SEED - 3 });
  }, PER_ROUTE_TIMEOUT);
});

describe('the server afterwards', () => {
  it('logged no error while it was fuzzed', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const errors = provider.stdout().slice(fuzzStartedAt).split('\n').filter((line) => /^\{.*"level":(50|60)/.test(line));
    // One line per kind of error (message and cause), with how often and the first request id: the lines themselves are long.
    const kinds = new Map<string, { n: number; requestId: string; line: string }>();
    for (const line of errors) {
      let key = line.slice(0, 200);
      let requestId = '';
      try {
        const entry = JSON.parse(line) as { msg?: string; requestId?: string; err?: { type?: string; message?: string } };
        key = `${entry.msg}: ${entry.err?.type ?? ''}: ${entry.err?.message ?? ''}`;
        requestId = entry.requestId ?? '';
      } catch { /* not JSON: the raw start of the line */ }
      const kind = kinds.get(key) ?? { n: 0, requestId, line: line.slice(0, 600) };
      kind.n += 1;
      kinds.set(key, kind);
    }
    expect([...kinds.entries()].map(([key, { n, requestId, line }]) => `${n}× ${key} (first: request ${requestId || '?'}) ${line}`)).toEqual([]);
  });
});
