// Scan to sign in: the login page shows a QR code bound to its interaction; the person scans it on a
// second device where they are signed in, checks the platform, when and from which network it was asked,
// picks the number the first screen shows, and approves. Each code is short-lived, single use and bound to
// one interaction (the first browser's cookie); a wrong number burns the code. This does NOT stop a real-time
// relay (a look-alike page showing our QR code and number): the approving device only sees what the server
// observed about the requester, and is warned when it asked from another network. Sessions made this way are
// marked (amr "mca") and never count as a recent sign-in for sensitive changes. See docs/sign-in.md.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { ShortLivedStore } from '../../adapters/types.ts';
import { networkPrefix } from './activity.ts';

export const SCAN_LIFETIME_SECONDS = 120;

export interface ScanRequest {
  interactionUid: string;
  clientId: string;
  /**
   * The network the requesting browser's address belongs to (IPv4 /24, IPv6 /48), as the server saw it. Nothing
   * the requester writes itself (its User-Agent, say) is shown to the approving device.
   */
  network: string;
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
  async start(interactionUid: string, clientId: string, requesterIp: string): Promise<{ token: string; match: string }> {
    const token = randomBytes(32).toString('base64url');
    const match = String(randomInt(10, 100));
    const request: ScanRequest = {
      interactionUid, clientId, network: networkPrefix(requesterIp), createdAt: Date.now(),
      match, choices: choicesAround(match), status: 'pending',
    };
    await this.#store.set(tokenKey(token), request, SCAN_LIFETIME_SECONDS);
    await this.#store.set(interactionKey(interactionUid), tokenKey(token), SCAN_LIFETIME_SECONDS);
    return { token, match };
  }

  /** The request as the approving device sees it, while it can still be approved. */
  async pending(token: string): Promise<ScanRequest | undefined> {
    const request = await this.#store.get<ScanRequest>(tokenKey(token));
    // A request stored before `network` existed (at most two minutes old at an upgrade) is not shown half-described.
    return request?.status === 'pending' && request.network ? request : undefined;
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
