// How platform and operator clients rest in the store, whoever writes them (the clients file, the portal, the CLI,
// the admin API, dynamic registration): every writer goes through storedClients, so secrets are hashed on the way
// in. oidc-provider reads through providerClients, to which a disabled client is invisible: its sign-ins, tokens and
// introspection stop at once in every process and resume when it is enabled again.
import type { Adapter } from 'oidc-provider';
import type { Store } from '../../adapters/types.ts';
import { hashClientSecret, isHashedSecret } from './client-secrets.ts';

/** Set on a stored client an operator disabled; never part of the metadata oidc-provider sees. */
export const DISABLED = 'cyberid_disabled';

/** The Client model as operators and start-up write it: secrets hashed; disabled clients are found too. */
export function storedClients(store: Store): Adapter {
  const clients = store.adapterFor('Client');
  return {
    upsert: (id, payload, expiresIn) => clients.upsert(id, withHashedSecret(payload), expiresIn),
    find: (id) => clients.find(id),
    destroy: (id) => clients.destroy(id),
    findByUid: (uid) => clients.findByUid(uid),
    findByUserCode: (userCode) => clients.findByUserCode(userCode),
    consume: (id) => clients.consume(id),
    revokeByGrantId: (grantId) => clients.revokeByGrantId(grantId),
  };
}

/** The Client model as oidc-provider sees it: a disabled client does not exist. */
export function providerClients(store: Store): Adapter {
  const clients = storedClients(store);
  return {
    ...clients,
    find: async (id) => {
      const payload = await clients.find(id);
      return payload?.[DISABLED] ? undefined : payload;
    },
  };
}

function withHashedSecret<T extends Record<string, unknown>>(payload: T): T {
  const secret = payload.client_secret;
  return typeof secret === 'string' && !isHashedSecret(secret) ? { ...payload, client_secret: hashClientSecret(secret) } : payload;
}
