// The demo site: a local HTTPS server standing in for the demo platforms' own web servers. It publishes
// their sector identifier documents (demo/sectors/*.json), which the provider fetches and checks exactly
// as it would a real platform's. Started only in demo mode, on loopback, with a self-signed certificate
// generated into the data directory.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import type { PinnedOrigin } from '../outbound.ts';

const SECTORS_DIR = new URL('../../demo/sectors/', import.meta.url);
const HOST = '127.0.0.1';

export interface DemoSite extends PinnedOrigin {
  close(): Promise<void>;
}

async function loadOrCreateCertificate(dataDir: string): Promise<{ key: string; cert: string }> {
  const file = path.join(dataDir, 'demo-site-tls.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { key: string; cert: string };
  const pems = await generate([{ name: 'commonName', value: 'Cyber ID demo site' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 825 * 24 * 3600_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: HOST }] }],
  });
  const pair = { key: pems.private, cert: pems.cert };
  writeFileSync(file, JSON.stringify(pair), { mode: 0o600, flag: 'wx' });
  return pair;
}

export async function startDemoSite(dataDir: string, port: number): Promise<DemoSite> {
  const tls = await loadOrCreateCertificate(dataDir);
  const server: Server = createServer(tls, (req, res) => {
    const match = /^\/sectors\/([a-z0-9-]+)\.json$/.exec(new URL(req.url ?? '/', 'https://x').pathname);
    const file = match && new URL(`${match[1]}.json`, SECTORS_DIR);
    if (req.method !== 'GET' || !file || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, HOST, resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    origin: `https://${HOST}:${actual}`,
    certificate: tls.cert,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
