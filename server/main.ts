// Start and graceful stop. `npm start` runs this file.
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { openStore } from '../adapters/index.ts';
import { StoreSetupError, type Store } from '../adapters/types.ts';
import { mountApp } from './app.ts';
import { answerClientErrors } from './client-errors.ts';
import { gracefulServer } from './graceful-close.ts';
import { ClientsFileError, readClientsFile, registerClients } from './clients-file.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { seedDemoAccounts, type DemoCredential } from './demo/seed.ts';
import { startDemoSite, type DemoSite } from './demo/site.ts';
import { Enrolments } from './enrol/enrolment.ts';
import { Guardianship } from './enrol/guardianship.ts';
import { Accounts } from './identity/accounts.ts';
import { PlatformAdmission } from './identity/admission.ts';
import { HttpFaceVerifier, SimulatedFaceVerifier, type FaceVerifier } from './identity/face.ts';
import { formatNetworkNumber } from './identity/network-number.ts';
import { OneTimeCodes } from './identity/one-time-codes.ts';
import { Passkeys } from './identity/passkeys.ts';
import { AttributeCipher, LookupHasher } from './identity/protection.ts';
import { HttpIdentityRegistry, readSimulationSeed, SimulatedRegistry, type IdentityRegistry } from './identity/registry.ts';
import { DecoupledSignIns } from './identity/decoupled-sign-in.ts';
import { CountryRestrictedSmsSender, HttpSmsSender, OutboxSmsSender, type SmsSender } from './identity/sms.ts';
import { SecurityActivity } from './identity/activity.ts';
import { SecurityNotifications } from './identity/notifications.ts';
import { DisclosureLedger } from './identity/ledger.ts';
import { resolveSecrets } from './keys.ts';
import { createLogger, type Logger } from './logger.ts';
import { TrustedProxies } from './forwarded.ts';
import { Metrics } from './metrics.ts';
import { serveOperations } from './operations.ts';
import { outboundFetch } from './outbound.ts';
import { PortalClient, portalClientSecret, registerPortalClient } from './portal/first-party.ts';
import { createProvider, type ProviderDependencies } from './provider.ts';
import { AuditLog } from './admin/audit.ts';
import { ClientRegistry } from './admin/client-registry.ts';
import { auditRegistrations } from './admin/registration.ts';
import { KeyWatcher, SigningKeys, type PublishedKeys } from './signing-keys.ts';

const HOUR_MS = 3600 * 1000;

export interface RunningServer {
  url: string;
  demoCredentials: DemoCredential[];
  stop(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const notReady: Handler = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":"temporarily_unavailable","error_description":"starting up"}');
};

/** `store` replaces the configured one (tests run the server over a MongoDB stand-in this way). */
export async function start(config: Config, logger: Logger, overrides: { store?: Store } = {}): Promise<RunningServer> {
  const secrets = resolveSecrets(config.dataDir, config.secrets);
  const store = overrides.store ?? await openStore(config, logger);
  const cleanup: (() => Promise<void>)[] = [() => store.close()];
  let handler: Handler = notReady;
  const server = createServer((req, res) => handler(req, res));
  answerClientErrors(server);
  try {
    const cipher = new AttributeCipher(secrets.encryptionKey);
    const hasher = new LookupHasher(secrets.lookupSecret);
    const accounts = new Accounts(store.accounts, cipher, hasher);
    const metrics = new Metrics();
    if (cluster.isWorker) metrics.answerClusterPrimary();
    const authorities = connectAuthorities(config, logger);

    let demoSite: DemoSite | undefined;
    if (config.demo) {
      demoSite = await startDemoSite(config.dataDir, config.demoSitePort);
      cleanup.push(() => demoSite!.close());
    }
    const clients = config.clientsFile ? readClientsFile(config.clientsFile, demoSite?.origin, config.production) : [];

    // A fixed port is bound once everything is ready, so no connection waits on a process that is starting (in a
    // cluster the primary hands connections to every worker that listens). Port 0 is bound first: the issuer names it.
    const listen = async () => {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
      const graceful = gracefulServer(server, logger);
      cleanup.push(() => graceful.close(config.shutdownGraceSeconds * 1000));
    };
    if (config.port === 0) await listen();
    const port = config.port || (server.address() as AddressInfo).port;
    const issuer = config.issuer ?? `http://localhost:${port}`;

    const passkeys = new Passkeys(store.passkeys, store.shortLived, { id: new URL(issuer).hostname, origin: new URL(issuer).origin, name: 'Cyber ID' });
    const codes = new OneTimeCodes(store.shortLived, hasher, authorities.sms);
    const enrolments = new Enrolments({
      store: store.shortLived, cipher, accounts, guardianRequests: store.guardianRequests,
      registry: authorities.registry, faces: authorities.faces, codes, logger,
      rateLimiter: store.rateLimiter, smsCountryCodes: config.smsCountryCodes, issuer,
    });
    const guardianship = new Guardianship(accounts, store.guardianRequests, logger);
    const admission = new PlatformAdmission(accounts, store.platformApprovals);
    const decoupledSignIns = new DecoupledSignIns(store.shortLived);
    const providerDependencies: Omit<ProviderDependencies, 'jwks'> = {
      issuer,
      proxy: config.proxy,
      clientRequestsPerSecond: config.clientRateLimit,
      decoupled: { signIns: decoupledSignIns, sms: authorities.sms },
      store: metrics.timeStore(store),
      cookieKeys: secrets.cookieKeys,
      pairwiseSecret: secrets.pairwiseSecret,
      accounts,
      admission,
      logger,
      fetch: outboundFetch(demoSite, !config.production),
      production: config.production,
    };
    const ledger = new DisclosureLedger(store.disclosures, config.retention.ledgerDays);
    const activity = new SecurityActivity(store.securityEvents, config.retention.activityDays);
    const notifications = new SecurityNotifications(authorities.sms, issuer, logger);
    const portalSecret = portalClientSecret(secrets.cookieKeys[0]!);
    const audit = new AuditLog(store.audit);
    const signingKeys = new SigningKeys(store.signingKeys, cipher);
    await signingKeys.ensure(path.join(config.dataDir, 'jwks.json'));
    // oidc-provider fixes its keys when it is created, so a new key schedule gets a new provider (and the app
    // mounted on it); requests already running finish on the old one. Everything else is shared.
    const trustedProxies = config.proxy ? new TrustedProxies(config.trustedProxies) : undefined;
    const serve = (keys: PublishedKeys) => {
      const provider = createProvider({ ...providerDependencies, jwks: keys.jwks });
      auditRegistrations(provider, audit, logger);
      mountApp({
        provider, issuer, store, accounts, passkeys, enrolments, guardianship, admission, codes, ledger, activity, notifications, decoupledSignIns,
        registry: authorities.registry, smsCountryCodes: config.smsCountryCodes, portalClient: new PortalClient(issuer, portalSecret), faces: authorities.faces, logger, metrics, production: config.production,
        trustedProxies, operationsOnPublicPort: config.operationsOnPublicPort,
        admin: { clients: new ClientRegistry({ store, validate: (metadata) => provider.Client.validate(metadata as never), audit, production: config.production }), keys: signingKeys, audit, keysChanged: () => void watcher.check() },
      });
      return provider;
    };
    const published = await signingKeys.published();
    const provider = serve(published);
    await registerPortalClient(provider, store, issuer, portalSecret);
    await registerClients(provider, store, clients, config.clientsFile);
    cleanup.push(enforceRetention(ledger, activity, logger));

    const demoCredentials = config.demo && authorities.simulatedRegistry ? await seedDemoAccounts(accounts, authorities.simulatedRegistry) : [];
    handler = provider.callback();
    const watcher = new KeyWatcher(signingKeys, published, config.keyCheckSeconds * 1000, (keys) => {
      const started = performance.now();
      handler = serve(keys).callback();
      logger.info({ keys: keys.fingerprint, rebuildMs: Math.round(performance.now() - started) }, 'signing keys changed');
    }, (error) => logger.warn({ err: error }, 'signing key schedule could not be read'));
    cleanup.push(async () => watcher.stop());
    // In a cluster the primary serves the workers' metrics summed (server/cluster.ts); workers bind no metrics port.
    if (config.metrics.port !== undefined && !cluster.isWorker) {
      const operations = await serveOperations({ ...config.metrics, port: config.metrics.port, metrics, store, logger });
      cleanup.push(() => operations.close());
    } else if (!config.operationsOnPublicPort && !cluster.isWorker) {
      logger.warn('no CYBERID_METRICS_PORT: /metrics and the details of /readyz are served nowhere (never on the public port in production)');
    }
    if (config.port !== 0) await listen();
    logger.info({ url: issuer, port, demoSite: demoSite?.origin, store: store.kind, demo: config.demo, clients: clients.length }, 'listening');
    return {
      url: issuer,
      demoCredentials,
      stop: () => runAll(cleanup.reverse()),
    };
  } catch (error) {
    await runAll(cleanup.reverse());
    throw error;
  }
}

interface Authorities {
  registry: IdentityRegistry;
  faces: FaceVerifier;
  sms: SmsSender;
  /** Set when the registry is the simulation (demo people are enrolled from it). */
  simulatedRegistry: SimulatedRegistry | undefined;
}

/** Each authority is its HTTP service when configured, else the simulation (never in production: config refuses it). */
function connectAuthorities(config: Config, logger: Logger): Authorities {
  const { registry, faceVerifier, sms } = config.authorities;
  const seed = !registry || !faceVerifier ? readSimulationSeed(config.simulationFile) : [];
  const simulatedRegistry = registry ? undefined : new SimulatedRegistry(seed);
  return {
    registry: registry ? new HttpIdentityRegistry(registry) : simulatedRegistry!,
    faces: faceVerifier ? new HttpFaceVerifier(faceVerifier) : new SimulatedFaceVerifier(seed),
    // Every SMS, whoever sends it, goes only to the countries the operator allows.
    sms: new CountryRestrictedSmsSender(sms ? new HttpSmsSender(sms) : new OutboxSmsSender(config.dataDir, logger), config.smsCountryCodes, logger),
    simulatedRegistry,
  };
}

/** Deletes ledger and activity entries past retention now and every hour; returns the step that stops it. */
function enforceRetention(ledger: DisclosureLedger, activity: SecurityActivity, logger: Logger): () => Promise<void> {
  const sweep = () => Promise.all([ledger.sweep(), activity.sweep()])
    .then(([disclosures, events]) => { if (disclosures || events) logger.info({ disclosures, events }, 'entries past retention deleted'); })
    .catch((error: unknown) => logger.error({ err: error }, 'retention sweep failed'));
  void sweep();
  const timer = setInterval(sweep, HOUR_MS);
  timer.unref();
  return async () => clearInterval(timer);
}

async function runAll(steps: (() => Promise<void>)[]): Promise<void> {
  for (const step of steps) await step();
}

export function printDemoBanner(url: string, credentials: DemoCredential[]): void {
  const lines = [
    '',
    `Cyber ID is running at ${url} (development, embedded store, SIMULATED registry, face check and SMS)`,
    'Demo people (fictitious; sign in with the network number or the phone number):',
    ...credentials.map((c) => `  ${c.role.padEnd(30)} network number ${formatNetworkNumber(c.networkNumber)}  phone ${c.phone}  password ${c.password}`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);

  // Signals are handled from the first moment: one that arrives during start-up stops the server once it is up.
  let pendingSignal: string | undefined;
  let running: RunningServer | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (!running) {
      // A second signal while starting (e.g. a sector document that does not answer) exits at once.
      if (pendingSignal) process.exit(1);
      pendingSignal = signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    running.stop().then(() => {
      logger.info('stopped');
      process.exit(0);
    }, (error: unknown) => {
      logger.error({ err: error }, 'stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    running = await start(config, logger);
  } catch (error) {
    if (error instanceof ClientsFileError || error instanceof StoreSetupError) console.error(`Cyber ID cannot start: ${error.message}`);
    else logger.fatal({ err: error }, 'start-up failed');
    process.exit(1);
  }
  if (running.demoCredentials.length) printDemoBanner(running.url, running.demoCredentials);
  if (pendingSignal) stop(pendingSignal);
}

if (import.meta.main) await main();
