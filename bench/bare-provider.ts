// The baseline: bare oidc-provider with an in-memory adapter, the same signing keys and algorithms, the same
// token lifetimes and the bench platform's registration. Its one interaction signs in a fixed account and grants
// what was asked, so the bench can mint codes exactly as it does on Cyber ID. Run as a child by bench/targets.ts:
//   node bench/bare-provider.ts <port> <jwks file> <client file>
import { readFileSync } from 'node:fs';
import Provider, { type AdapterPayload, type ClientMetadata } from 'oidc-provider';
import { TTL } from '../server/ttl.ts';

/**
 * oidc-provider's own development adapter is an LRU of 1,000 entries (codes and tokens vanish under load) whose grant
 * index costs O(tokens in the grant) per write. This one keeps everything in plain Maps: the cheapest store there is.
 */
const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
const grantMembers = new Map<string, Set<string>>();
const sessionsByUid = new Map<string, string>();

class MapAdapter {
  readonly #model: string;
  constructor(model: string) {
    this.#model = model;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = `${this.#model}:${id}`;
    entries.set(key, { payload, expiresAt: Date.now() + expiresIn * 1000 });
    if (payload.grantId) {
      let members = grantMembers.get(payload.grantId);
      if (!members) grantMembers.set(payload.grantId, members = new Set());
      members.add(key);
    }
    if (payload.uid) sessionsByUid.set(payload.uid, id);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const entry = entries.get(`${this.#model}:${id}`);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = sessionsByUid.get(uid);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined; // no device flow here
  }

  async consume(id: string): Promise<void> {
    const entry = entries.get(`${this.#model}:${id}`);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    entries.delete(`${this.#model}:${id}`);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of grantMembers.get(grantId) ?? []) entries.delete(key);
    grantMembers.delete(grantId);
  }
}

const [port, jwksFile, clientFile] = process.argv.slice(2) as [string, string, string];
const client = JSON.parse(readFileSync(clientFile, 'utf8')) as ClientMetadata;
const scopes = String(client.scope).split(' ');

const provider = new Provider(`http://localhost:${port}`, {
  adapter: MapAdapter,
  clients: [client],
  jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
  cookies: { keys: ['bench-bare-provider-cookie-key'] },
  pkce: { required: () => true },
  scopes,
  findAccount: async (_ctx, accountId) => ({ accountId, claims: async () => ({ sub: accountId }) }),
  features: { devInteractions: { enabled: false }, introspection: { enabled: true }, revocation: { enabled: true } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (_ctx, c, code) => c.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  rotateRefreshToken: true,
  ttl: TTL as never,
});

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  // The existing grant grows, as Cyber ID's consent does: a second grant for the same client would replace the first
  // in the session, and the first grant's session-bound access tokens would stop working.
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId: 'bench-person', clientId: String(details.params.client_id) });
  grant.addOIDCScope(String(details.params.scope));
  const consent = { grantId: await grant.save() };
  const result = details.session?.accountId ? { consent } : { login: { accountId: 'bench-person' }, consent };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

provider.listen(Number(port), () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
