// What survives a restart and what must not: the operator withdraws a scope from a platform and the
// signing keys are replaced. Remembered grants and refresh tokens must not outlive the policy; network
// numbers must outlive the keys.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { runCli } from '../server/admin/cli.ts';
import { FormBrowser, expectRedirect } from './support/browser.ts';
import { authorizationRequest, discover, PLATFORM_A, redeem, signInAndConsent, type Person } from './support/platform.ts';
import { removeDataDir, startProvider, tempDataDir, type RunningProvider } from './support/server.ts';

let dataDir: string;
let clientsFile: string;
let provider: RunningProvider;
let adult: Person;

function writeClients(scopeOfA: string): void {
  const example = JSON.parse(readFileSync(new URL('../clients.example.json', import.meta.url), 'utf8')) as { clients: Record<string, unknown>[] };
  example.clients[0]!.scope = scopeOfA;
  // No purposes for claims it may lose; password alone is enough, as in the example.
  example.clients[0]!.cyberid_policy = { required_claims: ['identity_verified'], minimum_acr: 'cyberid:loa1' };
  writeFileSync(clientsFile, JSON.stringify(example));
}

beforeAll(async () => {
  dataDir = tempDataDir();
  clientsFile = path.join(dataDir, 'clients.json');
  writeClients('openid verified phone offline_access');
  provider = await startProvider(dataDir, { CYBERID_CLIENTS_FILE: clientsFile });
  adult = { identifier: provider.adult.phone, password: provider.adult.password };
});

afterAll(async () => {
  await provider?.stop();
  removeDataDir(dataDir);
});

describe('after a restart with a narrower policy and new signing keys', () => {
  let refreshToken: string;
  let sub: string;
  let kid: string | undefined;

  it('(before) platform A receives the phone number the person agreed to share', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid phone offline_access', prompt: 'consent' });
    const tokens = await redeem(config, request, await signInAndConsent(new FormBrowser(provider.url), request.url, adult));
    sub = tokens.claims()!.sub;
    kid = decodeProtectedHeader(tokens.id_token!).kid;
    refreshToken = tokens.refresh_token!;
    expect((await oidc.fetchUserInfo(config, tokens.access_token, sub)).phone_number).toBe('+8613800138000');

    const listening = JSON.parse(provider.stdout().split('\n').find((line) => line.includes('"msg":"listening"'))!) as { port: number; demoSite: string };
    await provider.stop();
    writeClients('openid verified offline_access'); // the operator withdraws phone
    // and the signing keys are replaced at once, as after a leak
    expect(await runCli(['keys', 'rotate', '--activate-in', '0'], { ...process.env, CYBERID_DATA_DIR: dataDir }, { out: () => {}, err: () => {} })).toBe(0);
    provider = await startProvider(dataDir, {
      CYBERID_CLIENTS_FILE: clientsFile, PORT: String(listening.port), CYBERID_DEMO_SITE_PORT: new URL(listening.demoSite).port,
    });
  });

  it('no longer releases the withdrawn claim through a token refreshed from the remembered grant', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const refreshed = await oidc.refreshTokenGrant(config, refreshToken);
    const userinfo = await oidc.fetchUserInfo(config, refreshed.access_token, sub);
    expect(userinfo).toEqual({ sub });
  });

  it('refuses a new request for the withdrawn scope', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid phone' });
    const callback = expectRedirect(await new FormBrowser(provider.url).open(request.url));
    expect(callback.searchParams.get('error')).toBe('invalid_scope');
  });

  it('signs with a new key and keeps the same network number', async () => {
    const config = await discover(provider.url, PLATFORM_A);
    const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid' });
    const tokens = await redeem(config, request, await signInAndConsent(new FormBrowser(provider.url), request.url, adult));
    expect(decodeProtectedHeader(tokens.id_token!).kid).not.toBe(kid);
    expect(tokens.claims()!.sub).toBe(sub);
  });
});
