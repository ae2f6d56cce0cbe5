// Puts a durable backend and a short-lived one together as the one Store the provider uses. Each oidc-provider
// model goes to the backend adapters/models.ts names; revoking a grant reaches both.
import type { Adapter } from 'oidc-provider';
import { SHORT_LIVED_MODELS } from './models.ts';
import type { DurableBackend, EphemeralBackend, GrantRevocation, Store } from './types.ts';

export function composeStore(durable: DurableBackend, ephemeral: EphemeralBackend): Store {
  const shared = (durable as object) === ephemeral;
  const backends = shared ? [durable] : [durable, ephemeral];
  const adapters = new Map<string, Adapter>();
  // oidc-provider asks each grant-bound model's adapter to revoke a grant, in parallel; the work is done once.
  const revoking = new Map<string, Promise<void>>();
  const grants: GrantRevocation = {
    revokeTokens(grantId) {
      let revocation = revoking.get(grantId);
      if (!revocation) {
        revocation = Promise.all(backends.map((backend) => backend.models.revokeGrantTokens(grantId)))
          .then(() => undefined)
          .finally(() => revoking.delete(grantId));
        revoking.set(grantId, revocation);
      }
      return revocation;
    },
    async revokeGrant(grantId) {
      await grants.revokeTokens(grantId);
      await adapterFor('Grant').destroy(grantId);
    },
  };
  const adapterFor = (model: string): Adapter => {
    let adapter = adapters.get(model);
    if (!adapter) {
      adapter = (SHORT_LIVED_MODELS.has(model) ? ephemeral : durable).models.adapter(model, grants);
      adapters.set(model, adapter);
    }
    return adapter;
  };
  return {
    kind: shared ? durable.kind : `${durable.kind}+${ephemeral.kind}`,
    adapterFor,
    accounts: durable.accounts,
    guardianRequests: durable.guardianRequests,
    passkeys: durable.passkeys,
    platformApprovals: durable.platformApprovals,
    disclosures: durable.disclosures,
    securityEvents: durable.securityEvents,
    audit: durable.audit,
    signingKeys: durable.signingKeys,
    listClients: () => durable.listClients(),
    shortLived: ephemeral.shortLived,
    rateLimiter: ephemeral.rateLimiter,
    latestGrantId: (accountId, clientId) => durable.latestGrantId(accountId, clientId),
    grantsOf: (accountId) => durable.grantsOf(accountId),
    sessionsOf: (accountId) => ephemeral.sessionsOf(accountId),
    available: () => backends.every((backend) => backend.available()),
    check: () => Promise.all(backends.map(async (backend) => ({
      kind: backend.kind,
      up: await backend.ping().then(() => true, () => false),
    }))),
    async close() {
      for (const backend of [...backends].reverse()) await backend.close();
    },
  };
}
