// Bearer values are stored only as hashes (DESIGN §6), on every backend: a database, a WAL file or a backup holds
// no code, token, session id or enrolment id that works. SHA-256 without a key is enough because every value hashed
// here is at least 128 bits of randomness (oidc-provider's ids are 256-bit nanoids, ours 192-bit): nobody can
// search that space, so a key would add nothing but a secret to manage — and it lets every process and
// `npm run migrate` compute the same hash with no configuration.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';

/** SHA-256, base64url: what is stored in place of a bearer value. */
export function bearerHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/**
 * The oidc-provider models whose id is a bearer value: whoever presents it is served. Their rows are keyed by
 * bearerHash(id) and their payloads hold no clear copy of it.
 * Not hashed: Client (the client_id is public), Grant (its id is an internal reference carried inside tokens, never
 * accepted from a caller as a credential; the portal lists grants by id), ReplayDetection (its ids are already
 * digests or jtis of proofs that have been used).
 */
export const HASHED_MODELS: ReadonlySet<string> = new Set([
  'Session', 'Interaction', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest', 'PreAuthorizedCode', 'InitialAccessToken',
  'RegistrationAccessToken',
]);

export const isHashedModel = (model: string): boolean => HASHED_MODELS.has(model);

/**
 * A reference to a stored Session handed out by `sessionsOf` (the portal then finds and destroys those sessions):
 * the stored hash plus a MAC with a key that lives only in this process. A caller gets one only from the store, and
 * someone who read a hash from the database cannot turn it into a reference, so a hash never works as a cookie.
 */
const REFERENCE_PREFIX = 'stored~';
const referenceKey = randomBytes(32);

const referenceMac = (hash: string) => createHmac('sha256', referenceKey).update(hash).digest('base64url');

export function storedReference(hash: string): string {
  return `${REFERENCE_PREFIX}${hash}.${referenceMac(hash)}`;
}

/** The hash a genuine reference names; undefined for anything else (any value a browser or platform sends). */
function referencedHash(id: string): string | undefined {
  if (!id.startsWith(REFERENCE_PREFIX)) return undefined;
  const [hash, mac] = id.slice(REFERENCE_PREFIX.length).split('.');
  if (!hash || !mac) return undefined;
  const expected = Buffer.from(referenceMac(hash));
  const given = Buffer.from(mac);
  return expected.length === given.length && timingSafeEqual(expected, given) ? hash : undefined;
}

/** The key a model's object is stored under: the hash of a bearer id (or the hash a reference names), else the id. */
export function storedId(model: string, id: string): string {
  if (!isHashedModel(model)) return id;
  return referencedHash(id) ?? bearerHash(id);
}

const RETURN_TO_PLACEHOLDER = '{uid}';

/**
 * Fields of an Interaction that name another model's bearer id: the pushed authorization request it came from (live
 * until the authorization completes: whoever holds it can start that request again) and a device code. Stored as the
 * hash that model's rows are keyed by; given back as a reference its adapter accepts (oidc-provider finds and
 * consumes the pushed request with it at the end of the interaction).
 */
const INTERACTION_REFERENCES: Readonly<Record<string, string>> = { parJti: 'PushedAuthorizationRequest', deviceCode: 'DeviceCode' };

/**
 * The payload as stored: without the clear id (oidc-provider keeps it as `jti`), and for an Interaction without the
 * session id it copies (`session.cookie`, read by nothing), with its own id in `returnTo` replaced and the ids it
 * names (INTERACTION_REFERENCES) hashed.
 */
export function toStoredPayload(model: string, id: string, payload: AdapterPayload): AdapterPayload {
  if (!isHashedModel(model)) return payload;
  const stored: AdapterPayload = { ...payload };
  delete stored.jti;
  if (model === 'Interaction') {
    const session = stored.session as Record<string, unknown> | undefined;
    if (session && 'cookie' in session) {
      const { cookie: _cookie, ...rest } = session;
      stored.session = rest as AdapterPayload['session'];
    }
    if (typeof stored.returnTo === 'string') stored.returnTo = stored.returnTo.split(id).join(RETURN_TO_PLACEHOLDER);
    for (const [field, named] of Object.entries(INTERACTION_REFERENCES)) {
      const value: unknown = stored[field];
      if (typeof value === 'string') stored[field] = storedId(named, value);
    }
  }
  return stored;
}

/**
 * The payload oidc-provider expects back from find(id): the id it was found by as `jti` (the clear id, or the
 * reference it was found by, which the adapter's consume and destroy accept in turn). Found by uid or user code the
 * id is unknown, and the payload comes without it (those callers only read it).
 */
export function fromStoredPayload(model: string, id: string | undefined, payload: AdapterPayload): AdapterPayload {
  if (!isHashedModel(model)) return payload;
  const found: AdapterPayload = id === undefined ? { ...payload } : { ...payload, jti: id };
  if (model === 'Interaction') {
    if (id !== undefined && referencedHash(id) === undefined && typeof found.returnTo === 'string') {
      found.returnTo = found.returnTo.split(RETURN_TO_PLACEHOLDER).join(id);
    }
    for (const field of Object.keys(INTERACTION_REFERENCES)) {
      const hash: unknown = found[field];
      if (typeof hash === 'string') found[field] = storedReference(hash);
    }
  }
  return found;
}

/** The short-lived store's keys that end in a bearer value (server/portal/sessions.ts, server/enrol/enrolment.ts). */
export const BEARER_KEY_PREFIXES: readonly string[] = ['portal-session', 'enrolment'];

/** The length of bearerHash's output: a key suffix of another length is a clear value left from before hashing. */
export const HASH_LENGTH = 43;

/** A key of the short-lived store that ends in a bearer value (`portal-session:<id>`, `enrolment:<id>`). */
export function bearerKey(prefix: string, id: string): string {
  return `${prefix}:${bearerHash(id)}`;
}
