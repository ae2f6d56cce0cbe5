// What the figures were measured on: they mean nothing without it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  oidcProvider: string;
  redis: string;
  load: number[];
}

export async function describeMachine(): Promise<Machine> {
  const version = (name: string) => (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  let redis = 'not installed';
  try {
    redis = execFileSync('/usr/bin/redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch { /* reported as not installed */ }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    oidcProvider: version('oidc-provider'),
    redis,
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
