// What the consent screen offers for a request, and how ticks become granted and rejected claims.
import { describe, expect, it } from '@jest/globals';
import { buildConsentOffer, lockedOn, preTicked, readAnswer } from '../interactions/consent.ts';

const NO_POLICY = { required_claims: [], purposes: {} };
const exams = {
  allowedScopes: ['openid', 'verified', 'id_document'],
  policy: { required_claims: ['identity_verified' as const, 'id_document_number' as const], purposes: {} },
};

describe('the consent offer', () => {
  it('lists the claims of each requested scope, once, without sub', () => {
    const offer = buildConsentOffer({ missingOIDCScope: ['openid', 'age', 'offline_access'], missingOIDCClaims: ['age_over_18'] }, { allowedScopes: ['openid', 'age', 'offline_access'], policy: NO_POLICY });
    expect(offer.lines.map((l) => l.claim)).toEqual(['age_over_14', 'age_over_18']);
    expect(offer.scopes).toEqual(['openid', 'age']);
    expect(offer.offlineAccess).toBe(true);
  });

  it('offers a claim asked for in the claims parameter only if the platform may have its scope', () => {
    const offer = buildConsentOffer({ missingOIDCScope: ['openid'], missingOIDCClaims: ['age_over_18', 'id_document_number', 'email'] }, { allowedScopes: ['openid', 'age'], policy: NO_POLICY });
    expect(offer.lines.map((l) => l.claim)).toEqual(['age_over_18']);
    expect(offer.unsupported).toEqual(['id_document_number', 'email']);
  });

  it('marks required, restricted and pre-ticked lines from policy', () => {
    const offer = buildConsentOffer({ missingOIDCScope: ['openid', 'verified', 'id_document'] }, exams);
    const byClaim = Object.fromEntries(offer.lines.map((l) => [l.claim, l]));
    expect(lockedOn(byClaim.identity_verified!)).toBe(true);
    expect(preTicked(byClaim.document_type!)).toBe(true);
    expect(lockedOn(byClaim.document_type!)).toBe(false);
    expect(byClaim.id_document_number).toMatchObject({ required: true, restricted: true });
    expect(lockedOn(byClaim.id_document_number!)).toBe(false);
    expect(preTicked(byClaim.id_document_number!)).toBe(false);
  });
});

describe('reading the answer', () => {
  const offer = buildConsentOffer({ missingOIDCScope: ['openid', 'verified', 'id_document'] }, exams);

  it('grants locked and ticked claims and rejects the rest', () => {
    expect(readAnswer(offer, new Set(['id_document_number']))).toEqual({
      ok: true,
      granted: ['identity_verified', 'id_document_number'],
      rejected: ['identity_verified_at', 'document_type'],
    });
  });

  it('refuses an answer without a required restricted claim', () => {
    expect(readAnswer(offer, new Set(['document_type']))).toEqual({ ok: false, missing: ['id_document_number'] });
  });

  it('ignores ticks for claims that were not offered', () => {
    const answer = readAnswer(offer, new Set(['id_document_number', 'name', 'birthdate']));
    expect(answer.ok && answer.granted).toEqual(['identity_verified', 'id_document_number']);
  });
});
