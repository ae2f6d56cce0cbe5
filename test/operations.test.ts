// Operations, as an operator and a load balancer see the real `node server/main.ts` process over HTTP:
// - /metrics (Prometheus text, parsed here) after real platform sign-ins with openid-client — a wrong password, a
//   sign-in with password (and a one-time code where the platform asks), an approved and a refused consent, a code
//   redemption, userinfo and a refresh — moves each of Cyber ID's series by exactly what happened: request latency
//   by route template, sign-in attempts, tokens issued, consent decisions, store operations; the default process
//   metrics are there; and no label value anywhere carries a raw path, a query string, an interaction id, a code, a
//   token or the person's network number, phone or password; the access log keeps the path only of requests a
//   route answered without error.
// - /healthz is liveness, /readyz is readiness: on the embedded store and on SQLite + Redis, where a real
//   redis-server is stopped under the running server (503, `redis: down`, while /healthz and /metrics still answer)
//   and started again on the same port (ready again, same process, no restart).
// - SIGTERM drains: requests genuinely in flight (head and half a body sent) when the signal arrives get their
//   complete, normal answers with `Connection: close`, new connections are refused, an idle keep-alive connection is
//   closed, and the process exits 0 after logging what it drained; with CYBERID_SHUTDOWN_GRACE_SECONDS=1 a request
//   whose body never comes is cut after the grace period, with a warning, and the process still exits 0.
// - `server/cluster.ts` with two workers on one port and a real redis-server: both workers serve, a token issued
//   through one is honoured by each, the primary's CYBERID_CLUSTER_METRICS_PORT sums both workers' metrics, and
//   SIGTERM stops both workers gracefully before the primary exits 0; a worker killed with SIGKILL is replaced; a
//   SIGTERM while the first worker is still starting starts no other worker and the primary still exits 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { expectPage, expectRedirect, FormBrowser, type Page } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, PLATFORM_B, redeem, signIn, signInAndConsent, type Person } from './support/platform.ts';
import { freePort, redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type DemoPerson, type RunningProvider } from './support/server.ts';
import { keepSuiteLog } from './support/suite-log.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const withRedis = redisAvailable('the readiness and cluster tests on SQLite + Redis (test/operations.test.ts)');
const WRONG_PASSWORD = 'not-the-password-7Q';

// ---------------------------------------------------------------------------------------------------------------
// Prometheus text format: `name{label="value",…} value` lines, and `# TYPE name kind` lines.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const type = line.match(/^# TYPE (\S+) (\S+)$/);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const match = line.match(SAMPLE_LINE);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(LABEL_PAIR)) labels[name!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const raw = match[3]!;
    samples.push({ name: match[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return { samples, types };
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there are none). */
function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return scrape.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
    .reduce((sum, s) => sum + s.value, 0);
}

function labelValues(scrape: Scrape, label?: string): string[] {
  return [...new Set(scrape.samples.flatMap((s) => Object.entries(s.labels).filter(([key]) => !label || key === label).map(([, value]) => value)))];
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers over HTTP and logs.

async function getJson(url: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` if it has not settled within `timeoutMs` (a bound, not a measurement). */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs); });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The JSON log lines of `stdout` (complete lines only: the process may be writing one). */
function logEntries(stdout: string): LogEntry[] {
  return stdout.slice(0, stdout.lastIndexOf('\n') + 1).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogEntry);
}

function personOf(provider: { dataDir: string; adult: DemoPerson }): Person {
  return { identifier: provider.adult.networkNumber, password: provider.adult.password, oneTimeCode: () => lastCodeSentTo(provider.dataDir, provider.adult.phone) };
}

function interactionUid(page: Page): string {
  const uid = new URL(page.url).pathname.match(/^\/interaction\/([^/]+)/)?.[1];
  if (!uid) throw new Error(`not an interaction page: ${page.url}`);
  return uid;
}

// ---------------------------------------------------------------------------------------------------------------

describe('/metrics after real sign-ins, a refusal and token calls (embedded store)', () => {
  let provider: RunningProvider;
  let before: Scrape;
  let after: Scrape;
  let endpoints: { token: string; userinfo: string };
  /** Everything a label value must never contain: personal data, ids and credentials seen during the flows. */
  const secrets: string[] = [];
  const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

  beforeAll(async () => {
    provider = await startProvider(tempDataDir());
    const adult = personOf(provider);
    const { networkNumber, phone, password } = provider.adult;
    secrets.push(networkNumber, networkNumber.replace(/-/g, ''), phone, phone.replace(/\D/g, '').slice(-11), password, WRONG_PASSWORD);
    before = await scrape(provider.url);

    // Platform A (one factor): a wrong password first, then the right one; everything offered approved; the code
    // redeemed by openid-client, userinfo, and a refresh.
    const configA = await discover(provider.url, PLATFORM_A);
    const metadata = configA.serverMetadata();
    endpoints = { token: new URL(metadata.token_endpoint!).pathname, userinfo: new URL(metadata.userinfo_endpoint!).pathname };
    const requestA = await authorizationRequest(configA, PLATFORM_A, { scope: 'openid verified age offline_access', prompt: 'consent' });
    const browserA = new FormBrowser(provider.url);
    const login = expectPage(await browserA.open(requestA.url));
    const wrong = expectPage(await browserA.submit(login, '/login', { identifier: adult.identifier, password: WRONG_PASSWORD }));
    expect(wrong.status).toBe(401);
    const callbackA = await continueToPlatform(browserA, { kind: 'page', page: wrong }, adult);
    const tokens = await redeem(configA, requestA, callbackA);
    const sub = tokens.claims()!.sub;
    expect((await oidc.fetchUserInfo(configA, tokens.access_token, sub)).sub).toBe(sub);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const refreshed = await oidc.refreshTokenGrant(configA, tokens.refresh_token!);
    secrets.push(interactionUid(login), callbackA.searchParams.get('code')!, requestA.state, requestA.nonce, requestA.verifier, sub,
      tokens.access_token, tokens.refresh_token!, refreshed.access_token, refreshed.refresh_token!);

    // Platform B (two factors): password and the one-time code, then "refuse" on the consent page.
    const configB = await discover(provider.url, PLATFORM_B);
    const requestB = await authorizationRequest(configB, PLATFORM_B, { scope: 'openid verified' });
    const browserB = new FormBrowser(provider.url);
    const consent = expectPage(await signIn(browserB, requestB.url, adult));
    expect(consent.doc.querySelector('form[action$="/consent"]')).not.toBeNull();
    const callbackB = expectRedirect(await browserB.submit(consent, '/consent', {}, '/abort'));
    expect(callbackB.searchParams.get('error')).toBe('access_denied');
    expect(callbackB.searchParams.get('state')).toBe(requestB.state);
    secrets.push(interactionUid(consent), requestB.state, lastCodeSentTo(provider.dataDir, phone)!);

    // Paths no route knows, and a route's parameter, carrying personal data and ids in the path and the query string.
    const uid = interactionUid(consent);
    const probes = [
      `/no-such-page/${phone}?password=${encodeURIComponent(password)}`, `/interaction/${uid}/nope?phone=${phone}`,
      `/Interaction/${uid}/login`, `/token/${encodeURIComponent(networkNumber)}`, `/static/${phone}`,
    ];
    for (const probe of probes) expect((await fetch(`${provider.url}${probe}`)).status).toBe(404);

    after = await scrape(provider.url);
  }, 90_000);

  afterAll(async () => {
    await provider?.stop();
    if (provider) removeDataDir(provider.dataDir);
  });

  const LATENCY = 'cyberid_http_request_duration_seconds';

  it('request latency is a histogram by method, route and status: the token and userinfo endpoints moved by their calls', () => {
    expect(after.types.get(LATENCY)).toBe('histogram');
    const token = { method: 'POST', route: endpoints.token, status: '200' };
    expect(moved(`${LATENCY}_count`, token)).toBe(2); // the code redemption and the refresh
    expect(moved(`${LATENCY}_bucket`, { ...token, le: '+Inf' })).toBe(2);
    expect(moved(`${LATENCY}_sum`, token)).toBeGreaterThan(0);
    expect(moved(`${LATENCY}_count`, { method: 'GET', route: endpoints.userinfo, status: '200' })).toBe(1);
    // The person-facing pages are counted under their router templates.
    expect(moved(`${LATENCY}_count`, { method: 'POST', route: '/interaction/:uid/login', status: '401' })).toBe(1);
    expect(moved(`${LATENCY}_count`, { method: 'POST', route: '/interaction/:uid/login', status: '303' })).toBe(2);
    expect(moved(`${LATENCY}_count`, { method: 'POST', route: '/interaction/:uid/code', status: '303' })).toBe(1);
    expect(moved(`${LATENCY}_count`, { method: 'POST', route: '/interaction/:uid/consent', status: '303' })).toBe(1);
    expect(moved(`${LATENCY}_count`, { method: 'POST', route: '/interaction/:uid/abort', status: '303' })).toBe(1);
    // A path no route knows is "other", whatever it carries; a route's parameters stay in the template.
    expect(moved(`${LATENCY}_count`, { method: 'GET', route: 'other', status: '404' })).toBe(4);
    expect(moved(`${LATENCY}_count`, { method: 'GET', route: '/static/:file', status: '404' })).toBe(1);
  });

  it('route labels are templates (oidc-provider and router), never a raw path, a query string or an interaction id', () => {
    const routes = labelValues(after, 'route');
    expect(routes).toEqual(expect.arrayContaining([
      '/.well-known/openid-configuration', '/auth', '/auth/:uid', endpoints.token, endpoints.userinfo,
      '/interaction/:uid', '/interaction/:uid/login', '/interaction/:uid/code', '/interaction/:uid/consent', '/interaction/:uid/abort', '/static/:file', 'other',
    ]));
    expect(endpoints).toEqual({ token: '/token', userinfo: '/me' });
    for (const route of routes) expect(route).toMatch(/^(other|\/|(\/:?[a-z.][a-z0-9_.-]*)+)$/i);
    expect(routes.filter((route) => /[?=&%]|no-such-page/.test(route))).toEqual([]);
  });

  it('the access log names the route of every request, and the path only when a route answered it: the probes carrying personal data leave none of it', () => {
    const requests = logEntries(provider.stdout()).filter((entry) => entry.msg === 'request');
    const refused = requests.filter((entry) => entry.status === 404);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    for (const entry of refused) expect(entry.path).toBeUndefined();
    expect(refused.filter((entry) => entry.route === '/static/:file')).toHaveLength(1);
    expect(requests).toEqual(expect.arrayContaining([expect.objectContaining({ method: 'GET', route: endpoints.userinfo, path: endpoints.userinfo, status: 200 })]));
    const { networkNumber, phone, password } = provider.adult;
    const personal = [networkNumber, networkNumber.replace(/-/g, ''), encodeURIComponent(networkNumber), phone, phone.replace(/\D/g, '').slice(-11), password];
    for (const entry of requests) for (const value of personal) expect(JSON.stringify(entry)).not.toContain(value);
  });

  it('a request the HTTP parser refuses (an unknown method) while its 1 MiB body is still coming gets its 400, on a fresh and on a kept-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string) => new Promise<number | string>((resolve) => {
      let status: number | undefined;
      const request = httpRequest(`${provider.url}/healthz`, { method, agent, headers: { 'content-length': String(2 ** 20) } }, (response) => {
        status = response.statusCode;
        response.resume().on('end', () => resolve(status!));
      });
      request.on('error', (error: NodeJS.ErrnoException) => { if (status === undefined) resolve(error.code ?? error.message); });
      request.end(Buffer.alloc(2 ** 20, 'a'));
    });
    try {
      expect(await send('FUZZ')).toBe(400);
      expect(await send('PUT')).toBe(404); // answered without reading the body; the connection stays open
      expect(await send('FUZZ')).toBe(400);
    } finally {
      agent.destroy();
    }
  });

  it('counts sign-in attempts by method and outcome: two password successes and the wrong password', () => {
    expect(after.types.get('cyberid_sign_in_attempts_total')).toBe('counter');
    expect(moved('cyberid_sign_in_attempts_total', { method: 'pwd', outcome: 'success' })).toBe(2);
    expect(moved('cyberid_sign_in_attempts_total', { method: 'pwd', outcome: 'failure' })).toBe(1);
    expect(moved('cyberid_sign_in_attempts_total', { outcome: 'failure' })).toBe(1); // the right one-time code was no failure
  });

  it('counts tokens issued by type and grant type', () => {
    expect(after.types.get('cyberid_tokens_issued_total')).toBe('counter');
    const tokens = (type: string, grantType: string) => moved('cyberid_tokens_issued_total', { type, grant_type: grantType });
    expect(tokens('access_token', 'authorization_code')).toBe(1);
    expect(tokens('id_token', 'authorization_code')).toBe(1);
    expect(tokens('refresh_token', 'authorization_code')).toBe(1);
    expect(tokens('access_token', 'refresh_token')).toBe(1);
    expect(tokens('refresh_token', 'refresh_token')).toBe(1);
    expect(moved('cyberid_tokens_issued_total')).toBe(6); // the refresh also carried a new ID token
  });

  it('counts consent decisions: one approved, one refused', () => {
    expect(after.types.get('cyberid_consent_decisions_total')).toBe('counter');
    expect(moved('cyberid_consent_decisions_total', { decision: 'approved' }) + moved('cyberid_consent_decisions_total', { decision: 'approved_partially' })).toBe(1);
    expect(moved('cyberid_consent_decisions_total', { decision: 'refused' })).toBe(1);
  });

  it('times store operations by oidc-provider model and operation', () => {
    const STORE = 'cyberid_store_operation_duration_seconds';
    expect(after.types.get(STORE)).toBe('histogram');
    expect(moved(`${STORE}_count`, { model: 'AuthorizationCode', operation: 'consume' })).toBe(1);
    expect(moved(`${STORE}_bucket`, { model: 'AuthorizationCode', operation: 'consume', le: '+Inf' })).toBe(1);
    expect(moved(`${STORE}_count`, { model: 'RefreshToken', operation: 'consume' })).toBe(1);
    expect(moved(`${STORE}_count`, { model: 'AccessToken', operation: 'upsert' })).toBe(2);
    expect(moved(`${STORE}_count`, { model: 'Grant', operation: 'upsert' })).toBeGreaterThanOrEqual(1);
    const series = after.samples.filter((s) => s.name === `${STORE}_count`);
    for (const { labels } of series) {
      expect(labels.model).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(['upsert', 'find', 'findByUserCode', 'findByUid', 'consume', 'destroy', 'revokeByGrantId']).toContain(labels.operation);
    }
  });

  it('has the default process metrics', () => {
    expect(after.types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(total(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(total(after, 'process_start_time_seconds')).toBeGreaterThan(0);
    expect(after.types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('no label value anywhere carries the network number, phone, password, an interaction id, a code or a token', () => {
    expect(secrets.length).toBeGreaterThan(15);
    const values = labelValues(after).map((value) => value.toUpperCase());
    const leaked = secrets.filter((secret) => values.some((value) => value.includes(secret.toUpperCase())));
    expect(leaked).toEqual([]);
  });

  it('answers /healthz with ok and /readyz with the embedded store up', async () => {
    expect(await getJson(`${provider.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`${provider.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready', store: 'sqlite', backends: { sqlite: 'up' } } });
  });
});

describe('readiness on SQLite + Redis (REDIS_URL): Redis stopped and started again under the running server', () => {
  let redis: RedisServer;
  let provider: RunningProvider;

  beforeAll(async () => {
    if (!withRedis) return;
    redis = await startRedis();
    provider = await startProvider(tempDataDir(), { REDIS_URL: redis.url });
  }, 60_000);

  afterAll(async () => {
    await provider?.stop();
    if (provider) removeDataDir(provider.dataDir);
    await redis?.stop();
  });

  const readiness = () => getJson(`${provider.url}/readyz`);
  const startedAt = async () => total(await scrape(provider.url), 'process_start_time_seconds');

  (withRedis ? it : it.skip)('/readyz says 503 with redis down while /healthz stays 200 and /metrics answers; ready again once Redis is back, without a restart', async () => {
    expect(await readiness()).toMatchObject({ status: 200, body: { status: 'ready', store: 'sqlite+redis', backends: { sqlite: 'up', redis: 'up' } } });
    const processStarted = await startedAt();

    await redis.kill();
    await waitUntil(async () => (await readiness()).status === 503, '/readyz answering 503 after Redis stopped');
    const down = await readiness();
    expect(down).toMatchObject({ status: 503, body: { status: 'unavailable', store: 'sqlite+redis', backends: { sqlite: 'up', redis: 'down' } } });
    expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
    // Liveness is not readiness: the process is alive and must not be restarted for a backend's outage.
    expect(await getJson(`${provider.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const during = await scrape(provider.url);
    expect(total(during, 'cyberid_http_request_duration_seconds_count', { route: '/readyz', status: '503' })).toBeGreaterThanOrEqual(2);

    // The same port, empty: the provider reconnects by itself.
    await redis.start();
    await waitUntil(async () => (await readiness()).status === 200, '/readyz answering 200 after Redis came back');
    expect(await readiness()).toMatchObject({ status: 200, body: { status: 'ready', store: 'sqlite+redis', backends: { sqlite: 'up', redis: 'up' } } });
    expect(await startedAt()).toBe(processStarted);
    expect(logEntries(provider.stdout()).filter((entry) => entry.msg === 'listening')).toHaveLength(1);
    expect(logEntries(provider.stdout()).filter((entry) => entry.level >= 50)).toEqual([]);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------
// SIGTERM. The provider is spawned here as `npm start` runs it (as test/support/server.ts does), keeping the child
// itself: its exit code is what a process supervisor sees.

interface ChildProvider {
  url: string;
  port: number;
  dataDir: string;
  adult: DemoPerson;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

/** Every child spawned here, for afterEach to end (SIGKILL) if a test left it running, and its data directory. */
const spawned: { child: ChildProcess; exited: Promise<unknown>; dataDir: string }[] = [];
const ADULT_LINE = /^\s+adult.*network number (\S+)\s+phone (\S+)\s+password (\S+)/m;

/** Ends (SIGKILL) every child a test left running and removes its data directory. */
async function endSpawned(): Promise<void> {
  for (const { child, exited, dataDir } of spawned.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    removeDataDir(dataDir);
  }
}

type Script = 'server/main.ts' | 'server/cluster.ts';

/** The server as `npm start` (or `npm run start:cluster`) runs it, on a fresh data directory, not yet waited for. */
function spawnServer(env: Record<string, string>, script: Script): Omit<ChildProvider, 'url' | 'port' | 'adult'> {
  const dataDir = tempDataDir();
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', LOG_LEVEL: 'info', CYBERID_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepSuiteLog(child, 'provider');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  spawned.push({ child, exited, dataDir });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => { stdout += chunk; });
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  return { dataDir, child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** `server/main.ts` as `npm start` runs it, or `server/cluster.ts` (`npm run start:cluster`), ready once its primary says so. */
async function spawnProvider(env: Record<string, string> = {}, script: Script = 'server/main.ts'): Promise<ChildProvider> {
  const started = spawnServer(env, script);
  const log = () => logEntries(started.stdout());
  // The JSON log and the banner are written by different streams: wait for both.
  const listening = () => log().find((entry) => entry.msg === 'listening');
  const ready = () => script === 'server/main.ts' || log().some((entry) => entry.msg === 'every worker is serving');
  await waitUntil(() => {
    if (started.child.exitCode !== null) throw new Error(`provider exited with ${started.child.exitCode}\n${started.stdout()}\n${started.stderr()}`);
    return listening() !== undefined && ready() && ADULT_LINE.test(started.stdout());
  }, 'the provider listening with its demo people', 30_000);
  const url = listening()!.url as string;
  const [, networkNumber, phone, password] = started.stdout().match(ADULT_LINE)!;
  return { ...started, url, port: Number(new URL(url).port), adult: { networkNumber: networkNumber!, phone: phone!, password: password! } };
}

interface RawResponse {
  /** Undefined when the connection ended without a final answer. */
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
}

/** What came back on a connection, after any `100 Continue`. */
function parseResponse(raw: string): RawResponse {
  const final = raw.replace(/^(HTTP\/1\.1 100 Continue\r\n\r\n)+/, '');
  const split = final.indexOf('\r\n\r\n');
  if (!final.startsWith('HTTP/1.1 ') || split < 0) return { status: undefined, headers: {}, body: final };
  const [statusLine, ...headerLines] = final.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  let body = final.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let decoded = '';
    for (let at = 0; ;) {
      const size = parseInt(body.slice(at, body.indexOf('\r\n', at)), 16);
      if (!size) break;
      const start = body.indexOf('\r\n', at) + 2;
      decoded += body.slice(start, start + size);
      at = start + size + 2;
    }
    body = decoded;
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

interface InFlight {
  /** Sends the second half of the body. */
  finish(): void;
  /** Everything the server sent, once it closed the connection. */
  response: Promise<RawResponse>;
}

/**
 * A POST that is genuinely in flight: the head (with `Expect: 100-continue`) and half the body are sent. The
 * server's `100 Continue` is awaited, so the server has parsed the head and the request is running, reading its body.
 */
async function postInFlight(target: ChildProvider, pathname: string, headers: Record<string, string>, body: string): Promise<InFlight> {
  const socket = connect(target.port, '127.0.0.1');
  let received = '';
  let continued: () => void;
  const gotContinue = new Promise<void>((resolve) => { continued = resolve; });
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    if (received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) continued();
  });
  const response = new Promise<RawResponse>((resolve) => socket.on('close', () => resolve(parseResponse(received))));
  socket.on('error', () => undefined); // a connection cut by the server ends as 'close' too
  const head = [
    `POST ${pathname} HTTP/1.1`, `Host: localhost:${target.port}`, 'Content-Type: application/x-www-form-urlencoded',
    `Content-Length: ${Buffer.byteLength(body)}`, 'Expect: 100-continue',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n');
  const half = Math.floor(body.length / 2);
  socket.write(`${head}\r\n\r\n`);
  await gotContinue;
  socket.write(body.slice(0, half));
  return { finish: () => socket.write(body.slice(half)), response };
}

/** A keep-alive connection that has had one answer (/healthz) and sits idle. */
async function idleKeepAlive(target: ChildProvider): Promise<{ closed: () => boolean }> {
  const socket = connect(target.port, '127.0.0.1');
  let closed = false;
  let received = '';
  socket.on('close', () => { closed = true; });
  socket.on('error', () => undefined);
  socket.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.endsWith('{"status":"ok"}')) resolve();
    });
    socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost:${target.port}\r\nConnection: keep-alive\r\n\r\n`);
  });
  expect(parseResponse(received)).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
  return { closed: () => closed };
}

/** How a new TCP connection to the port ends: 'connected' or the error code. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function basicA(): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(PLATFORM_A.clientId)}:${encodeURIComponent(PLATFORM_A.clientSecret!)}`).toString('base64')}`;
}

const tokenRequest = (params: Record<string, string>) => new URLSearchParams(params).toString();

/** Sends SIGTERM and waits until the provider has logged that it is stopping, and ~300 ms more. */
async function terminate(target: ChildProvider): Promise<void> {
  target.child.kill('SIGTERM');
  await waitUntil(() => logEntries(target.stdout()).some((entry) => entry.msg === 'stopping'), 'the provider logging "stopping"');
  await sleep(300);
}

describe('SIGTERM: graceful stop of `node server/main.ts`', () => {
  afterEach(endSpawned);

  it('answers every request in flight at the signal in full with Connection: close, refuses new connections, closes idle ones, and exits 0', async () => {
    const provider = await spawnProvider();
    const adult = personOf(provider);
    // A real authorization code to redeem while stopping, and a sign-in page whose password is posted while stopping.
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    const code = (await signInAndConsent(new FormBrowser(provider.url), request.url, adult)).searchParams.get('code')!;
    const person = new FormBrowser(provider.url);
    const login = expectPage(await person.open((await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' })).url));
    const uid = interactionUid(login);
    const csrf = login.doc.querySelector('form[action$="/login"] input[name=csrf]')!.getAttribute('value')!;

    const token = { Authorization: basicA(), Accept: 'application/json' };
    const inFlight = {
      redemption: await postInFlight(provider, '/token', token, tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: PLATFORM_A.redirectUri, code_verifier: request.verifier })),
      unknownCode: await postInFlight(provider, '/token', token, tokenRequest({ grant_type: 'authorization_code', code: 'no-such-code-0123456789', redirect_uri: PLATFORM_A.redirectUri, code_verifier: request.verifier })),
      unknownRefresh: await postInFlight(provider, '/token', token, tokenRequest({ grant_type: 'refresh_token', refresh_token: 'no-such-refresh-token-0123456789' })),
      password: await postInFlight(provider, `/interaction/${uid}/login`, { Cookie: await person.jar.getCookieString(login.url), Accept: 'text/html' },
        new URLSearchParams({ csrf, identifier: adult.identifier, password: adult.password }).toString()),
    };
    const idle = await idleKeepAlive(provider);
    expect(idle.closed()).toBe(false);

    await terminate(provider);
    expect(await connectOutcome(provider.port)).toBe('ECONNREFUSED');
    expect(idle.closed()).toBe(true);

    for (const request of Object.values(inFlight)) request.finish();
    const [redemption, unknownCode, unknownRefresh, password] = await within(Promise.all(Object.values(inFlight).map((request) => request.response)), 'the answers to the requests in flight');
    expect(redemption).toMatchObject({ status: 200, headers: { connection: 'close', 'content-type': expect.stringMatching(/^application\/json/) } });
    expect(JSON.parse(redemption!.body)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), id_token: expect.any(String), expires_in: expect.any(Number) });
    for (const refused of [unknownCode, unknownRefresh]) {
      expect(refused).toMatchObject({ status: 400, headers: { connection: 'close', 'content-type': expect.stringMatching(/^application\/json/) } });
      expect(JSON.parse(refused!.body)).toMatchObject({ error: 'invalid_grant', error_description: expect.any(String) });
    }
    // The password was checked and the sign-in goes on to the authorization endpoint.
    expect(password).toMatchObject({ status: 303, headers: { connection: 'close', location: expect.stringContaining(`/auth/${uid}`) } });

    expect(await within(provider.exited, 'the provider exiting')).toEqual({ code: 0, signal: null });
    const log = logEntries(provider.stdout());
    const drained = log.findIndex((entry) => entry.msg === 'stopped accepting; requests in progress finished');
    expect(drained).toBeGreaterThan(-1);
    expect(log[drained]!.drained).toBeGreaterThanOrEqual(Object.keys(inFlight).length);
    expect(log.findIndex((entry) => entry.msg === 'stopped')).toBeGreaterThan(drained);
    expect(log.filter((entry) => entry.level >= 40)).toEqual([]);
    expect(provider.stderr()).toBe('');
  }, 60_000);

  it('cuts a request whose body never comes after CYBERID_SHUTDOWN_GRACE_SECONDS, with a warning, and still exits 0', async () => {
    const provider = await spawnProvider({ CYBERID_SHUTDOWN_GRACE_SECONDS: '1' });
    const token = { Authorization: basicA(), Accept: 'application/json' };
    const body = tokenRequest({ grant_type: 'refresh_token', refresh_token: 'no-such-refresh-token-0123456789' });
    const finishing = await postInFlight(provider, '/token', token, body);
    const stalled = await postInFlight(provider, '/token', token, body);

    await terminate(provider);
    finishing.finish(); // the other one never sends the rest of its body
    const answered = await within(finishing.response, 'the answer to the request that finished its body');
    expect(answered).toMatchObject({ status: 400, headers: { connection: 'close' } });
    expect(JSON.parse(answered.body)).toMatchObject({ error: 'invalid_grant' });
    // Cut after the grace period: the connection ends without an answer.
    expect(await within(stalled.response, 'the stalled request being cut')).toEqual({ status: undefined, headers: {}, body: '' });

    expect(await within(provider.exited, 'the provider exiting')).toEqual({ code: 0, signal: null });
    const log = logEntries(provider.stdout());
    const warned = log.findIndex((entry) => entry.level === 40 && /^requests still running after the grace period/.test(entry.msg));
    expect(warned).toBeGreaterThan(-1);
    expect(log[warned]).toMatchObject({ graceMs: 1000, running: 1 });
    expect(log.find((entry) => entry.msg === 'stopped accepting; requests in progress finished')).toMatchObject({ drained: 1, cut: 1 });
    expect(log.findIndex((entry) => entry.msg === 'stopped')).toBeGreaterThan(warned);
    expect(log.filter((entry) => entry.level >= 50)).toEqual([]);
    expect(provider.stderr()).toBe('');
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------
// Scale-out: `npm run start:cluster` with two workers on one fixed port, sharing a real redis-server (and the
// embedded SQLite for durable data). node:cluster hands new connections to the workers in turn, so consecutive
// fresh connections reach both.

/** A GET on a connection of its own (no keep-alive pool), so the cluster's primary chooses a worker for it. */
function getOnFreshConnection(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { agent: false, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    request.on('error', reject).end();
  });
}

describe('two worker processes (server/cluster.ts, CYBERID_WORKERS=2) on one port, sharing Redis', () => {
  let redis: RedisServer | undefined;

  afterAll(async () => {
    await endSpawned();
    await redis?.stop();
  });

  (withRedis ? it : it.skip)('a token issued through one worker is honoured by both; the primary sums their metrics; SIGTERM stops both workers gracefully and the primary exits 0', async () => {
    redis = await startRedis();
    const metricsPort = await freePort();
    const provider = await spawnProvider({ CYBERID_WORKERS: '2', PORT: String(await freePort()), REDIS_URL: redis.url, CYBERID_CLUSTER_METRICS_PORT: String(metricsPort) }, 'server/cluster.ts');
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified' });
    const callback = await signInAndConsent(new FormBrowser(provider.url), request.url, personOf(provider));
    const tokens = await redeem(config, request, callback);
    const sub = tokens.claims()!.sub;

    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await getOnFreshConnection(`${provider.url}/me`, { authorization: `Bearer ${tokens.access_token}` }));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ sub });
    }
    const log = logEntries(provider.stdout());
    const primary = log.find((entry) => entry.msg === 'every worker is serving')!;
    expect(primary).toMatchObject({ role: 'primary', workers: 2 });
    const workers = new Set(log.filter((entry) => entry.msg === 'listening').map((entry) => entry.pid));
    expect(workers.size).toBe(2);
    expect(workers.has(primary.pid)).toBe(false);
    const userinfoServedBy = new Set(log.filter((entry) => entry.msg === 'request' && entry.path === '/me').map((entry) => entry.pid));
    expect(userinfoServedBy).toEqual(workers);
    // Each worker counts its own calls; the primary's port sums them.
    const summed = await scrape(`http://127.0.0.1:${metricsPort}`);
    expect(total(summed, 'cyberid_http_request_duration_seconds_count', { route: '/me', status: '200' })).toBe(4);
    expect(total(summed, 'cyberid_tokens_issued_total', { type: 'access_token' })).toBe(1);
    expect(total(await scrape(provider.url), 'cyberid_http_request_duration_seconds_count', { route: '/me', status: '200' })).toBeLessThan(4);

    provider.child.kill('SIGTERM');
    expect(await within(provider.exited, 'the cluster exiting')).toEqual({ code: 0, signal: null });
    const after = logEntries(provider.stdout());
    expect(new Set(after.filter((entry) => entry.msg === 'stopped').map((entry) => entry.pid))).toEqual(workers);
    expect(after.at(-1)).toMatchObject({ msg: 'cluster stopped', pid: primary.pid });
    expect(after.filter((entry) => entry.level >= 50)).toEqual([]);
    expect(provider.stderr()).toBe('');
  }, 90_000);

  (withRedis ? it : it.skip)('a serving worker killed with SIGKILL is replaced by a new one that serves; the cluster still stops cleanly', async () => {
    redis ??= await startRedis();
    const provider = await spawnProvider({ CYBERID_WORKERS: '2', PORT: String(await freePort()), REDIS_URL: redis.url }, 'server/cluster.ts');
    const listeningPids = () => new Set(logEntries(provider.stdout()).filter((entry) => entry.msg === 'listening').map((entry) => entry.pid as number));
    const [victim, survivor] = [...listeningPids()];
    process.kill(victim!, 'SIGKILL');
    await waitUntil(() => listeningPids().size === 3, 'a replacement worker serving', 30_000);
    const died = logEntries(provider.stdout()).find((entry) => entry.msg === 'a worker died; starting another');
    expect(died).toMatchObject({ role: 'primary', signal: 'SIGKILL' });
    const replacement = [...listeningPids()].find((pid) => pid !== victim && pid !== survivor)!;
    // New connections reach both the survivor and the replacement.
    for (let i = 0; i < 4; i += 1) expect((await getOnFreshConnection(`${provider.url}/healthz`)).status).toBe(200);
    const healthServedBy = new Set(logEntries(provider.stdout()).filter((entry) => entry.msg === 'request' && entry.path === '/healthz').map((entry) => entry.pid));
    expect(healthServedBy).toEqual(new Set([survivor, replacement]));

    provider.child.kill('SIGTERM');
    expect(await within(provider.exited, 'the cluster exiting')).toEqual({ code: 0, signal: null });
    expect(logEntries(provider.stdout()).at(-1)).toMatchObject({ msg: 'cluster stopped', exitCode: 0 });
  }, 90_000);

  (withRedis ? it : it.skip)('SIGTERM while the first worker is still starting: no further worker is started, the starting one stops once up, and the primary exits 0', async () => {
    redis ??= await startRedis();
    const { child, exited, dataDir, stdout } = spawnServer({ PORT: String(await freePort()), CYBERID_WORKERS: '2', REDIS_URL: redis.url }, 'server/cluster.ts');
    // The worker opens the embedded store early in its start and announces itself ('listening') at the end.
    await waitUntil(() => existsSync(path.join(dataDir, 'cyberid.sqlite')), 'the first worker opening its store');
    expect(logEntries(stdout()).some((entry) => entry.msg === 'listening')).toBe(false);
    child.kill('SIGTERM');

    expect(await within(exited, 'the cluster exiting', 30_000)).toEqual({ code: 0, signal: null });
    const log = logEntries(stdout());
    expect(new Set(log.filter((entry) => entry.msg === 'listening').map((entry) => entry.pid)).size).toBe(1);
    expect(log.filter((entry) => entry.msg === 'stopped')).toHaveLength(1);
    expect(log.some((entry) => entry.msg === 'every worker is serving')).toBe(false);
    expect(log.at(-1)).toMatchObject({ msg: 'cluster stopped', role: 'primary', exitCode: 0 });
  }, 60_000);
});
