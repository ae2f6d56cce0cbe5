// Password hashing: argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
// @node-rs/argon2 defaults to argon2id; test/identity.test.ts checks the hash says so.
import { hash, verify } from '@node-rs/argon2';

const OWASP_ARGON2ID = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(password, OWASP_ARGON2ID);
}

export function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return verify(passwordHash, password);
}

let decoy: Promise<string> | undefined;

/** Spends the same time as a real check when no account matched, so timing does not reveal who is enrolled. */
export async function verifyAgainstDecoy(password: string): Promise<false> {
  decoy ??= hashPassword('decoy password, never matches a real account');
  await verify(await decoy, password);
  return false;
}
