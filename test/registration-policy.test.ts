// One registration policy for every path (server/admin/metadata-policy.ts): the same table of good and bad metadata
// through dynamic registration (POST /reg), the `cyberid` CLI, the admin API and the clients file, each against the
// real server or command, once on a development server and once on a production one (NODE_ENV=production). Every
// path must give each row the same verdict, and a refusal names the row's field.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '../server/admin/cli.ts';
import { metadataProblems } from '../server/admin/metadata-policy.ts';
import { keepSuiteLog } from './support/suite-log.ts';
import { removeDataDir, runServerToExit, tempDataDir, PRODUCTION_ENV, PRODUCTION_ISSUER } from './support/server.ts';

interface Row {
  name: string;
  /** Metadata without client_id (each path names its own). */
  metadata: Record<string, unknown>;
  /** The field a refusal must name, in development and production alike. */
  refused?: string;
  /** The field a refusal must name in production; in development the row is accepted. */
  refusedInProduction?: string;
  /**
   * In development oidc-provider fetches this row's document at registration (the policy lets it through), so its
   * development verdict is the module's alone; production refuses before any fetch.
   */
  fetchedInDevelopment?: true;
}

const BASE = { client_name: 'Policy Test Platform', redirect_uris: ['https://app.example.org/cb'], scope: 'openid verified', token_endpoint_auth_method: 'none' };
const good = (name: string, changes: Record<string, unknown>): Row => ({ name, metadata: { ...BASE, ...changes } });
const bad = (name: string, changes: Record<string, unknown>, refused: string): Row => ({ name, metadata: { ...BASE, ...changes }, refused });
const badInProduction = (name: string, changes: Record<string, unknown>, refusedInProduction: string, extra: Partial<Row> = {}): Row =>
  ({ name, metadata: { ...BASE, ...changes }, refusedInProduction, ...extra });
const PRIVATE_KEY_JWT = { token_endpoint_auth_method: 'private_key_jwt' };

const TABLE: Row[] = [
  good('an https web platform', {}),
  good('a native app redirecting to 127.0.0.1 over http (RFC 8252)', { application_type: 'native', redirect_uris: ['http://127.0.0.1:8765/cb'] }),
  good('a native app redirecting to localhost over http', { application_type: 'native', redirect_uris: ['http://localhost:8765/cb'] }),
  good('offline_access, for a refresh token', { scope: 'openid verified offline_access', grant_types: ['authorization_code', 'refresh_token'] }),
  good('a name in Chinese and https links', { client_name: '城市服务平台', policy_uri: 'https://app.example.org/privacy', tos_uri: 'https://app.example.org/terms' }),
  good('a name in Cyrillic letters', { client_name: 'Городские услуги' }),
  good('a name with "Cyber" but not ours', { client_name: 'Cyber Security Lab · 网络安全实验室' }),
  good('a jwks_uri and back-channel logout on a public DNS name', { ...PRIVATE_KEY_JWT, jwks_uri: 'https://keys.example.org/jwks.json', backchannel_logout_uri: 'https://app.example.org/logout' }),

  bad('an http redirect outside loopback', { redirect_uris: ['http://app.example.org/cb'] }, 'redirect_uris'),
  bad('an http post-logout redirect outside loopback', { post_logout_redirect_uris: ['http://app.example.org/'] }, 'post_logout_redirect_uris'),
  bad('an http jwks_uri', { ...PRIVATE_KEY_JWT, jwks_uri: 'http://keys.example.org/jwks.json' }, 'jwks_uri'),
  bad('an http back-channel logout outside loopback', { backchannel_logout_uri: 'http://app.example.org/logout' }, 'backchannel_logout_uri'),
  bad('a back-channel logout at a link-local address (cloud metadata)', { backchannel_logout_uri: 'https://169.254.169.254/logout' }, 'backchannel_logout_uri'),
  bad('a back-channel logout at a private address', { backchannel_logout_uri: 'https://10.1.2.3/logout' }, 'backchannel_logout_uri'),
  bad('a jwks_uri at a private address', { ...PRIVATE_KEY_JWT, jwks_uri: 'https://172.20.0.5/jwks.json' }, 'jwks_uri'),
  bad('a redirect to a private address', { redirect_uris: ['https://192.168.1.20/cb'] }, 'redirect_uris'),
  bad('a redirect to a link-local IPv6 address', { redirect_uris: ['https://[fe80::1]/cb'] }, 'redirect_uris'),
  bad('a back-channel logout at a unique-local IPv6 address', { backchannel_logout_uri: 'https://[fd00::5]/logout' }, 'backchannel_logout_uri'),
  bad('an http logo', { logo_uri: 'http://cdn.example.org/logo.png' }, 'logo_uri'),
  bad('an http privacy policy', { policy_uri: 'http://app.example.org/privacy' }, 'policy_uri'),
  bad('a right-to-left override in the name', { client_name: 'Pay Platform \u202Egnp.exe' }, 'client_name'),
  bad('a bidi isolate in the name', { client_name: 'Pay \u2067Platform\u2069' }, 'client_name'),
  bad('an Arabic letter mark in the name', { client_name: 'Pay\u061C Platform' }, 'client_name'),
  bad('a zero-width space in the name', { client_name: 'Trusted\u200BPay' }, 'client_name'),
  bad('a control character in the name', { client_name: 'Pay\u0007 Platform' }, 'client_name'),
  bad('our own name (issue 20)', { client_name: 'Cyber ID 网络身份认证 · 账户' }, 'client_name'),
  bad('our name written together', { client_name: 'CyberID Pay' }, 'client_name'),
  bad('our name spelt with Cyrillic look-alikes', { client_name: 'Суbеr ІD Pay' }, 'client_name'),
  bad('our name in full-width letters and spaced out', { client_name: 'Ｃ y b e r - Ｉ Ｄ' }, 'client_name'),
  bad('our Chinese name', { client_name: '国家网络身份 服务' }, 'client_name'),
  bad('our Chinese name in traditional characters', { client_name: '網絡身份認證' }, 'client_name'),

  good('an https platform with a logo', { logo_uri: 'https://cdn.example.org/logo.png' }),
  badInProduction('a redirect to an internal host name', { redirect_uris: ['https://portal.corp.internal/cb'] }, 'redirect_uris'),
  badInProduction('an http back-channel logout on loopback', { backchannel_logout_uri: 'http://127.0.0.1:4001/logout' }, 'backchannel_logout_uri'),
  badInProduction('an https back-channel logout on localhost', { backchannel_logout_uri: 'https://localhost/logout' }, 'backchannel_logout_uri'),
  badInProduction('a jwks_uri at a public IP address', { ...PRIVATE_KEY_JWT, jwks_uri: 'https://203.0.113.7/jwks.json' }, 'jwks_uri'),
  badInProduction('a jwks_uri on an internal name', { ...PRIVATE_KEY_JWT, jwks_uri: 'https://keys.corp.internal/jwks.json' }, 'jwks_uri'),
  badInProduction('a sector document on a single-label host', { sector_identifier_uri: 'https://sectors/platform.json' }, 'sector_identifier_uri', { fetchedInDevelopment: true }),
  badInProduction('a back-channel logout on .local', { backchannel_logout_uri: 'https://printer.local/logout' }, 'backchannel_logout_uri'),
  badInProduction('a back-channel logout on a single-label host', { backchannel_logout_uri: 'https://logout-service/logout' }, 'backchannel_logout_uri'),
  badInProduction('an http logo on localhost', { logo_uri: 'http://localhost/logo.png' }, 'logo_uri'),
  badInProduction('a post-logout redirect on a loopback address other than 127.0.0.1', { post_logout_redirect_uris: ['https://127.0.0.2/'] }, 'post_logout_redirect_uris'),
];

const ENVIRONMENTS = [
  { name: 'development', production: false },
  { name: 'production', production: true },
] as const;

/** The field a refusal names in this environment; undefined when every path must accept the row. */
const expectedField = (row: Row, production: boolean): string | undefined => row.refused ?? (production ? row.refusedInProduction : undefined);

interface Verdict {
  accepted: boolean;
  message: string;
}

function expectVerdict(verdict: Verdict, row: Row, production: boolean, where: string): void {
  const field = expectedField(row, production);
  const summary = `${where}: ${row.name}: ${verdict.accepted ? 'accepted' : `refused (${verdict.message})`}`;
  expect({ summary, accepted: verdict.accepted }).toEqual({ summary, accepted: !field });
  if (field) expect(verdict.message).toContain(field);
}

const ISSUER = PRODUCTION_ISSUER;
const PRODUCTION = PRODUCTION_ENV;

const scratch = mkdtempSync(path.join(tmpdir(), 'cyberid-policy-'));
const dataDirs: string[] = [];
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  dataDirs.forEach(removeDataDir);
});

function dataDir(): string {
  const dir = tempDataDir();
  dataDirs.push(dir);
  return dir;
}

function metadataFile(name: string, metadata: Record<string, unknown>): string {
  const file = path.join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(metadata));
  return file;
}

describe('the policy module', () => {
  it.each(TABLE.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    for (const { name, production } of ENVIRONMENTS) {
      const problems = metadataProblems(row.metadata, production);
      expectVerdict({ accepted: problems.length === 0, message: problems.map((p) => p.join(': ')).join('; ') }, row, production, name);
    }
  });

  it('checks every language variant of the name, and spares only Cyber ID\'s own portal', () => {
    expect(metadataProblems({ ...BASE, 'client_name#zh-CN': 'Cyber ID 账户' }, false)).toEqual([['client_name#zh-CN', expect.stringContaining('Cyber ID')]]);
    expect(metadataProblems({ ...BASE, 'client_name#en': 'Pay\u2066 x' }, false)).toEqual([['client_name#en', expect.stringContaining('U+2066')]]);
    expect(metadataProblems({ ...BASE, client_id: 'cyberid-account', client_name: 'Cyber ID 账户' }, true)).toEqual([]);
  });

  it('refuses hidden characters in the operator\'s texts on the consent page, which may cite our name', () => {
    const policy = (purpose: string, basis: string) => ({
      ...BASE,
      cyberid_policy: { purposes: { age_over_18: { en: purpose, 'zh-CN': '仅限成年人。' } }, legal_basis: { en: 'Exam rules, art. 12', 'zh-CN': basis } },
    });
    expect(metadataProblems(policy('Adults only.', '《国家网络身份认证公共服务管理办法》'), true)).toEqual([]);
    expect(metadataProblems(policy('Adults \u202Eonly.', '规定\u200B第十二条'), true)).toEqual([
      ['cyberid_policy.purposes.age_over_18.en', expect.stringContaining('U+202E')],
      ['cyberid_policy.legal_basis.zh-CN', expect.stringContaining('U+200B')],
    ]);
  });
});

/** A request to the production server as its proxy forwards it: https, for the issuer's host. */
const FORWARDED = { 'x-forwarded-proto': 'https', 'x-forwarded-host': new URL(ISSUER).host };

/** Starts `node server/main.ts` with `env` (no demo) and resolves once it listens. */
async function startServer(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['server/main.ts'], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: { PATH: process.env.PATH ?? '', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepSuiteLog(child, 'provider');
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`provider did not start in time\n${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      const line = output.split('\n').find((text) => text.includes('"msg":"listening"') && text.endsWith('}'));
      if (line) {
        clearTimeout(timer);
        const listening = JSON.parse(line) as { url: string; port: number };
        // In production the issuer is the proxy's https origin: requests go to the port and carry FORWARDED.
        resolve(env.NODE_ENV === 'production' ? `http://127.0.0.1:${listening.port}` : listening.url);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', (chunk: Buffer) => { output += chunk; });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`provider exited with ${code}\n${output}`));
    });
  });
  return {
    url,
    stop: () => new Promise((resolve) => {
      child.removeAllListeners('exit');
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

for (const { name: environment, production } of ENVIRONMENTS) {
  const envOf = (dir: string): Record<string, string> => ({ ...(production ? PRODUCTION : { NODE_ENV: 'development', CYBERID_DEMO: 'false' }), CYBERID_DATA_DIR: dir });
  /** The rows every path runs in this environment. */
  const rows = TABLE.map((row, index) => ({ row, index })).filter(({ row }) => production || !row.fetchedInDevelopment);
  const idOf = (where: string, index: number) => `policy-${environment.slice(0, 4)}-${where}-${index}`;
  /** row name → path → accepted, to compare the paths' verdicts at the end. */
  const verdicts = new Map<string, Map<string, boolean>>();
  const record = (row: Row, where: string, verdict: Verdict) => {
    if (!verdicts.has(row.name)) verdicts.set(row.name, new Map());
    verdicts.get(row.name)!.set(where, verdict.accepted);
  };

  describe(`four paths, one verdict (${environment} server)`, () => {
    let server: { url: string; stop: () => Promise<void> };
    let dir: string;
    let operatorToken: string;

    async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
      let out = '';
      let err = '';
      const code = await runCli(args, { PATH: process.env.PATH, ...envOf(dir), LOG_LEVEL: 'warn' }, { out: (t) => { out += t; }, err: (t) => { err += t; } });
      return { code, out, err };
    }

    async function post(route: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
      const response = await fetch(`${server.url}${route}`, {
        method: 'POST',
        headers: { ...(production ? FORWARDED : {}), accept: 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, json: await response.json() as Record<string, unknown> };
    }

    async function registration(route: string, token: string, body: unknown): Promise<Verdict> {
      const { status, json } = await post(route, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body);
      return status === 201 ? { accepted: true, message: '' } : { accepted: false, message: `${status} ${json.error as string}: ${json.error_description as string}` };
    }

    beforeAll(async () => {
      dir = dataDir();
      server = await startServer(envOf(dir));
      const added = await cli('clients', 'add', '--operator', '--id', 'policy-ops', '--name', 'Policy operator', '--scopes', 'clients:write', '--json');
      expect(added.code).toBe(0);
      const secret = (JSON.parse(added.out) as { client_secret: string }).client_secret;
      const issuer = production ? ISSUER : server.url;
      const token = await post('/token', {
        authorization: `Basic ${Buffer.from(`policy-ops:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded',
      }, new URLSearchParams({ grant_type: 'client_credentials', scope: 'clients:write', resource: `${issuer}/admin/v1` }).toString());
      expect(token.status).toBe(200);
      operatorToken = token.json.access_token as string;
    });

    afterAll(() => server?.stop());

    it.each(rows.map(({ row, index }) => [row.name, row, index] as const))('dynamic registration: %s', async (_name, row) => {
      const issued = await cli('registration-token', '--expires-in', '1h', '--json');
      const verdict = await registration('/reg', (JSON.parse(issued.out) as { initial_access_token: string }).initial_access_token, row.metadata);
      record(row, 'POST /reg', verdict);
      expectVerdict(verdict, row, production, 'POST /reg');
    });

    it.each(rows.map(({ row, index }) => [row.name, row, index] as const))('the CLI: %s', async (_name, row, index) => {
      const run = await cli('clients', 'add', '--from-file', metadataFile(idOf('cli', index), { client_id: idOf('cli', index), ...row.metadata }), '--json');
      expect([0, 1]).toContain(run.code);
      const verdict = { accepted: run.code === 0, message: run.err };
      record(row, 'cyberid clients add', verdict);
      expectVerdict(verdict, row, production, 'cyberid clients add');
    });

    it.each(rows.map(({ row, index }) => [row.name, row, index] as const))('the admin API: %s', async (_name, row, index) => {
      const verdict = await registration('/admin/v1/clients', operatorToken, { client_id: idOf('api', index), ...row.metadata });
      record(row, 'POST /admin/v1/clients', verdict);
      expectVerdict(verdict, row, production, 'POST /admin/v1/clients');
    });
  });

  describe(`the clients file (${environment} server start-up)`, () => {
    /** Runs the server on a clients file until it exits, or until it listens (then stops it). */
    async function startWith(clients: Record<string, unknown>[]) {
      const dir = dataDir();
      const file = path.join(dir, 'clients.json');
      writeFileSync(file, JSON.stringify({ clients }));
      return runServerToExit({ ...envOf(dir), CYBERID_CLIENTS_FILE: file }, /"msg":"listening"/, 30_000);
    }

    it('starts with every accepted row', async () => {
      const accepted = rows.filter(({ row }) => !expectedField(row, production));
      const result = await startWith(accepted.map(({ row, index }) => ({ client_id: idOf('file', index), ...row.metadata })));
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain(`"clients":${accepted.length},"msg":"listening"`);
      for (const { row } of accepted) record(row, 'clients file', { accepted: true, message: '' });
    });

    it.each(rows.filter(({ row }) => expectedField(row, production)).map(({ row, index }) => [row.name, row, index] as const))('refuses to start: %s', async (_name, row, index) => {
      const result = await startWith([{ client_id: idOf('file', index), ...row.metadata }]);
      record(row, 'clients file', { accepted: result.stdout.includes('"msg":"listening"'), message: result.stderr });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`client "${idOf('file', index)}" (clients[0]): ${expectedField(row, production)}: `);
    });
  });

  describe(`${environment}: the verdicts side by side`, () => {
    it('every row has one verdict on all four paths', () => {
      const table = rows.map(({ row }) => [row.name, Object.fromEntries(verdicts.get(row.name) ?? [])] as const);
      for (const [name, byPath] of table) {
        expect([name, Object.keys(byPath).sort()]).toEqual([name, ['POST /admin/v1/clients', 'POST /reg', 'clients file', 'cyberid clients add']]);
        expect([name, new Set(Object.values(byPath)).size]).toEqual([name, 1]);
      }
    });
  });
}
