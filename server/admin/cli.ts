// `cyberid`: the operators' command line. It works on whichever store the environment configures (the same
// variables as `npm start`), validates exactly as the admin API does (zod, then oidc-provider's own checks) and
// writes every change to the audit log as `cli:<user>`. `--json` prints machine-readable output.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../../adapters/index.ts';
import type { Store } from '../../adapters/types.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { Accounts } from '../identity/accounts.ts';
import { PlatformAdmission } from '../identity/admission.ts';
import { AttributeCipher, LookupHasher } from '../identity/protection.ts';
import { resolveSecrets } from '../keys.ts';
import { createLogger } from '../logger.ts';
import { outboundFetch } from '../outbound.ts';
import { createProvider } from '../provider.ts';
import { KeyScheduleError, SigningKeys } from '../signing-keys.ts';
import { CIBA_GRANT } from '../ciba.ts';
import { PROFILES, type Profile } from '../security-profile.ts';
import { AuditLog } from './audit.ts';
import { ClientRegistry, ClientRegistryError, type ClientView } from './client-registry.ts';
import { issueInitialAccessToken } from './registration.ts';

const USAGE = `Usage: cyberid <command> [options] [--json]

Platform and operator clients
  clients list                         every client, its kind and status
  clients show <id>                    one client's metadata and policy
  clients add --id ID --name NAME ...  register a platform (see options below) or, with --operator, an operator client
  clients update <id> [options]        change fields; policy options change only what they name
  clients policy <id> [policy options] show or change the scope policy
  clients disable <id> | enable <id>   stop (or resume) every sign-in and token of a client
  clients rotate-secret <id>           issue a new secret (shown once); the old one stops working
Signing keys
  keys list                            generations, which one signs, which are published
  keys rotate [--activate-in 24h]      publish a new generation now; it signs after the delay
  keys withdraw <generation>           unpublish a generation at once (a leaked key)
Dynamic registration
  registration-token [--expires-in 1d] an initial access token for RFC 7591 registration (shown once)
Audit
  audit [--target ID] [--limit N]      newest changes first

Client options
  --redirect-uri URI (repeat)   --post-logout-redirect-uri URI (repeat)   --backchannel-logout-uri URI
  --scope "openid verified ..." --sector-identifier-uri URI              --grant-type refresh_token|ciba (repeat)
  --auth private_key_jwt|client_secret_basic|none (default: private_key_jwt with --jwks-uri/--jwks-file, else client_secret_basic)
  --jwks-uri URI | --jwks-file FILE (public keys; private_key_jwt is recommended in production)
  --profile fapi2|baseline      fapi2: PAR only, DPoP-bound tokens (mTLS with tls_client_certificate_bound_access_tokens in
                                --from-file), private_key_jwt, 30-second codes; baseline undoes it
  --from-file FILE              metadata as JSON (the clients file's format); options given as well override it
  --operator --scopes "clients:read clients:write keys:read keys:write audit:read"   an operator client (admin API)
Policy options
  --require-claim CLAIM (repeat; "none" clears)   --minimum-acr cyberid:loa1|loa2|loa3   --minimum-age N|none
  --guardian-approval yes|no    --legal-basis "English text" --legal-basis-zh "中文"
`;

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  id: { type: 'string' },
  name: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'backchannel-logout-uri': { type: 'string' },
  scope: { type: 'string' },
  'sector-identifier-uri': { type: 'string' },
  'grant-type': { type: 'string', multiple: true },
  auth: { type: 'string' },
  'jwks-uri': { type: 'string' },
  'jwks-file': { type: 'string' },
  profile: { type: 'string' },
  'from-file': { type: 'string' },
  operator: { type: 'boolean' },
  scopes: { type: 'string' },
  'require-claim': { type: 'string', multiple: true },
  'minimum-acr': { type: 'string' },
  'minimum-age': { type: 'string' },
  'guardian-approval': { type: 'string' },
  'legal-basis': { type: 'string' },
  'legal-basis-zh': { type: 'string' },
  'activate-in': { type: 'string' },
  'expires-in': { type: 'string' },
  target: { type: 'string' },
  limit: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

/** Runs one command; returns the exit code (0 done, 1 refused or failed, 2 usage). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliOutput = stdio): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help || !positionals.length) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  let operator: Awaited<ReturnType<typeof openOperatorContext>> | undefined;
  try {
    operator = await openOperatorContext(env);
    const result = await dispatch(operator, positionals, values);
    io.out(values.json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    const known = error instanceof ClientRegistryError || error instanceof KeyScheduleError || error instanceof ConfigError;
    if (!known) throw error;
    io.err(values.json ? `${JSON.stringify({ error: (error as ClientRegistryError).error ?? 'refused', error_description: error.message })}\n` : `cyberid: ${error.message}\n`);
    return 1;
  } finally {
    await operator?.store.close();
  }
}

const stdio: CliOutput = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

/** The store and services the CLI works with, configured by the same environment as the server. */
async function openOperatorContext(env: NodeJS.ProcessEnv) {
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const secrets = resolveSecrets(config.dataDir, config.secrets);
  const store: Store = await openStore(config, logger);
  const cipher = new AttributeCipher(secrets.encryptionKey);
  const accounts = new Accounts(store.accounts, cipher, new LookupHasher(secrets.lookupSecret));
  const keys = new SigningKeys(store.signingKeys, cipher);
  await keys.ensure(path.join(config.dataDir, 'jwks.json'));
  // A provider is built only to validate clients and issue registration tokens exactly as the server will.
  const provider = createProvider({
    issuer: config.issuer ?? `http://localhost:${config.port}`, proxy: config.proxy, clientRequestsPerSecond: config.clientRateLimit, store, jwks: (await keys.published()).jwks,
    cookieKeys: secrets.cookieKeys, pairwiseSecret: secrets.pairwiseSecret, accounts, admission: new PlatformAdmission(accounts, store.platformApprovals),
    logger, fetch: outboundFetch(undefined, !config.production), production: config.production,
  });
  const audit = new AuditLog(store.audit);
  return { store, provider, keys, audit, clients: new ClientRegistry({ store, validate: (metadata) => provider.Client.validate(metadata as never), audit, production: config.production }) };
}

type Operator = Awaited<ReturnType<typeof openOperatorContext>>;

interface Result {
  text: string;
  json: unknown;
}

async function dispatch(operator: Operator, [group, command, argument]: string[], values: Values): Promise<Result> {
  const actor = `cli:${userInfo().username}`;
  const { clients, keys, audit } = operator;
  const id = () => {
    if (!argument) throw new UsageError(`cyberid ${group} ${command} needs an id`);
    return argument;
  };
  switch (`${group} ${command ?? ''}`.trim()) {
    case 'clients list': {
      const all = await clients.list();
      return { json: { clients: all }, text: table(['CLIENT', 'KIND', 'STATUS', 'AUTH', 'SCOPE', 'NAME'], all.map(clientRow)) };
    }
    case 'clients show':
      return shown(await clients.show(id()));
    case 'clients add': {
      const added = await clients.add(clientInput(values, true), actor);
      return withSecret(added.client, added.client_secret);
    }
    case 'clients update': {
      const updated = await clients.update(id(), clientInput(values, false), actor);
      return withSecret(updated.client, updated.client_secret);
    }
    case 'clients policy': {
      const changes = policyInput(values);
      const client = Object.keys(changes).length ? (await clients.update(id(), { cyberid_policy: changes }, actor)).client : await clients.show(id());
      const policy = client.metadata.cyberid_policy;
      return { json: { client_id: client.client_id, scope: client.metadata.scope, cyberid_policy: policy }, text: `${client.client_id}\nscope: ${String(client.metadata.scope)}\n${JSON.stringify(policy, null, 2)}\n` };
    }
    case 'clients disable':
    case 'clients enable':
      return shown(await clients.setEnabled(id(), command === 'enable', actor));
    case 'clients rotate-secret': {
      const secret = await clients.rotateSecret(id(), actor);
      return { json: { client_id: id(), client_secret: secret }, text: `New secret for ${id()} (shown once; the old one no longer works):\n${secret}\n` };
    }
    case 'keys list': {
      const generations = await keys.list();
      return {
        json: { generations },
        text: table(['GENERATION', 'STATUS', 'SIGNS FROM', 'PUBLISHED UNTIL', 'KEYS'], generations.map((g) => [
          g.id, g.status, iso(g.activatesAt), g.publishedUntil ? iso(g.publishedUntil) : '-', g.keys.map((k) => `${k.alg}:${k.kid.slice(0, 8)}`).join(' '),
        ])),
      };
    }
    case 'keys rotate': {
      const generation = await keys.rotate(values['activate-in'] === undefined ? undefined : duration(values['activate-in'], '--activate-in'));
      await audit.record({ actor, action: 'keys.rotate', target: generation.id, detail: { activatesAt: generation.activatesAt } });
      return { json: generation, text: `Generation ${generation.id} is published now and signs from ${iso(generation.activatesAt)}.\nEvery process picks it up within CYBERID_KEY_CHECK_SECONDS; the current generation stays published after that until its tokens expire.\n` };
    }
    case 'keys withdraw': {
      const generation = await keys.withdraw(id());
      await audit.record({ actor, action: 'keys.withdraw', target: generation.id, detail: {} });
      return { json: generation, text: `Generation ${generation.id} is withdrawn: no longer published; tokens it signed no longer verify.\n` };
    }
    case 'registration-token': {
      const seconds = Math.round(duration(values['expires-in'] ?? '1d', '--expires-in') / 1000);
      if (seconds < 60) throw new UsageError('--expires-in must be at least 60s');
      const issued = await issueInitialAccessToken(operator.provider, seconds);
      await audit.record({ actor, action: 'registration-token.issue', target: issued.reference, detail: { expiresAt: issued.expiresAt } });
      return {
        json: { initial_access_token: issued.token, expires_at: Math.floor(issued.expiresAt / 1000) },
        text: `Initial access token (shown once; valid until ${iso(issued.expiresAt)}):\n${issued.token}\n`,
      };
    }
    case 'audit': {
      const entries = await audit.list({ target: values.target, limit: values.limit === undefined ? 50 : positiveInteger(values.limit, '--limit') });
      return { json: { entries }, text: table(['AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAIL'], entries.map((e) => [iso(e.at), e.actor, e.action, e.target, JSON.stringify(e.detail)])) };
    }
    default:
      throw new UsageError(`unknown command: ${[group, command].filter(Boolean).join(' ')}`);
  }
}

/** Metadata from --from-file, overridden by the options given; only what is given (an update changes nothing else). */
function clientInput(values: Values, adding: boolean): Record<string, unknown> {
  const base = values['from-file'] ? readJson(values['from-file']) as Record<string, unknown> : {};
  const jwks = values['jwks-file'] ? readJson(values['jwks-file']) : undefined;
  const given: Record<string, unknown> = {
    client_id: adding ? values.id : undefined,
    client_name: values.name,
    redirect_uris: values['redirect-uri'],
    post_logout_redirect_uris: values['post-logout-redirect-uri'],
    backchannel_logout_uri: values['backchannel-logout-uri'],
    scope: values.scope,
    sector_identifier_uri: values['sector-identifier-uri'],
    ...grantInput(values['grant-type'], values['redirect-uri']),
    token_endpoint_auth_method: values.auth ?? (adding && (values['jwks-uri'] || jwks) ? 'private_key_jwt' : undefined),
    jwks_uri: values['jwks-uri'],
    jwks,
    cyberid_profile: profileInput(values.profile),
  };
  if (values.operator) {
    given.kind = 'operator';
    given.scopes = values.scopes?.split(/[\s,]+/).filter(Boolean);
    delete given.redirect_uris;
    delete given.scope;
  } else if (values.scopes) throw new UsageError('--scopes is for operator clients (--operator); platforms take --scope');
  const policy = policyInput(values);
  if (Object.keys(policy).length) given.cyberid_policy = { ...(base.cyberid_policy as object | undefined), ...policy };
  return { ...base, ...Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) };
}

/**
 * Grant types as given, plus the code flow, which every platform with a redirect URI uses; `ciba` alone, with no
 * redirect URI, makes a CIBA-only platform.
 */
function grantInput(grants: string[] | undefined, redirectUris: string[] | undefined): Record<string, unknown> {
  if (!grants) return {};
  const named = grants.map((grant) => (grant === 'ciba' ? CIBA_GRANT : grant));
  const cibaOnly = named.includes(CIBA_GRANT) && !redirectUris?.length && !named.includes('authorization_code');
  return {
    grant_types: cibaOnly ? named : [...new Set(['authorization_code', ...named])],
    ...(cibaOnly ? { response_types: [] } : {}),
    ...(named.includes(CIBA_GRANT) ? { backchannel_token_delivery_mode: 'poll' } : {}),
  };
}

function profileInput(profile: string | undefined): Profile | null | undefined {
  if (profile === undefined) return undefined;
  if (profile === 'baseline') return null;
  if (!(PROFILES as readonly string[]).includes(profile)) throw new UsageError(`--profile takes ${PROFILES.join('|')}|baseline`);
  return profile as Profile;
}

function policyInput(values: Values): Record<string, unknown> {
  const policy: Record<string, unknown> = {};
  const claims = values['require-claim'];
  if (claims) policy.required_claims = claims.includes('none') ? [] : claims.flatMap((c) => c.split(',')).filter(Boolean);
  if (values['minimum-acr']) policy.minimum_acr = values['minimum-acr'];
  if (values['minimum-age']) policy.minimum_age = values['minimum-age'] === 'none' ? undefined : positiveInteger(values['minimum-age'], '--minimum-age');
  if (values['guardian-approval']) {
    if (!['yes', 'no'].includes(values['guardian-approval'])) throw new UsageError('--guardian-approval takes yes or no');
    policy.guardian_approval = values['guardian-approval'] === 'yes';
  }
  if (values['legal-basis'] || values['legal-basis-zh']) {
    if (!values['legal-basis'] || !values['legal-basis-zh']) throw new UsageError('--legal-basis and --legal-basis-zh go together: the person reads it in their language');
    policy.legal_basis = { en: values['legal-basis'], 'zh-CN': values['legal-basis-zh'] };
  }
  return policy;
}

function shown(client: ClientView): Result {
  return { json: client, text: `${JSON.stringify(client, null, 2)}\n` };
}

function withSecret(client: ClientView, secret: string | undefined): Result {
  const note = secret ? `\nClient secret (shown once; stored only as a hash):\n${secret}\n` : '';
  return { json: { client, ...(secret ? { client_secret: secret } : {}) }, text: `${JSON.stringify(client, null, 2)}\n${note}` };
}

function clientRow(client: ClientView): string[] {
  const m = client.metadata;
  const scope = client.kind === 'operator' ? (m.cyberid_operator as { scopes: string[] }).scopes.join(' ') : String(m.scope ?? '');
  return [client.client_id, client.kind, client.status, String(m.token_endpoint_auth_method ?? 'client_secret_basic'), scope, String(m.client_name ?? '')];
}

function table(headings: string[], rows: string[][]): string {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [headings, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "24h", "7d" or "0", in milliseconds. */
function duration(text: string, option: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match || (!match[2] && match[1] !== '0')) throw new UsageError(`${option} takes a duration such as 90s, 30m, 24h, 7d or 0`);
  return Number(match[1]) * (UNITS[match[2]!] ?? 0);
}

function positiveInteger(text: string, option: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${option} takes a positive whole number`);
  return Number(text);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
