// The bench's results: the JSON shape written to bench/results/ and the Markdown table printed from it.
// Rates are averaged over the rounds; p50 is averaged and p99 is the worst round's.
import type { Sample } from './load.ts';
import type { Machine } from './machine.ts';

export interface StoreReport {
  store: string;
  scenarios: Record<string, { bare: Sample[]; cyberid: Sample[] }>;
  signIn: { argon2Bound: Sample[]; signIns: Sample[] };
}

export interface Report {
  startedAt: string;
  machine: Machine;
  settings: { secondsPerRound: number; rounds: number; connections: number; signInSeconds: number };
  stores: StoreReport[];
  scale?: { one: Partial<Record<'token' | 'userinfo', Sample[]>>; two: Partial<Record<'token' | 'userinfo', Sample[]>> };
}

/** The issue's targets: token and userinfo against bare oidc-provider, per store; p99 at the bench's concurrency. */
const RATIO_TARGET: Record<string, number> = { embedded: 0.9, redis: 0.8 };
const P99_TARGET_MS = 50;
const SIGN_IN_TARGET = 0.8;

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const rate = (samples: { rps: number }[]) => mean(samples.map((s) => s.rps));
const p50 = (samples: { p50: number }[]) => mean(samples.map((s) => s.p50));
const p99 = (samples: { p99: number }[]) => Math.max(...samples.map((s) => s.p99));
const failed = (samples: { failed: number }[]) => samples.reduce((sum, s) => sum + s.failed, 0);
const num = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function summarise(report: Report) {
  return report.stores.map((store) => ({
    store: store.store,
    rows: Object.entries(store.scenarios).map(([scenario, { bare, cyberid }]) => {
      const ratio = rate(cyberid) / rate(bare);
      const checked = scenario === 'token' || scenario === 'userinfo';
      const met = ratio >= RATIO_TARGET[store.store]! && p99(cyberid) < P99_TARGET_MS;
      return { scenario, bare: rate(bare), cyberid: rate(cyberid), ratio, bareLatency: [p50(bare), p99(bare)], latency: [p50(cyberid), p99(cyberid)], failed: failed(cyberid) + failed(bare), verdict: checked ? (met ? 'met' : 'MISSED') : '' };
    }),
    signIn: {
      bound: rate(store.signIn.argon2Bound),
      rate: rate(store.signIn.signIns),
      ratio: rate(store.signIn.signIns) / rate(store.signIn.argon2Bound),
      latency: [p50(store.signIn.signIns), p99(store.signIn.signIns)],
      failed: failed(store.signIn.signIns),
    },
  }));
}

export function formatReport(report: Report): string {
  const { machine: m, settings: s } = report;
  const lines = [
    `# Cyber ID benchmark, ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; oidc-provider ${m.oidcProvider}; ${m.redis}. Load average at the end: ${m.load.join(' ')}.`,
    `Settings: ${s.connections} connections, ${s.rounds} rounds of ${s.secondsPerRound} s per endpoint and provider, alternating; interactive sign-in ${s.rounds} × ${s.signInSeconds} s.`,
    'The load generator (autocannon) runs on the same machine. Baseline: bare oidc-provider, in-memory adapter, same keys (ES256 ID tokens), same lifetimes.',
  ];
  for (const store of summarise(report)) {
    lines.push('', `## ${store.store === 'embedded' ? 'Embedded store (SQLite)' : 'Redis (short-lived) + SQLite (durable)'}`, '');
    lines.push(`| endpoint | bare req/s | Cyber ID req/s | ratio | bare p50 / p99 ms | Cyber ID p50 / p99 ms | target (≥ ${RATIO_TARGET[store.store]}×, p99 < ${P99_TARGET_MS} ms) |`);
    lines.push('|---|---:|---:|---:|---:|---:|---|');
    for (const row of store.rows) {
      lines.push(`| ${row.scenario} | ${num(row.bare)} | ${num(row.cyberid)} | ${num(row.ratio, 2)} | ${num(row.bareLatency[0]!, 1)} / ${num(row.bareLatency[1]!)} | ${num(row.latency[0]!, 1)} / ${num(row.latency[1]!)} | ${row.verdict}${row.failed ? ` (${row.failed} failed)` : ''} |`);
    }
    const si = store.signIn;
    if (!si.bound) continue; // --no-sign-in
    lines.push('', `| interactive sign-in | argon2 bound /s | sign-ins /s | ratio | p50 / p99 ms | target (≥ ${SIGN_IN_TARGET}×) |`, '|---|---:|---:|---:|---:|---|');
    lines.push(`| authorize → password + SMS code → consent → token | ${num(si.bound, 1)} | ${num(si.rate, 1)} | ${num(si.ratio, 2)} | ${num(si.latency[0]!)} / ${num(si.latency[1]!)} | ${si.ratio >= SIGN_IN_TARGET ? 'met' : 'MISSED'}${si.failed ? ` (${si.failed} failed)` : ''} |`);
  }
  if (report.scale) {
    lines.push('', '## Scale-out: 1 vs 2 worker processes (server/cluster.ts, Redis; both running, measured alternately)', '', '| endpoint | 1 process req/s | 2 processes req/s | ratio |', '|---|---:|---:|---:|');
    for (const scenario of ['token', 'userinfo'] as const) {
      const one = report.scale.one[scenario] ?? [];
      const two = report.scale.two[scenario] ?? [];
      lines.push(`| ${scenario} | ${num(rate(one))} | ${num(rate(two))} | ${num(rate(two) / rate(one), 2)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
