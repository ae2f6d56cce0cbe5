// Starts the real provider (`node server/main.ts`) as a child process on ephemeral ports, exactly as
// `npm start` does, and reads its start-up output.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openEmbeddedStore } from '../../adapters/index.ts';
import { keepSuiteLog } from './suite-log.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface DemoPerson {
  /** As the start-up banner prints it, in groups of four. */
  networkNumber: string;
  phone: string;
  password: string;
}

export interface RunningProvider {
  url: string;
  dataDir: string;
  adult: DemoPerson;
  minor: DemoPerson;
  stdout: () => string;
  stop(): Promise<void>;
  /** `kill -9`: the process dies at once, mid-request, with no chance to flush or close anything. */
  crash(): Promise<void>;
}

/**
 * The latest one-time code the simulated SMS sender wrote to the outbox in `dataDir` for `phone` (as
 * enrolled: national or E.164), as a developer reads it; undefined when none was sent.
 */
export function lastCodeSentTo(dataDir: string, phone: string): string | undefined {
  // The newest message that carries a code: security notifications (a password changed, say) carry none.
  return messagesSentTo(dataDir, phone).map((text) => text.match(/\b\d{6}\b/)?.[0]).filter((code) => code !== undefined).at(-1);
}

/** Every SMS the simulated sender wrote to the outbox in `dataDir` for `phone` (national or E.164), oldest first. */
export function messagesSentTo(dataDir: string, phone: string): string[] {
  const file = path.join(dataDir, 'sms-outbox.jsonl');
  if (!existsSync(file)) return [];
  const national = phone.replace(/\D/g, '').slice(-11);
  return readFileSync(file, 'utf8').trim().split('\n')
    .map((line) => JSON.parse(line) as { to: string; text: string })
    .filter((message) => message.to.replace(/\D/g, '').endsWith(national))
    .map((message) => message.text);
}

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'cyberid-test-'));
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the server until it exits (start-up failures), or until its output matches `stopWhen`, or for at
 * most `timeoutMs`; then stops it.
 */
export function runServerToExit(env: Record<string, string>, stopWhen?: RegExp, timeoutMs = 15_000): Promise<ProcessResult> {
  const child = spawnServer(env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    if (stopWhen?.test(stdout)) child.kill('SIGTERM');
  });
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

function spawnServer(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepSuiteLog(child, 'provider');
  return child;
}

function signal(child: ChildProcess, name: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill(name);
  });
}

const NETWORK_NUMBER_LINE = /^\s+(adult|16-year-old).*network number (\S+)\s+phone (\S+)\s+password (\S+)/gm;

/** Starts the provider on `dataDir` and resolves once it logs that it is listening. */
export async function startProvider(dataDir: string, env: Record<string, string> = {}): Promise<RunningProvider> {
  const child = spawnServer({ CYBERID_DATA_DIR: dataDir, ...env });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`provider did not start in time\n${stdout}\n${stderr}`)), 30_000);
    let started = false;
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      if (started) return;
      // Complete lines only: a chunk may end mid-line.
      for (const line of stdout.slice(0, stdout.lastIndexOf('\n') + 1).split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url && stdout.includes('Demo people')) {
          started = true;
          clearTimeout(timer);
          resolve(entry.url);
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`provider exited with ${code}\n${stdout}\n${stderr}`));
    });
  });
  // The banner is printed right after the listening line; wait for both demo people.
  while ([...stdout.matchAll(NETWORK_NUMBER_LINE)].length < 2) await new Promise((r) => setTimeout(r, 20));
  const people = Object.fromEntries([...stdout.matchAll(NETWORK_NUMBER_LINE)].map((m) => [m[1], { networkNumber: m[2]!, phone: m[3]!, password: m[4]! }]));
  return {
    url,
    dataDir,
    adult: people.adult as DemoPerson,
    minor: people['16-year-old'] as DemoPerson,
    stdout: () => stdout,
    stop: () => signal(child, 'SIGTERM'),
    crash: () => signal(child, 'SIGKILL'),
  };
}

/** An account's password hash as stored (read before "this wasn't me" turns it off, to put it back after). */
export async function passwordHashOf(dataDir: string, accountId: string): Promise<string> {
  const store = openEmbeddedStore(dataDir);
  try {
    return (await store.accounts.findById(accountId))!.passwordHash!;
  } finally {
    await store.close();
  }
}

/** Puts a password hash back (account recovery sets a new password; suites that go on with the old one use this). */
export async function restorePasswordHash(dataDir: string, accountId: string, passwordHash: string): Promise<void> {
  const store = openEmbeddedStore(dataDir);
  try {
    await store.accounts.replace({ ...(await store.accounts.findById(accountId))!, passwordHash, passwordChangeRequired: false });
  } finally {
    await store.close();
  }
}

/**
 * A production environment that passes start-up's checks: explicit secrets, an https issuer behind the proxy, and the
 * authorities' URLs (not contacted at start-up; enrolment would call them).
 */
const TEST_SECRET = Buffer.alloc(32, 1).toString('base64');
export const PRODUCTION_ISSUER = 'https://id.example.cn';
export const PRODUCTION_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  CYBERID_ISSUER: PRODUCTION_ISSUER,
  CYBERID_COOKIE_KEYS: 'a-cookie-signing-key-of-at-least-32-chars',
  CYBERID_PAIRWISE_SECRET: TEST_SECRET,
  CYBERID_ENCRYPTION_KEY: TEST_SECRET,
  CYBERID_LOOKUP_SECRET: TEST_SECRET,
  CYBERID_PROXY: 'true',
  CYBERID_REGISTRY_URL: 'https://registry.example.cn/v1',
  CYBERID_FACE_VERIFIER_URL: 'https://face.example.cn/v1',
  CYBERID_SMS_URL: 'https://sms.example.cn/send',
};
