// One registration policy for every path (server/admin/metadata-policy.ts): the same table of good and bad metadata
// through dynamic registration (POST /reg), the `cyberid` CLI, the admin API and the clients file, each against the
// real server or command. Every path must give each row the same verdict, and a refusal names the row's field.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { runCli } from '../server/admin/cli.ts';
import { metadataProblems } from '../server/admin/metadata-policy.ts';
import { cyberid } from './support/cli.ts';
import { removeDataDir, runServerToExit, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

interface Row {
  name: string;
  /** Metadata without client_id (each path names its own). */
  metadata: Record<string, unknown>;
  /** The field a refusal must name; absent for metadata every path must accept. */
  field?: string;
}

const BASE = { client_name: 'Policy Test Platform', redirect_uris: ['https://app.example.org/cb'], scope: 'openid verified', token_endpoint_auth_method: 'none' };
const row = (name: string, changes: Record<string, unknown>, field?: string): Row => ({ name, metadata: { ...BASE, ...changes }, ...(field ? { field } : {}) });

/** Development and production alike. */
const TABLE: Row[] = [
  row('an https web platform', {}),
  row('a native app redirecting to the loopback interface over http (RFC 8252)', { application_type: 'native', redirect_uris: ['http://127.0.0.1:8765/cb'] }),
  row('offline_access, for a refresh token', { scope: 'openid verified offline_access', grant_types: ['authorization_code', 'refresh_token'] }),
  row('a name in Chinese and https links', { client_name: '城市服务平台', policy_uri: 'https://app.example.org/privacy', tos_uri: 'https://app.example.org/terms' }),
  row('an http redirect outside loopback', { redirect_uris: ['http://app.example.org/cb'] }, 'redirect_uris'),
  row('an http post-logout redirect outside loopback', { post_logout_redirect_uris: ['http://app.example.org/'] }, 'post_logout_redirect_uris'),
  row('an http jwks_uri', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example.org/jwks.json' }, 'jwks_uri'),
  row('a back-channel logout at a link-local address', { backchannel_logout_uri: 'https://169.254.169.254/logout' }, 'backchannel_logout_uri'),
  row('a back-channel logout at a private address', { backchannel_logout_uri: 'https://10.1.2.3/logout' }, 'backchannel_logout_uri'),
  row('a redirect to a link-local IPv6 address', { redirect_uris: ['https://[fe80::1]/cb'] }, 'redirect_uris'),
  row('an http logo', { logo_uri: 'http://cdn.example.org/logo.png' }, 'logo_uri'),
  row('a right-to-left override in the name', { client_name: 'Pay Platform \u202Egnp.exe' }, 'client_name'),
  row('a zero-width space in the name', { client_name: 'Trusted\u200BPay' }, 'client_name'),
  row('our own name', { client_name: 'Cyber ID 网络身份认证 · 账户' }, 'client_name'),
  row('our name spelt with Cyrillic look-alikes', { client_name: 'Суbеr ІD Pay' }, 'client_name'),
  row('our name in full-width letters and spaced out', { client_name: 'Ｃ y b e r - Ｉ Ｄ' }, 'client_name'),
  row('our Chinese name', { client_name: '国家网络身份 服务' }, 'client_name'),
];

/** Production only: refused there, accepted in development (or, for the good rows, accepted in both). */
const PRODUCTION_TABLE: Row[] = [
  row('an https web platform', {}),
  row('a native app on the loopback interface', { application_type: 'native', redirect_uris: ['http://localhost:8765/cb'] }),
  row('a redirect to an internal host name', { redirect_uris: ['https://portal.corp.internal/cb'] }, 'redirect_uris'),
  row('an http back-channel logout on loopback', { backchannel_logout_uri: 'http://127.0.0.1:4001/logout' }, 'backchannel_logout_uri'),
  row('a back-channel logout on localhost over https', { backchannel_logout_uri: 'https://localhost/logout' }, 'backchannel_logout_uri'),
  row('a jwks_uri at a public IP literal', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://203.0.113.7/jwks.json' }, 'jwks_uri'),
  row('a jwks_uri on an internal name', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.corp.internal/jwks.json' }, 'jwks_uri'),
  row('a sector document on a single-label host', { sector_identifier_uri: 'https://sectors/platform.json' }, 'sector_identifier_uri'),
  row('a back-channel logout on .local', { backchannel_logout_uri: 'https://printer.local/logout' }, 'backchannel_logout_uri'),
  row('an http logo on localhost', { logo_uri: 'http://localhost/logo.png' }, 'logo_uri'),
];

interface Verdict {
  accepted: boolean;
  message: string;
}

function expectVerdict(verdict: Verdict, expected: Row, where: string): void {
  const summary = `${where}: ${expected.name}: ${verdict.accepted ? 'accepted' : `refused (${verdict.message})`}`;
  if (expected.field) {
    expect({ summary, accepted: verdict.accepted }).toEqual({ summary, accepted: false });
    expect(verdict.message).toContain(expected.field);
  } else {
    expect({ summary, accepted: verdict.accepted }).toEqual({ summary, accepted: true });
  }
}

const idOf = (path: string, index: number) => `policy-${path}-${index}`;

const SECRET = Buffer.alloc(32, 1).toString('base64');
const PRODUCTION = {
  NODE_ENV: 'production',
  CYBERID_ISSUER: 'https://id.example.cn',
  CYBERID_COOKIE_KEYS: 'a-cookie-signing-key-of-at-least-32-chars',
  CYBERID_PAIRWISE_SECRET: SECRET,
  CYBERID_ENCRYPTION_KEY: SECRET,
  CYBERID_LOOKUP_SECRET: SECRET,
  CYBERID_PROXY: 'true',
  CYBERID_REGISTRY_URL: 'https://registry.example.cn/v1',
  CYBERID_FACE_VERIFIER_URL: 'https://face.example.cn/v1',
  CYBERID_SMS_URL: 'https://sms.example.cn/send',
};

const scratch = mkdtempSync(path.join(tmpdir(), 'cyberid-policy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function metadataFile(name: string, metadata: Record<string, unknown>): string {
  const file = path.join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(metadata));
  return file;
}

describe('the policy module', () => {
  it.each(TABLE.map((r) => [r.name, r] as const))('development and production: %s', (_name, r) => {
    for (const production of [false, true]) {
      const problems = metadataProblems(r.metadata, production);
      expectVerdict({ accepted: problems.length === 0, message: problems.map((p) => p.join(': ')).join('; ') }, r, production ? 'production' : 'development');
    }
  });

  it.each(PRODUCTION_TABLE.map((r) => [r.name, r] as const))('production only: %s', (_name, r) => {
    const problems = metadataProblems(r.metadata, true);
    expectVerdict({ accepted: problems.length === 0, message: problems.map((p) => p.join(': ')).join('; ') }, r, 'production');
    expect(metadataProblems(r.metadata, false)).toEqual([]);
  });

  it('checks every language variant of the name, and spares only Cyber ID\'s own portal', () => {
    expect(metadataProblems({ ...BASE, 'client_name#zh-CN': 'Cyber ID 账户' }, false)).toEqual([['client_name#zh-CN', expect.stringContaining('Cyber ID')]]);
    expect(metadataProblems({ ...BASE, 'client_name#en': 'Pay\u2066 x' }, false)).toEqual([['client_name#en', expect.stringContaining('U+2066')]]);
    expect(metadataProblems({ ...BASE, client_id: 'cyberid-account', client_name: 'Cyber ID 账户' }, true)).toEqual([]);
  });
});

describe('four paths, one verdict (development server)', () => {
  let provider: RunningProvider;
  let dataDir: string;
  let operatorToken: string;

  beforeAll(async () => {
    dataDir = tempDataDir();
    provider = await startProvider(dataDir);
    const added = await cyberid(dataDir, 'clients', 'add', '--operator', '--id', 'policy-ops', '--name', 'Policy operator', '--scopes', 'clients:write', '--json');
    const secret = added.json<{ client_secret: string }>().client_secret;
    const config = await oidc.discovery(new URL(provider.url), 'policy-ops', undefined, oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
    operatorToken = (await oidc.clientCredentialsGrant(config, { scope: 'clients:write', resource: `${provider.url}/admin/v1` })).access_token;
  });

  afterAll(async () => {
    await provider?.stop();
    removeDataDir(dataDir);
  });

  async function post(url: string, token: string, body: unknown): Promise<Verdict> {
    const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
    const json = await response.json() as { error?: string; error_description?: string };
    if (response.status === 201) return { accepted: true, message: '' };
    return { accepted: false, message: `${response.status} ${json.error}: ${json.error_description}` };
  }

  it.each(TABLE.map((r, i) => [r.name, r, i] as const))('dynamic registration: %s', async (_name, r) => {
    const issued = await cyberid(dataDir, 'registration-token', '--expires-in', '1h', '--json');
    const token = issued.json<{ initial_access_token: string }>().initial_access_token;
    expectVerdict(await post(`${provider.url}/reg`, token, r.metadata), r, 'POST /reg');
  });

  it.each(TABLE.map((r, i) => [r.name, r, i] as const))('the CLI: %s', async (_name, r, i) => {
    const run = await cyberid(dataDir, 'clients', 'add', '--from-file', metadataFile(`cli-${i}`, { client_id: idOf('cli', i), ...r.metadata }), '--json');
    expect([0, 1]).toContain(run.code);
    expectVerdict({ accepted: run.code === 0, message: run.err }, r, 'cyberid clients add');
  });

  it.each(TABLE.map((r, i) => [r.name, r, i] as const))('the admin API: %s', async (_name, r, i) => {
    expectVerdict(await post(`${provider.url}/admin/v1/clients`, operatorToken, { client_id: idOf('api', i), ...r.metadata }), r, 'POST /admin/v1/clients');
  });
});

describe('the clients file (development server start-up)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDataDir));

  async function startWith(clients: Record<string, unknown>[], env: Record<string, string> = {}) {
    const dir = tempDataDir();
    dirs.push(dir);
    const file = path.join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify({ clients }));
    return runServerToExit({ ...env, CYBERID_DATA_DIR: dir, CYBERID_CLIENTS_FILE: file }, /"msg":"listening"/);
  }

  it('accepts every good row', async () => {
    const good = TABLE.map((r, i) => [r, i] as const).filter(([r]) => !r.field);
    const result = await startWith(good.map(([r, i]) => ({ client_id: idOf('file', i), ...r.metadata })));
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('"msg":"listening"');
  });

  it.each(TABLE.map((r, i) => [r.name, r, i] as const).filter(([, r]) => r.field))('refuses to start: %s', async (_name, r, i) => {
    const result = await startWith([{ client_id: idOf('file', i), ...r.metadata }]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`client "${idOf('file', i)}" (clients[0]): ${r.field}: `);
  });
});

describe('in production: the CLI and the clients file', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDataDir));

  it.each(PRODUCTION_TABLE.map((r, i) => [r.name, r, i] as const))('the CLI: %s', async (_name, r, i) => {
    const dir = tempDataDir();
    dirs.push(dir);
    let err = '';
    const code = await runCli(['clients', 'add', '--from-file', metadataFile(`prod-cli-${i}`, { client_id: idOf('prod', i), ...r.metadata }), '--json'],
      { ...PRODUCTION, PATH: process.env.PATH, CYBERID_DATA_DIR: dir, LOG_LEVEL: 'warn' }, { out: () => {}, err: (t) => { err += t; } });
    expect([0, 1]).toContain(code);
    expectVerdict({ accepted: code === 0, message: err }, r, 'cyberid clients add (production)');
  });

  it.each(PRODUCTION_TABLE.map((r, i) => [r.name, r, i] as const).filter(([, r]) => r.field))('the clients file refuses to start: %s', async (_name, r, i) => {
    const dir = tempDataDir();
    dirs.push(dir);
    const file = path.join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify({ clients: [{ client_id: idOf('prod', i), ...r.metadata }] }));
    const result = await runServerToExit({ ...PRODUCTION, CYBERID_DATA_DIR: dir, CYBERID_CLIENTS_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`client "${idOf('prod', i)}" (clients[0]): ${r.field}: `);
  });
});
