// The six identity documents the scheme accepts, and the format check of each number that runs before the
// registry is asked. The 18-character numbers (resident ID card, HK/Macao/Taiwan residence permit, the 2023
// foreign permanent resident card) carry a birth date and an ISO 7064 MOD 11-2 check character.
import { todayInChina } from './claims.ts';

export const DOCUMENT_TYPES = [
  'resident_id_card',
  'hmt_residence_permit',
  'hk_macao_travel_permit',
  'taiwan_travel_permit',
  'foreign_permanent_resident_card',
  'overseas_chinese_passport',
] as const;

export type DocumentType = (typeof DOCUMENT_TYPES)[number];

export interface IdentityDocument {
  type: DocumentType;
  number: string;
}

export type FormatProblem = 'format' | 'region' | 'birthdate' | 'check_character';

export type FormatCheck = { ok: true; number: string } | { ok: false; problem: FormatProblem };

// First two digits of a mainland administrative division code (GB/T 2260 provinces).
const MAINLAND_PROVINCES = new Set([
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65',
]);
// Residence permits for Hong Kong, Macao and Taiwan residents use these region codes.
const HMT_REGIONS = new Set(['810000', '820000', '830000']);

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS = '10X98765432';

/** ISO 7064 MOD 11-2 check character of the first 17 digits. */
export function mod11_2CheckCharacter(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARACTERS[sum % 11]!;
}

/** A real calendar date, not after today in China and not before 1900. */
function isPlausibleBirthdate(yyyymmdd: string, today: Date): boolean {
  const year = Number(yyyymmdd.slice(0, 4));
  const month = Number(yyyymmdd.slice(4, 6));
  const day = Number(yyyymmdd.slice(6, 8));
  const date = new Date(Date.UTC(year, month - 1, day));
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return real && year >= 1900 && yyyymmdd <= todayInChina(today).replaceAll('-', '');
}

function eighteenCharacter(number: string, regionOk: (region: string) => boolean, birthdateAt: number, today: Date): FormatCheck {
  if (!/^\d{17}[\dX]$/.test(number)) return { ok: false, problem: 'format' };
  if (!regionOk(number)) return { ok: false, problem: 'region' };
  if (!isPlausibleBirthdate(number.slice(birthdateAt, birthdateAt + 8), today)) return { ok: false, problem: 'birthdate' };
  if (mod11_2CheckCharacter(number.slice(0, 17)) !== number[17]) return { ok: false, problem: 'check_character' };
  return { ok: true, number };
}

function pattern(number: string, expression: RegExp): FormatCheck {
  return expression.test(number) ? { ok: true, number } : { ok: false, problem: 'format' };
}

/**
 * Checks a document number's format and returns it normalised (upper case, no spaces). Region codes are
 * checked to the province, and county digits must not be zero (province-level codes are not issued on cards).
 */
export function checkDocumentNumber(type: DocumentType, given: string, today = new Date()): FormatCheck {
  const number = given.replace(/[\s-]/g, '').toUpperCase();
  switch (type) {
    case 'resident_id_card':
      return eighteenCharacter(number, (n) => MAINLAND_PROVINCES.has(n.slice(0, 2)) && n.slice(2, 6) !== '0000', 6, today);
    case 'hmt_residence_permit':
      return eighteenCharacter(number, (n) => HMT_REGIONS.has(n.slice(0, 6)), 6, today);
    case 'foreign_permanent_resident_card':
      // 2023 card: 9, province of issue, ISO 3166 numeric nationality, birth date, sequence, check character.
      if (number.length === 18) return eighteenCharacter(number, (n) => n[0] === '9' && MAINLAND_PROVINCES.has(n.slice(1, 3)), 6, today);
      // 2017 card: ISO 3166 alpha-3 nationality, province, birth date (YYMMDD), sequence and check digit.
      return pattern(number, /^[A-Z]{3}\d{12}$/);
    case 'hk_macao_travel_permit':
      // H (Hong Kong) or M (Macao) and eight digits; the two-digit issue count printed after them is optional.
      return pattern(number, /^[HM]\d{8}(\d{2})?$/);
    case 'taiwan_travel_permit':
      return pattern(number, /^\d{8}(\d{2})?$/);
    case 'overseas_chinese_passport':
      // Ordinary passports: E and eight digits, E, a letter and seven digits, or the older G and eight digits.
      return pattern(number, /^(E[\dA-HJ-NP-Z]\d{7}|G\d{8})$/);
  }
}
