// The one registration policy for a platform's metadata (DESIGN §8, "a registered platform acting badly"), applied
// the same way by every path that registers a client: dynamic registration (registration.ts), the CLI and the admin
// API (client-registry.ts) and the clients file (../clients-file.ts). It returns the problems, each naming its field;
// an empty list means the metadata may be registered.
//
// - URLs are https. The exceptions: a redirect to the person's own machine (http://localhost, 127.0.0.1, [::1]:
//   native apps, RFC 8252), and in development any URL on the loopback interface (the demo platforms use it).
// - No URL points at a private or link-local address. In production, not at loopback or an internal name either,
//   and the URLs the provider itself fetches or calls (jwks_uri, sector_identifier_uri, backchannel_logout_uri,
//   request_uris) must name a public DNS host, never an IP literal.
// - A displayed name (client_name and its client_name#<lang> variants) holds no control or invisible formatting
//   character (bidi overrides among them) and does not imitate Cyber ID's own name, after folding look-alikes. The
//   operator's texts shown on the consent page (cyberid_policy purposes and legal basis) hold no such character either.
import { isIP } from 'node:net';
import { PORTAL_CLIENT_ID } from '../portal/first-party.ts';

/** [field, message]: the field as the metadata names it (`client_name#zh-CN`, `redirect_uris`). */
export type MetadataProblem = [field: string, message: string];

/** Where production is not said explicitly (a caller not yet passing it), NODE_ENV decides, as in server/config.ts. */
export const productionFromEnvironment = (): boolean => process.env.NODE_ENV === 'production';

/** Followed by the person's browser: a native app may use the loopback interface over http. */
const REDIRECT_FIELDS = ['redirect_uris', 'post_logout_redirect_uris'] as const;
/** Shown or followed by the browser. */
const LINK_FIELDS = ['initiate_login_uri', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri'] as const;
/** Fetched or called by the provider itself (server to server). */
const SERVER_FIELDS = ['jwks_uri', 'sector_identifier_uri', 'backchannel_logout_uri', 'request_uris'] as const;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.intranet', '.lan', '.home.arpa', '.corp', '.home'];

/** The problems of a client's metadata under the registration policy; [] when it may be registered. */
export function metadataProblems(metadata: Record<string, unknown>, production: boolean): MetadataProblem[] {
  const problems: MetadataProblem[] = [];
  for (const field of REDIRECT_FIELDS) urlProblems(problems, field, metadata[field], production, 'redirect');
  for (const field of LINK_FIELDS) urlProblems(problems, field, metadata[field], production, 'link');
  for (const field of SERVER_FIELDS) urlProblems(problems, field, metadata[field], production, 'server');
  if (metadata.client_id !== PORTAL_CLIENT_ID) {
    for (const [field, value] of Object.entries(metadata)) {
      if ((field === 'client_name' || field.startsWith('client_name#')) && typeof value === 'string') {
        const problem = displayNameProblem(value);
        if (problem) problems.push([field, problem]);
      }
    }
  }
  for (const [field, text] of policyTexts(metadata.cyberid_policy)) {
    const problem = hiddenCharacterProblem(text);
    if (problem) problems.push([field, problem]);
  }
  return problems;
}

/**
 * The operator's texts the consent page shows (cyberid_policy purposes and legal basis, set only by operators), as
 * [field, text]. They may name Cyber ID (a legal basis can cite the rules of the national network identity service),
 * but, like a name, hold no hidden characters.
 */
function policyTexts(policy: unknown): [string, string][] {
  if (!policy || typeof policy !== 'object') return [];
  const { purposes, legal_basis: legalBasis } = policy as { purposes?: unknown; legal_basis?: unknown };
  const texts: [string, string][] = [];
  const localised = (field: string, value: unknown) => {
    if (!value || typeof value !== 'object') return;
    for (const [lang, text] of Object.entries(value)) if (typeof text === 'string') texts.push([`${field}.${lang}`, text]);
  };
  if (purposes && typeof purposes === 'object') for (const [claim, text] of Object.entries(purposes)) localised(`cyberid_policy.purposes.${claim}`, text);
  localised('cyberid_policy.legal_basis', legalBasis);
  return texts;
}

/** The problems as one description, `field: message; …` (the form every path shows). */
export const describeProblems = (problems: readonly MetadataProblem[]): string => problems.map(([field, message]) => `${field}: ${message}`).join('; ');

type UrlKind = 'redirect' | 'link' | 'server';

function urlProblems(problems: MetadataProblem[], field: string, value: unknown, production: boolean, kind: UrlKind): void {
  const values = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const insecure: string[] = [];
  const internal: string[] = [];
  for (const text of values) {
    const url = typeof text === 'string' ? URL.parse(text) : null;
    if (!url) continue; // the schema of each path reports what is not a URL
    const host = url.hostname.toLowerCase().replace(/\.$/, '');
    const loopback = LOOPBACK_HOSTS.has(host);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && (kind === 'redirect' || !production))) {
      insecure.push(text as string);
      continue;
    }
    if (loopback && (kind === 'redirect' || !production)) continue;
    // In development only private and link-local addresses are refused: names and public IPs are the developer's own.
    const why = production ? internalTarget(host, kind === 'server') : privateLiteral(host);
    if (why) internal.push(`${text as string}: ${why}`);
  }
  if (insecure.length) {
    const rule = production ? 'must use https in production' : 'must use https, or http on localhost';
    problems.push([field, `${rule} (${insecure.join(', ')})`]);
  }
  if (internal.length) problems.push([field, `must name a public host (${internal.join('; ')})`]);
}

/** Why a host is not a public target, or undefined. `strict` (server-to-server): no IP literal at all. */
function internalTarget(host: string, strict: boolean): string | undefined {
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  const version = isIP(address);
  if (version) {
    if (strict) return 'an IP address, not a host name';
    return privateAddress(address, version) ? 'a private, loopback or link-local address' : undefined;
  }
  if (host === 'localhost' || INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix))) return 'an internal name';
  if (!host.includes('.')) return 'a single-label name';
  return undefined;
}

function privateLiteral(host: string): string | undefined {
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  const version = isIP(address);
  return version && privateAddress(address, version) && !/^127\./.test(address) && address !== '::1' ? 'a private or link-local address' : undefined;
}

function privateAddress(address: string, version: number): boolean {
  if (version === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32)
      || (a === 192 && b === 168) || a >= 224;
  }
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1];
  if (mapped) return privateAddress(mapped, 4);
  return lower === '::' || lower === '::1' || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower) || /^ff/.test(lower) || lower.startsWith('::ffff:');
}

/** Control, invisible formatting (bidi overrides and isolates, U+200E/F, U+061C, zero-width) and line separators. */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Cyber ID's own names, compared after folding (see brandFold). */
const BRAND_NAMES = ['cyberid', '网络身份', '網絡身份', '網路身份'];

/** Latin look-alikes (Cyrillic, Greek, small capitals, digits) folded to the Latin letter they imitate. */
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', є: 'e', з: '3', і: 'i', ї: 'i', ј: 'j', к: 'k', м: 'm', н: 'h', о: 'o', п: 'n', р: 'p', с: 'c',
  т: 't', у: 'y', ў: 'y', х: 'x', ѕ: 's', ԁ: 'd', ӏ: 'i', ь: 'b', ԛ: 'q', ԝ: 'w', ү: 'y',
  α: 'a', β: 'b', γ: 'y', δ: 'd', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', σ: 'o', ς: 'c', τ: 't', υ: 'u', χ: 'x', ϲ: 'c', ϳ: 'j',
  ɑ: 'a', ɡ: 'g', ɪ: 'i', ʏ: 'y', ʙ: 'b', ᴄ: 'c', ᴅ: 'd', ᴇ: 'e', ʀ: 'r', ı: 'i', ȷ: 'j',
  '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '|': 'i', '!': 'i', l: 'i',
};

/** NFKC, no accents, lower case, look-alikes folded, and only letters and digits kept. */
export function brandFold(text: string): string {
  const decomposed = text.normalize('NFKC').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  return [...decomposed].map((char) => CONFUSABLES[char] ?? char).join('').replace(/[^\p{L}\p{N}]/gu, '');
}

function hiddenCharacterProblem(text: string): string | undefined {
  const hidden = HIDDEN.exec(text)?.[0];
  return hidden ? `must not contain control or invisible formatting characters (U+${hidden.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})` : undefined;
}

function displayNameProblem(name: string): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  const folded = brandFold(name);
  if (BRAND_NAMES.some((brand) => folded.includes(brandFold(brand)))) return 'must not use or imitate Cyber ID\'s own name';
  return undefined;
}
