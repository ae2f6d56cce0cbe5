// The one place where environment variables are read. Every variable is documented in the README's
// configuration table; keep the two in step.
import path from 'node:path';
import { z } from 'zod';
import { LOOPBACK_PROXIES, parseProxyEntry } from './forwarded.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => ['true', '1', 'yes'].includes(value));

const port = z.coerce.number().int().min(0).max(65535);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(3000),
  HOST: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CYBERID_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  CYBERID_PROXY: bool.default(false),
  CYBERID_TRUSTED_PROXIES: z.string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter(Boolean))
    .refine((entries) => entries.length > 0, 'must list at least one address or CIDR range')
    .refine((entries) => entries.every((entry) => parseProxyEntry(entry) !== undefined), 'must be IP addresses or CIDR ranges, comma-separated (such as 10.0.0.0/8, 127.0.0.1 or fd00::/8)')
    .optional(),
  CYBERID_DATA_DIR: z.string().min(1).default('data'),
  CYBERID_COOKIE_KEYS: z.string().optional(),
  CYBERID_PAIRWISE_SECRET: z.string().optional(),
  CYBERID_ENCRYPTION_KEY: z.string().optional(),
  CYBERID_LOOKUP_SECRET: z.string().optional(),
  CYBERID_CLIENTS_FILE: z.string().optional(),
  CYBERID_SIMULATION_FILE: z.string().default('server/identity/simulation/registry.json'),
  CYBERID_REGISTRY_URL: z.url({ protocol: /^https?$/ }).optional(),
  CYBERID_FACE_VERIFIER_URL: z.url({ protocol: /^https?$/ }).optional(),
  CYBERID_SMS_URL: z.url({ protocol: /^https?$/ }).optional(),
  CYBERID_SMS_COUNTRY_CODES: z.string()
    .regex(/^\s*[1-9]\d{0,2}(\s*,\s*[1-9]\d{0,2})*\s*$/, 'must be country calling codes without +, comma-separated, such as 86 or 86,852,853')
    .transform((value) => [...new Set(value.split(',').map((code) => code.trim()))])
    // Calling codes never begin one another (that is how a number's country is read), so such a pair is a typo.
    .refine((codes) => !codes.some((a) => codes.some((b) => a !== b && b.startsWith(a))), 'no code may begin another (86 and 8 cannot both be country codes): check for a typo')
    .default(['86']),
  CYBERID_DEMO: bool.optional(),
  CYBERID_DEMO_SITE_PORT: port.default(3443),
  CYBERID_LEDGER_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  CYBERID_ACTIVITY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(180),
  CYBERID_KEY_CHECK_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  CYBERID_CLIENT_RATE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(200),
  CYBERID_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(600).default(10),
  CYBERID_WORKERS: z.coerce.number().int().min(1).max(256).optional(),
  CYBERID_CLUSTER_METRICS_PORT: port.optional(),
  CYBERID_METRICS_PORT: port.optional(),
  CYBERID_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // Messages never repeat the value: connection strings carry passwords.
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\/\S+$/, 'must be a mongodb:// or mongodb+srv:// connection string').optional(),
  MONGODB_DATABASE: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, 'letters, digits, _ and - only').default('cyberid'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').refine((url) => URL.canParse(url), 'is not a valid URL').optional(),
  CYBERID_REDIS_CLUSTER: bool.default(false),
});

export type Env = z.infer<typeof envSchema>;

/** Every variable the provider reads (the README's configuration table lists each). */
export const ENVIRONMENT_VARIABLES = Object.keys(envSchema.shape);

export interface Secrets {
  cookieKeys: string[];
  pairwiseSecret: Buffer;
  encryptionKey: Buffer;
  lookupSecret: Buffer;
}

export interface Config {
  production: boolean;
  port: number;
  host: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  /** Undefined until the port is known when PORT=0 and no issuer was given (tests). */
  issuer: string | undefined;
  proxy: boolean;
  /** With `proxy`: the addresses and CIDR ranges whose X-Forwarded-* and Client-Cert headers are believed. */
  trustedProxies: string[];
  dataDir: string;
  /** Secrets given in the environment; whatever is missing is generated into the data directory outside production. */
  secrets: Partial<Secrets>;
  clientsFile: string | undefined;
  /** Seed of the simulated registry and face verifier, used for every port without a URL. */
  simulationFile: string;
  /** The authorities' services; undefined means the simulation. */
  authorities: { registry: string | undefined; faceVerifier: string | undefined; sms: string | undefined };
  /** Country calling codes (without +) to which SMS may be sent; any other number is refused everywhere. */
  smsCountryCodes: string[];
  demo: boolean;
  demoSitePort: number;
  /** How often each process reads the signing-key schedule from the store (rotation by another process or the CLI). */
  keyCheckSeconds: number;
  /** Requests per second each platform may make at the token, introspection, revocation, PAR and CIBA endpoints. */
  clientRateLimit: number;
  /** On SIGTERM, how long requests already running may take before their connections are cut. */
  shutdownGraceSeconds: number;
  /** Server processes `server/cluster.ts` runs on one port; undefined means one per core. */
  workers: number | undefined;
  /** Where `server/cluster.ts`'s primary serves every worker's metrics summed; undefined: not served. */
  clusterMetricsPort: number | undefined;
  /** The operators' listener for /metrics and /readyz's details; undefined: none. */
  metrics: { port: number | undefined; host: string };
  /** Whether the public port serves /metrics and /readyz's details: only in development without a metrics port. */
  operationsOnPublicPort: boolean;
  /** Days the disclosure ledger and the security activity are kept for the person to read. */
  retention: { ledgerDays: number; activityDays: number };
  /** Where data lives: the embedded SQLite file unless MongoDB and/or Redis are configured (DESIGN §5). */
  storage: StorageConfig;
}

export interface StorageConfig {
  mongodb: { uri: string; database: string } | undefined;
  redis: { url: string; cluster: boolean } | undefined;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Cyber ID cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

const MIN_SECRET_BYTES = 32;

// Standard base64 (what `openssl rand -base64` prints), padding optional; its line breaks are ignored.
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseSecret(name: string, given: string | undefined, problems: string[]): Buffer | undefined {
  if (given === undefined) return undefined;
  const value = given.trim().replace(/[\r\n]+/g, '');
  // Checked first: Node's decoder would quietly turn a pass-phrase with spaces or punctuation into "enough" bytes.
  if (!BASE64.test(value)) {
    problems.push(`${name} must be base64 (generate one with: openssl rand -base64 32)`);
    return undefined;
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < MIN_SECRET_BYTES) {
    problems.push(`${name} must be at least ${MIN_SECRET_BYTES} random bytes, base64-encoded (generate one with: openssl rand -base64 32)`);
    return undefined;
  }
  return bytes;
}

function isLocalhost(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(environment);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const env = parsed.data;
  const production = env.NODE_ENV === 'production';
  const problems: string[] = [];

  const cookieKeys = env.CYBERID_COOKIE_KEYS?.split(',').map((key) => key.trim()).filter(Boolean);
  if (cookieKeys?.some((key) => key.length < 32)) {
    problems.push('CYBERID_COOKIE_KEYS: every key must be at least 32 characters (comma-separated, newest first)');
  }
  const secrets: Partial<Secrets> = {
    ...(cookieKeys?.length ? { cookieKeys } : {}),
    ...optional('pairwiseSecret', parseSecret('CYBERID_PAIRWISE_SECRET', env.CYBERID_PAIRWISE_SECRET, problems)),
    ...optional('encryptionKey', parseSecret('CYBERID_ENCRYPTION_KEY', env.CYBERID_ENCRYPTION_KEY, problems)),
    ...optional('lookupSecret', parseSecret('CYBERID_LOOKUP_SECRET', env.CYBERID_LOOKUP_SECRET, problems)),
  };
  if (secrets.encryptionKey && secrets.encryptionKey.length !== 32) {
    problems.push('CYBERID_ENCRYPTION_KEY must be exactly 32 bytes (AES-256), base64-encoded');
  }

  const issuer = env.CYBERID_ISSUER ?? (env.PORT === 0 ? undefined : `http://localhost:${env.PORT}`);
  const demo = env.CYBERID_DEMO ?? !production;

  if (production) {
    if (!env.CYBERID_ISSUER) problems.push('CYBERID_ISSUER must be set in production (the public https URL of this provider)');
    else if (new URL(env.CYBERID_ISSUER).protocol !== 'https:' && !isLocalhost(new URL(env.CYBERID_ISSUER))) {
      problems.push('CYBERID_ISSUER must use https in production (http is only accepted for localhost)');
    }
    const required = {
      CYBERID_COOKIE_KEYS: secrets.cookieKeys,
      CYBERID_PAIRWISE_SECRET: secrets.pairwiseSecret,
      CYBERID_ENCRYPTION_KEY: secrets.encryptionKey,
      CYBERID_LOOKUP_SECRET: secrets.lookupSecret,
    };
    for (const [name, value] of Object.entries(required)) {
      if (!value && !problems.some((p) => p.startsWith(name))) {
        problems.push(`${name} must be set in production; development secrets generated into the data directory are refused`);
      }
    }
    // A simulated registry would enrol anyone who knows the seed file; production talks to the authorities.
    for (const [name, value] of Object.entries({ CYBERID_REGISTRY_URL: env.CYBERID_REGISTRY_URL, CYBERID_FACE_VERIFIER_URL: env.CYBERID_FACE_VERIFIER_URL, CYBERID_SMS_URL: env.CYBERID_SMS_URL })) {
      if (!value) problems.push(`${name} must be set in production (the simulations are for development only)`);
      else if (new URL(value).protocol !== 'https:') problems.push(`${name} must use https in production`);
    }
    if (demo) problems.push('CYBERID_DEMO must not be enabled in production (it seeds demo people with known passwords)');
    // Cyber ID speaks plain HTTP behind a TLS-terminating proxy; only X-Forwarded-Proto tells it the request
    // was https, which is what makes cookies Secure and turns HSTS on.
    if (env.CYBERID_ISSUER && new URL(env.CYBERID_ISSUER).protocol === 'https:' && !env.CYBERID_PROXY) {
      problems.push('CYBERID_PROXY must be true in production with an https issuer (TLS ends at the proxy; without it cookies are not marked Secure)');
    }
  }
  if (env.CYBERID_TRUSTED_PROXIES && !env.CYBERID_PROXY) {
    problems.push('CYBERID_TRUSTED_PROXIES needs CYBERID_PROXY=true (without it no proxy header is believed from anyone)');
  }
  if (env.CYBERID_METRICS_PORT !== undefined && env.CYBERID_METRICS_PORT !== 0 && env.CYBERID_METRICS_PORT === env.PORT) {
    problems.push('CYBERID_METRICS_PORT must differ from PORT (metrics are kept off the public port)');
  }
  if (env.MONGODB_URI && !env.REDIS_URL) {
    problems.push('REDIS_URL must be set with MONGODB_URI: sessions, codes and rate limits live in Redis (see docs/deploy.md)');
  }
  if (env.CYBERID_REDIS_CLUSTER && !env.REDIS_URL) problems.push('CYBERID_REDIS_CLUSTER needs REDIS_URL (one node of the cluster)');
  if (problems.length) throw new ConfigError(problems);

  return {
    production,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    issuer,
    proxy: env.CYBERID_PROXY,
    trustedProxies: env.CYBERID_PROXY ? env.CYBERID_TRUSTED_PROXIES ?? LOOPBACK_PROXIES : [],
    dataDir: path.resolve(env.CYBERID_DATA_DIR),
    secrets,
    clientsFile: env.CYBERID_CLIENTS_FILE ?? (demo ? 'clients.example.json' : undefined),
    simulationFile: path.resolve(env.CYBERID_SIMULATION_FILE),
    authorities: { registry: env.CYBERID_REGISTRY_URL, faceVerifier: env.CYBERID_FACE_VERIFIER_URL, sms: env.CYBERID_SMS_URL },
    smsCountryCodes: env.CYBERID_SMS_COUNTRY_CODES,
    demo,
    demoSitePort: env.CYBERID_DEMO_SITE_PORT,
    keyCheckSeconds: env.CYBERID_KEY_CHECK_SECONDS,
    clientRateLimit: env.CYBERID_CLIENT_RATE_LIMIT,
    shutdownGraceSeconds: env.CYBERID_SHUTDOWN_GRACE_SECONDS,
    workers: env.CYBERID_WORKERS,
    clusterMetricsPort: env.CYBERID_CLUSTER_METRICS_PORT,
    metrics: { port: env.CYBERID_METRICS_PORT, host: env.CYBERID_METRICS_HOST },
    operationsOnPublicPort: !production && env.CYBERID_METRICS_PORT === undefined,
    retention: { ledgerDays: env.CYBERID_LEDGER_RETENTION_DAYS, activityDays: env.CYBERID_ACTIVITY_RETENTION_DAYS },
    storage: {
      mongodb: env.MONGODB_URI ? { uri: env.MONGODB_URI, database: env.MONGODB_DATABASE } : undefined,
      redis: env.REDIS_URL ? { url: env.REDIS_URL, cluster: env.CYBERID_REDIS_CLUSTER } : undefined,
    },
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
