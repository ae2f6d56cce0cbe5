// How platform and operator clients rest in the store, whoever writes them (the clients file, the CLI, the admin
// API, dynamic registration): secrets hashed on the way in, and a disabled client invisible to oidc-provider, so
// its sign-ins, tokens and introspection stop at once in every process and resume when it is enabled again.
import type { Adapter } from 'oidc-provider';
import { hashClientSecret, isHashedSecret } from './client-secrets.ts';

/** Set on a stored client an operator disabled; never part of the metadata oidc-provider sees. */
export const DISABLED = 'cyberid_disabled';

export function protectClientRecords(clients: Adapter): Adapter {
  return {
    upsert: (id, payload, expiresIn) => clients.upsert(id, withHashedSecret(payload), expiresIn),
    find: async (id) => {
      const payload = await clients.find(id);
      return payload?.[DISABLED] ? undefined : payload;
    },
    destroy: (id) => clients.destroy(id),
    findByUid: (uid) => clients.findByUid(uid),
    findByUserCode: (userCode) => clients.findByUserCode(userCode),
    consume: (id) => clients.consume(id),
    revokeByGrantId: (grantId) => clients.revokeByGrantId(grantId),
  };
}

export function withHashedSecret<T extends Record<string, unknown>>(payload: T): T {
  const secret = payload.client_secret;
  return typeof secret === 'string' && !isHashedSecret(secret) ? { ...payload, client_secret: hashClientSecret(secret) } : payload;
}
