// A platform's back-channel logout endpoint (OIDC Back-Channel Logout 1.0): an HTTP server on a free port
// that keeps every logout token it receives and checks it as a platform must (signature against the
// provider's JWKS, issuer, audience, events claim, no nonce).
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface BackChannelReceiver {
  url: string;
  tokens: string[];
  /** Verifies the tokens received from the `from`th on as tokens for `clientId`, and returns their payloads. */
  verified(issuer: string, clientId: string, from?: number): Promise<JWTPayload[]>;
  close(): Promise<void>;
}

export async function startBackChannelReceiver(): Promise<BackChannelReceiver> {
  const tokens: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && token) tokens.push(token);
      res.writeHead(token ? 200 : 400, { 'cache-control': 'no-store' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/backchannel-logout`,
    tokens,
    async verified(issuer, clientId, from = 0) {
      const jwks = createRemoteJWKSet(new URL('/jwks', issuer));
      return Promise.all(tokens.slice(from).map(async (token) => {
        const { payload } = await jwtVerify(token, jwks, { issuer, audience: clientId, typ: 'logout+jwt' });
        if (!payload.events || !('http://schemas.openid.net/event/backchannel-logout' in (payload.events as object))) throw new Error('no back-channel logout event');
        if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
        return payload;
      }));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** clients.example.json with a back-channel logout endpoint registered for each of `clientIds`, written to `file`. */
export async function clientsWithBackChannel(file: string, receiverUrl: string, clientIds: string[]): Promise<string> {
  const { readFile, writeFile } = await import('node:fs/promises');
  const clients = JSON.parse(await readFile(new URL('../../clients.example.json', import.meta.url), 'utf8')) as { clients: { client_id: string }[] };
  for (const client of clients.clients) {
    if (clientIds.includes(client.client_id)) Object.assign(client, { backchannel_logout_uri: `${receiverUrl}?client=${client.client_id}` });
  }
  await writeFile(file, JSON.stringify(clients, null, 2));
  return file;
}
