// Crash durability of the embedded store: while several browsers sign the demo adult in at platform A (with
// refresh tokens) and a mobile app enrols six people, the provider is killed with SIGKILL (`kill -9`) in the
// middle of requests. After a restart on the same data directory, port and issuer, everything the provider
// acknowledged before it died is still there: every refresh token redeems (its grant and client with it) and
// gives the same sub at userinfo, every enrolled account signs in, the adult's remembered consent at platform A
// holds, and platform A is still served. Requests cut off by the kill were never acknowledged and are not checked.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { DocumentType } from '../server/identity/documents.ts';
import { parseNetworkNumber } from '../server/identity/network-number.ts';
import { readSimulationSeed, type SimulatedPerson } from '../server/identity/registry.ts';
import { expectRedirect, FormBrowser } from './support/browser.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, redeem, signIn, signInAndConsent, type Person } from './support/platform.ts';
import { freePort } from './support/redis.ts';
import { lastCodeSentTo, removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

const SEED = readSimulationSeed(path.resolve(import.meta.dirname, '../server/identity/simulation/registry.json'));
const PASSWORD = 'Lantern-river-autumn-42';
/** With offline_access and prompt=consent oidc-provider issues a refresh token. */
const SCOPE = 'openid verified age profile phone offline_access';
const SIGN_IN_WORKERS = 4;
/** Refresh tokens acknowledged before the kill, at least. */
const TOKENS_BEFORE_KILL = 20;
/** The load must reach its thresholds within this; otherwise the test is broken (or the provider is stuck). */
const LOAD_DEADLINE_MS = 120_000;
const TOKEN_WAIT_MS = 3_000;

/** People of the simulated registry nobody else in this data directory enrols, with the document kind and phone used. */
const ENROLEES: [string, DocumentType, string][] = [
  ['sim-0003', 'resident_id_card', '13700137001'],
  ['sim-0005', 'hmt_residence_permit', '13700137002'],
  ['sim-0012', 'hk_macao_travel_permit', '13700137003'],
  ['sim-0007', 'taiwan_travel_permit', '13700137004'],
  ['sim-0008', 'foreign_permanent_resident_card', '13700137005'],
  ['sim-0009', 'overseas_chinese_passport', '13700137006'],
];

interface AcknowledgedSignIn {
  refreshToken: string;
  sub: string;
}

interface AcknowledgedEnrolment {
  personId: string;
  documentType: DocumentType;
  networkNumber: string;
}

let dataDir: string;
let provider: RunningProvider | undefined;
let env: Record<string, string>;
let adultNumberBefore: string;
/** What the killed provider wrote before it died. */
let outputBeforeKill = '';

const acknowledged = { signIns: [] as AcknowledgedSignIn[], enrolments: [] as AcknowledgedEnrolment[] };
const atKill = { requests: [] as string[], signIns: 0 };
const verified = { signIns: 0, enrolments: 0, consent: false };

// Counts the requests the test has sent and not yet had an answer to, by passing every fetch through (the
// requests themselves are untouched). FormBrowser and openid-client both use the global fetch.
const realFetch = globalThis.fetch;
const inFlight = new Map<number, string>();
let requestNumber = 0;

beforeAll(async () => {
  globalThis.fetch = async (input, init) => {
    const id = (requestNumber += 1);
    const url = new URL(input instanceof Request ? input.url : input);
    // Interaction and authorization ids shortened, so the summary reads as a list of endpoints.
    inFlight.set(id, `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url.pathname.replace(/[\w-]{20,}/g, ':id')}`);
    try {
      return await realFetch(input, init);
    } finally {
      inFlight.delete(id);
    }
  };
  dataDir = tempDataDir();
  // Fixed ports: after the restart the issuer is the same (so are the tokens' audience and issuer), and so is
  // platform A's sector (the demo site's origin, port included), so the adult's sub at A is the same.
  const port = await freePort();
  let demoSitePort = await freePort();
  while (demoSitePort === port) demoSitePort = await freePort();
  env = { PORT: String(port), CYBERID_ISSUER: `http://localhost:${port}`, CYBERID_DEMO_SITE_PORT: String(demoSitePort) };
  provider = await startProvider(dataDir, env);
  adultNumberBefore = provider.adult.networkNumber;
}, 60_000);

afterAll(async () => {
  globalThis.fetch = realFetch;
  await provider?.stop();
  if (dataDir) removeDataDir(dataDir);
  console.error(`crash-durability: acknowledged ${acknowledged.signIns.length} sign-ins (refresh tokens) and ${acknowledged.enrolments.length} enrolments; `
    + `${atKill.requests.length} requests in flight at kill -9 (${atKill.signIns} sign-ins mid-flow: ${atKill.requests.join(', ')}); `
    + `after restart verified ${verified.signIns}/${acknowledged.signIns.length} refresh tokens, ${verified.enrolments}/${acknowledged.enrolments.length} accounts, `
    + `remembered consent ${verified.consent ? 'kept' : 'NOT verified'}`);
});

function must(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function adultAt(running: RunningProvider): Person {
  return { identifier: running.adult.networkNumber, password: running.adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, running.adult.phone) };
}

function person(id: string): SimulatedPerson {
  const found = SEED.find((p) => p.personId === id);
  if (!found) throw new Error(`${id} is not in the simulation seed`);
  return found;
}

async function enrolmentApi(url: string, route: string, token: string | undefined, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(`/enrol/api/v1${route}`, url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

describe('kill -9 during a load of sign-ins and enrolments on the embedded store', () => {
  let crashing = false;
  const failures: unknown[] = [];

  /** Signs the adult in at platform A in a new browser, again and again, until the kill. */
  async function signInWorker(running: RunningProvider, config: oidc.Configuration, counter: { mid: number }): Promise<void> {
    const adult = adultAt(running);
    while (!crashing) {
      counter.mid += 1;
      try {
        const request = await authorizationRequest(config, PLATFORM_A, { scope: SCOPE, prompt: 'consent' });
        const callback = await signInAndConsent(new FormBrowser(running.url), request.url, adult);
        const tokens = await redeem(config, request, callback);
        // A token response received is acknowledged, even one that arrives as the kill is being sent.
        must(tokens.refresh_token, `no refresh token was issued (scope ${tokens.scope})`);
        acknowledged.signIns.push({ refreshToken: tokens.refresh_token, sub: tokens.claims()!.sub });
      } catch (error) {
        // After the kill, requests fail: those sign-ins were never acknowledged. Before it, any failure is a bug.
        if (!crashing) failures.push(error);
        return;
      } finally {
        counter.mid -= 1;
      }
    }
  }

  /** Enrols the six people one after the other through the JSON API, as the mobile app does. */
  async function enrolmentWorker(running: RunningProvider): Promise<void> {
    try {
      for (const [id, type, phone] of ENROLEES) {
        if (crashing) return;
        const p = person(id);
        const document = p.documents.find((d) => d.type === type)!;
        const started = await enrolmentApi(running.url, '/enrolments', undefined, {});
        must(started.status === 201, `${id}: start answered ${started.status} ${JSON.stringify(started.body)}`);
        const token = started.body.enrolment_token as string;
        const steps: [string, unknown, string][] = [
          ['/enrolment/document', { document_type: document.type, document_number: document.number, name: p.name, birthdate: p.birthdate, expires_on: document.expiresOn }, 'face'],
          ['/enrolment/face', { capture: `sim:live:${p.photo}` }, 'phone'],
          ['/enrolment/phone', { phone }, 'code'],
        ];
        for (const [route, body, next] of steps) {
          const answer = await enrolmentApi(running.url, route, token, body);
          must(answer.body.step === next && !answer.body.error, `${id} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        const code = lastCodeSentTo(dataDir, phone);
        must(code, `${id}: no code was sent to ${phone}`);
        const coded = await enrolmentApi(running.url, '/enrolment/code', token, { code });
        must(coded.body.step === 'password', `${id} code: ${coded.status} ${JSON.stringify(coded.body)}`);
        const done = await enrolmentApi(running.url, '/enrolment/password', token, { password: PASSWORD });
        must(done.status === 200 && done.body.step === 'done' && done.body.account_status === 'active', `${id} password: ${done.status} ${JSON.stringify(done.body)}`);
        const networkNumber = done.body.network_number as string;
        must(parseNetworkNumber(networkNumber) === networkNumber, `${id}: ${networkNumber} is not a network number`);
        acknowledged.enrolments.push({ personId: id, documentType: type, networkNumber });
      }
    } catch (error) {
      if (!crashing) failures.push(error);
    }
  }

  it('acknowledges sign-ins and enrolments under load, and is killed with requests in flight', async () => {
    const running = provider!;
    const config = await discover(running.url, PLATFORM_A);
    const counter = { mid: 0 };
    const workers = [
      ...Array.from({ length: SIGN_IN_WORKERS }, () => signInWorker(running, config, counter)),
      enrolmentWorker(running),
    ];
    let signInWorkersLeft = SIGN_IN_WORKERS;
    for (const worker of workers.slice(0, SIGN_IN_WORKERS)) void worker.then(() => { signInWorkersLeft -= 1; });

    const deadline = Date.now() + LOAD_DEADLINE_MS;
    const thresholdsMet = () => acknowledged.signIns.length >= TOKENS_BEFORE_KILL && acknowledged.enrolments.length === ENROLEES.length;
    // The sign-in workers never stop on their own, so once the thresholds are met a request is soon in flight.
    // For up to TOKEN_WAIT_MS the kill waits for a moment when a token request (which writes) is among them.
    let thresholdsMetAt: number | undefined;
    const killNow = () => {
      if (!thresholdsMet() || inFlight.size === 0 || counter.mid === 0) return false;
      thresholdsMetAt ??= Date.now();
      return [...inFlight.values()].includes('POST /token') || Date.now() - thresholdsMetAt > TOKEN_WAIT_MS;
    };
    while (!killNow()) {
      if (failures.length || signInWorkersLeft === 0 || Date.now() > deadline) {
        crashing = true;
        await running.crash();
        await Promise.all(workers);
        throw new AggregateError(failures, `the load stopped before the kill: ${acknowledged.signIns.length} sign-ins and ${acknowledged.enrolments.length} enrolments acknowledged, `
          + `${signInWorkersLeft} sign-in workers left, ${failures.length} failures: ${failures.map((f) => (f instanceof Error ? f.message : String(f))).join(' | ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    crashing = true;
    atKill.requests = [...inFlight.values()];
    atKill.signIns = counter.mid;
    await running.crash();
    outputBeforeKill = running.stdout();
    await Promise.all(workers); // their cut-off requests fail; the workers stop quietly

    expect(failures).toEqual([]);
    expect(atKill.requests.length).toBeGreaterThan(0);
    expect(acknowledged.signIns.length).toBeGreaterThanOrEqual(TOKENS_BEFORE_KILL);
    expect(acknowledged.enrolments.map((e) => e.personId)).toEqual(ENROLEES.map(([id]) => id));
    expect(new Set(acknowledged.signIns.map((s) => s.sub)).size).toBe(1); // one person, one sub at A
    expect(new Set(acknowledged.signIns.map((s) => s.refreshToken)).size).toBe(acknowledged.signIns.length);
  }, 180_000);

  it('starts again on the same data directory, port and issuer', async () => {
    provider = await startProvider(dataDir, env);
    expect(provider.url).toBe(env.CYBERID_ISSUER);
    expect(provider.adult.networkNumber).toBe(adultNumberBefore); // the demo adult was found, not enrolled again
    const metadata = await (await fetch(`${provider.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata.issuer).toBe(env.CYBERID_ISSUER);
  }, 60_000);

  it('redeems every acknowledged refresh token, and the new access token gives the same sub at userinfo', async () => {
    const running = provider!;
    const config = await discover(running.url, PLATFORM_A);
    const problems: string[] = [];
    for (const [index, { refreshToken, sub }] of acknowledged.signIns.entries()) {
      try {
        const refreshed = await oidc.refreshTokenGrant(config, refreshToken);
        must(refreshed.refresh_token && refreshed.refresh_token !== refreshToken, 'the refresh token was not rotated');
        const userinfo = await oidc.fetchUserInfo(config, refreshed.access_token, sub);
        must(userinfo.sub === sub, `userinfo answered sub ${userinfo.sub}, expected ${sub}`);
        must(userinfo.identity_verified === true, 'identity_verified is missing from userinfo');
        // The platform's client authentication and introspection see the same token as active.
        const introspection = await oidc.tokenIntrospection(config, refreshed.access_token);
        must(introspection.active && introspection.client_id === PLATFORM_A.clientId, `introspection: ${JSON.stringify(introspection)}`);
        verified.signIns += 1;
      } catch (error) {
        problems.push(`refresh token #${index}: ${error instanceof Error ? `${error.message} ${JSON.stringify((error as { error?: unknown }).error ?? '')}` : String(error)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(verified.signIns).toBe(acknowledged.signIns.length);
  }, 60_000);

  it('signs every acknowledged enrolled account in at platform A with its network number and password', async () => {
    const running = provider!;
    const config = await discover(running.url, PLATFORM_A);
    const problems: string[] = [];
    for (const { personId, documentType, networkNumber } of acknowledged.enrolments) {
      try {
        const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age' });
        const browser = new FormBrowser(running.url);
        const callback = await continueToPlatform(browser, await browser.open(request.url), { identifier: networkNumber, password: PASSWORD });
        const tokens = await redeem(config, request, callback);
        const sub = tokens.claims()!.sub;
        const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, sub);
        must(userinfo.identity_verified === true && userinfo.document_type === documentType, `userinfo: ${JSON.stringify(userinfo)}`);
        verified.enrolments += 1;
      } catch (error) {
        problems.push(`${personId} (${networkNumber}): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(verified.enrolments).toBe(acknowledged.enrolments.length);
  }, 60_000);

  it('remembers the adult\'s consent at platform A: a new browser signs in without the consent page', async () => {
    const running = provider!;
    const config = await discover(running.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age profile phone' });
    const callback = expectRedirect(await signIn(new FormBrowser(running.url), request.url, adultAt(running)));
    const tokens = await redeem(config, request, callback);
    expect(tokens.claims()!.sub).toBe(acknowledged.signIns[0]!.sub);
    expect(tokens.scope?.split(' ').sort()).toEqual(['age', 'openid', 'phone', 'profile', 'verified']);
    verified.consent = true;
  }, 60_000);

  it('logged no errors under the load, nor after the restart', () => {
    const errorsIn = (output: string) => output.split('\n')
      .filter((line) => line.startsWith('{') && line.endsWith('}')) // the killed process may have left half a line
      .map((line) => JSON.parse(line) as { level?: number; msg?: string })
      .filter((entry) => (entry.level ?? 0) >= 50); // pino: 50 error, 60 fatal
    expect(outputBeforeKill).toContain('"msg":"listening"');
    expect(errorsIn(outputBeforeKill)).toEqual([]);
    expect(errorsIn(provider!.stdout())).toEqual([]);
  });
});
