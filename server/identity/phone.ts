/**
 * A phone number in E.164 form, or undefined. Mainland mobile numbers may be typed without +86;
 * numbers of other regions (Hong Kong, Macao, Taiwan, abroad) need their country code.
 */
export function normalisePhone(input: string): string | undefined {
  const compact = input.replace(/[\s()-]/g, '');
  if (/^1[3-9]\d{9}$/.test(compact)) return `+86${compact}`;
  if (/^\+861[3-9]\d{9}$/.test(compact)) return compact;
  if (/^\+(?!86)[1-9]\d{6,14}$/.test(compact)) return compact;
  return undefined;
}
