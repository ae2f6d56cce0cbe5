// The declarative clients file (clients.example.json in development): validated field by field at start-up
// and written to the store, so a typo stops the provider with a message naming the client and the field.
import { readFileSync } from 'node:fs';
import { errors, type Provider } from 'oidc-provider';
import { z } from 'zod';
import type { Store } from '../adapters/types.ts';
import { SUPPORTED_SCOPES } from './identity/claims.ts';
import { PORTAL_CLIENT_ID } from './portal/first-party.ts';
import { policySchema, policyProblems } from './policy.ts';

/** The one placeholder a clients file may use: the origin of the demo site that hosts the demo platforms' documents. */
export const DEMO_SITE_PLACEHOLDER = '{{DEMO_SITE}}';

const scope = z.string().superRefine((value, ctx) => {
  const scopes = value.split(' ');
  if (!scopes.includes('openid')) ctx.addIssue({ code: 'custom', message: 'must include openid' });
  for (const unknown of scopes.filter((s) => !SUPPORTED_SCOPES.includes(s))) {
    ctx.addIssue({ code: 'custom', message: `unknown scope "${unknown}" (supported: ${SUPPORTED_SCOPES.join(' ')})` });
  }
});

const url = z.url({ protocol: /^https?$/ });

export const clientSchema = z.object({
  // oidc-provider keys session state by client id, and MongoDB field names cannot hold dots.
  client_id: z.string().regex(/^[A-Za-z0-9_-]{3,64}$/, 'letters, digits, "-" and "_" only (3–64 characters, no dots)')
    .refine((id) => id !== PORTAL_CLIENT_ID, `"${PORTAL_CLIENT_ID}" is Cyber ID's own account portal`),
  client_secret: z.string().min(32, 'must be at least 32 characters').optional(),
  client_name: z.string().min(1),
  application_type: z.enum(['web', 'native']).optional(),
  redirect_uris: z.array(url).min(1),
  post_logout_redirect_uris: z.array(url).optional(),
  backchannel_logout_uri: url.optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  sector_identifier_uri: z.url({ protocol: /^https$/ }).optional(),
  scope,
  grant_types: z.array(z.enum(['authorization_code', 'refresh_token'])).optional(),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'private_key_jwt', 'none']).default('client_secret_basic'),
  jwks_uri: z.url({ protocol: /^https$/ }).optional(),
  id_token_signed_response_alg: z.enum(['ES256', 'EdDSA']).optional(),
  logo_uri: url.optional(),
  policy_uri: url.optional(),
  tos_uri: url.optional(),
  cyberid_policy: policySchema.prefault({}),
}).strict().superRefine((client, ctx) => {
  const needsSecret = client.token_endpoint_auth_method === 'client_secret_basic';
  if (needsSecret && !client.client_secret) {
    ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'is required for client_secret_basic' });
  }
  if (!needsSecret && client.client_secret) {
    ctx.addIssue({ code: 'custom', path: ['client_secret'], message: `must not be set for ${client.token_endpoint_auth_method}` });
  }
  if (client.token_endpoint_auth_method === 'private_key_jwt' && !client.jwks_uri) {
    ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'is required for private_key_jwt' });
  }
  for (const [path, message] of policyProblems(client.cyberid_policy, client.scope.split(' '))) {
    ctx.addIssue({ code: 'custom', path: path.split('.'), message });
  }
});

export type ClientMetadata = z.infer<typeof clientSchema>;

const fileSchema = z.object({ $comment: z.string().optional(), clients: z.array(z.unknown()) }).strict();

export class ClientsFileError extends Error {}

/** Reads and validates a clients file; the error message names the file, the client and the field. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** In production a code may only travel over https, or to the person's own machine (native apps). */
function insecureRedirects(client: ClientMetadata): string[] {
  return [...client.redirect_uris, ...(client.post_logout_redirect_uris ?? []), ...(client.backchannel_logout_uri ? [client.backchannel_logout_uri] : [])]
    .filter((uri) => new URL(uri).protocol === 'http:' && !LOOPBACK.has(new URL(uri).hostname));
}

export function readClientsFile(file: string, demoSiteOrigin: string | undefined, production = false): ClientMetadata[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ClientsFileError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  if (text.includes(DEMO_SITE_PLACEHOLDER)) {
    if (!demoSiteOrigin) throw new ClientsFileError(`${file}: uses ${DEMO_SITE_PLACEHOLDER} but the demo site is off (CYBERID_DEMO)`);
    text = text.replaceAll(DEMO_SITE_PLACEHOLDER, demoSiteOrigin);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClientsFileError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const outer = fileSchema.safeParse(json);
  if (!outer.success) throw new ClientsFileError(`${file}: ${formatIssues(outer.error.issues)}`);

  const seen = new Set<string>();
  return outer.data.clients.map((entry, index) => {
    const parsed = clientSchema.safeParse(entry);
    const id = (entry as { client_id?: unknown } | null)?.client_id;
    const label = `client ${typeof id === 'string' ? `"${id}"` : `#${index + 1}`} (clients[${index}])`;
    if (!parsed.success) throw new ClientsFileError(`${file}: ${label}: ${formatIssues(parsed.error.issues)}`);
    if (seen.has(parsed.data.client_id)) throw new ClientsFileError(`${file}: ${label}: client_id: appears more than once`);
    const insecure = production ? insecureRedirects(parsed.data) : [];
    if (insecure.length) throw new ClientsFileError(`${file}: ${label}: redirect_uris: must use https in production (${insecure.join(', ')})`);
    seen.add(parsed.data.client_id);
    return parsed.data;
  });
}

function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}

/** Validates each client as oidc-provider will (including fetching its sector document) and stores it. */
export async function registerClients(provider: Provider, store: Store, clients: ClientMetadata[], file: string | undefined): Promise<void> {
  for (const metadata of clients) {
    try {
      await provider.Client.validate(metadata);
    } catch (error) {
      const description = error instanceof errors.OIDCProviderError ? error.error_description : (error as Error).message;
      throw new ClientsFileError(`${file}: client "${metadata.client_id}": ${description}`);
    }
    await store.adapterFor('Client').upsert(metadata.client_id, metadata);
  }
}
