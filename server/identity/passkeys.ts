// Passkeys, the network credential: WebAuthn registration and sign-in through @simplewebauthn/server.
// Discoverable credentials with user verification, so a passkey alone is two factors (loa2). Each
// ceremony's challenge lives in the short-lived store under a key the caller binds to its context
// (an enrolment, an interaction) and is consumed on first use.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import type { PasskeyRecord, PasskeyRepository, ShortLivedStore } from '../../adapters/types.ts';
import type { Account } from './accounts.ts';

const CEREMONY_SECONDS = 300;
const MAX_PASSKEYS = 10;

export interface RelyingParty {
  /** The issuer's host name. */
  id: string;
  /** The issuer's origin. */
  origin: string;
  name: string;
}

/** The outer shape of a browser's WebAuthn answer; @simplewebauthn/server checks the rest field by field. */
export const webauthnResponse = z.object({
  id: z.string().min(1).max(1024),
  rawId: z.string(),
  type: z.literal('public-key'),
  response: z.record(z.string(), z.unknown()),
}).passthrough();

/** The WebAuthn user handle is the account id's bytes: stable and free of personal data. */
function userHandle(accountId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(accountId, 'utf8'));
}

export class Passkeys {
  readonly #repository: PasskeyRepository;
  readonly #store: ShortLivedStore;
  readonly #rp: RelyingParty;

  constructor(repository: PasskeyRepository, store: ShortLivedStore, rp: RelyingParty) {
    this.#repository = repository;
    this.#store = store;
    this.#rp = rp;
  }

  async registrationOptions(ceremony: string, account: Account): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const accountId = account.id;
    // What the authenticator lists: the service and the end of the personal network number, never a name.
    const label = `Cyber ID ·${account.identity.networkNumber.slice(-6)}`;
    const existing = await this.#repository.listByAccount(accountId);
    const options = await generateRegistrationOptions({
      rpName: this.#rp.name,
      rpID: this.#rp.id,
      userID: userHandle(accountId),
      userName: label,
      userDisplayName: label,
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
    });
    await this.#store.set(`webauthn:register:${ceremony}`, { challenge: options.challenge, accountId }, CEREMONY_SECONDS);
    return options;
  }

  /** Verifies the browser's answer and stores the passkey; false when it does not verify or the ceremony expired. */
  async register(ceremony: string, accountId: string, response: RegistrationResponseJSON, name: string): Promise<boolean> {
    const started = await this.#consume<{ challenge: string; accountId: string }>(`webauthn:register:${ceremony}`);
    if (!started || started.accountId !== accountId) return false;
    if ((await this.#repository.listByAccount(accountId)).length >= MAX_PASSKEYS) return false;
    const verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: started.challenge,
      expectedOrigin: this.#rp.origin,
      expectedRPID: this.#rp.id,
      requireUserVerification: true,
    }).catch(() => undefined);
    if (!verification?.verified) return false;
    const { credential } = verification.registrationInfo;
    await this.#repository.insert({
      id: credential.id,
      accountId,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: credential.transports ?? [],
      name,
      createdAt: Date.now(),
      lastUsedAt: null,
    });
    return true;
  }

  async authenticationOptions(ceremony: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({ rpID: this.#rp.id, userVerification: 'required', allowCredentials: [] });
    await this.#store.set(`webauthn:sign-in:${ceremony}`, { challenge: options.challenge }, CEREMONY_SECONDS);
    return options;
  }

  /** The account id the passkey belongs to, or undefined when it does not verify. */
  async authenticate(ceremony: string, response: AuthenticationResponseJSON): Promise<string | undefined> {
    const started = await this.#consume<{ challenge: string }>(`webauthn:sign-in:${ceremony}`);
    if (!started) return undefined;
    const passkey = await this.#repository.findById(response.id);
    if (!passkey) return undefined;
    const verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: started.challenge,
      expectedOrigin: this.#rp.origin,
      expectedRPID: this.#rp.id,
      credential: {
        id: passkey.id,
        publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
        counter: passkey.counter,
        transports: passkey.transports,
      },
      requireUserVerification: true,
    }).catch(() => undefined);
    if (!verification?.verified) return undefined;
    // The user handle, when the authenticator returns one, must be this passkey's account.
    const handle = response.response.userHandle;
    if (handle && Buffer.from(handle, 'base64url').toString('utf8') !== passkey.accountId) return undefined;
    await this.#repository.recordUse(passkey.id, verification.authenticationInfo.newCounter, Date.now());
    return passkey.accountId;
  }

  /** The account's passkeys, oldest first (what the portal lists). */
  list(accountId: string): Promise<PasskeyRecord[]> {
    return this.#repository.listByAccount(accountId);
  }

  rename(accountId: string, id: string, name: string): Promise<boolean> {
    return this.#repository.rename(accountId, id, name);
  }

  remove(accountId: string, id: string): Promise<boolean> {
    return this.#repository.remove(accountId, id);
  }

  removeAllOf(accountId: string): Promise<void> {
    return this.#repository.removeAllOf(accountId);
  }

  async #consume<T>(key: string): Promise<T | undefined> {
    const value = await this.#store.get<T>(key);
    return value && (await this.#store.delete(key)) ? value : undefined;
  }
}
