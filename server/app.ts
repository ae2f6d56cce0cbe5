// Mounts everything on the oidc-provider Koa application: request context and headers first, then health
// and metrics, static files, and the interaction routes; oidc-provider's own routes come last.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { UNAVAILABLE } from '../adapters/outage.ts';
import type { Store } from '../adapters/types.ts';
import { renderErrorPage } from '../interactions/pages.ts';
import { interactionRoutes } from '../interactions/routes.ts';
import { scanApprovalRoutes } from '../interactions/scan-approval-routes.ts';
import { SignIns } from '../interactions/sign-in.ts';
import { enrolmentApiRoutes } from './enrol/api.ts';
import type { Enrolments } from './enrol/enrolment.ts';
import { GuardianSessions, toFamilySection } from './enrol/guardian-web.ts';
import type { Guardianship } from './enrol/guardianship.ts';
import { enrolmentWebRoutes } from './enrol/web.ts';
import type { Accounts } from './identity/accounts.ts';
import type { PlatformAdmission } from './identity/admission.ts';
import type { FaceVerifier } from './identity/face.ts';
import type { OneTimeCodes } from './identity/one-time-codes.ts';
import type { DecoupledSignIns } from './identity/decoupled-sign-in.ts';
import { ScanSignIns } from './identity/scan-sign-in.ts';
import { CredentialThrottle } from './identity/throttle.ts';
import type { Passkeys } from './identity/passkeys.ts';
import type { SecurityActivity } from './identity/activity.ts';
import type { SecurityNotifications } from './identity/notifications.ts';
import type { SmsCountryCodes } from './identity/phone.ts';
import type { IdentityRegistry } from './identity/registry.ts';
import type { DisclosureLedger } from './identity/ledger.ts';
import { adminApi, type AdminApiDependencies } from './admin/api.ts';
import { hideSecretHashes, plainSecretOnUpdate, singleUseInitialAccessTokens } from './admin/registration.ts';
import { recordDisclosures } from './disclosures.ts';
import { IssuerOrigin, believeForwardedHeaders, type TrustedProxies } from './forwarded.ts';
import { KnownRedirects } from './outage-redirects.ts';
import { readiness } from './operations.ts';
import type { Logger } from './logger.ts';
import { loggablePath, routeOf, type Metrics } from './metrics.ts';
import { Connections } from './portal/connections.ts';
import { PORTAL_CLIENT_ID, type PortalClient } from './portal/first-party.ts';
import { portalRoutes } from './portal/routes.ts';
import { accountRecovery } from './recovery/web.ts';
import { PortalSessions } from './portal/sessions.ts';

export interface AppDependencies {
  provider: Provider;
  issuer: string;
  store: Store;
  accounts: Accounts;
  passkeys: Passkeys;
  enrolments: Enrolments;
  guardianship: Guardianship;
  admission: PlatformAdmission;
  codes: OneTimeCodes;
  /** CIBA approvals, shared with the provider that starts them. */
  decoupledSignIns: DecoupledSignIns;
  faces: FaceVerifier;
  ledger: DisclosureLedger;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  /** The population registry, for identity re-proof in account recovery. */
  registry: IdentityRegistry;
  /** Calling codes whose numbers may receive SMS (CYBERID_SMS_COUNTRY_CODES). */
  smsCountryCodes: SmsCountryCodes;
  portalClient: PortalClient;
  logger: Logger;
  metrics: Metrics;
  production: boolean;
  /** Peers whose X-Forwarded-* and Client-Cert headers are believed (CYBERID_TRUSTED_PROXIES); undefined: none. */
  trustedProxies: TrustedProxies | undefined;
  /** /metrics and /readyz's details on this port (development without CYBERID_METRICS_PORT); else elsewhere or nowhere. */
  operationsOnPublicPort: boolean;
  admin: Omit<AdminApiDependencies, 'provider' | 'issuer' | 'logger'>;
}

/** Cyber ID's own clients (the portal): not platforms, so never in the ledger or the list of connected platforms. */
const FIRST_PARTY_CLIENTS: ReadonlySet<string> = new Set([PORTAL_CLIENT_ID]);

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;
const STATIC_DIR = new URL('../interactions/static/', import.meta.url);
/** Served with a long cache: the CSS, our passkey and polling scripts and @simplewebauthn/browser's bundle. */
const STATIC_FILES: Record<string, { type: string; body: Buffer }> = {
  'cyberid.css': { type: 'text/css', body: readFileSync(new URL('cyberid.css', STATIC_DIR)) },
  'passkey.js': { type: 'text/javascript', body: readFileSync(new URL('passkey.js', STATIC_DIR)) },
  'poll.js': { type: 'text/javascript', body: readFileSync(new URL('poll.js', STATIC_DIR)) },
  'webauthn.js': { type: 'text/javascript', body: readFileSync(new URL('../dist/bundle/index.umd.min.js', import.meta.resolve('@simplewebauthn/browser'))) },
};

export function mountApp(deps: AppDependencies): void {
  const { provider, issuer, store, accounts, passkeys, enrolments, guardianship, admission, codes, faces, ledger, activity, notifications, logger, metrics, production } = deps;
  (provider as unknown as NodeJS.EventEmitter).on('error', (error: Error, ctx?: Context) => logUnhandled(logger, error, ctx));

  provider.use(requestContext(logger, production, new IssuerOrigin(issuer, production), deps.trustedProxies));
  provider.use(metrics.middleware());
  metrics.countTokens(provider);
  const knownRedirects = new KnownRedirects();
  provider.use(failFastWhileStoreDown(store, knownRedirects, issuer));
  provider.use(recordDisclosures(ledger, FIRST_PARTY_CLIENTS, logger));

  const operations = new Router({ sensitive: true });
  operations.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  operations.get('/readyz', async (ctx) => {
    const { ready, details } = await readiness(store, logger);
    ctx.status = ready ? 200 : 503;
    // Which backend is down is for the operators' network (server/operations.ts); the public port says only whether.
    ctx.body = deps.operationsOnPublicPort ? details : { status: details.status };
  });
  if (deps.operationsOnPublicPort) {
    operations.get('/metrics', async (ctx) => {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    });
  }
  operations.get('/static/:file', (ctx) => {
    const file = Object.hasOwn(STATIC_FILES, ctx.params.file!) ? STATIC_FILES[ctx.params.file!] : undefined;
    if (!file) return;
    ctx.type = file.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file.body;
  });
  provider.use(operations.routes());
  provider.use(adminApi({ ...deps.admin, provider, issuer, logger }));
  provider.use(under('/reg', hideSecretHashes()));
  provider.use(under('/reg', singleUseInitialAccessTokens(provider, deps.admin.audit)));
  provider.use(under('/reg', plainSecretOnUpdate(provider)));
  const throttle = new CredentialThrottle(store.rateLimiter);
  // Recovery's wrong codes and faces lock recovery, not sign-in: a stranger who knows only a phone number must not be
  // able to lock its owner out of signing in by failing recoveries.
  const recoveryThrottle = new CredentialThrottle(store.rateLimiter, undefined, 'recovery-');
  const scans = new ScanSignIns(store.shortLived);
  provider.use(under('/interaction', interactionRoutes({
    provider, issuer, accounts, passkeys, faces, codes, throttle, admission, scans, activity,
    signIns: new SignIns(store.shortLived), firstPartyClients: FIRST_PARTY_CLIENTS, smsCountryCodes: deps.smsCountryCodes, logger, metrics,
  }).routes()));
  provider.use(under('/scan', scanApprovalRoutes({ provider, accounts, scans, decoupled: deps.decoupledSignIns, throttle, logger, metrics }).routes()));
  const portalSessions = new PortalSessions(store.shortLived, provider, accounts);
  const guardianSessions = new GuardianSessions(portalSessions);
  provider.use(under('/enrol', enrolmentApiRoutes({ enrolments, accounts, passkeys, logger }).routes()));
  provider.use(under('/enrol', enrolmentWebRoutes({ enrolments, accounts, faces, passkeys, guardianSessions, logger }).routes()));
  const platformName = async (clientId: string) => {
    const client = await provider.Client.find(clientId);
    return client?.clientName ?? clientId;
  };
  const connections = new Connections({ provider, store, ledger, firstPartyClients: FIRST_PARTY_CLIENTS, logger });
  provider.use(under('/account', portalRoutes({
    provider, issuer, store, sessions: portalSessions, client: deps.portalClient, accounts, passkeys, codes, throttle, guardianship, admission,
    connections, ledger, activity, notifications, smsCountryCodes: deps.smsCountryCodes, platformName, logger,
  }).routes()));
  provider.use(under('/guardian', toFamilySection));
  provider.use(under('/recover', accountRecovery({ store, accounts, registry: deps.registry, faces, codes, throttle: recoveryThrottle, connections, activity, notifications, passkeys, smsCountryCodes: deps.smsCountryCodes, logger }).routes()));
}

/**
 * Runs `middleware` only for `prefix` and the paths below it. Without this every router matches each of its routes
 * against every request, the protocol's hot paths included.
 */
function under<C extends Context>(prefix: string, middleware: (ctx: C, next: Next) => unknown) {
  return (ctx: C, next: Next) => (ctx.path === prefix || ctx.path.startsWith(`${prefix}/`) ? middleware(ctx, next) : next());
}

/**
 * Paths that answer without the store: a load balancer must still see /readyz say why, and platforms must still
 * reach discovery and the keys to validate the tokens they already hold.
 */
const WITHOUT_STORE = /^\/(healthz|readyz|metrics|static\/|jwks$|\.well-known\/)/;

/**
 * While a backend is known to be down, every request that needs it is refused before it starts, so nothing is
 * half-written (a refresh token consumed while its access token cannot be saved, say): OAuth JSON for platforms, a page for
 * people. Requests already running when the backend goes away get StoreUnavailableError from the adapters.
 */
function failFastWhileStoreDown(store: Store, knownRedirects: KnownRedirects, issuer: string) {
  return async (ctx: Context, next: Next) => {
    if (store.available() || WITHOUT_STORE.test(ctx.path)) {
      await next();
      const client = (ctx as Context & { oidc?: { route?: string; client?: { clientId: string; redirectUris?: string[] } } }).oidc;
      if (client?.route === 'authorization' && client.client) knownRedirects.remember(client.client.clientId, client.client.redirectUris ?? []);
      return;
    }
    // A platform's authorization request goes back to it, when its client and redirect URI are known here.
    const back = ctx.path === '/auth' && ctx.method === 'GET' ? knownRedirects.errorRedirect(ctx, issuer) : undefined;
    if (back) {
      ctx.status = 303;
      ctx.redirect(back);
      return;
    }
    ctx.status = 503;
    if (ctx.accepts('json', 'html') === 'html') renderErrorPage(ctx, 'temporarily_unavailable', 503);
    else ctx.body = UNAVAILABLE;
  };
}

/**
 * Koa's and Node's own errors (a malformed request line, a body that does not parse) are the client's fault: logged
 * by kind only. Never the whole error: parse errors carry the raw request (cookies, bodies) with them.
 */
function logUnhandled(logger: Logger, error: Error & { status?: number; code?: string }, ctx?: Context): void {
  const fields = { err: { type: error.name, message: error.message, code: error.code, status: error.status, stack: error.stack }, requestId: ctx?.state?.requestId };
  if ((error.status ?? 500) < 500 || error.code?.startsWith('HPE_')) logger.info({ ...fields, err: { ...fields.err, stack: undefined } }, 'bad request');
  else logger.error(fields, 'unhandled error');
}

/** Refuses before any route runs: in the client's own terms (JSON for APIs and platforms, a page for people). */
function refuse(ctx: Context, status: number, code: string, description: string): void {
  ctx.status = status;
  if (ctx.accepts('html', 'json') === 'html') renderErrorPage(ctx, code, status, description);
  else ctx.body = { error: code, error_description: description };
}

/** Paths answered whatever the Host: load balancers and orchestrators call them by address. */
const ANY_HOST = /^\/(healthz|readyz)$/;
/** Discovery and the keys may be cached for this long: see docs/deploy.md ("Caching of discovery and JWKS"). */
const PUBLIC_METADATA = /^\/(\.well-known\/openid-configuration|jwks)$/;
const PUBLIC_METADATA_CACHE = 'public, max-age=300';

/**
 * Request id, proxy headers, the issuer's host only, access log (route and path, never the query string: it can
 * carry personal data), security headers, friendly 404.
 */
function requestContext(logger: Logger, production: boolean, issuer: IssuerOrigin, trustedProxies: TrustedProxies | undefined) {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    const given = ctx.get('x-request-id');
    ctx.state.requestId = REQUEST_ID.test(given) ? given : randomUUID();
    // Before anything reads ctx.ip, ctx.host or ctx.protocol (cached from here on).
    believeForwardedHeaders(ctx.req, trustedProxies);
    ctx.set('X-Request-Id', ctx.state.requestId);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    if (production && ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    let status: number | undefined;
    try {
      // oidc-provider builds its URLs from the Host (or the proxy's X-Forwarded-Host); one that is not a host breaks them.
      const forIssuer = ANY_HOST.test(ctx.path) ? 'issuer' : issuer.matches(ctx.host, ctx.protocol);
      if (!URL.canParse(`http://${ctx.host}/`) || !ctx.host) {
        refuse(ctx, 400, 'invalid_request', 'the Host header is not a valid host');
      } else if (!forIssuer) {
        // Every absolute URL oidc-provider writes comes from the request's origin: only the issuer's is served.
        refuse(ctx, 421, 'misdirected_request', `this server answers only for ${issuer.origin}`);
      } else if (!['', 'identity'].includes(ctx.get('content-encoding').toLowerCase())) {
        // Nothing here takes compressed requests; refusing them up front keeps decoder errors out of every route.
        refuse(ctx, 415, 'invalid_request', 'Content-Encoding is not supported');
      } else {
        if (forIssuer === 'alias') {
          // A development alias (127.0.0.1 for localhost): answered as the issuer, so every URL names the issuer.
          ctx.req.headers.host = issuer.host;
          delete ctx.req.headers['x-forwarded-host'];
        }
        await next();
        if (ctx.status === 200 && ctx.method === 'GET' && PUBLIC_METADATA.test(ctx.path)) ctx.set('Cache-Control', PUBLIC_METADATA_CACHE);
      }
      if (ctx.status === 404 && ctx.body === undefined) refuse(ctx, 404, 'not_found', 'no such endpoint');
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', '5');
      status = ctx.status;
    } catch (error) {
      status = (error as { status?: number }).status ?? 500; // Koa answers it after this middleware
      throw error;
    } finally {
      // The raw path only when one of our routes without parameters answered it: a path nobody serves, or one
      // refused, is whatever the client typed (a phone number, say), and a parameter can be a bearer value (the
      // scan token, an interaction uid). The route template always.
      const route = routeOf(ctx);
      const path = route && status !== undefined && status < 400 ? loggablePath(ctx) : undefined;
      logger.info({ requestId: ctx.state.requestId, method: ctx.method, route, path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
