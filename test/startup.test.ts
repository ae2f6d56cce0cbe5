// Start-up as an operator meets it: the real `node server/main.ts` process, its files and its refusals.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { removeDataDir, runServerToExit, startProvider, tempDataDir, PRODUCTION_ENV } from './support/server.ts';

const dirs: string[] = [];
function dataDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}
afterEach(() => dirs.splice(0).forEach(removeDataDir));

const PRODUCTION = PRODUCTION_ENV;

const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe('production guard', () => {
  it('refuses development defaults and names every variable to set', async () => {
    const result = await runServerToExit({ NODE_ENV: 'production', CYBERID_DATA_DIR: dataDir() });
    expect(result.code).toBe(1);
    for (const name of ['CYBERID_ISSUER', 'CYBERID_COOKIE_KEYS', 'CYBERID_PAIRWISE_SECRET', 'CYBERID_ENCRYPTION_KEY', 'CYBERID_LOOKUP_SECRET']) {
      expect(result.stderr).toContain(name);
    }
    expect(result.stderr).not.toMatch(NO_STACK);
  });

  it('refuses an http issuer other than localhost, a short secret and the demo', async () => {
    const result = await runServerToExit({
      ...PRODUCTION, CYBERID_ISSUER: 'http://id.example.cn', CYBERID_PAIRWISE_SECRET: 'c2hvcnQ=', CYBERID_DEMO: 'true', CYBERID_DATA_DIR: dataDir(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CYBERID_ISSUER must use https');
    expect(result.stderr).toContain('CYBERID_PAIRWISE_SECRET must be at least 32 random bytes');
    expect(result.stderr).toContain('CYBERID_DEMO must not be enabled');
    expect(result.stderr).not.toContain('CYBERID_COOKIE_KEYS');
  });

  it('refuses a pass-phrase for a secret, and an https issuer without the TLS proxy trusted', async () => {
    const result = await runServerToExit({
      ...PRODUCTION, CYBERID_ENCRYPTION_KEY: 'changeme-changeme-changeme-changeme-changeme', CYBERID_PROXY: 'false', CYBERID_DATA_DIR: dataDir(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CYBERID_ENCRYPTION_KEY must be base64');
    expect(result.stderr).toContain('CYBERID_PROXY must be true');
  });

  it('starts with every secret given, seeds nothing and writes no secrets to disk', async () => {
    const dir = dataDir();
    const result = await runServerToExit({ ...PRODUCTION, CYBERID_DATA_DIR: dir }, /"msg":"listening"/);
    expect(result.code).toBe(0); // stopped gracefully by SIGTERM
    expect(result.stdout).toContain('"msg":"listening"');
    expect(result.stdout).toContain('"demo":false');
    expect(result.stdout).not.toContain('Demo people');
    expect(() => statSync(path.join(dir, 'secrets.json'))).toThrow();
  });
});

describe('development start-up', () => {
  it('generates keys and secrets owner-only on first start and reuses them after', async () => {
    // The signing keys are in the store (cyberid.sqlite), sealed with the attribute key.
    const dir = dataDir();
    const first = await startProvider(dir);
    const jwks = await (await fetch(`${first.url}/jwks`)).text();
    await first.stop();
    for (const file of ['secrets.json', 'cyberid.sqlite', 'demo-site-tls.json']) {
      expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    }
    const second = await startProvider(dir);
    expect(await (await fetch(`${second.url}/jwks`)).text()).toBe(jwks);
    expect(second.adult.networkNumber).toBe(first.adult.networkNumber); // demo people are seeded once
    await second.stop();
  });

  it('answers health and readiness', async () => {
    const running = await startProvider(dataDir());
    try {
      expect(await (await fetch(`${running.url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${running.url}/readyz`)).json()).toEqual({ status: 'ready', store: 'sqlite', backends: { sqlite: 'up' } });
      expect(await (await fetch(`${running.url}/metrics`)).text()).toContain('cyberid_http_request_duration_seconds');
    } finally {
      await running.stop();
    }
  });
});

describe('a malformed clients file stops start-up with a message naming the client and the field', () => {
  const example = JSON.parse(readFileSync(new URL('../clients.example.json', import.meta.url), 'utf8')) as { clients: Record<string, unknown>[] };

  async function startWith(clients: unknown): Promise<string> {
    const dir = dataDir();
    const file = path.join(dir, 'clients.json');
    writeFileSync(file, typeof clients === 'string' ? clients : JSON.stringify({ clients }));
    const result = await runServerToExit({ CYBERID_DATA_DIR: dir, CYBERID_CLIENTS_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(NO_STACK);
    return result.stderr;
  }

  it('a redirect URI that is not a URL', async () => {
    const clients = structuredClone(example.clients);
    clients[1]!.redirect_uris = ['not a url'];
    expect(await startWith(clients)).toMatch(/client "platform-b" \(clients\[1\]\): redirect_uris\.0: Invalid URL/);
  });

  it('an unknown field (a typo)', async () => {
    const clients = structuredClone(example.clients);
    clients[0]!.redirect_uri = 'http://localhost:4001/callback';
    expect(await startWith(clients)).toMatch(/client "platform-a" \(clients\[0\]\): Unrecognized key: "redirect_uri"/);
  });

  it('a client id with a dot, and a restricted scope without a legal basis', async () => {
    const clients = structuredClone(example.clients);
    clients[2]!.client_id = 'platform.c';
    const stderr = await startWith(clients);
    expect(stderr).toMatch(/client "platform\.c" \(clients\[2\]\): client_id: .*no dots/);
    const withoutBasis = structuredClone(example.clients);
    delete (withoutBasis[1]!.cyberid_policy as Record<string, unknown>).legal_basis;
    expect(await startWith(withoutBasis)).toMatch(/client "platform-b" .*cyberid_policy\.legal_basis: a restricted scope/);
  });

  it('a sector document that does not list the client\'s redirect URI (checked by fetching it)', async () => {
    const clients = structuredClone(example.clients);
    clients[2]!.redirect_uris = ['http://localhost:4009/callback'];
    expect(await startWith(clients)).toMatch(/client "platform-c": all registered redirect_uris must be included in the sector_identifier_uri response/);
  });

  it('an http redirect URI outside loopback, in production', async () => {
    const clients = structuredClone(example.clients).slice(1, 2);
    clients[0]!.redirect_uris = ['http://exams.example.cn/callback'];
    const dir = dataDir();
    const file = path.join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify({ clients }));
    const result = await runServerToExit({ ...PRODUCTION, CYBERID_DATA_DIR: dir, CYBERID_CLIENTS_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('client "platform-b" (clients[0]): redirect_uris: must use https in production (http://exams.example.cn/callback)');
  });

  it('a file that is not JSON', async () => {
    expect(await startWith('{ "clients": [ }')).toMatch(/clients\.json: not valid JSON/);
  });
});

describe('the Node.js version check that runs before every npm script', () => {
  const ROOT = path.resolve(import.meta.dirname, '..');
  const OLD_NODES = ['/usr/bin/node', '/usr/local/bin/node', '/bin/node'];
  const check = (node: string, script = 'scripts/check-node.cjs', args: string[] = []) => spawnSync(node, [script, ...args], { cwd: ROOT, encoding: 'utf8' });
  const manifest = () => JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string }; bin: Record<string, string> };
  /** The npm scripts that run TypeScript (directly, through jest or tsc). */
  const typeScriptScripts = () => Object.entries(manifest().scripts).filter(([, script]) => /\.ts\b|jest|tsc/.test(script) && !script.startsWith('npm run '));

  it('every npm script that runs TypeScript checks first; .nvmrc and .node-version name Node 24', () => {
    expect(typeScriptScripts().map(([name]) => name)).toEqual(expect.arrayContaining(['start', 'demo', 'migrate', 'cyberid', 'bench', 'start:cluster', 'typecheck', 'jest']));
    for (const [name, script] of typeScriptScripts()) expect([name, script.startsWith('node scripts/check-node.cjs && ')]).toEqual([name, true]);
    // `npx cyberid` runs the package's bin, not a script: a plain JavaScript file that checks first.
    expect(manifest().bin).toEqual({ cyberid: 'bin/cyberid.cjs' });
    expect(readFileSync(path.join(ROOT, '.nvmrc'), 'utf8').trim()).toBe('24');
    expect(readFileSync(path.join(ROOT, '.node-version'), 'utf8').trim()).toBe('24');
    expect(manifest().engines.node).toBe('>=24');
  });

  it('passes silently on this Node', () => {
    expect(check(process.execPath)).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(check(process.execPath, 'bin/cyberid.cjs', ['--help'])).toMatchObject({ status: 0, stdout: expect.stringContaining('Usage: cyberid') });
  });

  it('on an older Node, says what is needed and how to get it, without a stack trace, and exits 1', () => {
    const old = OLD_NODES.map((node) => ({ node, version: spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() }))
      .find(({ version }) => version && Number(/^v(\d+)/.exec(version)?.[1]) < 24);
    if (!old) {
      process.stdout.write(`no Node older than 24 at ${OLD_NODES.join(', ')}: the old-Node case is not exercised\n`);
      return;
    }
    const refusal = (what: string, result: { status: number | null; stdout: string; stderr: string }) => {
      expect([what, result.status, result.stdout]).toEqual([what, 1, '']);
      expect(result.stderr).toContain(`Cyber ID needs Node.js 24 or newer; this is Node.js ${old.version.slice(1)}`);
      expect(result.stderr).toMatch(/nvm install/);
      expect(result.stderr).toMatch(/https:\/\/nodejs\.org\//);
      expect([what, result.stderr]).toEqual([what, expect.not.stringMatching(NO_STACK)]);
      expect([what, result.stderr]).toEqual([what, expect.not.stringMatching(/ERR_UNKNOWN_FILE_EXTENSION/)]);
    };
    refusal('scripts/check-node.cjs', check(old.node));
    refusal('npx cyberid', check(old.node, 'bin/cyberid.cjs', ['--help']));
    // Each npm script's own command line, as npm runs it (sh -c) with the old Node first on PATH.
    const env = { PATH: `${path.dirname(old.node)}:/usr/bin:/bin`, HOME: process.env.HOME ?? '/tmp' };
    for (const [name, script] of typeScriptScripts()) refusal(`npm run ${name}`, spawnSync('sh', ['-c', script], { cwd: ROOT, env, encoding: 'utf8' }));
  });
});
