// Which store holds which oidc-provider model (DESIGN §5), and which models a grant issues.
import { errors } from 'oidc-provider';

/**
 * Short-lived artefacts: in Redis when it is configured. Every other model (Grant, RefreshToken, Client,
 * registration and initial access tokens) is durable.
 */
export const SHORT_LIVED_MODELS: ReadonlySet<string> = new Set([
  'Session', 'Interaction', 'AuthorizationCode', 'PushedAuthorizationRequest', 'ReplayDetection',
  'AccessToken', 'ClientCredentials', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

/** The models revokeByGrantId removes (as oidc-provider's reference adapter); an Interaction carries a grantId too but is not revoked. */
export const GRANT_BOUND_MODELS: readonly string[] = [
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
];

export const isGrantBound = (model: string): boolean => GRANT_BOUND_MODELS.includes(model);

/** What the losing side of a consume gets: as oidc-provider answers a replayed code, token or request_uri. */
export function alreadyConsumed(model: string): Error {
  if (model === 'PushedAuthorizationRequest') return new errors.InvalidRequestUri('request_uri already used or no longer valid');
  return new errors.InvalidGrant(`${model} already consumed or no longer valid`);
}
