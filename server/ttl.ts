// Lifetimes of everything the provider issues, in one place (server/provider.ts applies them).
const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Lifetimes in seconds for every model, set explicitly rather than inherited from library defaults. */
export const TTL = {
  AuthorizationCode: MINUTE,
  AccessToken: 10 * MINUTE,
  IdToken: HOUR,
  /** 30 days, rotated on each use; see refreshTokenTtl for public browser clients. */
  RefreshToken: 30 * DAY,
  Interaction: 30 * MINUTE,
  Session: 12 * HOUR,
  /** Remembered consent: a year, unless the person revokes it sooner. */
  Grant: 365 * DAY,
  ClientCredentials: 10 * MINUTE,
  DeviceCode: 10 * MINUTE,
  BackchannelAuthenticationRequest: 10 * MINUTE,
  PreAuthorizedCode: 5 * MINUTE,
} as const;
