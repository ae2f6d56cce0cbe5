// `npm run bench:soak`: a bounded load run (10 minutes by default) against one Cyber ID process that reports its
// memory over time, read from its own /metrics. Load cycles through code redemption, userinfo, refresh and
// introspection at the bench's concurrency. Options: --minutes 10  --store redis|embedded  --connections 32  --out bench/results
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type RedisServer } from '../test/support/redis.ts';
import { ACCEPTS, PlatformSession, prepareSupplies, requestsFor, run, type Scenario } from './load.ts';
import { describeMachine } from './machine.ts';
import { SmsSink, startCyberId } from './targets.ts';
import { createWorkspace, enrolPeople, PASSWORD } from './workspace.ts';

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
const SAMPLE_SECONDS = 10;
const CYCLE: { scenario: Scenario; seconds: number }[] = [
  { scenario: 'token', seconds: 5 }, { scenario: 'userinfo', seconds: 5 }, { scenario: 'refresh', seconds: 5 }, { scenario: 'introspection', seconds: 5 },
];

interface MemorySample {
  second: number;
  rssMiB: number;
  heapUsedMiB: number;
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
      samples.push({ second: elapsed(), rssMiB: mib(rss), heapUsedMiB: mib(heap), requests });
      progress(`${String(elapsed()).padStart(4)} s  rss ${mib(rss)} MiB  heap ${mib(heap)} MiB  ${requests} requests`);
    };
    await sample();
    const sampler = setInterval(() => void sample(), SAMPLE_SECONDS * 1000);
    let rate = 1_000;
    try {
      while (elapsed() < MINUTES * 60) {
        for (const { scenario, seconds } of CYCLE) {
          if (scenario === 'refresh') await supplies.refillRefreshTokens(2 * CONNECTIONS);
          if (scenario === 'token') {
            supplies.codes = await session.mintCodes(Math.ceil(seconds * rate * 1.5));
            requests += supplies.codes.length; // each minted at the authorization endpoint
          }
          const result = await run(cyber, requestsFor(scenario, cyber, supplies), { connections: CONNECTIONS, seconds, accepts: ACCEPTS[scenario] });
          if (scenario === 'token') rate = Math.max(100, result.rps);
          requests += result.ok;
          if (result.failed) progress(`${scenario}: ${result.failed} failed, the first: ${result.firstFailure}`);
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
}

/** Memory after warm-up (the second minute) against the last minute: each minute's lowest sample, after GC. */
function verdict(samples: MemorySample[]) {
  const floor = (from: number, to: number, key: 'rssMiB' | 'heapUsedMiB') => Math.min(...samples.filter((s) => s.second >= from && s.second < to).map((s) => s[key]));
  const last = samples.at(-1)!.second;
  const warm = { rssMiB: floor(60, 120, 'rssMiB'), heapUsedMiB: floor(60, 120, 'heapUsedMiB') };
  const end = { rssMiB: floor(last - 60, last + 1, 'rssMiB'), heapUsedMiB: floor(last - 60, last + 1, 'heapUsedMiB') };
  return { afterWarmUp: warm, lastMinute: end, rssGrowth: end.rssMiB / warm.rssMiB - 1, heapGrowth: end.heapUsedMiB / warm.heapUsedMiB - 1 };
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
    '| time | RSS MiB | heap used MiB | requests served |',
    '|---:|---:|---:|---:|',
    ...perMinute.map((s) => `| ${Math.floor(s.second / 60)}:${String(s.second % 60).padStart(2, '0')} | ${s.rssMiB} | ${s.heapUsedMiB} | ${s.requests.toLocaleString('en-US')} |`),
    '',
    `After warm-up (lowest sample of minute 2): RSS ${v.afterWarmUp.rssMiB} MiB, heap ${v.afterWarmUp.heapUsedMiB} MiB. Last minute: RSS ${v.lastMinute.rssMiB} MiB (${pct(v.rssGrowth)}), heap ${v.lastMinute.heapUsedMiB} MiB (${pct(v.heapGrowth)}).`,
    '',
  ].join('\n');
}

await main();
