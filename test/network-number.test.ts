// Network numbers (DESIGN §2, docs/network-number.md): encoding, check symbol, parsing, derivation.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  derivePlatformNetworkNumber, encodeNetworkNumber, formatNetworkNumber, NETWORK_NUMBER_LENGTH,
  newPersonalNetworkNumber, parseNetworkNumber,
} from '../server/identity/network-number.ts';

const DIGITS = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const FORMAT = /^[0-7][0-9A-HJKMNP-TV-Z]{25}[0-9A-HJKMNP-TV-Z*~$=U]$/;
const KEY = Buffer.alloc(32, 7);

describe('encoding', () => {
  it('writes 128 bits as 26 Crockford digits and a check symbol', () => {
    expect(encodeNetworkNumber(Buffer.alloc(16))).toBe(`${'0'.repeat(26)}0`);
    // 2^128 - 1 is 7 followed by 25 Z's in base 32 (3 + 125 bits); (2^128 - 1) mod 37 = 32 → '*'
    expect(encodeNetworkNumber(Buffer.alloc(16, 0xff))).toBe(`7${'Z'.repeat(25)}*`);
    expect(encodeNetworkNumber(Buffer.from('00000000000000000000000000000001', 'hex'))).toBe(`${'0'.repeat(25)}11`);
    for (let i = 0; i < 200; i += 1) expect(newPersonalNetworkNumber()).toMatch(FORMAT);
    expect(NETWORK_NUMBER_LENGTH).toBe(27);
  });

  it('refuses values that are not 16 bytes', () => {
    expect(() => encodeNetworkNumber(Buffer.alloc(15))).toThrow(RangeError);
  });

  it('groups by four for display, and parsing undoes it', () => {
    const number = newPersonalNetworkNumber();
    const shown = formatNetworkNumber(number);
    expect(shown).toMatch(/^(\w{4}-){6}\S{3}$/);
    expect(parseNetworkNumber(shown)).toBe(number);
  });
});

describe('parsing and the check symbol', () => {
  it('accepts lower case, spaces and the look-alike letters I, L and O', () => {
    const number = encodeNetworkNumber(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'));
    const typed = number.toLowerCase().replace(/1/g, 'l').replace(/0/g, 'o').replace(/(.{5})/g, '$1 ');
    expect(parseNetworkNumber(typed)).toBe(number);
  });

  it('rejects every single-character substitution and every adjacent transposition', () => {
    const number = newPersonalNetworkNumber();
    for (let position = 0; position < 26; position += 1) {
      for (const digit of DIGITS) {
        if (digit === number[position]) continue;
        const mistyped = number.slice(0, position) + digit + number.slice(position + 1);
        expect(parseNetworkNumber(mistyped)).toBeUndefined();
      }
      if (position < 25 && number[position] !== number[position + 1]) {
        const swapped = number.slice(0, position) + number[position + 1] + number[position] + number.slice(position + 2);
        expect(parseNetworkNumber(swapped)).toBeUndefined();
      }
    }
  });

  it('rejects wrong lengths, foreign characters and values above 128 bits', () => {
    const number = newPersonalNetworkNumber();
    expect(parseNetworkNumber(number.slice(1))).toBeUndefined();
    expect(parseNetworkNumber(`${number}0`)).toBeUndefined();
    expect(parseNetworkNumber(`${number.slice(0, 5)}U${number.slice(6)}`)).toBeUndefined(); // U is only a check symbol
    expect(parseNetworkNumber('13800138000')).toBeUndefined();
    const tooBig = `8${'0'.repeat(25)}`; // 8 × 32^25 = 2^128
    const check = '0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U'[Number((1n << 128n) % 37n)];
    expect(parseNetworkNumber(tooBig + check)).toBeUndefined();
  });
});

describe('platform network numbers (pairwise sub)', () => {
  const account = '3f1c2a9e-8d4b-4c1a-9e2f-7b6a5d4c3b2a';

  it('match the test vectors of docs/network-number.md', () => {
    expect(derivePlatformNetworkNumber(KEY, 'city.example', account)).toBe('7DQQBY23TBFPD93FWFWVEDNDWTD');
    expect(derivePlatformNetworkNumber(KEY, 'exams.example', account)).toBe('0VMH86SPGAP6MN1BH3HGDG2WN1$');
    expect(encodeNetworkNumber(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'))).toBe('014D2PF2DBSQQG28T5CY4TQKFFK');
  });

  it('are stable for the same key, sector and account, and well-formed', () => {
    const sub = derivePlatformNetworkNumber(KEY, 'city.example', account);
    expect(derivePlatformNetworkNumber(Buffer.from(KEY), 'city.example', account)).toBe(sub);
    expect(parseNetworkNumber(sub)).toBe(sub);
  });

  it('differ across sectors, accounts and pairwise keys', () => {
    const sub = derivePlatformNetworkNumber(KEY, 'city.example', account);
    expect(derivePlatformNetworkNumber(KEY, 'exams.example', account)).not.toBe(sub);
    expect(derivePlatformNetworkNumber(KEY, 'city.example', `${account}x`)).not.toBe(sub);
    expect(derivePlatformNetworkNumber(randomBytes(32), 'city.example', account)).not.toBe(sub);
  });

  it('cannot be confused by moving characters between sector and account', () => {
    expect(derivePlatformNetworkNumber(KEY, 'a.example', 'bc')).not.toBe(derivePlatformNetworkNumber(KEY, 'a.exampleb', 'c'));
  });
});
