// A real redis-server (Debian's package; .ci/run installs it) started on a free port for a test file, in a fresh
// temporary directory with persistence off. It can be stopped and started again on the same port (outage tests),
// or run as a one-node Redis Cluster (all 16384 slots), which refuses any command whose keys span slots, as a
// real cluster does.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

/** Whether the Redis suite `name` can run; with CI=true a missing redis-server fails the run. */
export function redisAvailable(name: string): boolean {
  if (existsSync(REDIS_SERVER)) return true;
  const message = `${REDIS_SERVER} is missing: install Debian's redis-server package (.ci/run does) to run the Redis tests`;
  if (process.env.CI === 'true') throw new Error(message);
  console.error(`\n*** SKIPPING ${name}: ${message} ***\n`);
  return false;
}

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server the hard way (SIGKILL), as a crash or a network cut looks to the provider. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (persistence is off). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startRedis(options: { cluster?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'cyberid-redis-'));
  let child: ChildProcess | undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
  if (options.cluster) args.push('--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', path.join(dir, 'nodes.conf'));

  const start = async () => {
    child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(() => cli(port, 'PING') === 'PONG', `redis-server on port ${port}`);
    if (options.cluster) {
      if (!cli(port, 'CLUSTER', 'INFO').includes('cluster_slots_assigned:16384')) cli(port, 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await waitFor(() => cli(port, 'CLUSTER', 'INFO').includes('cluster_state:ok'), 'the one-node cluster');
    }
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise((resolve) => {
      running.once('exit', resolve);
      running.kill('SIGKILL');
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function cli(port: number, ...command: string[]): string {
  try {
    return execFileSync(REDIS_CLI, ['-p', String(port), ...command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function waitFor(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`${what} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
