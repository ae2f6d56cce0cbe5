// How identity data rests in storage: attributes sealed with AES-256-GCM, and exact-match lookups
// (document number, phone, network number) by keyed hash so the store never holds them in the clear.
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals JSON values; the key id travels beside the ciphertext so keys can be rotated later. */
export class AttributeCipher {
  readonly keyId: string;
  /** Prepared once: a Buffer key is converted to a KeyObject on every cipher otherwise. */
  readonly #key: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('the attribute encryption key must be 32 bytes');
    this.#key = createSecretKey(key);
    this.keyId = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  }

  /** `context` (the record id) is authenticated but not stored, so a sealed value cannot be moved to another record. */
  seal(value: unknown, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#key, iv).setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return ['v1', this.keyId, iv.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open(sealed: string, context: string): unknown {
    const [version, keyId, iv, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !data) throw new Error('unrecognised sealed value');
    if (keyId !== this.keyId) throw new Error(`sealed with key ${keyId}, which this process does not hold`);
    const bytes = Buffer.from(data, 'base64url');
    const decipher = createDecipheriv(ALGORITHM, this.#key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES }).setAAD(Buffer.from(context));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)), decipher.final()]);
    return JSON.parse(plain.toString('utf8'));
  }
}

export type LookupKind = 'document' | 'phone' | 'network-number' | 'person' | 'one-time-code' | 'identifier';

/** HMAC-SHA-256 under the lookup secret; the kind is part of the input so equal strings of different kinds never collide. */
export class LookupHasher {
  readonly #secret: KeyObject;

  constructor(secret: Buffer) {
    this.#secret = createSecretKey(secret);
  }

  hash(kind: LookupKind, value: string): string {
    return createHmac('sha256', this.#secret).update(`${kind}\0${value}`).digest('base64url');
  }
}
