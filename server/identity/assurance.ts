// Levels of assurance (DESIGN §4): which factors reach which level, what a platform requires, and the
// RFC 8176 `amr` values that tell a platform how the person signed in.
export const ACR_VALUES = ['cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3'] as const;
export type Acr = (typeof ACR_VALUES)[number];

export const LOA1: Acr = 'cyberid:loa1';
export const LOA2: Acr = 'cyberid:loa2';
export const LOA3: Acr = 'cyberid:loa3';

/**
 * A factor proven during sign-in (RFC 8176 names): a password, a one-time code by SMS, a passkey with
 * user verification (proof of possession), approval from a signed-in second device (multiple-channel),
 * and a face match against the registry photo.
 */
export type Factor = 'pwd' | 'sms' | 'pop' | 'mca' | 'face';

/** The `amr` value of a scan-to-sign-in approval from a second device. */
export const SCAN_AMR = 'mca';

/**
 * Whether a sign-in's factors were all proven on the device that holds the session: a password and SMS code, or a
 * passkey (origin-bound). A scan approval never counts: the QR code and its number can be relayed to someone
 * else's phone, so a scan session may use platforms but not change credentials or see the network number.
 */
export function provenOnThisDevice(amr: readonly string[]): boolean {
  if (amr.includes(SCAN_AMR)) return false;
  return amr.includes('pop') || (amr.includes('pwd') && amr.includes('sms'));
}

export function isAcr(value: unknown): value is Acr {
  return (ACR_VALUES as readonly unknown[]).includes(value);
}

export function rank(acr: Acr): number {
  return ACR_VALUES.indexOf(acr);
}

export function atLeast(acr: Acr, required: Acr): boolean {
  return rank(acr) >= rank(required);
}

/** The level a set of factors reaches: two independent factors make loa2, plus a face match loa3. */
export function acrOf(factors: ReadonlySet<Factor>): Acr | undefined {
  const twoFactors = factors.has('pop') || factors.has('mca') || (factors.has('pwd') && factors.has('sms'));
  if (twoFactors) return factors.has('face') ? LOA3 : LOA2;
  return factors.has('pwd') ? LOA1 : undefined;
}

/** `amr` in a stable order, with `mfa` whenever more than one factor was used. */
export function amrOf(factors: ReadonlySet<Factor>): string[] {
  const order: Factor[] = ['pwd', 'sms', 'pop', 'mca', 'face'];
  const amr: string[] = order.filter((factor) => factors.has(factor));
  if (factors.has('sms')) amr.splice(amr.indexOf('sms'), 0, 'otp');
  const multiFactor = acrOf(factors) !== undefined && rank(acrOf(factors)!) >= rank(LOA2);
  return multiFactor ? [...amr, 'mfa'] : amr;
}

/** Factors recovered from a session's `amr` (a step-up continues from what the session already proved). */
export function factorsOf(amr: readonly string[] | undefined): Set<Factor> {
  const known: readonly string[] = ['pwd', 'sms', 'pop', 'mca', 'face'];
  return new Set((amr ?? []).filter((value): value is Factor => known.includes(value)));
}

export interface AcrRequest {
  /** The platform's minimum in operator policy. */
  policyMinimum: Acr;
  /** `acr_values` of the request, space-separated. */
  acrValues?: string | undefined;
  /** `claims.id_token.acr` of the request. */
  claimsAcr?: { essential?: boolean; value?: unknown; values?: unknown } | undefined;
}

function askedLevels(acrValues: string | undefined, claimsAcr: AcrRequest['claimsAcr']): Acr[] {
  return [
    ...(acrValues?.split(' ') ?? []),
    ...(claimsAcr?.value !== undefined ? [claimsAcr.value] : []),
    ...(Array.isArray(claimsAcr?.values) ? claimsAcr.values : []),
  ].filter(isAcr).sort((a, b) => rank(a) - rank(b));
}

/**
 * What this request requires: the lowest level the platform asked for (any listed level is acceptable)
 * that is not below its policy minimum; the policy minimum when it asked for none, or only for lower ones.
 */
export function requiredAcr({ policyMinimum, acrValues, claimsAcr }: AcrRequest): Acr {
  return askedLevels(acrValues, claimsAcr).find((acr) => atLeast(acr, policyMinimum)) ?? policyMinimum;
}

/** A platform that made acr essential with only levels below its own policy minimum can never be answered. */
export function essentialAcrBelowPolicy({ policyMinimum, claimsAcr }: AcrRequest): boolean {
  return !!claimsAcr?.essential && !askedLevels(undefined, claimsAcr).some((acr) => atLeast(acr, policyMinimum));
}

/**
 * The `acr` to state for a sign-in that reached `reached`. A platform that made acr essential with exact
 * values gets the highest of its values that the sign-in satisfies and its policy allows (loa3 also
 * satisfies loa2), so the ID token names a level it asked for and that is true; otherwise the level reached.
 */
export function statedAcr(reached: Acr, { policyMinimum, claimsAcr }: AcrRequest): Acr {
  if (!claimsAcr?.essential) return reached;
  const satisfied = askedLevels(undefined, claimsAcr).filter((acr) => atLeast(reached, acr) && atLeast(acr, policyMinimum));
  return satisfied.at(-1) ?? reached;
}
