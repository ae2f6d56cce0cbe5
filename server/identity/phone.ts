/**
 * A phone number in E.164 form, or undefined. Mainland mobile numbers may be typed without +86;
 * numbers of other regions (Hong Kong, Macao, Taiwan, abroad) need their country code. This only parses
 * (sign-in identifiers too): whether Cyber ID may text a number is `smsAllowed`.
 */
export function normalisePhone(input: string): string | undefined {
  const compact = input.replace(/[\s()-]/g, '');
  if (/^1[3-9]\d{9}$/.test(compact)) return `+86${compact}`;
  if (/^\+861[3-9]\d{9}$/.test(compact)) return compact;
  if (/^\+(?!86)[1-9]\d{6,14}$/.test(compact)) return compact;
  return undefined;
}

/** Country calling codes without + ("86", "852"), as `CYBERID_SMS_COUNTRY_CODES` lists them. */
export type SmsCountryCodes = readonly string[];

const E164 = /^\+[1-9]\d{6,14}$/;
const MAINLAND_MOBILE = /^\+861[3-9]\d{9}$/;

/**
 * Whether Cyber ID may send an SMS to `e164`: only to the countries the operator allows (every SMS costs money, and
 * SMS pumping aims at expensive foreign numbers), and in mainland China only to mobile numbers. Calling codes are
 * prefix-free, so the code is the one the number starts with.
 */
export function smsAllowed(e164: string, countryCodes: SmsCountryCodes): boolean {
  if (!E164.test(e164)) return false;
  const code = countryCodes.find((c) => e164.startsWith(`+${c}`));
  if (code === undefined) return false;
  return code !== '86' || MAINLAND_MOBILE.test(e164);
}

/** "+86" or "+86 / +852 / +853", for messages that say which numbers are accepted. */
export function formatCountryCodes(countryCodes: SmsCountryCodes): string {
  return countryCodes.map((code) => `+${code}`).join(' / ');
}
