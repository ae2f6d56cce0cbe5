// Security activity of an account, shown to the person in the portal: sign-ins, failed attempts, locks,
// credential changes. Details are never personal beyond what the person needs to recognise themselves:
// the sign-in method, the platform, the browser family and the network (address prefix), not the address.
import { isIP } from 'node:net';
import Bowser from 'bowser';
import type { SecurityEventRecord, SecurityEventRepository } from '../../adapters/types.ts';

export const SECURITY_EVENTS = [
  'sign_in', 'sign_in_failed', 'locked', 'password_changed', 'phone_changed', 'passkey_added', 'passkey_renamed',
  'passkey_removed', 'network_number_viewed', 'platform_revoked', 'sessions_ended', 'password_recovered', 'phone_recovered',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENTS)[number];

const DAY_MS = 24 * 3600 * 1000;
const LIST_LIMIT = 200;

/** Where a request came from, coarsely: "Chrome 140 · Linux" and "203.0.113.0/24". */
export interface Origin {
  userAgent: string;
  ip: string;
}

export function describeOrigin(origin: Origin): { browser: string; network: string } {
  return { browser: describeBrowser(origin.userAgent), network: networkPrefix(origin.ip) };
}

/** "Chrome 140 · Linux": the browser's name, major version and system, from its User-Agent. */
export function describeBrowser(userAgent: string): string {
  const parsed = Bowser.parse(userAgent || 'unknown');
  const browser = [parsed.browser.name, parsed.browser.version?.split('.')[0]].filter(Boolean).join(' ');
  return [browser || 'Unknown browser', parsed.os.name].filter(Boolean).join(' · ');
}

/** The /24 of an IPv4 address or the /48 of an IPv6 one: enough to recognise a network, not a household. */
export function networkPrefix(ip: string): string {
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIP(ip) === 6) {
    const [head = '', tail = ''] = ip.split('::');
    const groups = [...head.split(':').filter(Boolean), ...Array(8).fill('0')].slice(0, 8 - (tail ? tail.split(':').length : 0));
    return `${groups.slice(0, 3).map((group) => group || '0').join(':')}::/48`;
  }
  return '?';
}

export class SecurityActivity {
  readonly #repository: SecurityEventRepository;
  readonly retentionDays: number;

  constructor(repository: SecurityEventRepository, retentionDays: number) {
    this.#repository = repository;
    this.retentionDays = retentionDays;
  }

  async record(accountId: string, type: SecurityEventType, origin: Origin, detail: Record<string, string> = {}): Promise<void> {
    await this.#repository.add({ accountId, type, detail: { ...detail, ...describeOrigin(origin) }, at: Date.now() });
  }

  list(accountId: string): Promise<SecurityEventRecord[]> {
    return this.#repository.list(accountId, Date.now() - this.retentionDays * DAY_MS, LIST_LIMIT);
  }

  sweep(): Promise<number> {
    return this.#repository.removeBefore(Date.now() - this.retentionDays * DAY_MS);
  }

  forget(accountId: string): Promise<void> {
    return this.#repository.removeAllOf(accountId);
  }
}
