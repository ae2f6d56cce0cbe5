// `npm run start:cluster`: N copies of the server on one port, sharing the configured store (node:cluster; the
// primary hands connections to the workers). Nothing is kept in process memory between requests, so any worker
// can serve any request: sessions, codes, tokens and rate-limit counters are in the store. N is CYBERID_WORKERS
// (default: one per core). The first worker starts alone (it creates the signing keys, the demo people and the
// registered clients on a fresh store), then the rest. SIGTERM stops every worker gracefully, then the primary.
// Each worker's /metrics is its own; with CYBERID_CLUSTER_METRICS_PORT the primary serves them all summed.
import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { main } from './main.ts';

/** A worker that dies sooner than this after its start is not restarted: it would only die again. */
const CRASH_LOOP_MS = 10_000;
const SERVING = 'cyberid:serving';

function runPrimary(): void {
  let workers: number;
  let logger;
  let config;
  try {
    config = loadConfig();
    workers = config.workers ?? availableParallelism();
    logger = createLogger(config.logLevel);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const log = logger.child({ role: 'primary' });
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let exitCode = 0;

  const fork = (): Worker => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    return worker;
  };
  // A worker says SERVING once started ('listening' would fire for the demo site's server too, and before readiness).
  let serving = 0;
  cluster.on('message', (_worker, message) => {
    if (message !== SERVING) return;
    serving += 1;
    if (serving === 1) for (let i = 1; i < workers; i += 1) fork();
    if (serving === workers) log.info({ workers }, 'every worker is serving');
  });
  fork();
  const metricsServer = config.clusterMetricsPort === undefined ? undefined
    : serveClusterMetrics(config.clusterMetricsPort, config.host, log, () => stopAll('the cluster metrics port cannot be bound', 1));

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) {
      if (!startedAt.size) {
        metricsServer?.close();
        log.info('cluster stopped');
        process.exit(exitCode);
      }
      return;
    }
    if (lived < CRASH_LOOP_MS) {
      log.fatal({ worker: worker.id, code, signal }, 'a worker failed at start-up; stopping the cluster');
      stopAll('worker start-up failure', 1);
      return;
    }
    log.error({ worker: worker.id, code, signal }, 'a worker died; starting another');
    fork();
  });

  const stopAll = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason }, 'stopping every worker');
    if (!startedAt.size) process.exit(exitCode);
    for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
}

/** GET /metrics: every worker's metrics, asked for over IPC and summed (prom-client's AggregatorRegistry). */
function serveClusterMetrics(port: number, host: string | undefined, log: Logger, failed: () => void): Server {
  const aggregator = new AggregatorRegistry();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","error_description":"only GET /metrics is served here"}');
      return;
    }
    aggregator.clusterMetrics().then(
      (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
      (error: unknown) => {
        log.error({ err: error }, 'cluster metrics could not be collected');
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable","error_description":"the workers\' metrics could not be collected"}');
      },
    );
  });
  server.once('error', (error) => {
    log.fatal({ err: error, port }, 'the cluster metrics port cannot be bound');
    failed();
  });
  server.listen(port, host, () => log.info({ port }, 'serving the cluster\'s metrics'));
  return server;
}

if (cluster.isPrimary) runPrimary();
else {
  await main();
  process.send!(SERVING);
}
