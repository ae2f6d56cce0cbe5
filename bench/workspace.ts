// The bench's data directory: one signing key set shared by both providers, the bench platform's registration
// for each, and enrolled people for the interactive sign-in (created directly through the identity domain, since
// enrolling hundreds of people through the document and face steps would measure enrolment, not sign-in).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { openEmbeddedStore } from '../adapters/index.ts';
import { Accounts } from '../server/identity/accounts.ts';
import { mod11_2CheckCharacter } from '../server/identity/documents.ts';
import { AttributeCipher, LookupHasher } from '../server/identity/protection.ts';
import { resolveSecrets } from '../server/keys.ts';

export const PLATFORM = {
  clientId: 'bench-platform',
  clientSecret: 'bench-platform-secret-for-local-measurement-only',
  redirectUri: 'http://localhost:4999/callback',
  /** Claims with every token: the real-name check result and age predicates (decrypted, ledgered). */
  scope: 'openid verified age',
};
export const PASSWORD = 'Bench-person-password-7r2!';

export interface Workspace {
  dir: string;
  jwksFile: string;
  /** Cyber ID's clients file (with operator policy) and the bare provider's client metadata. */
  clientsFile: string;
  bareClientFile: string;
}

export interface BenchPerson {
  networkNumber: string;
  phone: string;
}

/** A temporary data directory (the providers' logs, the SQLite file): kept after a failed run, for its logs. */
export async function createWorkspace(): Promise<Workspace> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cyberid-bench-'));
  process.stderr.write(`workspace ${dir} (the providers' logs; removed after a successful run)\n`);
  const registration = {
    client_id: PLATFORM.clientId,
    client_secret: PLATFORM.clientSecret,
    client_name: 'Bench platform',
    redirect_uris: [PLATFORM.redirectUri],
    scope: `${PLATFORM.scope} offline_access`,
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const workspace = {
    dir,
    jwksFile: path.join(dir, 'jwks.json'),
    clientsFile: path.join(dir, 'bench-clients.json'),
    bareClientFile: path.join(dir, 'bare-client.json'),
  };
  // Cyber ID imports jwks.json from its data directory on first start; the bare provider reads the same file.
  writeFileSync(workspace.jwksFile, JSON.stringify({ keys: [await signingKey('ec', 'ES256'), await signingKey('ed25519', 'EdDSA')] }));
  writeFileSync(workspace.clientsFile, JSON.stringify({ clients: [{ ...registration, cyberid_policy: { minimum_acr: 'cyberid:loa2' } }] }));
  writeFileSync(workspace.bareClientFile, JSON.stringify({ ...registration, id_token_signed_response_alg: 'ES256' }));
  return workspace;
}

async function signingKey(type: 'ec' | 'ed25519', alg: string): Promise<JWK> {
  const { privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

/** Enrols `count` fictitious adults with phones, all with PASSWORD; a few at a time (each is an argon2 hash). */
export async function enrolPeople(workspace: Workspace, count: number, onProgress: (done: number) => void): Promise<BenchPerson[]> {
  const secrets = resolveSecrets(workspace.dir, {});
  const store = openEmbeddedStore(workspace.dir);
  const accounts = new Accounts(store.accounts, new AttributeCipher(secrets.encryptionKey), new LookupHasher(secrets.lookupSecret));
  const people: BenchPerson[] = [];
  try {
    for (let next = 0; next < count;) {
      const batch = Array.from({ length: Math.min(4, count - next) }, (_, k) => next + k);
      people.push(...await Promise.all(batch.map(async (i) => {
        const phone = `137${String(i).padStart(8, '0')}`;
        const birthdate = `1990-01-${String(1 + (i % 28)).padStart(2, '0')}`;
        const first17 = `110105${birthdate.replaceAll('-', '')}${String(Math.floor(i / 28) % 1000).padStart(3, '0')}`;
        const account = await accounts.create({
          person: { personId: `bench-person-${i}`, name: `Bench Person ${i}`, birthdate, gender: i % 2 ? 'female' : 'male', guardians: [] },
          document: { type: 'resident_id_card', number: first17 + mod11_2CheckCharacter(first17) },
          phone,
          password: PASSWORD,
        });
        return { networkNumber: account.identity.networkNumber, phone };
      })));
      next += batch.length;
      onProgress(next);
    }
  } finally {
    await store.close();
  }
  return people;
}

/** After a successful run: a bench's data directory grows to hundreds of MiB. */
export function removeWorkspace(workspace: Workspace): void {
  rmSync(workspace.dir, { recursive: true, force: true });
}
