// The shapes of enrolment input, shared by the web pages and the JSON API.
import { z } from 'zod';
import type { Translate } from '../../interactions/i18n.ts';
import { DOCUMENT_TYPES } from '../identity/documents.ts';
import { webauthnResponse } from '../identity/passkeys.ts';

export const documentForm = z.object({
  document_type: z.enum(DOCUMENT_TYPES),
  document_number: z.string().trim().min(1).max(32),
  name: z.string().trim().min(1).max(100),
  birthdate: z.iso.date(),
  expires_on: z.iso.date(),
});

export const passkeyForm = z.object({
  response: webauthnResponse,
  name: z.string().trim().min(1).max(40).default('Passkey'),
});

/**
 * The enrolment SMS, in the language of whoever typed the number: the code, or for a number that already has a
 * Cyber ID a notice that someone tried to enrol with it and where its owner can recover their account.
 */
export function enrolmentSms(t: Translate, recoverUrl: string): { code: (code: string) => string; phoneInUse: string } {
  return {
    code: (code) => t('sms.enrolment_code', { code, minutes: '5' }),
    phoneInUse: t('enrol.sms.phone_in_use', { recover: recoverUrl }),
  };
}
