// Prometheus metrics on /metrics: process defaults, request latency by route (route templates, never raw paths),
// sign-ins, tokens issued, consent decisions and store latency. Labels never carry personal data or client input.
import type { Context, Next } from 'koa';
import type { Adapter, KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import type { Store } from '../adapters/types.ts';

/** The IPC exchange by which a cluster's primary collects its workers' metrics (server/cluster.ts). */
export const METRICS_ASK = 'cyberid:metrics?';
export const METRICS_ANSWER = 'cyberid:metrics';
const METRICS_REQUEST = z.object({ type: z.literal(METRICS_ASK), id: z.number() });
export interface MetricsAnswer {
  type: typeof METRICS_ANSWER;
  id: number;
  /** null when the worker could not collect them. */
  metrics: MetricJSON[] | null;
}
type MetricJSON = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

const ADAPTER_OPERATIONS = ['upsert', 'find', 'findByUserCode', 'findByUid', 'consume', 'destroy', 'revokeByGrantId'] as const;
const TOKEN_TYPES = ['access_token', 'id_token', 'refresh_token'] as const;

/** The route that took the request: its template (`/interaction/:uid/login`) or oidc-provider's name for it. */
export function routeOf(ctx: Context & { oidc?: { route?: string } }): string | undefined {
  return ctx._matchedRoute?.toString() ?? ctx.oidc?.route;
}

/** oidc-provider's routes whose path carries a bearer-like value: an interaction uid, a client id. */
const PARAMETERISED_PROVIDER_ROUTES: ReadonlySet<string> = new Set(['resume', 'device_resume', 'client', 'client_update', 'client_delete']);
/** A segment that could be a token, a uid or any other value a caller made up: long, or with digits or capitals. */
const VALUE_LIKE = /[^a-z.-]|^.{33,}$/;

/**
 * The request's path as the access log may show it: only when the route that answered has no parameter (then the
 * path is the template, and names nothing but the endpoint), and, as a second guard, only when no segment looks like
 * a value. `/scan/<token>`, `/interaction/<uid>/login`, `/auth/<uid>` or `/reg/<client id>` are never logged; their
 * route template is.
 */
export function loggablePath(ctx: Context & { oidc?: { route?: string } }): string | undefined {
  const matched = ctx._matchedRoute?.toString();
  if (matched !== undefined ? matched.includes(':') || matched.includes('(') : !ctx.oidc?.route || PARAMETERISED_PROVIDER_ROUTES.has(ctx.oidc.route)) return undefined;
  return ctx.path.split('/').some((segment) => VALUE_LIKE.test(segment)) ? undefined : ctx.path;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'cyberid_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly signIns = new Counter({
    name: 'cyberid_sign_in_attempts_total',
    help: 'Sign-in credential checks by method (pwd, sms, pop, mca, face; ciba for decoupled approvals) and outcome',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: 'cyberid_tokens_issued_total',
    help: 'Tokens issued at the token endpoint by token type and grant type',
    labelNames: ['type', 'grant_type'] as const,
    registers: [this.registry],
  });
  readonly consents = new Counter({
    name: 'cyberid_consent_decisions_total',
    help: 'Answers on the consent page: approved (everything offered), approved_partially (optional claims declined), refused',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: 'cyberid_store_operation_duration_seconds',
    help: 'Latency of protocol storage operations by oidc-provider model and operation',
    labelNames: ['model', 'operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** In a cluster worker: answers the primary's requests for this process's metrics (server/cluster.ts sums them). */
  answerClusterPrimary(): void {
    process.on('message', (message: unknown) => {
      const request = METRICS_REQUEST.safeParse(message);
      if (!request.success) return;
      // The callback keeps a closed channel (the primary gone) from becoming an uncaught 'error'.
      const answer = (metrics: MetricJSON[] | null) => process.send!({ type: METRICS_ANSWER, id: request.data.id, metrics } satisfies MetricsAnswer, undefined, {}, () => {});
      this.registry.getMetricsAsJSON().then(answer, () => answer(null));
    });
  }

  middleware() {
    return async (ctx: Context & { oidc?: { route?: string } }, next: Next) => {
      const stop = this.requests.startTimer({ method: ctx.method });
      try {
        await next();
      } finally {
        stop({ route: routeOf(ctx) ?? 'other', status: String(ctx.status) });
      }
    };
  }

  /** Counts what each successful token response carried. */
  countTokens(provider: Provider): void {
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      const body = ctx.body as Record<string, unknown> | undefined;
      const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown');
      for (const type of TOKEN_TYPES) if (body?.[type]) this.tokens.inc({ type, grant_type: grantType });
    });
  }

  /** The same store, with every oidc-provider adapter call timed. */
  timeStore(store: Store): Store {
    const timed = new Map<string, Adapter>();
    const adapterFor = (model: string): Adapter => {
      let adapter = timed.get(model);
      if (!adapter) {
        adapter = this.#timeAdapter(model, store.adapterFor(model));
        timed.set(model, adapter);
      }
      return adapter;
    };
    return { ...store, adapterFor };
  }

  /** Every Adapter operation, bound to `adapter` and timed (a plain object: the adapters keep private state). */
  #timeAdapter(model: string, adapter: Adapter): Adapter {
    const timed: Record<string, unknown> = {};
    for (const operation of ADAPTER_OPERATIONS) {
      const original = adapter[operation] as ((...args: unknown[]) => Promise<unknown>) | undefined;
      if (typeof original !== 'function') continue;
      timed[operation] = async (...args: unknown[]) => {
        const stop = this.storeLatency.startTimer({ model, operation });
        try {
          return await original.apply(adapter, args);
        } finally {
          stop();
        }
      };
    }
    return timed as unknown as Adapter;
  }
}
