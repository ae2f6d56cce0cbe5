// Key material kept in the data directory: the ID-token signing keys and, outside production, the secrets
// that were not given in the environment. Files are created once with mode 0600 and reused, so a restart
// keeps sessions, tokens and every platform network number.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { Secrets } from './config.ts';

const PRIVATE_FILE_MODE = 0o600;

function readPrivateJson(file: string): unknown {
  chmodSync(file, PRIVATE_FILE_MODE); // tighten a file someone copied with looser permissions
  return JSON.parse(readFileSync(file, 'utf8'));
}

function writePrivateJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // 'wx' refuses to overwrite: two processes starting together cannot replace each other's keys.
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
}

async function signingKey(type: 'ec' | 'ed25519', alg: 'ES256' | 'EdDSA'): Promise<JWK> {
  const { privateKey } = type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

const jwksFile = z.object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string(), d: z.string() })).min(1) });

/** The private signing JWKS: an ES256 key (the default for ID tokens) and an EdDSA key. */
export async function loadOrCreateSigningKeys(dataDir: string): Promise<{ keys: JWK[] }> {
  const file = path.join(dataDir, 'jwks.json');
  if (existsSync(file)) return jwksFile.parse(readPrivateJson(file)) as { keys: JWK[] };
  const jwks = { keys: [await signingKey('ec', 'ES256'), await signingKey('ed25519', 'EdDSA')] };
  writePrivateJson(file, jwks);
  return jwks;
}

const secretsFile = z.object({
  cookieKeys: z.array(z.string().min(32)).min(1),
  pairwiseSecret: z.base64(),
  encryptionKey: z.base64(),
  lookupSecret: z.base64(),
});

/**
 * Secrets from the environment win; outside production the rest come from `secrets.json` in the data
 * directory, generated on first start. (Production never gets here with a gap: config refuses to start.)
 */
export function resolveSecrets(dataDir: string, given: Partial<Secrets>): Secrets {
  if (given.cookieKeys && given.pairwiseSecret && given.encryptionKey && given.lookupSecret) {
    return given as Secrets;
  }
  const file = path.join(dataDir, 'secrets.json');
  if (!existsSync(file)) {
    writePrivateJson(file, {
      cookieKeys: [randomBytes(32).toString('base64url')],
      pairwiseSecret: randomBytes(32).toString('base64'),
      encryptionKey: randomBytes(32).toString('base64'),
      lookupSecret: randomBytes(32).toString('base64'),
    });
  }
  const stored = secretsFile.parse(readPrivateJson(file));
  return {
    cookieKeys: given.cookieKeys ?? stored.cookieKeys,
    pairwiseSecret: given.pairwiseSecret ?? Buffer.from(stored.pairwiseSecret, 'base64'),
    encryptionKey: given.encryptionKey ?? Buffer.from(stored.encryptionKey, 'base64'),
    lookupSecret: given.lookupSecret ?? Buffer.from(stored.lookupSecret, 'base64'),
  };
}
