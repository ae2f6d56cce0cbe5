// The claim table of DESIGN §3: which scope releases which claims, and how each value is computed from a
// person's verified identity. Labels and purposes shown to people live in the message catalogues.
import type { Identity } from './accounts.ts';

export const SCOPE_CLAIMS = {
  openid: ['sub'],
  verified: ['identity_verified', 'identity_verified_at', 'document_type'],
  age: ['age_over_14', 'age_over_18'],
  profile: ['name', 'birthdate', 'gender'],
  phone: ['phone_number', 'phone_number_verified'],
  id_document: ['id_document_number'],
} as const satisfies Record<string, readonly string[]>;

export type ClaimScope = keyof typeof SCOPE_CLAIMS;
export type ClaimName = (typeof SCOPE_CLAIMS)[ClaimScope][number];

/** Scopes only an operator can grant to a platform, with a recorded legal basis shown on the consent screen. */
export const RESTRICTED_SCOPES: ReadonlySet<string> = new Set<ClaimScope>(['id_document']);

/** Every scope a platform may ask for: the claim scopes plus offline_access (a refresh token). */
export const SUPPORTED_SCOPES = [...Object.keys(SCOPE_CLAIMS), 'offline_access'];

export const ALL_CLAIMS: readonly ClaimName[] = Object.values(SCOPE_CLAIMS).flat();

export function scopeOfClaim(claim: string): ClaimScope | undefined {
  return (Object.keys(SCOPE_CLAIMS) as ClaimScope[]).find((scope) => (SCOPE_CLAIMS[scope] as readonly string[]).includes(claim));
}

/** The claims a platform may ever receive: those of the scopes its operator allowed (client metadata `scope`). */
export function claimsOfScopes(scopes: readonly string[]): Set<ClaimName> {
  return new Set(scopes.flatMap((scope) => [...(SCOPE_CLAIMS[scope as ClaimScope] ?? [])]));
}

export function isClaimName(value: string): value is ClaimName {
  return (ALL_CLAIMS as readonly string[]).includes(value);
}

/** Completed years of age on `today` (a date in the person's calendar, YYYY-MM-DD). */
export function ageOn(birthdate: string, today: string): number {
  const [by, bm, bd] = birthdate.split('-').map(Number) as [number, number, number];
  const [ty, tm, td] = today.split('-').map(Number) as [number, number, number];
  return ty - by - (tm < bm || (tm === bm && td < bd) ? 1 : 0);
}

/** Today's date in China Standard Time, the calendar the registry's birth dates are written in. */
export function todayInChina(now = new Date()): string {
  return new Date(now.getTime() + 8 * 3600_000).toISOString().slice(0, 10);
}

/** "14:03": a moment's time of day in China Standard Time, as people here read a clock. */
export function chinaClock(epochMs: number): string {
  return new Date(epochMs + 8 * 3600_000).toISOString().slice(11, 16);
}

/** Every claim value of a person (except `sub`, which is the platform's pairwise number); oidc-provider masks it down to what was granted. */
export function claimValues(identity: Identity, now = new Date()): Record<Exclude<ClaimName, 'sub'>, unknown> {
  const age = ageOn(identity.birthdate, todayInChina(now));
  return {
    identity_verified: true,
    identity_verified_at: identity.verifiedAt,
    document_type: identity.documentType,
    age_over_14: age >= 14,
    age_over_18: age >= 18,
    name: identity.name,
    birthdate: identity.birthdate,
    gender: identity.gender,
    // Every phone on an account was verified by a one-time code at enrolment; a child may have none.
    phone_number: identity.phone ?? undefined,
    phone_number_verified: identity.phone ? true : undefined,
    id_document_number: identity.documentNumber,
  };
}
