// Every process a test starts (the provider, the demo) writes its stdout and stderr here as well, so that
// test/logs/personal-data.check.ts can read the log output of the whole suite once it has run.
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';

export const SUITE_LOG_DIR = path.resolve(import.meta.dirname, '../../test-artifacts/logs');

let files = 0;

/** Copies the child's output to a file of its own in SUITE_LOG_DIR (test/support/clean-suite-logs.mjs empties it per run). */
export function keepSuiteLog(child: ChildProcess, label: string): void {
  mkdirSync(SUITE_LOG_DIR, { recursive: true });
  files += 1;
  const file = createWriteStream(path.join(SUITE_LOG_DIR, `${label}-${process.pid}-${files}-${child.pid}.log`));
  child.stdout?.pipe(file, { end: false });
  child.stderr?.pipe(file, { end: false });
  child.on('exit', () => file.end());
}
