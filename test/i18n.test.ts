// Every string on every page exists in both languages.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { catalogues } from '../interactions/i18n.ts';
import type { Ending, Refusal } from '../server/enrol/enrolment.ts';
import { ALL_CLAIMS } from '../server/identity/claims.ts';
import { DOCUMENT_TYPES } from '../server/identity/documents.ts';
import { SIMULATED_SUBJECTS } from '../server/identity/face.ts';

// Records over the union types, so the compiler insists on every refusal and ending having an entry.
const REFUSALS: Record<Refusal['code'], true> = {
  wrong_step: true, invalid_input: true, document_format: true, document_region: true, document_birthdate: true,
  document_check_character: true, registry_mismatch: true, document_expired: true, document_revoked: true, not_under_14: true,
  not_guardian: true, liveness_failed: true, face_mismatch: true, phone_invalid: true, phone_not_allowed: true, phone_taken: true, code_cool_down: true,
  code_wrong: true, code_expired: true, code_exhausted: true, password_too_short: true, password_too_long: true,
  password_common: true, password_personal: true, password_weak: true, phone_required: true,
};
const ENDINGS: Record<Ending | 'expired', true> = { under_14: true, already_enrolled: true, too_many_document_attempts: true, face_failed: true, expired: true };
const FORM_FIELDS = ['document_type', 'document_number', 'name', 'birthdate', 'expires_on', 'subject', 'phone', 'code', 'password', 'confirm', 'main'];

const VIEWS = new URL('../interactions/views/', import.meta.url);

describe('message catalogues', () => {
  it('have the same keys in zh-CN and en, and no empty message', () => {
    expect(Object.keys(catalogues['zh-CN']).sort()).toEqual(Object.keys(catalogues.en).sort());
    for (const catalogue of Object.values(catalogues)) {
      for (const message of Object.values(catalogue)) expect(message.trim()).not.toBe('');
    }
  });

  it('use the same placeholders in both languages', () => {
    for (const [key, english] of Object.entries(catalogues.en)) {
      const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect([key, names(catalogues['zh-CN'][key]!)]).toEqual([key, names(english)]);
    }
  });

  it('hold every key the templates use literally, and a label and purpose for every claim', () => {
    const used = new Set<string>();
    for (const file of readdirSync(VIEWS)) {
      const template = readFileSync(new URL(file, VIEWS), 'utf8');
      for (const match of template.matchAll(/it\.t\('([\w.]+)'/g)) used.add(match[1]!);
    }
    // Keys the route code hands to the templates (field errors, error pages).
    for (const folder of ['../interactions/', '../server/enrol/', '../server/recovery/', '../server/portal/']) {
      for (const file of readdirSync(new URL(folder, import.meta.url)).filter((f) => f.endsWith('.ts'))) {
        const source = readFileSync(new URL(`${folder}${file}`, import.meta.url), 'utf8');
        for (const match of source.matchAll(/(?<!event: )'((?:login|consent|error|enrol|guardian|sms)\.[\w.]+)'/g)) used.add(match[1]!);
      }
    }
    for (const claim of ALL_CLAIMS) used.add(`claim.${claim}.label`).add(`claim.${claim}.purpose`);
    // Keys built from values: refusals, endings, document kinds, simulated camera subjects, form fields.
    for (const code of Object.keys(REFUSALS)) used.add(`enrol.error.${code}`);
    for (const ending of Object.keys(ENDINGS)) used.add(`enrol.ended.${ending}`).add(`enrol.ended.${ending}_hint`);
    for (const type of DOCUMENT_TYPES) used.add(`document.${type}`);
    for (const subject of SIMULATED_SUBJECTS) used.add(`enrol.face.subject.${subject}`);
    for (const field of FORM_FIELDS) used.add(`enrol.error.invalid.${field}`);
    for (const decision of ['approved', 'declined', 'not_pending']) used.add(`guardian.notice.${decision}`);
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((key) => !(key in catalogues.en) || !(key in catalogues['zh-CN']));
    expect(missing).toEqual([]);
  });
});
