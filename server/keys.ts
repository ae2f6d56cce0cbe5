// Secrets kept in the data directory outside production: those not given in the environment. The file is created
// once with mode 0600 and reused, so a restart keeps sessions, tokens and every platform network number. (Signing
// keys are in the store: server/signing-keys.ts.)
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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
