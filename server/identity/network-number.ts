// Network numbers (DESIGN §2, specified in docs/network-number.md): 128-bit values written as 26 Crockford
// base32 digits followed by Crockford's mod-37 check symbol.
import { createHmac, randomBytes, type KeyObject } from 'node:crypto';

const DIGITS = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CHECK_SYMBOLS = `${DIGITS}*~$=U`;
const BODY_LENGTH = 26; // 26 × 5 = 130 bits, enough for the 128-bit value
const VALUE_BYTES = 16;
const DERIVATION_LABEL = 'cyberid/platform-network-number/v1';

export const NETWORK_NUMBER_LENGTH = BODY_LENGTH + 1;

function checkSymbol(value: bigint): string {
  return CHECK_SYMBOLS[Number(value % 37n)]!;
}

/** Encodes a 16-byte value as a network number. */
export function encodeNetworkNumber(bytes: Uint8Array): string {
  if (bytes.length !== VALUE_BYTES) throw new RangeError(`a network number encodes exactly ${VALUE_BYTES} bytes`);
  const value = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  let body = '';
  for (let rest = value, i = 0; i < BODY_LENGTH; i += 1, rest >>= 5n) {
    body = DIGITS[Number(rest & 31n)]! + body;
  }
  return body + checkSymbol(value);
}

/**
 * Reads a network number as a person might type it: any case, with spaces or hyphens, and with the
 * letters Crockford treats as look-alikes (I and L for 1, O for 0). Returns the canonical form, or
 * undefined when the input is not a network number or its check symbol does not match.
 */
export function parseNetworkNumber(input: string): string | undefined {
  const normalised = input.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (normalised.length !== NETWORK_NUMBER_LENGTH) return undefined;
  const body = normalised.slice(0, BODY_LENGTH);
  let value = 0n;
  for (const char of body) {
    const digit = DIGITS.indexOf(char);
    if (digit < 0) return undefined;
    value = (value << 5n) | BigInt(digit);
  }
  if (value >> 128n !== 0n) return undefined;
  return checkSymbol(value) === normalised.at(-1) ? normalised : undefined;
}

/** Groups of four for reading aloud or copying by hand: XXXX-XXXX-…-XXX. */
export function formatNetworkNumber(networkNumber: string): string {
  return networkNumber.match(/.{1,4}/g)!.join('-');
}

/** A new personal network number: 128 random bits. */
export function newPersonalNetworkNumber(): string {
  return encodeNetworkNumber(randomBytes(VALUE_BYTES));
}

/**
 * The platform network number (`sub`) of an account within a sector: HMAC-SHA-256 keyed with the
 * pairwise secret over (label, sector, account id), truncated to 128 bits. The NUL separators keep the
 * input unambiguous (neither a host nor an account id contains NUL).
 */
export function derivePlatformNetworkNumber(pairwiseSecret: Buffer | KeyObject, sector: string, accountId: string): string {
  const mac = createHmac('sha256', pairwiseSecret).update(`${DERIVATION_LABEL}\0${sector}\0${accountId}`).digest();
  return encodeNetworkNumber(mac.subarray(0, VALUE_BYTES));
}
