// Runs the `cyberid` command in-process on a data directory, as an operator would on the server's host.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../../server/admin/cli.ts';
import { SUITE_LOG_DIR } from './suite-log.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  json: <T = Record<string, unknown>>() => T;
}

export async function cyberid(dataDir: string, ...args: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli(args, { PATH: process.env.PATH, CYBERID_DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  mkdirSync(SUITE_LOG_DIR, { recursive: true });
  appendFileSync(path.join(SUITE_LOG_DIR, `cli-${process.pid}.log`), out + err);
  return { code, out, err, json: <T>() => JSON.parse(out) as T };
}
