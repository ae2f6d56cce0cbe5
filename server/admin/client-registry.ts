// Operators' management of platform and operator clients, shared by the `cyberid` CLI and the admin API: validated
// with zod (messages name the field) and then as oidc-provider will load them, stored with hashed secrets, and every
// change written to the audit log. A generated secret is returned once and never stored in the clear.
import type { Adapter } from 'oidc-provider';
import { z } from 'zod';
import type { Store } from '../../adapters/types.ts';
import { PORTAL_CLIENT_ID } from '../portal/first-party.ts';
import type { AuditLog } from './audit.ts';
import { formatIssues, OPERATOR, operatorFields, operatorMetadata, platformFields, platformProblems, type OperatorFields } from './client-metadata.ts';
import { DISABLED, storedClients } from './client-records.ts';
import { generateClientSecret } from './client-secrets.ts';
import { metadataProblems, productionFromEnvironment } from './metadata-policy.ts';

export type ClientKind = 'platform' | 'operator';

/** What operators see of a client: its metadata without the secret hash, its kind and whether it is enabled. */
export interface ClientView {
  client_id: string;
  kind: ClientKind;
  status: 'active' | 'disabled';
  has_secret: boolean;
  metadata: Record<string, unknown>;
}

export class ClientRegistryError extends Error {
  readonly error: 'invalid_client_metadata' | 'not_found' | 'conflict' | 'invalid_request';
  readonly status: 400 | 404 | 409;
  constructor(error: ClientRegistryError['error'], message: string) {
    super(message);
    this.error = error;
    this.status = error === 'not_found' ? 404 : error === 'conflict' ? 409 : 400;
  }
}

/** Validates metadata as oidc-provider loads a client (sector documents and jwks_uri fetched); throws with a description. */
export type ProviderValidation = (metadata: Record<string, unknown>) => Promise<void>;

const addInput = z.discriminatedUnion('kind', [
  platformFields.extend({ kind: z.literal('platform') }),
  z.object({ kind: z.literal('operator'), client_id: operatorFields.shape.client_id }).loose(),
]);

/** A field's own type without its default: a patch must leave out what it does not name, not reset it. */
const withoutDefault = (schema: z.ZodType): z.ZodType => (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault ? schema.unwrap() as z.ZodType : schema);

// The policy is merged into the stored one and then checked whole, with the full schema.
const platformPatch = z.object({
  ...Object.fromEntries(Object.entries(platformFields.shape).filter(([field]) => field !== 'client_id').map(([field, schema]) => [field, withoutDefault(schema).optional()])),
  cyberid_policy: z.record(z.string(), z.unknown()).optional(),
}).strict();
const operatorPatch = z.object({
  client_name: z.string().min(1), token_endpoint_auth_method: z.enum(['private_key_jwt', 'client_secret_basic']),
  jwks_uri: z.url({ protocol: /^https$/ }), jwks: platformFields.shape.jwks.unwrap(), scopes: operatorFields.shape.scopes,
}).partial().strict();

export class ClientRegistry {
  readonly #store: Store;
  readonly #clients: Adapter;
  readonly #validate: ProviderValidation;
  readonly #audit: AuditLog;
  readonly #production: boolean;

  /** `production` (config.production) makes the registration policy stricter (metadata-policy.ts); absent, NODE_ENV decides. */
  constructor(deps: { store: Store; validate: ProviderValidation; audit: AuditLog; production?: boolean }) {
    this.#production = deps.production ?? productionFromEnvironment();
    this.#store = deps.store;
    this.#clients = storedClients(deps.store);
    this.#validate = deps.validate;
    this.#audit = deps.audit;
  }

  async list(): Promise<ClientView[]> {
    return (await this.#store.listClients()).filter((c) => c.client_id !== PORTAL_CLIENT_ID).map(view);
  }

  async show(id: string): Promise<ClientView> {
    return view(await this.#stored(id));
  }

  /** Registers a platform (`kind: "platform"`, the default) or an operator client; returns its secret once when it has one. */
  async add(input: unknown, actor: string): Promise<{ client: ClientView; client_secret?: string }> {
    const parsed = parse(addInput, { kind: 'platform', ...(isObject(input) ? input : {}) });
    const { kind, ...fields } = parsed;
    if (await this.#clients.find(fields.client_id as string)) throw new ClientRegistryError('conflict', `client "${fields.client_id as string}" already exists`);
    let metadata: Record<string, unknown>;
    if (kind === 'operator') {
      metadata = operatorMetadata(parse(operatorFields, fields));
    } else {
      const platform = parse(platformFields, fields);
      problems(platformProblems(platform, platform.token_endpoint_auth_method === 'client_secret_basic'));
      metadata = platform;
    }
    const secret = metadata.token_endpoint_auth_method === 'client_secret_basic' ? generateClientSecret() : undefined;
    await this.#save({ ...metadata, ...(secret ? { client_secret: secret } : {}) });
    await this.#audit.record({ actor, action: 'client.add', target: metadata.client_id as string, detail: { kind, fields: Object.keys(metadata).sort() } });
    return { client: await this.show(metadata.client_id as string), ...(secret ? { client_secret: secret } : {}) };
  }

  /**
   * Changes some fields; `cyberid_policy` is merged field by field. Switching to client_secret_basic returns a new
   * secret; switching away from it deletes the secret.
   */
  async update(id: string, patch: unknown, actor: string): Promise<{ client: ClientView; client_secret?: string }> {
    const stored = await this.#stored(id);
    const { [DISABLED]: disabled, client_secret: oldSecret, ...current } = stored;
    let next: Record<string, unknown>;
    if (kindOf(stored) === 'operator') {
      const changes = parse(operatorPatch, patch);
      next = operatorMetadata(parse(operatorFields, { ...operatorOf(current), ...changes }));
      next = { ...current, ...next };
    } else {
      const changes = parse(platformPatch, patch);
      next = { ...current, ...changes, cyberid_policy: { ...(current.cyberid_policy as object), ...(changes.cyberid_policy as object | undefined) } };
      const platform = parse(platformFields.loose(), next);
      next = platform;
      problems(platformProblems(platform, platform.token_endpoint_auth_method === 'client_secret_basic'));
    }
    const needsSecret = next.token_endpoint_auth_method === 'client_secret_basic';
    const secret = needsSecret && !oldSecret ? generateClientSecret() : undefined;
    if (needsSecret) next.client_secret = secret ?? oldSecret;
    await this.#save({ ...next, ...(disabled ? { [DISABLED]: true } : {}) });
    const changed = Object.keys({ ...current, ...next }).filter((key) => JSON.stringify(current[key]) !== JSON.stringify(next[key]) && key !== 'client_secret');
    await this.#audit.record({ actor, action: 'client.update', target: id, detail: { fields: changed.sort(), ...(secret ? { secret: 'issued' } : {}) } });
    return { client: await this.show(id), ...(secret ? { client_secret: secret } : {}) };
  }

  /** A disabled client cannot sign anyone in, use its tokens or introspect, in any process, until it is enabled again. */
  async setEnabled(id: string, enabled: boolean, actor: string): Promise<ClientView> {
    const { [DISABLED]: _wasDisabled, ...stored } = await this.#stored(id);
    await this.#clients.upsert(id, enabled ? stored : { ...stored, [DISABLED]: true });
    await this.#audit.record({ actor, action: enabled ? 'client.enable' : 'client.disable', target: id, detail: {} });
    return this.show(id);
  }

  /** A new secret, returned once; the old one stops working at once. */
  async rotateSecret(id: string, actor: string): Promise<string> {
    const stored = await this.#stored(id);
    if (stored.token_endpoint_auth_method !== 'client_secret_basic') {
      throw new ClientRegistryError('invalid_request', `client "${id}" authenticates with ${String(stored.token_endpoint_auth_method)}, not a secret`);
    }
    const secret = generateClientSecret();
    await this.#clients.upsert(id, { ...stored, client_secret: secret });
    await this.#audit.record({ actor, action: 'client.rotate-secret', target: id, detail: {} });
    return secret;
  }

  async #stored(id: string): Promise<Record<string, unknown>> {
    const stored = id === PORTAL_CLIENT_ID ? undefined : await this.#clients.find(id) as Record<string, unknown> | undefined;
    if (!stored) throw new ClientRegistryError('not_found', `no client "${id}"`);
    return stored;
  }

  async #save(metadata: Record<string, unknown>): Promise<void> {
    const { [DISABLED]: _disabled, ...checked } = metadata;
    // The registration policy every path applies (URLs, hosts, displayed names), before oidc-provider fetches anything.
    problems(metadataProblems(checked, this.#production));
    try {
      await this.#validate(checked);
    } catch (error) {
      const description = (error as { error_description?: string }).error_description ?? (error as Error).message;
      throw new ClientRegistryError('invalid_client_metadata', description);
    }
    await this.#clients.upsert(metadata.client_id as string, metadata);
  }
}

function view(stored: Record<string, unknown>): ClientView {
  const { client_secret: secret, [DISABLED]: disabled, ...metadata } = stored;
  return { client_id: stored.client_id as string, kind: kindOf(stored), status: disabled ? 'disabled' : 'active', has_secret: typeof secret === 'string', metadata };
}

const kindOf = (stored: Record<string, unknown>): ClientKind => (stored[OPERATOR] ? 'operator' : 'platform');

function operatorOf(stored: Record<string, unknown>): OperatorFields {
  const { client_id, client_name, token_endpoint_auth_method, jwks_uri, jwks } = stored as Record<string, never>;
  const fields = { client_id, client_name, token_endpoint_auth_method, jwks_uri, jwks, scopes: (stored[OPERATOR] as { scopes: OperatorFields['scopes'] }).scopes };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as unknown as OperatorFields;
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ClientRegistryError('invalid_client_metadata', formatIssues(result.error.issues));
  return result.data;
}

function problems(found: [string, string][]): void {
  if (found.length) throw new ClientRegistryError('invalid_client_metadata', found.map(([field, message]) => `${field}: ${message}`).join('; '));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
