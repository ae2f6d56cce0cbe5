// `npm run bench:soak`: a bounded load run (10 minutes by default) against one Cyber ID process that reports its
// memory over time, read from its own /metrics. Load cycles through code redemption, userinfo, refresh and
// introspection at the bench's concurrency. Options: --minutes 10  --store redis|embedded  --connections 32  --out bench/results
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type RedisServer } from '../test/support/redis.ts';
import { ACCEPTS, PlatformSession, prepareSupplies, requestsFor, run, type Scenario } from './load.ts';
import { describeMachine } from './machine.ts';
import { SmsSink, startCyberId } from './targets.ts';
import { createWorkspace, enrolPeople, removeWorkspace, PASSWORD } from './workspace.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    store: { type: 'string', default: 'redis' },
    connections: { type: 'string', default: '32' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const MINUTES = Number(args.minutes);
const CONNECTIONS = Number(args.connections);
// The first minute is warm-up; the verdict compares the two halves of the rest.
if (!Number.isInteger(MINUTES) || MINUTES < 3 || !Number.isInteger(CONNECTIONS) || CONNECTIONS < 1) {
  process.stderr.write('--minutes must be a whole number of at least 3 (one of warm-up, then two halves compared), --connections at least 1\n');
  process.exit(2);
}
const SAMPLE_SECONDS = 5;
/** Access tokens live 10 minutes; renewed well before. */
const RENEW_ACCESS_TOKENS_SECONDS = 240;
const CYCLE: { scenario: Scenario; seconds: number }[] = [
  { scenario: 'token', seconds: 5 }, { scenario: 'userinfo', seconds: 5 }, { scenario: 'refresh', seconds: 5 }, { scenario: 'introspection', seconds: 5 },
];

interface MemorySample {
  second: number;
  rssMiB: number;
  heapUsedMiB: number;
  /** The SQLite file: SQLite maps it into memory (mmap, up to 256 MiB), so as it grows, RSS does too. */
  databaseMiB: number;
  requests: number;
}

const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function memoryOf(url: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: value('process_resident_memory_bytes'), heap: value('nodejs_heap_size_used_bytes') };
}

async function main(): Promise<void> {
  const started = new Date();
  const workspace = await createWorkspace();
  const [person] = await enrolPeople(workspace, 1, () => {});
  const sms = await SmsSink.start();
  let redis: RedisServer | undefined;
  if (args.store === 'redis') redis = await startRedis();
  const cyber = await startCyberId(workspace, { label: `soak-${args.store}`, smsUrl: sms.url, ...(redis ? { redisUrl: redis.url } : {}) });
  const samples: MemorySample[] = [];
  let requests = 0;
  try {
    const session = await PlatformSession.signIn(cyber, { identifier: person!.networkNumber, password: PASSWORD, oneTimeCode: () => sms.take(person!.phone) });
    const supplies = await prepareSupplies(session, person!, sms);
    const begin = performance.now();
    const elapsed = () => Math.round((performance.now() - begin) / 1000);
    const sample = async () => {
      const { rss, heap } = await memoryOf(cyber.url);
      const databaseMiB = mib(statSync(path.join(workspace.dir, 'cyberid.sqlite')).size);
      samples.push({ second: elapsed(), rssMiB: mib(rss), heapUsedMiB: mib(heap), databaseMiB, requests });
      progress(`${String(elapsed()).padStart(4)} s  rss ${mib(rss)} MiB  heap ${mib(heap)} MiB  database ${databaseMiB} MiB  ${requests} requests`);
    };
    await sample();
    const sampler = setInterval(() => {
      sample().catch((error: unknown) => progress(`memory sample failed: ${String(error)}`));
    }, SAMPLE_SECONDS * 1000);
    let rate = 1_000;
    let renewed = 0;
    try {
      while (elapsed() < MINUTES * 60) {
        if (elapsed() - renewed >= RENEW_ACCESS_TOKENS_SECONDS) {
          await supplies.renewAccessTokens();
          renewed = elapsed();
        }
        for (const { scenario, seconds } of CYCLE) {
          if (scenario === 'refresh') await supplies.refillRefreshTokens(2 * CONNECTIONS);
          if (scenario === 'token') {
            supplies.codes = await session.mintCodes(Math.ceil(seconds * rate * 1.5));
            requests += supplies.codes.length; // each minted at the authorization endpoint
          }
          const result = await run(cyber, requestsFor(scenario, cyber, supplies), { connections: CONNECTIONS, seconds, accepts: ACCEPTS[scenario] });
          if (scenario === 'token') rate = Math.max(rate, result.rps); // the peak: a slow cycle must not starve the next
          requests += result.ok;
          if (result.failed) progress(`${scenario}: ${result.failed} failed (${supplies.ranOut} sent after the supply ran out), the first: ${result.firstFailure}`);
          supplies.ranOut = 0;
        }
      }
    } finally {
      clearInterval(sampler);
    }
    await sample();
  } finally {
    await cyber.stop();
    await redis?.stop();
    await sms.close();
  }

  const report = { startedAt: started.toISOString(), machine: await describeMachine(), store: args.store, minutes: MINUTES, connections: CONNECTIONS, samples, verdict: verdict(samples) };
  const table = formatSoak(report);
  mkdirSync(args.out, { recursive: true });
  const base = path.join(args.out, `soak-${started.toISOString().slice(0, 19).replaceAll(':', '-')}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, table);
  process.stdout.write(`${table}\nwritten: ${base}.json, ${base}.md\n`);
  removeWorkspace(workspace);
}

/**
 * Memory after warm-up (the first minute): the lowest heap and RSS of the first half against the second half.
 * The heap saws between collections; its floor is what a leak would raise.
 */
function verdict(samples: MemorySample[]) {
  const last = samples.at(-1)!.second;
  const middle = 60 + (last - 60) / 2;
  const floor = (from: number, to: number, key: 'rssMiB' | 'heapUsedMiB') => Math.min(...samples.filter((s) => s.second >= from && s.second <= to).map((s) => s[key]));
  const first = { rssMiB: floor(60, middle, 'rssMiB'), heapUsedMiB: floor(60, middle, 'heapUsedMiB') };
  const second = { rssMiB: floor(middle, last, 'rssMiB'), heapUsedMiB: floor(middle, last, 'heapUsedMiB') };
  // Whole minutes only: a part-minute at the end may hold no trough of the heap's sawtooth.
  const heapFloorPerMinute = Array.from({ length: Math.floor(last / 60) }, (_, minute) => floor(minute * 60, minute * 60 + 59, 'heapUsedMiB'))
    .filter((value) => Number.isFinite(value));
  const database = { firstMiB: samples.find((s) => s.second >= 60)!.databaseMiB, lastMiB: samples.at(-1)!.databaseMiB };
  return { firstHalf: first, secondHalf: second, heapGrowth: second.heapUsedMiB / first.heapUsedMiB - 1, rssGrowth: second.rssMiB / first.rssMiB - 1, heapFloorPerMinute, database };
}

function formatSoak(report: { startedAt: string; machine: Awaited<ReturnType<typeof describeMachine>>; store: string; minutes: number; connections: number; samples: MemorySample[]; verdict: ReturnType<typeof verdict> }): string {
  const { verdict: v, machine: m } = report;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const perMinute = report.samples.filter((s, i) => i === 0 || s.second % 60 < SAMPLE_SECONDS || i === report.samples.length - 1);
  return [
    `# Cyber ID soak, ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}. Store: ${report.store}. ${report.minutes} minutes at ${report.connections} connections, cycling authorization (minting codes, 16 at a time), token, userinfo, refresh and introspection.`,
    '',
    '| time | RSS MiB | heap used MiB | SQLite file MiB | requests served |',
    '|---:|---:|---:|---:|---:|',
    ...perMinute.map((s) => `| ${Math.floor(s.second / 60)}:${String(s.second % 60).padStart(2, '0')} | ${s.rssMiB} | ${s.heapUsedMiB} | ${s.databaseMiB} | ${s.requests.toLocaleString('en-US')} |`),
    '',
    `Lowest heap in each whole minute (MiB): ${v.heapFloorPerMinute.join(', ')}.`,
    '',
    `Lowest heap after warm-up: ${v.firstHalf.heapUsedMiB} MiB in the first half, ${v.secondHalf.heapUsedMiB} MiB in the second (${pct(v.heapGrowth)}). `
    + `Lowest RSS: ${v.firstHalf.rssMiB} MiB, then ${v.secondHalf.rssMiB} MiB (${pct(v.rssGrowth)}), while the SQLite file (durable grants, refresh tokens and the disclosure ledger; memory-mapped) grew from ${v.database.firstMiB} to ${v.database.lastMiB} MiB.`,
    '',
  ].join('\n');
}

await main();
