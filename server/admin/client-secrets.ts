// Client secrets rest hashed. Cyber ID generates every secret it issues with 256 random bits, so a salted SHA-256
// is as hard to reverse as a slow password hash and costs the token endpoint nothing; secrets an operator typed into
// a clients file (development) are at least 32 characters. client_secret_jwt, which needs the plain secret, is not offered.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'cyberid-sha256$';

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export const isHashedSecret = (value: unknown): value is string => typeof value === 'string' && value.startsWith(PREFIX);

export function hashClientSecret(secret: string): string {
  const salt = randomBytes(16).toString('base64url');
  return `${PREFIX}${salt}$${digest(salt, secret)}`;
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function verifyClientSecret(stored: string | undefined, presented: string): boolean {
  if (!isHashedSecret(stored)) return false;
  const [salt, expected] = stored.slice(PREFIX.length).split('$');
  const actual = Buffer.from(digest(salt!, presented));
  return actual.length === expected!.length && timingSafeEqual(actual, Buffer.from(expected!));
}

function digest(salt: string, secret: string): string {
  return createHash('sha256').update(salt).update('\0').update(secret).digest('base64url');
}
