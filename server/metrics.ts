// Prometheus metrics on /metrics: process defaults plus request latency by route (route templates, never raw paths).
import type { Context, Next } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  middleware() {
    return async (ctx: Context & { oidc?: { route?: string } }, next: Next) => {
      const stop = this.requests.startTimer({ method: ctx.method });
      try {
        await next();
      } finally {
        stop({ route: ctx._matchedRoute?.toString() ?? ctx.oidc?.route ?? 'other', status: String(ctx.status) });
      }
    };
  }
}
