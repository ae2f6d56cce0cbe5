// Scan to sign in: the login page shows a QR code bound to its interaction; the person scans it on a
// second device where they are signed in, checks the platform and the browser that asked, picks the number
// the first screen shows, and approves. Safe against QR phishing because each code is short-lived, single
// use, bound to one interaction (the first browser's cookie), and the approving device is told which
// platform and which browser asked; a wrong number burns the code.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { ShortLivedStore } from '../../adapters/types.ts';
import { describeBrowser } from './activity.ts';

export const SCAN_LIFETIME_SECONDS = 120;

export interface ScanRequest {
  interactionUid: string;
  clientId: string;
  /** What the approving device is told about the browser that asked, e.g. "Chrome 140 on Linux". */
  browser: string;
  createdAt: number;
  /** The number the first screen shows; the approving device must pick it among `choices`. */
  match: string;
  choices: string[];
  status: 'pending' | 'approved' | 'declined';
  accountId?: string;
}

export type Collected = { status: 'pending' | 'declined' | 'expired' } | { status: 'approved'; accountId: string };

export type ApprovalResult = 'approved' | 'wrong_number' | 'gone';

const tokenKey = (token: string) => `scan:${createHash('sha256').update(token).digest('base64url')}`;
const interactionKey = (uid: string) => `scan-of:${uid}`;

export class ScanSignIns {
  readonly #store: ShortLivedStore;

  constructor(store: ShortLivedStore) {
    this.#store = store;
  }

  /** A new code for this interaction; an earlier one of the same interaction stops counting. */
  async start(interactionUid: string, clientId: string, userAgent: string): Promise<{ token: string; match: string }> {
    const token = randomBytes(32).toString('base64url');
    const match = String(randomInt(10, 100));
    const request: ScanRequest = {
      interactionUid, clientId, browser: describeBrowser(userAgent), createdAt: Date.now(),
      match, choices: choicesAround(match), status: 'pending',
    };
    await this.#store.set(tokenKey(token), request, SCAN_LIFETIME_SECONDS);
    await this.#store.set(interactionKey(interactionUid), tokenKey(token), SCAN_LIFETIME_SECONDS);
    return { token, match };
  }

  /** The request as the approving device sees it, while it can still be approved. */
  async pending(token: string): Promise<ScanRequest | undefined> {
    const request = await this.#store.get<ScanRequest>(tokenKey(token));
    return request?.status === 'pending' ? request : undefined;
  }

  async approve(token: string, accountId: string, chosen: string): Promise<ApprovalResult> {
    const key = tokenKey(token);
    const request = await this.pending(token);
    if (!request) return 'gone';
    const remaining = Math.max(1, SCAN_LIFETIME_SECONDS - Math.floor((Date.now() - request.createdAt) / 1000));
    if (chosen !== request.match) {
      await this.#store.set(key, { ...request, status: 'declined' }, remaining);
      return 'wrong_number';
    }
    await this.#store.set(key, { ...request, status: 'approved', accountId }, remaining);
    return 'approved';
  }

  async decline(token: string): Promise<boolean> {
    const request = await this.pending(token);
    if (!request) return false;
    const remaining = Math.max(1, SCAN_LIFETIME_SECONDS - Math.floor((Date.now() - request.createdAt) / 1000));
    await this.#store.set(tokenKey(token), { ...request, status: 'declined' }, remaining);
    return true;
  }

  /** Polled by the first browser; an approval is handed out once (the code is consumed atomically). */
  async collect(interactionUid: string): Promise<Collected> {
    const key = await this.#store.get<string>(interactionKey(interactionUid));
    const request = key ? await this.#store.get<ScanRequest>(key) : undefined;
    if (!key || !request || request.interactionUid !== interactionUid) return { status: 'expired' };
    if (request.status !== 'approved') return { status: request.status };
    if (!(await this.#store.delete(key))) return { status: 'expired' };
    await this.#store.delete(interactionKey(interactionUid));
    return { status: 'approved', accountId: request.accountId! };
  }
}

/** Three different two-digit numbers, one of them the match, in random order. */
function choicesAround(match: string): string[] {
  const choices = new Set([match]);
  while (choices.size < 3) choices.add(String(randomInt(10, 100)));
  return [...choices].map((choice) => ({ choice, order: randomInt(0, 1_000_000) })).sort((a, b) => a.order - b.order).map(({ choice }) => choice);
}
