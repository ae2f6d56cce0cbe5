// A backend that cannot be reached (Redis stopped, no MongoDB primary) becomes one error, StoreUnavailableError:
// oidc-provider answers it as 503 temporarily_unavailable (OAuth JSON, or a redirect to the platform with that
// error), and our pages and APIs as a friendly 503. Each backend says which of its errors mean "unreachable";
// anything else (a bug, a constraint) passes through unchanged.
import { errors } from 'oidc-provider';

/** What platforms and API clients are told while a backend is unreachable. */
export const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' } as const;

export class StoreUnavailableError extends errors.OIDCProviderError {
  override readonly error_description: string;
  readonly backend: string;

  /** Keeps only the cause's message (as error_detail, logged, never sent): a driver's error can carry the command and its data. */
  constructor(backend: string, cause?: unknown) {
    super(503, UNAVAILABLE.error, cause instanceof Error ? { detail: `${cause.name}: ${cause.message}` } : undefined);
    this.backend = backend;
    this.error_description = UNAVAILABLE.error_description;
    // oidc-provider hides the body of every 5xx; this one is safe and tells the platform what to do.
    this.expose = true;
  }
}

/** Recognises a backend's connection errors (as opposed to errors of the request itself). */
export type OutageTest = (error: unknown) => boolean;

/** Makes any other error of the backend safe to log (e.g. strips the command and its arguments). */
export type Scrub = (error: unknown) => unknown;

/**
 * Wraps every method of `target` (own and prototype methods, once) so that a rejection the backend reports as an
 * outage becomes StoreUnavailableError. The wrapper has the target's type; it keeps `this` bound to the target.
 */
export function guarded<T extends object>(target: T, backend: string, isOutage: OutageTest, scrub: Scrub = (error) => error): T {
  const wrapper: Record<string, unknown> = {};
  for (const name of methodNames(target)) {
    const method = (target as Record<string, unknown>)[name] as (...args: unknown[]) => unknown;
    wrapper[name] = (...args: unknown[]) => {
      try {
        const result = method.apply(target, args);
        return result instanceof Promise ? result.catch((error: unknown) => { throw translate(error, backend, isOutage, scrub); }) : result;
      } catch (error) {
        throw translate(error, backend, isOutage, scrub);
      }
    };
  }
  return wrapper as T;
}

function translate(error: unknown, backend: string, isOutage: OutageTest, scrub: Scrub): unknown {
  if (error instanceof StoreUnavailableError) return error;
  return isOutage(error) ? new StoreUnavailableError(backend, scrub(error)) : scrub(error);
}

function methodNames(target: object): string[] {
  const names = new Set<string>();
  for (let proto: object | null = target; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof (target as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return [...names];
}
