// Property-based fuzzing over HTTP (fast-check): hostile requests, built from data fast-check can print and
// shrink, sent raw with node:http (any method, a body on a GET, duplicated headers, Latin-1 header bytes,
// malformed percent-encoding in the path), and the judgement of each answer: never a 5xx, an error body in the
// endpoint's standard shape, never a stack trace.
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

// ---- what a request is made of (plain data: fast-check prints it as the counterexample) ------------------

/** A value that is either literal or a reference to something only known at run time (an interaction uid, a token). */
/** `json`: a structured value (sent as is in a JSON body, as its JSON text in a form). */
export type Value = string | { ref: string } | { jwt: SignedJwtSpec } | { json: unknown };
export type Param = [name: string, value: Value];

export interface SignedJwtSpec {
  alg: 'ES256' | 'EdDSA' | 'HS256';
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export type Body =
  | { type: 'none' }
  | { type: 'form'; params: Param[]; contentType?: string | null; gzip?: boolean }
  | { type: 'json'; params: Param[]; shape: 'object' | 'array' | 'nested'; contentType?: string | null }
  | { type: 'jsonValue'; value: unknown; contentType: string | null }
  | { type: 'raw'; text: string; contentType: string | null }
  | { type: 'huge'; bytes: number; fill: 'letters' | 'form' | 'json'; contentType: string | null };

export type CookieChoice = 'context' | 'none' | 'garbage' | 'context+garbage' | 'tampered';
export type CsrfChoice = { kind: 'valid' } | { kind: 'missing' } | { kind: 'twice' } | { kind: 'other' } | { kind: 'garbage'; value: string };
export type PathNoise = 'none' | 'trailing-slash' | 'double-slash' | 'dot-segment' | 'upper-case' | 'semicolon' | 'encoded-slash';

export interface Case {
  method: string;
  /** Values of the route's path parameters (`:uid`, `:id`…), by name. */
  pathParams: Record<string, PathValue>;
  pathNoise: PathNoise;
  query: Param[];
  /** Appended to the query string as is (bad percent-encoding, bare keys…). */
  rawQuery: string;
  body: Body;
  headers: Param[];
  cookies: CookieChoice;
  garbageCookie: string;
  csrf: CsrfChoice;
  /** Which of the route's contexts (browsers, enrolments) the request is sent in. */
  contextIndex: number;
  /** The address the proxy says the request came from (X-Forwarded-For): spread, so that throttling does not end the run's depth. */
  clientIp: string;
  /** The route's own credentials (a platform's Basic, an operator's Bearer token…), or none; `headers` may add garbage ones. */
  authorization: Value | null;
}

export type PathValue = { ref: string } | { literal: string } | { raw: string };

// ---- hostile values ----------------------------------------------------------------------------------------

const CONTROL = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\r\n', '\u000b', '\u000c', '\u001b', '\u007f', '\u0085', '\u00a0',
  '\u2028', '\u2029', '\u200b', '\u200e', '\u202e', '\ufeff', '\ufffd', '\ud800', '\udfff', '\uffff', '\u{10ffff}', '𝕏', '😀',
  '👨‍👩‍👧', 'é', 'e\u0301', 'İ', 'ß', '中文', '﷽', '\u0000\u0000', '%00', '\\u0000', '\\'];

export const SPECIALS = ['', ' ', '  \t ', '0', '-1', '007', '1e309', '-0', 'NaN', 'Infinity', '9007199254740993', 'null', 'undefined', 'true', 'false',
  '[]', '{}', '[object Object]', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__',
  '%', '%%', '%E0%A4%A', '%uD800', '%C0%AF', '../../../../etc/passwd', '..%2f..%2fetc%2fpasswd', '....//....//etc/passwd', '..\\..\\windows\\win.ini',
  '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' OR '1'='1", '{"$gt":""}', '{"$where":"sleep(1000)"}', '${7*7}', '{{7*7}}',
  '<%= it.t %>', '<%~ process.exit() %>', '#{7*7}', 'javascript:alert(1)', 'data:text/html,<b>x</b>', 'http://127.0.0.1:1/', 'https://localhost:1/cb',
  'http://localhost:4001/callback', 'https://[::1]:1/', 'file:///etc/passwd', 'urn:ietf:params:oauth:request_uri:AAAA', '\\\\evil\\share', 'a b', 'a+b',
  'a&b=c', '=', '&', ';', ',', '"', "'", '`', 'openid', 'openid verified age profile phone id_document offline_access', 'openid openid',
  'cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3', 'S256', 'plain', 'code', 'token', 'id_token', 'code id_token', 'none', 'login', 'consent',
  'select_account', 'create', 'approve', 'decline', 'someone_else', 'printed_photo', 'resident_id_card', 'passport', 'Bearer', 'Basic', 'DPoP',
  '2038-12-07', '2000-02-30', '0000-00-00', '123456', '000000', 'zh-CN', 'en', 'xx-YY', '+8600000000000',
  'platform-a', 'platform-b', 'platform-d', 'cyberid-account', 'fuzz-operator', 'form_post', 'query', 'fragment', 'jwt', 'query.jwt'];

/** Strings of any kind: ASCII, any Unicode (lone surrogates too), control characters, very long, JWT-shaped. */
export function hostileString(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.array(fc.oneof(fc.constantFrom(...CONTROL), fc.string({ maxLength: 3 })), { maxLength: 10 }).map((parts) => parts.join('')) },
    { weight: 3, arbitrary: fc.constantFrom(...SPECIALS) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('A', 'é', '中', '%', '\u0000', '0', 'a.'), fc.integer({ min: 1_000, max: 12_000 })).map(([c, n]) => c.repeat(n)) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double()).map(String) },
    { weight: 2, arbitrary: jwtGarbage() },
  );
}

/** Header-safe strings: node refuses control characters and anything above U+00FF in a header value. */
export function headerString(maxLength = 60): fc.Arbitrary<string> {
  const latin1 = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: latin1, maxLength }) },
    { weight: 2, arbitrary: fc.constantFrom(...SPECIALS.filter((s) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s))) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('A', 'é', '=', ',', ';', '"'), fc.integer({ min: 1_000, max: 9_000 })).map(([c, n]) => c.repeat(n)) },
    { weight: 2, arbitrary: jwtGarbage() },
  );
}

const b64u = (text: string | Uint8Array) => Buffer.from(text).toString('base64url');

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(null, true, 0, -1, 1e308, '', 'x', [], {}, Date.now() / 1000, Math.floor(Date.now() / 1000) + 60, 'http://localhost:4001/callback', 'platform-a') },
  { weight: 2, arbitrary: hostileStringShallow() },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Strings without the JWT branch (used inside JWTs, to keep generation finite). */
function hostileStringShallow(): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...SPECIALS));
}

const JWT_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'redirect_uri', 'response_type', 'scope', 'nonce', 'state',
  'code_challenge', 'code_challenge_method', 'events', 'sid', 'htm', 'htu', 'ath', 'nonce', 'request', 'request_uri', 'claims', 'max_age', 'acr'];

/** Strings shaped like JWTs (and JWEs): random headers with odd algorithms, keys and `crit`, random claims, bad signatures. */
export function jwtGarbage(): fc.Arbitrary<string> {
  const header = fc.record({
    alg: fc.constantFrom<unknown>('none', 'None', 'HS256', 'RS256', 'ES256', 'ES512', 'EdDSA', 'PS256', 'RSA-OAEP', 'dir', '', 0, null),
    typ: fc.constantFrom<unknown>('JWT', 'dpop+jwt', 'logout+jwt', 'oauth-authz-req+jwt', 'at+jwt', 'client-authentication+jwt', '', 7),
    kid: jsonish,
    jwk: fc.constantFrom<unknown>({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }, { kty: 'OKP', crv: 'Ed25519', x: '' }, { kty: 'RSA', n: 'AQAB', e: 'AQAB' }, { kty: 'oct', k: 'AAAA' }, 'x', {}),
    crit: fc.constantFrom<unknown>(['b64'], ['exp'], [], 'x'),
    b64: fc.boolean(),
    enc: fc.constantFrom<unknown>('A128GCM', 'A256CBC-HS512', 'x'),
    jku: fc.constantFrom('http://127.0.0.1:1/jwks', 'file:///etc/passwd'),
  }, { requiredKeys: ['alg'] });
  const payload = fc.dictionary(fc.constantFrom(...JWT_CLAIMS), jsonish, { maxKeys: 8 });
  const signature = fc.oneof(fc.constant(''), fc.uint8Array({ minLength: 1, maxLength: 96 }).map(b64u), fc.constantFrom('AAAA', '====', '+/+/', '.'));
  const segment = fc.oneof(fc.uint8Array({ maxLength: 40 }).map(b64u), fc.constantFrom('', 'eyJ', 'e30', 'bnVsbA', 'W10', '%%', '..', '\u00e9'), fc.string({ maxLength: 12 }));
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(header, payload, signature).map(([h, p, s]) => `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(p))}.${s}`) },
    { weight: 1, arbitrary: fc.tuple(header, payload).map(([h, p]) => `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(p))}.`) },
    { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')) },
    { weight: 1, arbitrary: fc.tuple(segment, segment, segment, segment, segment).map((parts) => parts.join('.')) },
  );
}

/** A JWT really signed (with a key of the fuzzer, or HS256 with a platform's secret) carrying random claims. */
export function signedJwt(claims: string[] = JWT_CLAIMS): fc.Arbitrary<{ jwt: SignedJwtSpec }> {
  return fc.record({
    alg: fc.constantFrom('ES256' as const, 'EdDSA' as const, 'HS256' as const),
    header: fc.record({
      typ: fc.constantFrom<unknown>('dpop+jwt', 'JWT', 'oauth-authz-req+jwt', 'logout+jwt', 'x'),
      kid: fc.constantFrom<unknown>('auto', 'auto', 'auto', 'fuzz', '', 1),
      embedJwk: fc.boolean(),
    }, { requiredKeys: [] }),
    payload: fc.dictionary(fc.constantFrom(...claims), jsonish, { maxKeys: 8 }),
  }).map((jwt) => ({ jwt }));
}

type FuzzKey = { privateKey: CryptoKey; jwk: JWK };
let signingKeys: Promise<{ es256: FuzzKey; eddsa: FuzzKey }> | undefined;

/** The fuzzer's own signing keys (ES256 and EdDSA, kids `fuzz-es256` and `fuzz-eddsa`), made once. */
export function fuzzKeys(): Promise<{ es256: FuzzKey; eddsa: FuzzKey }> {
  signingKeys ??= (async () => {
    const es = await generateKeyPair('ES256', { extractable: true });
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    return {
      es256: { privateKey: es.privateKey, jwk: { ...await exportJWK(es.publicKey), kid: 'fuzz-es256', alg: 'ES256', use: 'sig' } },
      eddsa: { privateKey: ed.privateKey, jwk: { ...await exportJWK(ed.publicKey), kid: 'fuzz-eddsa', alg: 'EdDSA', use: 'sig' } },
    };
  })();
  return signingKeys;
}

async function sign(spec: SignedJwtSpec, hmacSecret: string): Promise<string> {
  const keys = await fuzzKeys();
  const { embedJwk, ...header } = spec.header as { embedJwk?: boolean } & Record<string, unknown>;
  const key = spec.alg === 'ES256' ? keys.es256 : keys.eddsa;
  if (header.kid === 'auto') header.kid = key.jwk.kid;
  const protectedHeader = { ...header, alg: spec.alg, ...(embedJwk && spec.alg !== 'HS256' ? { jwk: { kty: key.jwk.kty, crv: key.jwk.crv, x: key.jwk.x, y: key.jwk.y } } : {}) };
  const jwt = new SignJWT(spec.payload as Record<string, unknown>).setProtectedHeader(protectedHeader as never);
  return spec.alg === 'HS256' ? jwt.sign(new TextEncoder().encode(hmacSecret)) : jwt.sign(key.privateKey);
}

// ---- parameters ---------------------------------------------------------------------------------------------

export interface ParamSpec {
  /** A plausible request: each parameter is kept, dropped, replaced, duplicated or renamed (`name[]`). */
  base?: Record<string, Value>;
  /** Other names worth trying. */
  names?: string[];
  /** Values worth trying for a name (besides hostile strings). */
  values?: Record<string, fc.Arbitrary<Value>>;
  maxExtra?: number;
}

const HOSTILE_NAMES = ['__proto__', 'constructor', 'prototype', '__proto__[admin]', 'constructor[prototype][admin]', 'a[b][c][d][e][f][g]', '', ' ',
  '%00', '\u0000', 'x'.repeat(300), 'claims[0]', 'csrf[]', 'csrf[a]', 'scope[]', 'client_id[]', 'redirect_uri[]', 'a.b', '$where', 'lang', 'ui_locales'];

function nameArb(names: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: names.length ? 5 : 0, arbitrary: names.length ? fc.constantFrom(...names) : fc.constant('x') },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_NAMES) },
    { weight: 1, arbitrary: hostileString(20) },
  );
}

function valueArb(spec: ParamSpec, name: string): fc.Arbitrary<Value> {
  const own = spec.values && Object.hasOwn(spec.values, name) ? spec.values[name] : undefined;
  return own ? fc.oneof({ weight: 3, arbitrary: own }, { weight: 2, arbitrary: hostileString() }) : hostileString();
}

export function paramsArb(spec: ParamSpec): fc.Arbitrary<Param[]> {
  // Extra parameters: the other names the endpoint knows, and hostile ones (a base parameter is doubled by its own mutation above).
  const baseNames = new Set(Object.keys(spec.base ?? {}));
  const names = [...new Set([...(spec.names ?? []), ...Object.keys(spec.values ?? {})])].filter((name) => !baseNames.has(name));
  const base = Object.entries(spec.base ?? {}).map(([name, value]) => fc.oneof(
    { weight: 10, arbitrary: fc.constant<Param[]>([[name, value]]) },
    { weight: 2, arbitrary: fc.constant<Param[]>([]) },
    { weight: 3, arbitrary: valueArb(spec, name).map((v): Param[] => [[name, v]]) },
    { weight: 1, arbitrary: valueArb(spec, name).map((v): Param[] => [[name, value], [name, v]]) },
    { weight: 1, arbitrary: fc.constantFrom(`${name}[]`, `${name}[x]`, `${name}[0][1]`, name.toUpperCase(), ` ${name}`).map((n): Param[] => [[n, value]]) },
  ));
  const extra = fc.array(nameArb(names).chain((name) => valueArb(spec, name).map((value): Param => [name, value])), { maxLength: spec.maxExtra ?? 3 });
  return fc.tuple(fc.tuple(...base), extra).map(([kept, more]) => [...kept.flat(), ...more]);
}

// ---- bodies, headers, cookies -------------------------------------------------------------------------------

const CONTENT_TYPES = ['application/x-www-form-urlencoded', 'application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded; charset=ISO-8859-1',
  'application/x-www-form-urlencoded; charset=utf-7', 'application/json; charset=utf-16', 'application/jwt', 'application/merge-patch+json', 'text/plain', 'text/html',
  'application/xml', 'multipart/form-data; boundary=fuzz', 'multipart/form-data', 'application/octet-stream', '*/*', '', 'json', 'application/json;;;', 'x/y; a="'];

const contentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<string | null>(...CONTENT_TYPES, null) },
  { weight: 1, arbitrary: headerString(30) },
);

const MALFORMED = ['{', '}', '{"a":', '{"a":1,}', "{'a':1}", '[1,2', 'nul', 'tru', '"unterminated', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}',
  '{"a":1}{"b":2}', '\ufeff{"a":1}', '{"a":"\\ud800"}', '{"a":"\\u0000"}', '1e99999', '-', '{"a":1e400}', `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
  `${'{"a":'.repeat(3_000)}1${'}'.repeat(3_000)}`, 'a=1&a=2&a[]=3&a[b]=4', 'a[__proto__][x]=1', `${'a[b]'.repeat(200)}=1`, '&&&==&', '%ZZ=%E0%A4%A', '\u0000\u0001\u0002',
  '--fuzz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nx\r\n--fuzz--\r\n', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'];

export function bodyArb(primary: 'form' | 'json' | 'none', spec: ParamSpec): fc.Arbitrary<Body> {
  const params = paramsArb(spec);
  // Mostly the content type the route expects (undefined: the default for the encoding), sometimes any other.
  const contentType = fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: contentTypeArb });
  const form = fc.record({ type: fc.constant('form' as const), params, contentType, gzip: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }, { requiredKeys: ['type', 'params'] });
  const json = fc.record({ type: fc.constant('json' as const), params, shape: fc.constantFrom('object' as const, 'object' as const, 'object' as const, 'array' as const, 'nested' as const), contentType }, { requiredKeys: ['type', 'params', 'shape'] });
  const jsonValue = fc.record({ type: fc.constant('jsonValue' as const), value: fc.jsonValue({ maxDepth: 4 }), contentType: fc.constantFrom<string | null>('application/json', 'application/x-www-form-urlencoded', null) });
  const raw = fc.record({ type: fc.constant('raw' as const), text: fc.oneof(fc.constantFrom(...MALFORMED), hostileString(200)), contentType: contentTypeArb });
  const huge = fc.record({
    type: fc.constant('huge' as const),
    bytes: fc.constantFrom(4 * 1024 + 1, 16 * 1024 + 1, 64 * 1024 + 1, 256 * 1024 + 1, 1024 * 1024, 1024 * 1024 + 7),
    fill: fc.constantFrom('letters' as const, 'form' as const, 'json' as const),
    contentType: fc.constantFrom<string | null>('application/x-www-form-urlencoded', 'application/json', 'text/plain', null),
  });
  const primaryArb = primary === 'json' ? json : form;
  return fc.oneof(
    { weight: primary === 'none' ? 2 : 45, arbitrary: primaryArb as fc.Arbitrary<Body> },
    { weight: 4, arbitrary: (primary === 'json' ? form : json) as fc.Arbitrary<Body> },
    { weight: 4, arbitrary: raw as fc.Arbitrary<Body> },
    { weight: 2, arbitrary: jsonValue as fc.Arbitrary<Body> },
    { weight: primary === 'none' ? 12 : 3, arbitrary: fc.constant<Body>({ type: 'none' }) },
    { weight: 2, arbitrary: huge as fc.Arbitrary<Body> },
  );
}

const ACCEPTS = ['text/html', 'application/json', '*/*', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'application/json, text/html;q=0.5',
  'text/html;q=0, application/json', 'text/plain', '', 'image/png', 'application/*', 'text/*', '*/*;q=0', 'application/json;q=abc', ';;;,', 'text/html;level=1;q=0.7'];

export interface HeaderSpec {
  /** Authorization values worth trying besides garbage (e.g. `Basic <valid>`, `Bearer <token ref>`). */
  authorization?: fc.Arbitrary<Value>[];
  /** Whether a DPoP proof header is meaningful here. */
  dpop?: boolean;
}

/** Extra request headers: Authorization garbage, DPoP garbage, Accept, language, long values, duplicates. */
export function headersArb(spec: HeaderSpec = {}): fc.Arbitrary<Param[]> {
  const basic = fc.oneof(
    fc.tuple(headerString(30), headerString(30)).map(([user, pass]) => `Basic ${Buffer.from(`${user}:${pass}`, 'latin1').toString('base64')}`),
    fc.tuple(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 20 })).map(([u, p]) => `Basic ${Buffer.from(`${encodeURIComponent(u)}:${p}`).toString('base64')}`),
    fc.constantFrom('Basic', 'Basic ', 'Basic ====', 'Basic !!!', 'Basic Og==', 'Basic OjpYOjo=', `Basic ${'QUFB'.repeat(2_000)}`, 'basic cGxhdGZvcm0tYTp4'),
  );
  const authorization: fc.Arbitrary<Value> = fc.oneof(
    { weight: 3, arbitrary: basic },
    { weight: 2, arbitrary: fc.oneof(jwtGarbage(), headerString(40)).map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: jwtGarbage().map((t) => `DPoP ${t}`) },
    { weight: 1, arbitrary: headerString(80) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer  x', 'Bearer a b', 'Negotiate YII=', 'Digest username="x"', 'Bearer '.repeat(500)) },
    ...(spec.authorization ?? []).map((arbitrary) => ({ weight: 6, arbitrary })),
  );
  const header = fc.oneof(
    { weight: 6, arbitrary: authorization.map((v): Param => ['authorization', v]) },
    { weight: spec.dpop ? 4 : 1, arbitrary: fc.oneof(jwtGarbage() as fc.Arbitrary<Value>, signedJwt(['htm', 'htu', 'iat', 'jti', 'ath', 'nonce']), headerString(40)).map((v): Param => ['dpop', v]) },
    { weight: 4, arbitrary: fc.oneof(fc.constantFrom(...ACCEPTS), headerString(30)).map((v): Param => ['accept', v]) },
    { weight: 2, arbitrary: fc.oneof(fc.constantFrom('en', 'zh-CN', '*', 'en;q=abc', 'zh-Hant-TW, en;q=0.1', ''), headerString(30)).map((v): Param => ['accept-language', v]) },
    { weight: 2, arbitrary: headerString(40).map((v): Param => ['x-csrf-token', v]) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('null', 'http://localhost:4001', 'https://evil.example'), headerString(30)).map((v): Param => ['origin', v]) },
    { weight: 1, arbitrary: headerString(200).map((v): Param => ['user-agent', v]) },
    { weight: 1, arbitrary: headerString(30).map((v): Param => ['x-request-id', v]) },
    { weight: 2, arbitrary: fc.oneof(
      fc.constant<Value>({ ref: 'clientCert' }),
      fc.uint8Array({ maxLength: 300 }).map((bytes): Value => `:${Buffer.from(bytes).toString('base64')}:`),
      fc.constantFrom<Value>(':', '::', ':AAAA:', ':====:', 'MIIB', `:${'A'.repeat(8_000)}:`, ':*:'),
      headerString(40),
    ).map((v): Param => ['client-cert', v]) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('bytes=0-1', 'bytes=-1', 'bytes=9-1', 'x'), headerString(10)).map((v): Param => ['range', v]) },
    { weight: 1, arbitrary: headerString(20).map((v): Param => ['if-none-match', v]) },
    { weight: 1, arbitrary: fc.tuple(hostileNameForHeader(), headerString(60)).map(([n, v]): Param => [n, v]) },
  );
  return fc.array(header, { maxLength: 4 });
}

/**
 * Content-Encoding on a body: valid and broken gzip, deflate and brotli claims, unknown codings. (A property of its own:
 * it is one cause across every route that reads a body.)
 */
export function contentEncodingArb(): fc.Arbitrary<Param> {
  return fc.oneof(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-fuzz', 'gzip, gzip', 'compress', 'GZIP', '*'), headerString(10)).map((v): Param => ['content-encoding', v]);
}

/**
 * What the TLS-terminating proxy would send, forged: Host, X-Forwarded-Host, -Proto, -For and Forwarded with
 * empty, foreign, malformed and very long values. (A property of its own: one cause across every route.)
 */
export function proxyHeadersArb(): fc.Arbitrary<Param[]> {
  const host = fc.oneof(fc.constantFrom('', ' ', 'localhost', 'evil.example', 'evil.example:99999', '[::1]:1', '[::1', 'a b', 'a/b', '@', 'user@evil.example', '..', 'a'.repeat(300), 'localhost:0'), headerString(20));
  const header = fc.oneof(
    host.map((v): Param => ['host', v]),
    host.map((v): Param => ['x-forwarded-host', v]),
    fc.oneof(fc.constantFrom('https', 'http', '', 'ftp', 'https, http', 'javascript'), headerString(10)).map((v): Param => ['x-forwarded-proto', v]),
    fc.oneof(fc.constantFrom('', 'unknown', '1.2.3.4, 5.6.7.8', '::1', '[::1]:80', 'a'.repeat(500)), headerString(30)).map((v): Param => ['x-forwarded-for', v]),
    fc.oneof(fc.constantFrom('for=1.2.3.4;proto=https;host=evil.example', 'for="[::1]"', ';;;'), headerString(30)).map((v): Param => ['forwarded', v]),
  );
  return fc.array(header, { minLength: 1, maxLength: 3 });
}

function hostileNameForHeader(): fc.Arbitrary<string> {
  return fc.constantFrom('x-fuzz', 'x-http-method-override', 'x-original-url', 'x-rewrite-url', 'te', 'prefer', 'content-language', 'referer', 'if-modified-since');
}

/** A Cookie header's worth of garbage: our cookie names with forged values, random names, very long. */
export function cookieGarbageArb(): fc.Arbitrary<string> {
  const names = fc.constantFrom('_session', '_session.sig', '_session.legacy', '_interaction', '_interaction.sig', '_interaction_resume', '_interaction_resume.sig',
    'cyberid_csrf', 'cyberid_csrf.sig', 'cyberid_enrolment', 'cyberid_enrolment.sig', 'cyberid_guardian', 'cyberid_guardian.sig', 'cyberid_account',
    'cyberid_account.sig', 'cyberid_account_flow', 'cyberid_account_flow.sig', 'lang', '__proto__', '', 'x');
  const value = fc.oneof(fc.string({ maxLength: 30 }).map((s) => s.replace(/[;\s,"\\]/g, '')), fc.uint8Array({ maxLength: 40 }).map(b64u), fc.constantFrom('', '%', '%E0%A4%A', 'a'.repeat(9_000), '"x"', '=='));
  return fc.array(fc.tuple(names, value).map(([n, v]) => `${n}=${v}`), { minLength: 1, maxLength: 6 }).map((pairs) => pairs.join('; '));
}

export function csrfArb(): fc.Arbitrary<CsrfChoice> {
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant<CsrfChoice>({ kind: 'valid' }) },
    { weight: 2, arbitrary: fc.constant<CsrfChoice>({ kind: 'missing' }) },
    { weight: 1, arbitrary: fc.constant<CsrfChoice>({ kind: 'twice' }) },
    { weight: 1, arbitrary: fc.constant<CsrfChoice>({ kind: 'other' }) },
    { weight: 2, arbitrary: hostileString(50).map((value): CsrfChoice => ({ kind: 'garbage', value })) },
  );
}

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH', 'FUZZ', 'LINK', 'QUERY'];

/** Where a path parameter's good values come from: run-time references (a uid, a token) or fixed names. */
export interface PathChoices {
  refs?: string[];
  literals?: string[];
  /** The parameter picks one of several routes (not a value the route takes): no hostile values (see the unknown-paths property). */
  only?: boolean;
}

export function pathValueArb(choices: PathChoices): fc.Arbitrary<PathValue> {
  const good: fc.Arbitrary<PathValue>[] = [
    ...(choices.refs ?? []).map((ref) => fc.constant<PathValue>({ ref })),
    ...(choices.literals ?? []).map((literal) => fc.constant<PathValue>({ literal })),
  ];
  if (choices.only) return fc.oneof(...good);
  return fc.oneof(
    { weight: good.length ? 12 : 0, arbitrary: good.length ? fc.oneof(...good) : fc.constant<PathValue>({ literal: 'x' }) },
    { weight: 3, arbitrary: hostileString(60).map((literal): PathValue => ({ literal })) },
    { weight: 2, arbitrary: fc.constantFrom('%E0%A4%A', '%ZZ', '%', '%00', '%2e%2e%2f%2e%2e%2fpackage.json', '..%2F..%2Fpackage.json', '%2e%2e', '.', '..', '%C0%AE%C0%AE',
      '%ff%fe', '%uD800', `${'A'.repeat(5_000)}`, 'a%2Fb', '%252e%252e', '\u00e9', '..;', '%0d%0aSet-Cookie:%20x=1', '..%5c..%5cpackage.json', '%2e%2e/%2e%2e/package.json',
      '....//....//package.json', '..%252f..%252fpackage.json', '/etc/passwd', '%2fetc%2fpasswd').map((raw): PathValue => ({ raw })) },
  );
}

export const PATH_NOISES: PathNoise[] = ['trailing-slash', 'double-slash', 'dot-segment', 'upper-case', 'semicolon', 'encoded-slash'];

export function caseArb(options: {
  method: fc.Arbitrary<string>;
  pathNoise?: fc.Arbitrary<PathNoise>;
  pathParams: Record<string, PathChoices>;
  query?: ParamSpec;
  body: 'form' | 'json' | 'none';
  fields?: ParamSpec;
  headers?: HeaderSpec;
}): fc.Arbitrary<Case> {
  const pathParams = Object.keys(options.pathParams).length
    ? fc.record(Object.fromEntries(Object.entries(options.pathParams).map(([name, choices]) => [name, pathValueArb(choices)])) as Record<string, fc.Arbitrary<PathValue>>)
    : fc.constant({});
  return fc.record({
    method: options.method,
    pathParams,
    pathNoise: options.pathNoise ?? fc.constant<PathNoise>('none'),
    query: options.query ? paramsArb(options.query) : fc.array(fc.tuple(nameArb(['lang', 'return', 'again', 'for']), hostileString()).map(([n, v]): Param => [n, v]), { maxLength: 2 }),
    rawQuery: fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('&', '&&', 'a', '=', '%ZZ=1', 'a=%E0%A4%A', 'a=%00', `a=${'b'.repeat(10_000)}`, 'a[b]=1&a[c][d]=2', '__proto__[x]=1', 'a=1;b=2', '?', 'lang=%E0', 'lang[]=en') }),
    body: bodyArb(options.body, options.fields ?? {}),
    headers: headersArb(options.headers),
    cookies: fc.oneof({ weight: 24, arbitrary: fc.constant<CookieChoice>('context') }, { weight: 1, arbitrary: fc.constantFrom<CookieChoice>('none', 'garbage', 'context+garbage', 'tampered') }),
    authorization: options.headers?.authorization?.length
      ? fc.oneof({ weight: 8, arbitrary: fc.oneof(...options.headers.authorization) }, { weight: 1, arbitrary: fc.constant(null) })
      : fc.constant(null),
    garbageCookie: cookieGarbageArb(),
    csrf: csrfArb(),
    contextIndex: fc.nat({ max: 7 }),
    clientIp: fc.oneof(
      { weight: 20, arbitrary: fc.ipV4() },
      { weight: 2, arbitrary: fc.ipV6() },
      { weight: 1, arbitrary: fc.constantFrom('', 'unknown', '127.0.0.1, 10.0.0.1', '::ffff:127.0.0.1', '1.2.3.4:80', '[::1]', '999.999.999.999', `${'1.'.repeat(3_000)}1`) },
    ),
  });
}

// ---- building the request --------------------------------------------------------------------------------

export interface Resolver {
  /** The value of a run-time reference (made when asked: a freshly signed JWT, say), or undefined when the context has none. */
  ref(name: string): string | undefined | Promise<string | undefined>;
  /** The Cookie header a browser in this context sends to `path` (cookies are path-scoped: an interaction's are sent to its own URLs only). */
  cookies(path: string): Promise<string>;
  csrf?: string | undefined;
  otherCsrf?: string | undefined;
  hmacSecret: string;
}

export interface WireRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
}

export interface RouteShape {
  path: string;
  /** Where the CSRF token goes: a form field (name), the X-CSRF-Token header, or nowhere. */
  csrf?: { field: string } | 'header';
}

export async function build(route: RouteShape, c: Case, resolver: Resolver, requestId: string): Promise<WireRequest> {
  const resolveJson = async (value: Value): Promise<unknown> => {
    if (typeof value === 'string') return value;
    if ('ref' in value) return (await resolver.ref(value.ref)) ?? `missing-${value.ref}`;
    if ('json' in value) return value.json;
    return sign(value.jwt, resolver.hmacSecret);
  };
  const resolve = async (value: Value): Promise<string> => {
    const resolved = await resolveJson(value);
    return typeof resolved === 'string' ? resolved : JSON.stringify(resolved) ?? 'null';
  };
  const resolveAll = async (params: Param[]) => Promise.all(params.map(async ([n, v]): Promise<[string, string]> => [n, await resolve(v)]));

  // Path
  const pathRefs = new Map<string, string>();
  for (const value of Object.values(c.pathParams)) if ('ref' in value) pathRefs.set(value.ref, (await resolver.ref(value.ref)) ?? `missing-${value.ref}`);
  let path = route.path.replace(/:([a-z]+)/gi, (whole, name: string) => {
    const value = c.pathParams[name];
    if (!value) return whole;
    if ('ref' in value) return encodeURIComponent(pathRefs.get(value.ref)!.toWellFormed());
    if ('raw' in value) return value.raw;
    return encodeURIComponent(value.literal.toWellFormed());
  });
  path = applyNoise(path, c.pathNoise);

  // CSRF
  const csrfValues: string[] = [];
  if (route.csrf) {
    const csrf = c.csrf;
    if (csrf.kind === 'valid' && resolver.csrf) csrfValues.push(resolver.csrf);
    if (csrf.kind === 'twice') csrfValues.push(resolver.csrf ?? 'x', 'garbage');
    if (csrf.kind === 'other') csrfValues.push(resolver.otherCsrf ?? 'other');
    if (csrf.kind === 'garbage') csrfValues.push(csrf.value);
  }

  // Query
  const query = new URLSearchParams(await resolveAll(c.query)).toString();
  const fullQuery = [query, c.rawQuery].filter(Boolean).join('&');
  if (fullQuery) path += `?${fullQuery}`;

  const headers: Record<string, string | string[]> = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const existing = headers[key];
    headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  };
  add('x-request-id', requestId);
  if (c.clientIp) add('x-forwarded-for', c.clientIp);
  if (c.authorization !== null) add('authorization', toHeader(await resolve(c.authorization)));

  // Body
  let body: Buffer | undefined;
  let contentType: string | null | undefined;
  const b = c.body;
  const csrfField = route.csrf && route.csrf !== 'header' ? route.csrf.field : undefined;
  if (b.type === 'form') {
    const params = await resolveAll(b.params);
    if (csrfField) for (const value of csrfValues) params.push([csrfField, value]);
    body = Buffer.from(new URLSearchParams(params).toString());
    contentType = b.contentType === undefined ? 'application/x-www-form-urlencoded' : b.contentType;
    if (b.gzip) {
      body = gzipSync(body);
      add('content-encoding', 'gzip');
    }
  } else if (b.type === 'json') {
    const params = await Promise.all(b.params.map(async ([n, v]): Promise<[string, unknown]> => [n, await resolveJson(v)]));
    if (csrfField) for (const value of csrfValues) params.push([csrfField, value]);
    const object = Object.fromEntries(params);
    const value = b.shape === 'object' ? object : b.shape === 'array' ? params : { data: object, [params[0]?.[0] ?? 'x']: [object] };
    body = Buffer.from(JSON.stringify(value));
    contentType = b.contentType === undefined ? 'application/json' : b.contentType;
  } else if (b.type === 'jsonValue') {
    body = Buffer.from(JSON.stringify(b.value) ?? 'null');
    contentType = b.contentType;
  } else if (b.type === 'raw') {
    body = Buffer.from(b.text);
    contentType = b.contentType;
  } else if (b.type === 'huge') {
    const unit = b.fill === 'form' ? 'a=b&' : b.fill === 'json' ? '["aaaaaaaa"],' : 'aaaaaaaa';
    const text = b.fill === 'json' ? `{"a":[${unit.repeat(Math.ceil(b.bytes / unit.length)).slice(0, b.bytes - 10)}1]}` : unit.repeat(Math.ceil(b.bytes / unit.length)).slice(0, b.bytes);
    body = Buffer.from(text);
    contentType = b.contentType;
  }
  if (body && contentType !== null && contentType !== undefined) add('content-type', contentType);
  if (route.csrf === 'header') for (const value of csrfValues) add('x-csrf-token', toHeader(value));

  // Cookies
  const cookieParts: string[] = [];
  if (c.cookies === 'context' || c.cookies === 'context+garbage') cookieParts.push(await resolver.cookies(path));
  if (c.cookies === 'tampered') cookieParts.push((await resolver.cookies(path)).replace(/=([^;]{4})/g, '=X$1'));
  if (c.cookies === 'garbage' || c.cookies === 'context+garbage') cookieParts.push(c.garbageCookie);
  const cookie = cookieParts.filter(Boolean).join('; ');
  if (cookie) add('cookie', toHeader(cookie));

  for (const [name, value] of c.headers) {
    const resolved = toHeader(await resolve(value));
    // Replaced, not doubled: node takes one Host, and the server the first Authorization.
    if (['x-request-id', 'x-forwarded-for', 'host', 'content-encoding', 'authorization'].includes(name)) headers[name] = resolved;
    else add(name, resolved);
  }
  return { method: c.method, path, headers, ...(body ? { body } : {}) };
}

/** Header values must be Latin-1 without control characters; others are percent-escaped. */
function toHeader(value: string): string {
  return value.replace(/[^\t\x20-\x7e\x80-\xff]/gu, (ch) => `%u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

function applyNoise(path: string, noise: PathNoise): string {
  switch (noise) {
    case 'none': return path;
    case 'trailing-slash': return `${path}/`;
    case 'double-slash': return `/${path}`;
    case 'dot-segment': return path.replace(/^\/([^/]*)/, '/./$1/../$1');
    case 'upper-case': return path.toUpperCase();
    case 'semicolon': return `${path};jsessionid=fuzz`;
    case 'encoded-slash': return path.replace(/\/(?=[^/]*$)/, '%2F');
  }
}

// ---- sending -------------------------------------------------------------------------------------------------

export interface WireResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** Node's HTTP server refuses a request head (request line and headers) above 16 KiB with 431 and closes the connection. */
export const MAX_HEAD_BYTES = 16 * 1024;

export function headBytes(request: WireRequest): number {
  const lines = Object.entries(request.headers).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}\r\n`));
  return Buffer.byteLength(`${request.method} ${request.path} HTTP/1.1\r\n${lines.join('')}\r\n`, 'latin1');
}

export function send(base: URL, request: WireRequest, timeoutMs = 30_000): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...request.headers };
    // Always framed: node would send a GET's or DELETE's body without a length, and the server would read it as the next request.
    if (request.body) headers['content-length'] = String(request.body.length);
    let answered = false;
    const req = http.request({
      host: base.hostname, port: base.port, method: request.method, path: request.path, headers, agent,
      // Send the Host header as given when the case sets one (node would otherwise add its own).
      setHost: !('host' in request.headers),
    }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      if (answered) return; // the server answered (early, before the whole body was sent) and closed: the answer counts
      clearTimeout(timer);
      reject(error);
    });
    req.end(request.body);
  });
}

/**
 * Sends bytes on a raw socket (for what node's HTTP client refuses to send: NUL and control characters in
 * the request line and headers, obsolete line folding, conflicting lengths) and reads the answer's status.
 * `undefined` when the server closed the connection without an answer.
 */
export function sendRaw(base: URL, bytes: Buffer, timeoutMs = 15_000): Promise<{ status: number | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => { /* a reset is an answer too: reported as a close */ });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : undefined, text });
    });
    socket.end(bytes);
  });
}

// ---- judging the answer ------------------------------------------------------------------------------------

/**
 * What an endpoint answers: `json` (OAuth/OIDC endpoints and the JSON APIs: errors are `{error, error_description?}`),
 * `html` (pages for people: errors are pages), `asset` (static files), `text` (metrics).
 */
export type Kind = 'json' | 'html' | 'asset' | 'text';

/**
 * Which of HTML and JSON the request prefers: `either` on a tie (or no Accept header), `neither` when it takes
 * neither, `unreadable` when the header cannot be read (then anything goes, as long as it is well formed).
 */
export function preference(accept: string | string[] | undefined): 'html' | 'json' | 'either' | 'neither' | 'unreadable' {
  const header = Array.isArray(accept) ? accept.join(',') : accept;
  // An empty Accept is read as none at all (Koa does the same): any type.
  if (header === undefined || !header.trim()) return 'either';
  let html = 0;
  let json = 0;
  let htmlSpecificity = -1;
  let jsonSpecificity = -1;
  for (const part of header.split(',')) {
    if (!part.trim()) continue;
    const match = /^\s*([^\s/;]+)\/([^;\s]+)\s*(?:;(.*))?$/.exec(part);
    if (!match) return 'unreadable';
    const [, type, subtype, params = ''] = match;
    const qParam = /(?:^|;)\s*q=([^;]*)/.exec(params)?.[1];
    const q = qParam === undefined ? 1 : Number(qParam);
    if (Number.isNaN(q)) return 'unreadable';
    // A range with parameters besides q (text/html;level=1) matches only a type with those parameters: not ours.
    const extraParams = params.split(';').some((param) => param.trim() && !/^\s*q=/.test(param));
    const matches = (t: string, s: string) => !extraParams && (type === '*' || type === t) && (subtype === '*' || subtype === s);
    const specificity = (type === '*' ? 0 : 4) + (subtype === '*' ? 0 : 2);
    if (matches('text', 'html') && specificity > htmlSpecificity) [html, htmlSpecificity] = [q, specificity];
    if (matches('application', 'json') && specificity > jsonSpecificity) [json, jsonSpecificity] = [q, specificity];
  }
  if (html <= 0 && json <= 0) return 'neither';
  if (html === json) return 'either';
  return html > json ? 'html' : 'json';
}

export function isStandardJsonError(text: string): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const { error, error_description: description } = body as { error?: unknown; error_description?: unknown };
    return typeof error === 'string' && error.length > 0 && (description === undefined || typeof description === 'string');
  } catch {
    return false;
  }
}

export function isHtmlPage(response: WireResponse): boolean {
  return /^text\/html\b/i.test(String(response.headers['content-type'] ?? '')) && /^\s*<!doctype html>/i.test(response.text) && /<\/html>\s*$/i.test(response.text);
}

const STACK_PATTERNS: [string, RegExp][] = [
  ['a stack frame', /^\s*at (?:async )?\S.*[(\s](?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+\)?\s*$/m],
  ['node_modules', /node_modules/],
  ['an error dump', /\b(?:[A-Z][A-Za-z]*)?Error: \S/],
  ['a stack property', /"stack"\s*:/],
];

/**
 * Everything wrong with an answer (empty when it is fine): a 5xx; a body that does not parse as its
 * content type says; an error that is not in the endpoint's standard shape; a stack trace anywhere.
 */
export function problemsWith(kind: Kind, request: WireRequest, response: WireResponse, requestText: string, options: { judgeFallback404?: boolean | 'only' } = {}): string[] {
  const problems: string[] = [];
  const { status } = response;
  const fallback404 = status === 404 && /^text\/plain\b/i.test(String(response.headers['content-type'] ?? '')) && response.text === 'Not Found';
  if (options.judgeFallback404 === 'only' && !fallback404) return problems;
  if (status >= 500) problems.push(`status ${status}`);
  const type = String(response.headers['content-type'] ?? '');
  // Refused by node's HTTP layer before the application saw it (bad Host, header overflow): a bare status line.
  const fromNode = response.headers['x-request-id'] === undefined && response.body.length === 0 && !type;
  if (fromNode) return problems;
  const head = request.method === 'HEAD';
  if (!head && kind !== 'asset') {
    for (const [what, pattern] of STACK_PATTERNS) {
      const found = pattern.exec(response.text)?.[0];
      if (found && !requestText.includes(found.trim())) problems.push(`${what} in the body: ${JSON.stringify(found.slice(0, 120))}`);
    }
  }
  if (head || response.body.length === 0 && status < 400) return problems;
  // Koa's own answer for a path or method nobody serves: judged by the property about unknown paths only.
  if (!options.judgeFallback404 && fallback404) return problems;
  // A redirect's body is Koa's one-line "Redirecting to …".
  if (status >= 300 && status < 400) return problems;
  if (/\bjson\b/i.test(type)) {
    try {
      JSON.parse(response.text);
    } catch {
      problems.push(`a ${type} body that is not JSON`);
    }
  }
  if (/^text\/html\b/i.test(type) && !isHtmlPage(response)) problems.push('a text/html body that is not an HTML page');
  if (status >= 400) {
    const prefers = preference(request.headers.accept);
    const json = isStandardJsonError(response.text);
    const html = isHtmlPage(response);
    const jsonOk = json && (kind !== 'html' || prefers !== 'html');
    const htmlOk = html && (kind === 'html' || kind === 'asset' || prefers === 'html' || prefers === 'either' || prefers === 'unreadable');
    // A client that takes neither HTML nor JSON (or whose Accept cannot be read) may get a short plain-text status line (Koa's own).
    const plainOk = (prefers === 'neither' || prefers === 'unreadable') && /^text\/plain\b/i.test(type) && response.text.length < 200;
    if (!jsonOk && !htmlOk && !plainOk) {
      const shape = json ? 'a JSON error' : html ? 'an HTML page' : `${type || 'no content type'}: ${JSON.stringify(response.text.slice(0, 80))}`;
      problems.push(`a ${status} answer that is not the ${kind === 'html' ? 'error page' : 'JSON error'} expected (Accept: ${JSON.stringify(request.headers.accept ?? null)}; got ${shape})`);
    }
  }
  return problems;
}

/** A replayable description of a request (curl). */
export function curlOf(base: URL, request: WireRequest): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const parts = ['curl', '-i', '-X', request.method];
  for (const [name, value] of Object.entries(request.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) parts.push('-H', quote(`${name}: ${v.length > 300 ? `${v.slice(0, 300)}…(${v.length} chars)` : v}`));
  }
  if (request.body) {
    const text = request.body.toString('latin1');
    parts.push('--data-binary', text.length > 400 ? `<${request.body.length} bytes: ${quote(text.slice(0, 200))}…>` : quote(text));
  }
  parts.push(quote(`${base.origin}${request.path.length > 600 ? `${request.path.slice(0, 600)}…(${request.path.length} chars)` : request.path}`));
  return parts.join(' ');
}
