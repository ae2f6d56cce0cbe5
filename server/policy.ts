// Operator policy carried by every platform client (client metadata `cyberid_policy`): which claims the
// platform cannot work without, why it asks for each, the legal basis for restricted scopes, the level of
// assurance it needs, and who may use it (minimum age, a guardian's approval for minors).
import { z } from 'zod';
import { ACR_VALUES, LOA2 } from './identity/assurance.ts';
import { claimsOfScopes, isClaimName, RESTRICTED_SCOPES, type ClaimName } from './identity/claims.ts';

const localisedText = z.object({ en: z.string().min(1), 'zh-CN': z.string().min(1) }).strict();
export type LocalisedText = z.infer<typeof localisedText>;

const claimName = z.string().refine(isClaimName, { message: 'not a Cyber ID claim (see DESIGN §3)' });

export const policySchema = z.object({
  /** Claims the person must share to use the platform; all others on the consent screen are optional. */
  required_claims: z.array(claimName).default([]),
  /** Why the platform asks for each claim, shown beside it on the consent screen. */
  purposes: z.partialRecord(claimName, localisedText).default({}),
  /** The legal basis the operator recorded for a restricted scope (id_document); shown to the person. */
  legal_basis: localisedText.optional(),
  /** The lowest level a sign-in must reach; password alone (loa1) only where the operator accepts it. */
  minimum_acr: z.enum(ACR_VALUES).default(LOA2),
  /** People younger than this are refused (with access_denied and a page saying why). */
  minimum_age: z.number().int().min(1).max(99).optional(),
  /** A minor (under 18) may use the platform only once a guardian has approved it. */
  guardian_approval: z.boolean().default(false),
}).strict();

export type ClientPolicy = Omit<z.infer<typeof policySchema>, 'required_claims'> & { required_claims: ClaimName[] };

/** Problems of a policy against the client's allowed scopes, as [field, message] pairs. */
export function policyProblems(policy: z.infer<typeof policySchema>, scopes: string[]): [string, string][] {
  const problems: [string, string][] = [];
  const allowedClaims = claimsOfScopes(scopes);
  for (const claim of [...policy.required_claims, ...Object.keys(policy.purposes)]) {
    if (!allowedClaims.has(claim as ClaimName)) {
      problems.push(['cyberid_policy', `claim "${claim}" is not released by any scope the client is allowed`]);
    }
  }
  if (scopes.some((scope) => RESTRICTED_SCOPES.has(scope)) && !policy.legal_basis) {
    problems.push(['cyberid_policy.legal_basis', 'a restricted scope (id_document) needs the legal basis the operator recorded']);
  }
  return problems;
}
