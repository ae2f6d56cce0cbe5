// `npm run bench`: Cyber ID against bare oidc-provider on this machine, in one run, alternating, at fixed
// concurrency for a bounded time per round; on the embedded store and on Redis. Options (all optional):
//   --seconds 5  --rounds 2  --connections 32  --sign-in-seconds 10  --stores embedded,redis  --scale  --out bench/results
//   --log-level info (Cyber ID's LOG_LEVEL; info logs every request, as in production)
//   --scenarios token,userinfo (a subset)  --no-sign-in (skip the interactive sign-in)  --profile DIR (writes a V8 CPU profile of each Cyber ID process to DIR)
// Writes <out>/<timestamp>.json and .md and prints the table. Progress goes to stderr as it runs.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type RedisServer } from '../test/support/redis.ts';
import { ACCEPTS, PlatformSession, prepareSupplies, requestsFor, run, SCENARIOS, type Sample, type Scenario, type Supplies } from './load.ts';
import { describeMachine } from './machine.ts';
import { formatReport, type Report, type StoreReport } from './report.ts';
import { argon2Bound, signInLoad } from './sign-in.ts';
import { SmsSink, startBare, startCyberId, type Target } from './targets.ts';
import { createWorkspace, enrolPeople, removeWorkspace, PASSWORD, type BenchPerson, type Workspace } from './workspace.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    'sign-in-seconds': { type: 'string', default: '10' },
    stores: { type: 'string', default: 'embedded,redis' },
    scale: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    profile: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    'no-sign-in': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const SIGN_IN_SECONDS = Number(args['sign-in-seconds']);
const STORES = args.stores.split(',') as ('embedded' | 'redis')[];
const CHOSEN = args.scenarios.split(',').filter(Boolean) as Scenario[];
const NODE_ARGS = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : [];
/** Codes minted per second of a token round before its rate is known (bare oidc-provider does about 2,000/s here). */
const FIRST_CODE_RATE = 3_000;

const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const ticker = (label: string) => (count: number) => process.stderr.write(`\r  ${label}: ${count} answered in the last second   `);
const endTicker = () => process.stderr.write('\r\x1b[K');

class PeoplePool {
  readonly #people: BenchPerson[];
  #next = 0;
  constructor(people: BenchPerson[]) {
    this.#people = people;
  }
  take(count: number): BenchPerson[] {
    const taken = this.#people.slice(this.#next, this.#next + count);
    if (taken.length < count) throw new Error('not enough bench people enrolled');
    this.#next += count;
    return taken;
  }
  /** The store's SMS counters are per backend: each store starts over with the same people. */
  rewind(): void {
    this.#next = 0;
  }
}

async function main(): Promise<void> {
  const started = new Date();
  progress(`bench: ${SECONDS} s rounds × ${ROUNDS}, ${CONNECTIONS} connections, stores ${STORES.join(', ')}`);
  const pilot = await argon2Bound(3, CONNECTIONS);
  progress(`argon2 pilot: ${pilot.rps.toFixed(1)} verifications/s`);
  const signInsPerRound = Math.ceil(pilot.rps * SIGN_IN_SECONDS * 1.5) + CONNECTIONS;
  // Each provider start signs one person in (never the same one twice: the SMS cool-down), then a fresh
  // person per interactive sign-in; the sign-in people start over on each store, whose SMS counters are its own.
  const sessionCount = 2 * STORES.length + 2;
  const workspace = await createWorkspace();
  const peopleCount = sessionCount + signInsPerRound * ROUNDS;
  progress(`enrolling ${peopleCount} bench people (each an argon2 hash)…`);
  const enrolled = await enrolPeople(workspace, peopleCount, (done) => process.stderr.write(`\r  ${done}/${peopleCount}`));
  endTicker();
  const sessionPeople = new PeoplePool(enrolled.slice(0, sessionCount));
  const signInPeople = new PeoplePool(enrolled.slice(sessionCount));

  const sms = await SmsSink.start();
  let redis: RedisServer | undefined;
  const stores: StoreReport[] = [];
  let scale: Report['scale'];
  try {
    for (const store of STORES) {
      signInPeople.rewind();
      if (store === 'redis') redis ??= await startRedis();
      // A fresh baseline per store: its Maps then hold no more than Cyber ID's fresh process has seen.
      const bare = await startBare(workspace);
      try {
        const cyber = await startCyberId(workspace, { label: store, smsUrl: sms.url, nodeArgs: NODE_ARGS, logLevel: args['log-level'], ...(store === 'redis' ? { redisUrl: redis!.url } : {}) });
        try {
          stores.push(await measureStore(store, bare, cyber, { sessions: sessionPeople, signIns: signInPeople, signInsPerRound }, sms));
        } finally {
          await cyber.stop();
        }
      } finally {
        await bare.stop();
      }
    }
    if (args.scale) {
      redis ??= await startRedis();
      scale = await measureScale(workspace, redis, sessionPeople, sms);
    }
  } finally {
    await redis?.stop();
    await sms.close();
  }

  const report: Report = {
    startedAt: started.toISOString(),
    machine: await describeMachine(),
    settings: { secondsPerRound: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, signInSeconds: SIGN_IN_SECONDS },
    stores,
    ...(scale ? { scale } : {}),
  };
  const table = formatReport(report);
  mkdirSync(args.out, { recursive: true });
  const base = path.join(args.out, started.toISOString().slice(0, 19).replaceAll(':', '-'));
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, table);
  process.stdout.write(`${table}\nwritten: ${base}.json, ${base}.md\n`);
  removeWorkspace(workspace);
}

/** Signs in once at each provider, then alternates bare and Cyber ID, scenario by scenario, round by round. */
async function measureStore(store: string, bare: Target, cyber: Target, people: { sessions: PeoplePool; signIns: PeoplePool; signInsPerRound: number }, sms: SmsSink): Promise<StoreReport> {
  progress(`[${store}] preparing sessions, refresh tokens and access tokens`);
  const targets = [bare, cyber];
  const supplies = new Map<Target, { session: PlatformSession; supplies: Supplies }>();
  for (const target of targets) {
    const [person] = people.sessions.take(1);
    const session = await PlatformSession.signIn(target, { identifier: person!.networkNumber, password: PASSWORD, oneTimeCode: () => sms.take(person!.phone) });
    supplies.set(target, { session, supplies: await prepareSupplies(session, person!, sms) });
  }
  const samples: Record<string, { bare: Sample[]; cyberid: Sample[] }> = {};
  const lastRate = new Map<Target, number>();

  const measure = async (scenario: Scenario, target: Target, seconds: number) => {
    const own = supplies.get(target)!;
    if (scenario === 'refresh') await own.supplies.refillRefreshTokens(2 * CONNECTIONS);
    if (scenario === 'token') {
      // Twice the rate of the last run (the warm-up's at first): minting is slow, and an unused code is wasted time.
      own.supplies.codes = await own.session.mintCodes(Math.ceil(seconds * 2 * (lastRate.get(target) ?? FIRST_CODE_RATE)));
    }
    const sample = await run(target, requestsFor(scenario, target, own.supplies), { connections: CONNECTIONS, seconds, accepts: ACCEPTS[scenario], onTick: ticker(`${scenario} ${target.name}`) });
    endTicker();
    if (scenario === 'token') lastRate.set(target, sample.rps);
    if (own.supplies.ranOut) sample.firstFailure += ` (${own.supplies.ranOut} sent after the supply ran out)`;
    own.supplies.ranOut = 0;
    return sample;
  };

  progress(`[${store}] warming up (1 s per scenario and provider)`);
  for (const scenario of CHOSEN) for (const target of targets) await measure(scenario, target, 1);
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const scenario of CHOSEN) {
      samples[scenario] ??= { bare: [], cyberid: [] };
      for (const target of round % 2 ? targets : [...targets].reverse()) {
        const sample = await measure(scenario, target, SECONDS);
        samples[scenario][target === bare ? 'bare' : 'cyberid'].push(sample);
        progress(`[${store}] round ${round}/${ROUNDS} ${scenario.padEnd(13)} ${target.name.padEnd(24)} ${sample.rps.toFixed(0).padStart(6)} req/s  p50 ${sample.p50} ms  p99 ${sample.p99} ms${sample.failed ? `  FAILED ${sample.failed}: ${sample.firstFailure}` : ''}`);
      }
    }
  }

  const bound: Sample[] = [];
  const signIns: Sample[] = [];
  for (let round = 1; round <= (args['no-sign-in'] ? 0 : ROUNDS); round += 1) {
    bound.push(await argon2Bound(SIGN_IN_SECONDS, CONNECTIONS));
    progress(`[${store}] round ${round}/${ROUNDS} argon2 bound ${bound.at(-1)!.rps.toFixed(1)} verifications/s`);
    signIns.push(await signInLoad(cyber, people.signIns.take(people.signInsPerRound), sms, SIGN_IN_SECONDS, CONNECTIONS));
    const last = signIns.at(-1)!;
    progress(`[${store}] round ${round}/${ROUNDS} interactive sign-in ${last.rps.toFixed(1)}/s  p50 ${last.p50} ms  p99 ${last.p99} ms${last.failed ? `  FAILED ${last.failed}: ${last.firstFailure}` : ''}`);
  }
  return { store, scenarios: samples, signIn: { argon2Bound: bound, signIns } };
}

/**
 * Token redemption and userinfo on Redis with one worker process and with two (server/cluster.ts), both running at
 * once on the same Redis and data directory and measured alternately, round by round, as the stores are.
 */
async function measureScale(workspace: Workspace, redis: RedisServer, people: PeoplePool, sms: SmsSink): Promise<NonNullable<Report['scale']>> {
  const results: NonNullable<Report['scale']> = { one: {}, two: {} };
  const clusters: { key: 'one' | 'two'; workers: number; target: Target }[] = [];
  try {
    // One after the other: the first start on a store sets up its keys and clients.
    for (const [key, workers] of [['one', 1], ['two', 2]] as const) {
      clusters.push({ key, workers, target: await startCyberId(workspace, { label: `redis-${workers}-workers`, smsUrl: sms.url, nodeArgs: NODE_ARGS, logLevel: args['log-level'], redisUrl: redis.url, workers }) });
    }
    const measured = await Promise.all(clusters.map(async (cluster) => {
      const [person] = people.take(1);
      const session = await PlatformSession.signIn(cluster.target, { identifier: person!.networkNumber, password: PASSWORD, oneTimeCode: () => sms.take(person!.phone) });
      return { ...cluster, session, supplies: await prepareSupplies(session, person!, sms) };
    }));
    for (const scenario of ['token', 'userinfo'] as const) {
      for (const { target, session, supplies } of measured) {
        await run(target, requestsFor(scenario, target, { ...supplies, codes: await session.mintCodes(FIRST_CODE_RATE) }), { connections: CONNECTIONS, seconds: 1 });
      }
      for (let round = 1; round <= ROUNDS; round += 1) {
        for (const { key, workers, target, session, supplies } of measured) {
          const samples = results[key][scenario] ??= [];
          if (scenario === 'token') supplies.codes = await session.mintCodes(Math.ceil(SECONDS * 1.3 * (samples.at(-1)?.rps ?? FIRST_CODE_RATE)));
          samples.push(await run(target, requestsFor(scenario, target, supplies), { connections: CONNECTIONS, seconds: SECONDS, onTick: ticker(`${scenario} ${workers} worker(s)`) }));
          endTicker();
          progress(`[scale] round ${round}/${ROUNDS} ${workers} worker(s) ${scenario} ${samples.at(-1)!.rps.toFixed(0)} req/s  p99 ${samples.at(-1)!.p99} ms`);
        }
      }
    }
  } finally {
    for (const { target } of clusters) await target.stop();
  }
  return results;
}

await main();
