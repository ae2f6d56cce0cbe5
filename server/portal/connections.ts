// What the person's account reaches: the platforms holding a grant (remembered consent) and the browsers
// holding a session. Revoking a platform destroys its grants and everything they issued and tells the
// platform by back-channel logout; ending every session ("this wasn't me", deletion) does the same for
// every browser and platform at once.
import type Provider from 'oidc-provider';
import type { Store } from '../../adapters/types.ts';
import { SCOPE_CLAIMS, type ClaimName, type ClaimScope } from '../identity/claims.ts';
import type { DisclosureLedger } from '../identity/ledger.ts';
import type { Logger } from '../logger.ts';

export interface ConnectedPlatform {
  clientId: string;
  name: string;
  /** The claims the person granted (their remembered consent), refused ones removed. */
  claims: ClaimName[];
  /** The platform may keep access while the person is away (a refresh token). */
  offline: boolean;
  /** When the person first consented (epoch ms). */
  since: number;
  /** First and last release of claims within the ledger's retention (epoch ms). */
  firstUse: number | undefined;
  lastUse: number | undefined;
}

interface GrantPayload {
  clientId: string;
  iat?: number;
  openid?: { scope?: string; claims?: string[] };
  rejected?: { openid?: { scope?: string; claims?: string[] } };
}

interface SessionPayload {
  accountId?: string;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
}

interface ModelWithAdapter {
  adapter: { find(id: string): Promise<unknown>; destroy(id: string): Promise<void>; revokeByGrantId(grantId: string): Promise<void> };
}

export interface ConnectionsDependencies {
  provider: Provider;
  store: Store;
  ledger: DisclosureLedger;
  /** Clients that are part of Cyber ID itself (the portal): never listed as platforms. */
  firstPartyClients: ReadonlySet<string>;
  logger: Logger;
}

export class Connections {
  readonly #provider: Provider;
  readonly #store: Store;
  readonly #ledger: DisclosureLedger;
  readonly #firstParty: ReadonlySet<string>;
  readonly #logger: Logger;

  constructor(deps: ConnectionsDependencies) {
    this.#provider = deps.provider;
    this.#store = deps.store;
    this.#ledger = deps.ledger;
    this.#firstParty = deps.firstPartyClients;
    this.#logger = deps.logger;
  }

  /** The platforms holding a grant of this account, most recently used first. */
  async list(accountId: string): Promise<ConnectedPlatform[]> {
    const grants = (await this.#store.grantsOf(accountId)).filter((grant) => !this.#firstParty.has(grant.clientId));
    const usage = new Map((await this.#ledger.usage(accountId)).map((entry) => [entry.clientId, entry]));
    const byClient = new Map<string, ConnectedPlatform>();
    for (const { id, clientId } of grants) {
      const grant = await this.#model('Grant').adapter.find(id) as GrantPayload | undefined;
      if (!grant) continue;
      let platform = byClient.get(clientId);
      if (!platform) {
        const client = await this.#provider.Client.find(clientId);
        if (!client) continue;
        platform = {
          clientId, name: client.clientName ?? clientId, claims: [], offline: false, since: Infinity,
          firstUse: usage.get(clientId)?.first, lastUse: usage.get(clientId)?.last,
        };
      }
      platform.claims = [...new Set([...platform.claims, ...grantedClaims(grant)])];
      platform.offline ||= (grant.openid?.scope ?? '').split(' ').includes('offline_access');
      platform.since = Math.min(platform.since, (grant.iat ?? Date.now() / 1000) * 1000);
      byClient.set(clientId, platform);
    }
    return [...byClient.values()].sort((a, b) => (b.lastUse ?? b.since) - (a.lastUse ?? a.since));
  }

  /** Destroys every grant of this account at this platform and all they issued, then tells the platform. False when there was none. */
  async revoke(accountId: string, clientId: string): Promise<boolean> {
    const grants = (await this.#store.grantsOf(accountId)).filter((grant) => grant.clientId === clientId);
    if (!grants.length) return false;
    for (const grant of grants) await this.#revokeGrant(grant.id, true);
    const sids = (await this.#sessions(accountId)).flatMap(({ payload }) => payload.authorizations?.[clientId]?.sid ?? []);
    await this.#notify(accountId, clientId, sids);
    return true;
  }

  /**
   * Signs the account out everywhere: every session ends, every token of every grant is revoked and every
   * platform with a back-channel logout endpoint is told. With `keepConsent` the grants themselves stay
   * (a compromised session is not a reason to forget what the person agreed to); without, they go too.
   */
  async endEverything(accountId: string, { keepConsent }: { keepConsent: boolean }): Promise<number> {
    const sessions = await this.#sessions(accountId);
    const sidsByClient = new Map<string, string[]>();
    for (const { payload } of sessions) {
      for (const [clientId, authorization] of Object.entries(payload.authorizations ?? {})) {
        if (authorization.sid) sidsByClient.set(clientId, [...(sidsByClient.get(clientId) ?? []), authorization.sid]);
      }
    }
    const grants = await this.#store.grantsOf(accountId);
    for (const grant of grants) {
      await this.#revokeGrant(grant.id, !keepConsent);
      if (!sidsByClient.has(grant.clientId)) sidsByClient.set(grant.clientId, []);
    }
    for (const { id } of sessions) await this.#model('Session').adapter.destroy(id);
    for (const [clientId, sids] of sidsByClient) {
      if (!this.#firstParty.has(clientId)) await this.#notify(accountId, clientId, sids);
    }
    return sessions.length;
  }

  async #revokeGrant(grantId: string, destroyGrant: boolean): Promise<void> {
    // Our adapters' revokeByGrantId takes every token of the grant in every store (adapters/compose.ts), whichever model asks.
    await this.#model('AccessToken').adapter.revokeByGrantId(grantId);
    if (destroyGrant) await this.#model('Grant').adapter.destroy(grantId);
  }

  async #sessions(accountId: string): Promise<{ id: string; payload: SessionPayload }[]> {
    const sessions = await Promise.all((await this.#store.sessionsOf(accountId)).map(async (id) => ({ id, payload: await this.#model('Session').adapter.find(id) as SessionPayload | undefined })));
    return sessions.filter((session): session is { id: string; payload: SessionPayload } => session.payload?.accountId === accountId);
  }

  /** A back-channel logout token per session the platform was part of (one without a session id if none). */
  async #notify(accountId: string, clientId: string, sids: string[]): Promise<void> {
    const client = await this.#provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri) return;
    for (const sid of sids.length ? sids : [undefined]) {
      try {
        await (client as unknown as { backchannelLogout(sub: string, sid?: string): Promise<void> }).backchannelLogout(accountId, sid);
        this.#logger.info({ event: 'backchannel.sent', client: clientId }, 'back-channel logout delivered');
      } catch (error) {
        // The platform is told on a best-effort basis; its tokens are already revoked.
        this.#logger.warn({ event: 'backchannel.failed', client: clientId, error: (error as Error).message }, 'back-channel logout not delivered');
      }
    }
  }

  #model(name: string): ModelWithAdapter {
    return (this.#provider as unknown as Record<string, ModelWithAdapter>)[name]!;
  }
}

/** Claims of the granted scopes and the individually granted claims, less those refused. */
function grantedClaims(grant: GrantPayload): ClaimName[] {
  const scopes = (grant.openid?.scope ?? '').split(' ');
  const claims = new Set<string>([...scopes.flatMap((scope) => [...(SCOPE_CLAIMS[scope as ClaimScope] ?? [])]), ...(grant.openid?.claims ?? [])]);
  for (const refused of grant.rejected?.openid?.claims ?? []) claims.delete(refused);
  claims.delete('sub');
  return [...claims] as ClaimName[];
}
