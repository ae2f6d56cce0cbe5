// Which proxy headers are believed, and which host this server answers for (issue 20, items 2 and 3).
//
// X-Forwarded-For, -Host, -Proto and Client-Cert are believed only when the TCP peer is one of the trusted proxies
// (CYBERID_TRUSTED_PROXIES, loopback by default when CYBERID_PROXY=true); from anyone else they are removed before
// Koa, oidc-provider or our routes read them. From a trusted proxy the client is the right-most X-Forwarded-For entry
// that is not itself a trusted proxy, and X-Forwarded-Host and -Proto are read at the same hop.
//
// Every absolute URL oidc-provider writes (discovery, redirects) is built from the request's origin, so a request
// whose origin is not the issuer's is refused (421 Misdirected Request) before any route runs.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** What CYBERID_TRUSTED_PROXIES holds when CYBERID_PROXY=true and it is not set: a proxy on the same machine. */
export const LOOPBACK_PROXIES = ['127.0.0.0/8', '::1'];

/** An address or a CIDR range, IPv4 or IPv6, as CYBERID_TRUSTED_PROXIES lists them; undefined when it is neither. */
export function parseProxyEntry(entry: string): { address: string; prefix: number | undefined; type: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return undefined;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) return { address, prefix: undefined, type };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix: Number(prefixText), type };
}

export class TrustedProxies {
  readonly #list = new BlockList();

  readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    this.entries = entries;
    for (const entry of entries) {
      const parsed = parseProxyEntry(entry);
      if (!parsed) throw new Error(`not an address or CIDR range: ${entry}`);
      if (parsed.prefix === undefined) this.#list.addAddress(parsed.address, parsed.type);
      else this.#list.addSubnet(parsed.address, parsed.prefix, parsed.type);
    }
  }

  trusts(address: string | undefined): boolean {
    const plain = normaliseAddress(address);
    if (!plain) return false;
    const version = isIP(plain);
    return version !== 0 && this.#list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) as `127.0.0.1`; brackets and spaces removed. */
function normaliseAddress(address: string | undefined): string | undefined {
  const trimmed = address?.trim().replace(/^\[(.*)\]$/, '$1');
  if (!trimmed) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(trimmed);
  return mapped ? mapped[1] : trimmed;
}

const FORWARDED_HEADERS = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'client-cert', 'forwarded'] as const;

function entries(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : value ?? '';
  return joined.split(',').map((entry) => entry.trim()).filter(Boolean);
}

/**
 * Rewrites the request's proxy headers to what may be believed: with no trusted proxy configured (CYBERID_PROXY
 * unset, when Koa ignores them anyway) or from an untrusted peer, all removed; from a trusted peer, X-Forwarded-For
 * becomes the one client address (the right-most entry that is not a trusted proxy; Koa's maxIpsCount of 1 then
 * reads it), and X-Forwarded-Host and -Proto the entry written at that hop (or the left-most, when a proxy
 * overwrote rather than appended). `Forwarded` (RFC 7239) is not read by anything here and is always removed.
 */
export function believeForwardedHeaders(req: IncomingMessage, trusted: TrustedProxies | undefined): void {
  const headers = req.headers;
  if (!trusted || !trusted.trusts(req.socket.remoteAddress)) {
    for (const name of FORWARDED_HEADERS) delete headers[name];
    return;
  }
  delete headers.forwarded;
  const chain = entries(headers['x-forwarded-for']);
  // Hops counted from the right: 1 is the entry our peer appended.
  let hop = 0;
  for (let i = chain.length - 1; i >= 0; i -= 1) {
    hop = chain.length - i;
    if (!trusted.trusts(chain[i])) break;
  }
  if (chain.length) headers['x-forwarded-for'] = normaliseAddress(chain[chain.length - hop]) ?? '';
  else delete headers['x-forwarded-for'];
  for (const name of ['x-forwarded-host', 'x-forwarded-proto'] as const) {
    const values = entries(headers[name]);
    if (!values.length) delete headers[name];
    else headers[name] = values[values.length - Math.min(Math.max(hop, 1), values.length)];
  }
}

/**
 * The origins this server answers for: the issuer's, and in development only, when the issuer is
 * http://localhost:<port>, the same port on 127.0.0.1 and [::1] (what a developer types). Requests to those aliases
 * are answered as if addressed to the issuer, so no URL on them names anything but the issuer.
 */
export class IssuerOrigin {
  readonly origin: string;
  readonly #host: string;
  readonly #protocol: string;
  readonly #aliases: ReadonlySet<string>;

  constructor(issuer: string, production: boolean) {
    const url = new URL(issuer);
    this.origin = url.origin;
    this.#host = url.host;
    this.#protocol = url.protocol.slice(0, -1);
    const port = url.port ? `:${url.port}` : '';
    this.#aliases = new Set([
      // The default port written out names the same origin.
      ...(url.port ? [] : [`${url.hostname}:${url.protocol === 'https:' ? 443 : 80}`]),
      ...(!production && url.hostname === 'localhost' ? [`127.0.0.1${port}`, `[::1]${port}`] : []),
    ]);
  }

  /**
   * Whether a request for `host` over `protocol` is for this issuer; `alias` when it named a development alias of it
   * (the caller then rewrites the Host header to the issuer's).
   */
  matches(host: string, protocol: string): 'issuer' | 'alias' | false {
    if (protocol !== this.#protocol) return false;
    const given = host.toLowerCase();
    if (given === this.#host) return 'issuer';
    return this.#aliases.has(given) ? 'alias' : false;
  }

  get host(): string {
    return this.#host;
  }
}
