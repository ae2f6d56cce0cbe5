// Decoupled sign-in (OpenID Connect CIBA, poll mode): a platform (a counter clerk, a call centre) names the
// person by the network number they tell it, and shows them a short binding message. The person gets an SMS
// with a link to the same approval page as scan to sign in (/scan/:token), opens it on a device where they
// are signed in, checks the platform, the message and what it will receive, and approves or declines. The
// platform polls the token endpoint meanwhile. Only the named person can approve; the link works once.
import { createHash, randomBytes } from 'node:crypto';
import type { ShortLivedStore } from '../../adapters/types.ts';

export interface DecoupledRequest {
  authReqId: string;
  clientId: string;
  /** The account the platform named; no one else can approve. */
  accountId: string;
  bindingMessage: string | undefined;
  scope: string;
  expiresAt: number;
}

const key = (token: string) => `ciba:${createHash('sha256').update(token).digest('base64url')}`;

export class DecoupledSignIns {
  readonly #store: ShortLivedStore;

  constructor(store: ShortLivedStore) {
    this.#store = store;
  }

  /** A link token for the person's approval, valid as long as the platform's request. */
  async start(request: DecoupledRequest): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#store.set(key(token), request, secondsUntil(request.expiresAt));
    return token;
  }

  /** The request, if it still waits for an answer and `accountId` is the person it names. */
  async pendingFor(token: string, accountId: string): Promise<DecoupledRequest | undefined> {
    const request = await this.#store.get<DecoupledRequest>(key(token));
    return request?.accountId === accountId && request.expiresAt > Date.now() ? request : undefined;
  }

  /** Takes the request for an answer, atomically: false if it was answered already (two tabs, a replayed form). */
  async answer(token: string): Promise<boolean> {
    return this.#store.delete(key(token));
  }
}

const secondsUntil = (at: number) => Math.max(1, Math.ceil((at - Date.now()) / 1000));
