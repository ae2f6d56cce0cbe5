// What a new password must be: long enough, not on a common-password list, not built from the person's own
// data, and strong by zxcvbn's estimate (score 3: "safely unguessable"). zxcvbn-ts does the matching,
// including l33t, reversed, repeated and keyboard-pattern variants of list entries.
import { readFileSync } from 'node:fs';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 128;
const MIN_SCORE = 3;

const chinese = (JSON.parse(readFileSync(new URL('./data/common-passwords-zh.json', import.meta.url), 'utf8')) as { passwords: string[] }).passwords;
const COMMON_LISTS = new Set(['passwords-common', 'passwords-zh']);

const zxcvbn = new ZxcvbnFactory({
  dictionary: { ...dictionary, 'passwords-zh': chinese },
  graphs: adjacencyGraphs,
});

export type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'personal' | 'weak';

/** `personal` are the person's own strings (phone, birth date, document number, name) a password must not lean on. */
export function passwordProblem(password: string, personal: string[]): PasswordProblem | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return 'too_short';
  if ([...password].length > MAX_PASSWORD_LENGTH) return 'too_long';
  const result = zxcvbn.check(password, personal.filter(Boolean));
  const dictionaries = result.sequence.map((match) => (match as { dictionaryName?: string }).dictionaryName);
  if (dictionaries.includes('userInputs')) return 'personal';
  if (result.score >= MIN_SCORE) return undefined;
  return dictionaries.some((name) => name && COMMON_LISTS.has(name)) ? 'common' : 'weak';
}

/** The person's own strings a password is checked against, in the forms people type them. */
export function personalStrings(person: { phone: string | null; birthdate: string; documentNumber: string; name: string }): string[] {
  return [person.phone ?? '', person.phone?.replace(/^\+86/, '') ?? '', person.birthdate, person.birthdate.replaceAll('-', ''), person.documentNumber, person.name];
}
