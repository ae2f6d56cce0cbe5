// Starts the two providers the bench compares, as child processes on free ports, and the SMS sink Cyber ID
// sends its one-time codes to (CYBERID_SMS_URL: the HTTP port a real deployment's SMS gateway plugs into).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { freePort } from '../test/support/redis.ts';
import type { Workspace } from './workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface Target {
  name: string;
  url: string;
  /** Endpoint paths from the provider's discovery document. */
  endpoints: { token: string; userinfo: string; introspection: string; jwks: string; authorization: string };
  stop(): Promise<void>;
}

export interface CyberIdOptions {
  label: string;
  redisUrl?: string;
  /** Run server/cluster.ts with this many worker processes instead of one server/main.ts. */
  workers?: number;
  smsUrl: string;
  logLevel?: string;
  /** Node flags for the server process (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export async function startBare(workspace: Workspace): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bench/bare-provider.ts', String(port), workspace.jwksFile, workspace.bareClientFile], {
    cwd: ROOT, stdio: ['ignore', 'ignore', openSync(path.join(workspace.dir, 'bare.log'), 'a')],
  });
  return ready('bare oidc-provider', child, `http://localhost:${port}`, '/.well-known/openid-configuration');
}

export async function startCyberId(workspace: Workspace, options: CyberIdOptions): Promise<Target> {
  const port = await freePort();
  const logFile = path.join(workspace.dir, `cyberid-${options.label}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...options.nodeArgs ?? [], options.workers ? 'server/cluster.ts' : 'server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      PORT: String(port),
      LOG_LEVEL: options.logLevel ?? 'info',
      CYBERID_DATA_DIR: workspace.dir,
      CYBERID_DEMO: 'false',
      CYBERID_CLIENTS_FILE: workspace.clientsFile,
      CYBERID_SMS_URL: options.smsUrl,
      // The bench is one platform making thousands of requests a second; the default quota (200/s) would refuse most.
      CYBERID_CLIENT_RATE_LIMIT: '1000000',
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      ...(options.workers ? { CYBERID_WORKERS: String(options.workers) } : {}),
    },
    stdio: ['ignore', log, log],
  });
  const target = await ready(`Cyber ID (${options.label})`, child, `http://localhost:${port}`, '/readyz');
  // /readyz answers from whichever worker got the connection: a cluster is ready when its primary says so.
  if (options.workers) await logSays(logFile, 'every worker is serving', child);
  return target;
}

async function logSays(file: string, message: string, child: ChildProcess): Promise<void> {
  for (const started = Date.now(); !readFileSync(file, 'utf8').includes(`"msg":"${message}"`); await new Promise((r) => setTimeout(r, 100))) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before its log said "${message}"`);
    if (Date.now() - started > 60_000) throw new Error(`its log did not say "${message}" within 60 s`);
  }
}

async function ready(name: string, child: ChildProcess, url: string, probe: string): Promise<Target> {
  let exited: number | null | undefined;
  child.once('exit', (code) => { exited = code; });
  for (const started = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    if (exited !== undefined) throw new Error(`${name} exited with ${exited} before it was ready`);
    if (Date.now() - started > 60_000) throw new Error(`${name} was not ready within 60 s`);
    const response = await fetch(url + probe).catch(() => undefined);
    if (response?.ok) break;
  }
  const discovery = await (await fetch(`${url}/.well-known/openid-configuration`)).json() as Record<string, string>;
  const pathOf = (key: string) => new URL(discovery[key]!).pathname;
  return {
    name,
    url,
    endpoints: {
      token: pathOf('token_endpoint'), userinfo: pathOf('userinfo_endpoint'), introspection: pathOf('introspection_endpoint'),
      jwks: pathOf('jwks_uri'), authorization: pathOf('authorization_endpoint'),
    },
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Receives Cyber ID's SMS (HttpSmsSender posts `{to, text}`) and keeps the latest code per phone. */
export class SmsSink {
  readonly #codes: Map<string, string>;
  readonly #server: Server;

  private constructor(server: Server, codes: Map<string, string>) {
    this.#server = server;
    this.#codes = codes;
  }

  static async start(): Promise<SmsSink> {
    const codes = new Map<string, string>();
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        const { to, text } = JSON.parse(body) as { to: string; text: string };
        const code = /\b\d{6}\b/.exec(text)?.[0];
        if (code) codes.set(to.replace(/\D/g, '').slice(-11), code);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new SmsSink(server, codes);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/sms`;
  }

  /** The code last sent to `phone` (national digits), taken so it is used once. */
  take(phone: string): string | undefined {
    const code = this.#codes.get(phone);
    this.#codes.delete(phone);
    return code;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
