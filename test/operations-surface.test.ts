// Issue 20, item 6: /metrics and the details of /readyz stay off the public port. With CYBERID_METRICS_PORT they are
// served on a loopback listener of their own; in production the public port never serves them; /healthz stays public.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider, PRODUCTION_ENV } from './support/server.ts';
import { keepSuiteLog } from './support/suite-log.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PRODUCTION = PRODUCTION_ENV;

interface Entry { msg?: string; port?: number; host?: string }
const entries = (stdout: string): Entry[] => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Entry);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

describe('development with CYBERID_METRICS_PORT', () => {
  let provider: RunningProvider;
  let operations: string;

  it('serves /metrics and /readyz with details on a loopback listener of their own', async () => {
    provider = await startProvider(tempDataDir(), { CYBERID_METRICS_PORT: '0' });
    cleanups.push(async () => {
      await provider.stop();
      removeDataDir(provider.dataDir);
    });
    const listener = entries(provider.stdout()).find((entry) => entry.msg === 'serving metrics and readiness details')!;
    expect(listener).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    operations = `http://127.0.0.1:${listener.port}`;
    await fetch(`${provider.url}/.well-known/openid-configuration`);
    const metrics = await fetch(`${operations}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('cyberid_http_request_duration_seconds');
    expect(await (await fetch(`${operations}/readyz`)).json()).toEqual({ status: 'ready', store: 'sqlite', backends: { sqlite: 'up' } });
    expect((await fetch(`${operations}/token`)).status).toBe(404);
  });

  it('the public port answers /metrics 404, /readyz with its status only, and /healthz', async () => {
    expect((await fetch(`${provider.url}/metrics`)).status).toBe(404);
    const ready = await fetch(`${provider.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
    const health = await fetch(`${provider.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
  });
});

describe('production', () => {
  /** `node server/main.ts` in production (no demo people to wait for): the public port. */
  async function startProduction(env: Record<string, string>): Promise<{ port: number; stdout: () => string }> {
    const dataDir = tempDataDir();
    const child: ChildProcess = spawn(process.execPath, ['server/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CYBERID_DATA_DIR: dataDir, ...PRODUCTION, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    keepSuiteLog(child, 'provider-production');
    cleanups.push(() => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve(removeDataDir(dataDir));
      child.on('exit', () => resolve(removeDataDir(dataDir)));
      child.kill('SIGTERM');
    }));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk) => { stderr += chunk; });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start\n${stdout}\n${stderr}`)), 30_000);
      child.stdout!.on('data', (chunk) => {
        stdout += chunk;
        const listening = entries(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).find((entry) => entry.msg === 'listening');
        if (listening) {
          clearTimeout(timer);
          resolve(listening.port!);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited with ${code}\n${stdout}\n${stderr}`)));
    });
    return { port, stdout: () => stdout };
  }
  const viaProxy = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.example.cn' };

  it('never serves /metrics or the details of /readyz on the public port, and says so at start-up without a metrics port', async () => {
    const server = await startProduction({});
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/metrics`, { headers: viaProxy })).status).toBe(404);
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(server.stdout()).toContain('no CYBERID_METRICS_PORT');
  }, 60_000);

  it('serves them on CYBERID_METRICS_PORT', async () => {
    const server = await startProduction({ CYBERID_METRICS_PORT: '0' });
    const listener = entries(server.stdout()).find((entry) => entry.msg === 'serving metrics and readiness details')!;
    expect(listener.host).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${listener.port}/metrics`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${listener.port}/readyz`)).json()).toMatchObject({ status: 'ready', backends: { sqlite: 'up' } });
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { headers: viaProxy })).status).toBe(404);
  }, 60_000);
});
