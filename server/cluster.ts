// `npm run start:cluster`: N copies of the server on one port, sharing the configured store (node:cluster; the
// primary hands connections to the workers). Nothing is kept in process memory between requests, so any worker
// can serve any request: sessions, codes, tokens and rate-limit counters are in the store. N is CYBERID_WORKERS
// (default: one per core). The first worker starts alone (it creates the signing keys, the demo people and the
// registered clients on a fresh store), then the rest. If a worker fails before the cluster has first served in
// full, the cluster stops (a configuration or store fault: every worker would fail alike). Later, a worker that dies
// is replaced, up to RESTART_LIMIT times in RESTART_WINDOW_MS; beyond that the cluster stops and the process manager
// above decides what next. SIGTERM stops every worker gracefully, then the primary, which exits non-zero if a
// serving worker did not stop cleanly.
// Each worker's /metrics is its own; with CYBERID_CLUSTER_METRICS_PORT the primary serves them all summed.
import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { main } from './main.ts';
import { METRICS_ANSWER, METRICS_ASK, type MetricsAnswer } from './metrics.ts';

const SERVING = 'cyberid:serving';
/** Beyond the workers' own grace period: a worker still running then is killed. */
const KILL_MARGIN_MS = 10_000;
const RESTART_LIMIT = 5;
const RESTART_WINDOW_MS = 60_000;
const METRICS_TIMEOUT_MS = 3000;

function runPrimary(): void {
  let config: Config;
  let logger: Logger;
  try {
    config = loadConfig();
    logger = createLogger(config.logLevel);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const count = config.workers ?? availableParallelism();
  const log = logger.child({ role: 'primary' });
  const alive = new Set<Worker>();
  const serving = new Set<Worker>();
  /** Set once every worker has served: from then on a worker that dies is replaced. */
  let started = false;
  const restarts: number[] = [];
  let stopping = false;
  let exitCode = 0;

  const fork = () => {
    if (!stopping) alive.add(cluster.fork());
  };
  const finish = () => {
    metricsServer?.close();
    log.info({ exitCode }, 'cluster stopped');
    process.exit(exitCode);
  };
  const stopAll = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason }, 'stopping every worker');
    if (!alive.size) return finish();
    for (const worker of alive) worker.process.kill('SIGTERM');
    setTimeout(() => {
      log.error({ workers: alive.size }, 'workers still running after the grace period; killing them');
      exitCode = 1;
      for (const worker of alive) worker.process.kill('SIGKILL');
    }, config.shutdownGraceSeconds * 1000 + KILL_MARGIN_MS).unref();
  };

  // A worker says SERVING once started ('listening' would fire for the demo site's server too, and before readiness).
  cluster.on('message', (worker, message) => {
    if (message !== SERVING || stopping) return;
    const first = !started && serving.size === 0;
    serving.add(worker);
    if (first) for (let i = 1; i < count; i += 1) fork();
    if (serving.size === count && !started) {
      started = true;
      log.info({ workers: count }, 'every worker is serving');
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    alive.delete(worker);
    const wasServing = serving.delete(worker);
    if (stopping) {
      // A worker still starting may be cut short by the signal (twice signalled: by the primary and by a process
      // group kill); only a serving worker owes a clean stop.
      if (wasServing && code !== 0) exitCode = 1;
      if (!alive.size) finish();
      return;
    }
    if (!started) {
      log.fatal({ worker: worker.id, code, signal }, 'a worker failed at start-up; stopping the cluster');
      stopAll('worker start-up failure', 1);
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts[0]! <= now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > RESTART_LIMIT) {
      log.fatal({ worker: worker.id, code, signal, restarts: restarts.length, windowMs: RESTART_WINDOW_MS }, 'workers keep dying; stopping the cluster');
      stopAll('workers keep dying', 1);
      return;
    }
    log.error({ worker: worker.id, code, signal }, 'a worker died; starting another');
    fork();
  });
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));

  fork();
  // The summed metrics go where a single process's would: CYBERID_CLUSTER_METRICS_PORT, else CYBERID_METRICS_PORT,
  // on CYBERID_METRICS_HOST (loopback by default), never on every interface.
  const summedMetricsPort = config.clusterMetricsPort ?? config.metrics.port;
  const metricsServer = summedMetricsPort === undefined ? undefined
    : serveClusterMetrics(summedMetricsPort, config.metrics.host, log, serving, () => stopAll('the cluster metrics port cannot be bound', 1));
}

/** GET /metrics: the serving workers' metrics, asked for over IPC and summed (prom-client's AggregatorRegistry). */
function serveClusterMetrics(port: number, host: string | undefined, log: Logger, serving: ReadonlySet<Worker>, failed: () => void): Server {
  const waiting = new Map<number, (answer: MetricsAnswer) => void>();
  let lastId = 0;
  cluster.on('message', (_worker, message: Partial<MetricsAnswer>) => {
    if (message?.type === METRICS_ANSWER && typeof message.id === 'number') waiting.get(message.id)?.(message as MetricsAnswer);
  });
  const ask = (worker: Worker) => new Promise<object[]>((resolve, reject) => {
    const id = (lastId += 1);
    const settle = (error: Error | undefined, metrics?: object[]) => {
      clearTimeout(timer);
      waiting.delete(id);
      if (error) reject(error);
      else resolve(metrics!);
    };
    const timer = setTimeout(() => settle(new Error(`worker ${worker.id} did not answer`)), METRICS_TIMEOUT_MS);
    waiting.set(id, ({ metrics }) => settle(metrics ? undefined : new Error(`worker ${worker.id} could not collect its metrics`), metrics ?? undefined));
    worker.send({ type: METRICS_ASK, id }, (error: Error | null) => {
      if (error) settle(error);
    });
  });
  const summed = async (workers: ReadonlySet<Worker>) => {
    const all = await Promise.all([...workers].map(ask));
    const registry = AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    return { text: await registry.metrics(), contentType: registry.contentType };
  };
  const unavailable = (description: string) => JSON.stringify({ error: 'temporarily_unavailable', error_description: description });

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","error_description":"only GET /metrics is served here"}');
      return;
    }
    if (!serving.size) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(unavailable('no worker is serving yet'));
      return;
    }
    summed(serving).then(
      ({ text, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(text),
      (error: unknown) => {
        log.error({ err: error }, 'cluster metrics could not be collected');
        res.writeHead(503, { 'content-type': 'application/json' }).end(unavailable('the workers\' metrics could not be collected'));
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
