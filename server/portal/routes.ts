// The person's portal at /account: signed in through the provider like any platform, then connected
// platforms, the disclosure ledger, security activity, credentials, the guardian's view and deletion.
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Store } from '../../adapters/types.ts';
import { friendlyErrors } from '../../interactions/page-errors.ts';
import type { Guardianship } from '../enrol/guardianship.ts';
import type { Accounts } from '../identity/accounts.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { SecurityNotifications } from '../identity/notifications.ts';
import type { SmsCountryCodes } from '../identity/phone.ts';
import type { PlatformAdmission } from '../identity/admission.ts';
import type { DisclosureLedger } from '../identity/ledger.ts';
import type { OneTimeCodes } from '../identity/one-time-codes.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import type { CredentialThrottle } from '../identity/throttle.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import { credentialPages } from './credential-pages.ts';
import { deletePage } from './delete-page.ts';
import { familyPages } from './family-pages.ts';
import type { PortalClient } from './first-party.ts';
import { PortalKit } from './kit.ts';
import { platformPages } from './platform-pages.ts';
import { securityPages } from './security-pages.ts';
import type { PortalSessions } from './sessions.ts';
import { portalSignInRoutes } from './sign-in-routes.ts';

export interface PortalDependencies {
  provider: Provider;
  issuer: string;
  store: Store;
  /** The portal's sessions (shared with the enrolment pages, where a guardian starts a child's enrolment). */
  sessions: PortalSessions;
  client: PortalClient;
  accounts: Accounts;
  passkeys: Passkeys;
  codes: OneTimeCodes;
  throttle: CredentialThrottle;
  guardianship: Guardianship;
  admission: PlatformAdmission;
  connections: Connections;
  ledger: DisclosureLedger;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  smsCountryCodes: SmsCountryCodes;
  /** A platform's display name (the provider's client registry). */
  platformName: (clientId: string) => Promise<string>;
  logger: Logger;
}

export function portalRoutes(deps: PortalDependencies): Router {
  const { store, accounts, logger } = deps;
  const router = new Router({ prefix: '/account', sensitive: true });
  router.use(friendlyErrors(logger));
  const kit = new PortalKit(deps.sessions, accounts);
  const pages = { ...deps, kit };
  portalSignInRoutes(router, { ...pages, store: store.shortLived });
  platformPages(router, pages);
  securityPages(router, { ...pages, store: store.shortLived });
  credentialPages(router, { ...pages, rateLimiter: store.rateLimiter });
  familyPages(router, pages);
  deletePage(router, { ...pages, guardianRequests: store.guardianRequests });
  return router;
}
