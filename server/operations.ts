// The operations surface (issue 20, item 6): /metrics and the details of /readyz are for the operators' network,
// not the public port. With CYBERID_METRICS_PORT they are served on a listener of their own (127.0.0.1 unless
// CYBERID_METRICS_HOST says otherwise); the public port then answers /metrics 404 and /readyz with its status only.
// In production the public port never serves them. /healthz stays public everywhere.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '../adapters/types.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface Readiness {
  ready: boolean;
  /** Which backends are up: for the operators' network only. */
  details: { status: 'ready' | 'unavailable'; store: string; backends: Record<string, 'up' | 'down'> };
}

export async function readiness(store: Store, logger: Logger): Promise<Readiness> {
  const backends = await store.check();
  const ready = backends.every((backend) => backend.up);
  if (!ready) logger.warn({ backends }, 'store not ready');
  return {
    ready,
    details: { status: ready ? 'ready' : 'unavailable', store: store.kind, backends: Object.fromEntries(backends.map((b) => [b.kind, b.up ? 'up' : 'down'])) },
  };
}

export interface OperationsListener {
  /** The port it listens on (the configured one, or the one picked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** GET /metrics, /readyz (with details) and /healthz on their own port; everything else 404. */
export async function serveOperations(options: { port: number; host: string; metrics: Metrics; store: Store; logger: Logger }): Promise<OperationsListener> {
  const { metrics, store, logger } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    if (req.method !== 'GET') return json(405, { error: 'method_not_allowed' });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      readiness(store, logger).then(({ ready, details }) => json(ready ? 200 : 503, details), () => json(503, { status: 'unavailable' }));
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }).end(text),
        (error: unknown) => {
          logger.error({ err: error }, 'metrics could not be collected');
          json(503, { error: 'temporarily_unavailable' });
        },
      );
      return;
    }
    json(404, { error: 'not_found', error_description: 'only GET /metrics, /readyz and /healthz are served here' });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port, options.host, resolve));
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: options.host, port }, 'serving metrics and readiness details');
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
