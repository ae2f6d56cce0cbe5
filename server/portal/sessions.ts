// The portal's own session, opened only by the OIDC callback: 30 minutes idle, 12 hours at most, and never
// longer than the provider session it came from (signing out of Cyber ID, "this wasn't me" or deleting the
// account ends it on the next request).
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { bearerKey } from '../../adapters/bearer.ts';
import type { ShortLivedStore } from '../../adapters/types.ts';
import type { Account, Accounts } from '../identity/accounts.ts';
import { provenOnThisDevice } from '../identity/assurance.ts';

const COOKIE = 'cyberid_account';
/** The whole site: a guardian starts a child's enrolment at /enrol with the portal's session. */
const COOKIE_PATH = '/';
const IDLE_SECONDS = 30 * 60;
const MAX_AGE_MS = 12 * 3600 * 1000;
/** Sensitive changes need a sign-in this recent, made on this device (a fresh one through the provider otherwise). */
export const RECENT_SIGN_IN_SECONDS = 5 * 60;

export interface PortalSession {
  accountId: string;
  /** Epoch seconds of the sign-in at the provider (the ID token's auth_time). */
  authTime: number;
  acr: string;
  /** The sign-in's methods (the ID token's amr): a scan approval never counts as a recent sign-in. */
  amr: string[];
  /** Kept for RP-initiated logout (id_token_hint). */
  idToken: string;
  createdAt: number;
  /** A new phone number waiting to be confirmed. */
  pendingPhone?: string;
  /** The number whose code is awaited: first the current phone (when there is one), then `pendingPhone`. */
  confirmingPhone?: string;
}

export interface SignedIn {
  id: string;
  session: PortalSession;
  account: Account;
}

export class PortalSessions {
  readonly #store: ShortLivedStore;
  readonly #provider: Provider;
  readonly #accounts: Accounts;

  constructor(store: ShortLivedStore, provider: Provider, accounts: Accounts) {
    this.#store = store;
    this.#provider = provider;
    this.#accounts = accounts;
  }

  /** A fresh session id at every sign-in (no fixation). */
  async open(ctx: Context, session: PortalSession): Promise<void> {
    const previous = ctx.cookies.get(COOKIE, { signed: true });
    if (previous) await this.#store.delete(key(previous));
    const id = randomBytes(24).toString('base64url');
    await this.#store.set(key(id), session, IDLE_SECONDS);
    ctx.cookies.set(COOKIE, id, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: COOKIE_PATH, overwrite: true });
    expireOldPath(ctx);
  }

  /** The signed-in person, with the idle time renewed; undefined (and the session ended) once it no longer holds. */
  async current(ctx: Context): Promise<SignedIn | undefined> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    const session = id ? await this.#store.get<PortalSession>(key(id)) : undefined;
    if (!id || !session) return undefined;
    const providerSession = await this.#provider.Session.get(ctx as never);
    const account = await this.#accounts.findById(session.accountId);
    if (providerSession.accountId !== session.accountId || account?.status !== 'active' || Date.now() - session.createdAt > MAX_AGE_MS) {
      await this.close(ctx);
      return undefined;
    }
    await this.#store.set(key(id), session, IDLE_SECONDS);
    return { id, session, account };
  }

  async update(signedIn: SignedIn, change: Partial<PortalSession>): Promise<void> {
    Object.assign(signedIn.session, change);
    await this.#store.set(key(signedIn.id), signedIn.session, IDLE_SECONDS);
  }

  async close(ctx: Context): Promise<void> {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    if (id) await this.#store.delete(key(id));
    ctx.cookies.set(COOKIE, null, { path: COOKIE_PATH });
    expireOldPath(ctx);
  }
}

/**
 * A sign-in that may make sensitive changes (credentials, phone, the network number, guardian decisions, deletion):
 * within the last five minutes, with factors proven on this device. A session made by scanning a QR code never
 * qualifies, whatever its age: the code can be relayed from a look-alike page (docs/sign-in.md).
 */
export function signedInRecently(session: PortalSession, now = Date.now()): boolean {
  return now / 1000 - session.authTime <= RECENT_SIGN_IN_SECONDS && provenOnThisDevice(session.amr ?? []);
}

/** Stored under the hash of the session id (the cookie is a bearer value; DESIGN §6). */
const key = (id: string) => bearerKey('portal-session', id);

/**
 * Before the path became '/', the cookie lived at /account; a browser that still holds one sends it first (the longer
 * path wins), which would hide every new session. Expired after the new cookie is set: `overwrite` drops earlier
 * Set-Cookie headers of the same name whatever their path.
 */
function expireOldPath(ctx: Context): void {
  ctx.cookies.set(COOKIE, null, { path: '/account' });
}
