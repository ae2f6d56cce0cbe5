// What the consent screen offers and how the person's answer becomes a Grant. Pure functions over the
// interaction's missing scopes/claims and the platform's operator policy; the routes only wire them up.
import type { Grant } from 'oidc-provider';
import { isClaimName, RESTRICTED_SCOPES, SCOPE_CLAIMS, scopeOfClaim, type ClaimName, type ClaimScope } from '../server/identity/claims.ts';
import type { ClientPolicy, LocalisedText } from '../server/policy.ts';

export interface ClaimLine {
  claim: ClaimName;
  required: boolean;
  /** Restricted claims are never pre-ticked and need an explicit tick even when required. */
  restricted: boolean;
  /** The platform's own purpose, when the operator recorded one; else the catalogue's generic text. */
  purpose: LocalisedText | undefined;
}

export interface ConsentOffer {
  /** OIDC scopes recorded as decided (granted, with individual claims possibly rejected). */
  scopes: string[];
  lines: ClaimLine[];
  /** offline_access was asked for: a line of its own, optional. */
  offlineAccess: boolean;
  /**
   * Claims asked for through the `claims` parameter that Cyber ID does not have (e.g. `email`): recorded as
   * refused without asking, so they do not bring the consent page back. (Cyber ID claims outside the
   * platform's policy never get this far: the authorization request is refused.)
   */
  unsupported: string[];
}

export interface ConsentRequest {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
}

export interface ConsentClient {
  /** The scopes the operator allowed this platform (client metadata `scope`). */
  allowedScopes: string[];
  policy: Pick<ClientPolicy, 'required_claims' | 'purposes'>;
}

export function buildConsentOffer(request: ConsentRequest, client: ConsentClient): ConsentOffer {
  const requestedScopes = request.missingOIDCScope ?? [];
  const scopes = requestedScopes.filter((scope) => scope !== 'offline_access');
  const claims = new Set<ClaimName>(scopes.flatMap((scope) => [...(SCOPE_CLAIMS[scope as ClaimScope] ?? [])]));
  const unsupported: string[] = [];
  for (const claim of request.missingOIDCClaims ?? []) {
    const scope = isClaimName(claim) ? scopeOfClaim(claim) : undefined;
    if (scope && client.allowedScopes.includes(scope)) claims.add(claim as ClaimName);
    else unsupported.push(claim);
  }
  claims.delete('sub'); // always released; shown as its own line
  const lines = [...claims].map((claim) => ({
    claim,
    required: client.policy.required_claims.includes(claim),
    restricted: RESTRICTED_SCOPES.has(scopeOfClaim(claim)!),
    purpose: client.policy.purposes[claim],
  }));
  return { scopes, lines, offlineAccess: requestedScopes.includes('offline_access'), unsupported };
}

/** True when the line starts ticked: required ones and optional ones the person may untick, never restricted ones. */
export function preTicked(line: ClaimLine): boolean {
  return !line.restricted;
}

/** Required lines that are locked on (the person can only refuse the whole request to avoid them). */
export function lockedOn(line: ClaimLine): boolean {
  return line.required && !line.restricted;
}

export type ConsentAnswer = { ok: true; granted: ClaimName[]; rejected: ClaimName[] } | { ok: false; missing: ClaimName[] };

/** Turns the ticked boxes into granted and rejected claims; a required restricted claim left unticked is an error. */
export function readAnswer(offer: ConsentOffer, ticked: ReadonlySet<string>): ConsentAnswer {
  const granted: ClaimName[] = [];
  const rejected: ClaimName[] = [];
  const missing: ClaimName[] = [];
  for (const line of offer.lines) {
    if (lockedOn(line) || ticked.has(line.claim)) granted.push(line.claim);
    else if (line.required) missing.push(line.claim);
    else rejected.push(line.claim);
  }
  return missing.length ? { ok: false, missing } : { ok: true, granted, rejected };
}

/**
 * Records the decision on the Grant. A scope counts as granted when at least one of its claims is (openid
 * always); a scope whose claims were all refused is recorded as refused, so the token response's `scope`
 * tells the platform the truth. The newest answer wins over an earlier refusal of the same claim or scope.
 */
export function recordDecision(grant: Grant, offer: ConsentOffer, answer: { granted: ClaimName[]; rejected: ClaimName[] }, keepOffline: boolean): void {
  const granted = new Set<string>(answer.granted);
  const grantedScopes = offer.scopes.filter((scope) => scope === 'openid' || (SCOPE_CLAIMS[scope as ClaimScope] ?? []).some((claim) => granted.has(claim)));
  const refusedScopes = offer.scopes.filter((scope) => !grantedScopes.includes(scope));
  if (offer.offlineAccess) (keepOffline ? grantedScopes : refusedScopes).push('offline_access');

  forgetRefusals(grant, grantedScopes, answer.granted);
  if (grantedScopes.length) grant.addOIDCScope(grantedScopes.join(' '));
  if (refusedScopes.length) grant.rejectOIDCScope(refusedScopes.join(' '));
  if (answer.granted.length) grant.addOIDCClaims(answer.granted);
  const rejected = [...answer.rejected, ...offer.unsupported];
  if (rejected.length) grant.rejectOIDCClaims(rejected);
}

/** oidc-provider's Grant can add refusals but not withdraw them; its `rejected` record is plain payload. */
function forgetRefusals(grant: Grant, scopes: string[], claims: string[]): void {
  const rejected = (grant as unknown as { rejected?: { openid?: { scope?: string; claims?: string[] } } }).rejected?.openid;
  if (!rejected) return;
  if (rejected.scope) rejected.scope = rejected.scope.split(' ').filter((scope) => !scopes.includes(scope)).join(' ');
  if (rejected.claims) rejected.claims = rejected.claims.filter((claim) => !claims.includes(claim));
}
