// The declarative clients file (clients.example.json in development): validated field by field at start-up
// and written to the store, so a typo stops the provider with a message naming the client and the field.
import { readFileSync } from 'node:fs';
import { errors, type Provider } from 'oidc-provider';
import { z } from 'zod';
import type { Store } from '../adapters/types.ts';
import { formatIssues, platformFields, platformProblems } from './admin/client-metadata.ts';
import { DISABLED, storedClients } from './admin/client-records.ts';
import { metadataProblems } from './admin/metadata-policy.ts';

/** The one placeholder a clients file may use: the origin of the demo site that hosts the demo platforms' documents. */
export const DEMO_SITE_PLACEHOLDER = '{{DEMO_SITE}}';

/** A clients file entry: a platform's metadata with its secret in the file (development only). */
export const clientSchema = platformFields.extend({ client_secret: z.string().min(32, 'must be at least 32 characters').optional() })
  .superRefine((client, ctx) => {
    for (const [path, message] of platformProblems(client, client.client_secret !== undefined)) {
      ctx.addIssue({ code: 'custom', path: path.split('.'), message });
    }
  });

export type ClientMetadata = z.infer<typeof clientSchema>;

const fileSchema = z.object({ $comment: z.string().optional(), clients: z.array(z.unknown()) }).strict();

export class ClientsFileError extends Error {}

/**
 * Reads and validates a clients file; the error message names the file, the client and the field. Each client also
 * meets the registration policy of every path (server/admin/metadata-policy.ts), stricter in `production`.
 */
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
    const [problem] = metadataProblems(parsed.data, production);
    if (problem) throw new ClientsFileError(`${file}: ${label}: ${problem[0]}: ${problem[1]}`);
    seen.add(parsed.data.client_id);
    return parsed.data;
  });
}

/** Validates each client as oidc-provider will (including fetching its sector document) and stores it, its secret hashed. */
export async function registerClients(provider: Provider, store: Store, clients: ClientMetadata[], file: string | undefined): Promise<void> {
  for (const metadata of clients) {
    try {
      await provider.Client.validate(metadata);
    } catch (error) {
      const description = error instanceof errors.OIDCProviderError ? error.error_description : (error as Error).message;
      throw new ClientsFileError(`${file}: client "${metadata.client_id}": ${description}`);
    }
    // The file says what a client is; whether an operator disabled it stays as it was.
    const clients = storedClients(store);
    const disabled = (await clients.find(metadata.client_id))?.[DISABLED] === true;
    await clients.upsert(metadata.client_id, { ...metadata, ...(disabled ? { [DISABLED]: true } : {}) });
  }
}
