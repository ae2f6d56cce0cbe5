// The IdentityRegistry port: the authoritative population registry. Given what the document's chip says
// (number, name, birth date, expiry), it answers with the person record or the precise reason it does not
// match. The simulation reads a seed file shipped in the repository; HttpIdentityRegistry is where the
// authority's service plugs in.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DOCUMENT_TYPES, type IdentityDocument } from './documents.ts';

export interface DocumentClaim {
  document: IdentityDocument;
  name: string;
  /** YYYY-MM-DD */
  birthdate: string;
  /** YYYY-MM-DD, the document's expiry date. */
  expiresOn: string;
}

export interface PersonRecord {
  /** The registry's own identifier of the person, the same across all of their documents. */
  personId: string;
  name: string;
  birthdate: string;
  gender: 'female' | 'male';
  /** Person ids of the legal guardians the registry records (for minors). */
  guardians: string[];
}

export const MISMATCH_REASONS = ['not_found', 'name', 'birthdate', 'expiry_date', 'expired', 'revoked'] as const;
export type MismatchReason = (typeof MISMATCH_REASONS)[number];

export type RegistryAnswer = { status: 'verified'; person: PersonRecord } | { status: 'mismatch'; reason: MismatchReason };

export interface IdentityRegistry {
  /** `today` (YYYY-MM-DD, China time) decides whether the document has expired. */
  verify(claim: DocumentClaim, today: string): Promise<RegistryAnswer>;
}

/** The authority did not answer, or answered something we cannot read: the person is asked to try later. */
export class AuthorityUnavailableError extends Error {}

/** Names compare after Unicode normalisation, with spacing and Latin letter case ignored. */
export function sameName(a: string, b: string): boolean {
  const normal = (name: string) => name.normalize('NFKC').replace(/\s+/g, ' ').trim().toUpperCase();
  return normal(a) === normal(b);
}

const seedSchema = z.object({
  people: z.array(z.object({
    personId: z.string().min(1),
    name: z.string().min(1),
    birthdate: z.iso.date(),
    gender: z.enum(['female', 'male']),
    photo: z.string().min(1),
    guardians: z.array(z.string()).default([]),
    documents: z.array(z.object({
      type: z.enum(DOCUMENT_TYPES),
      number: z.string().min(1),
      expiresOn: z.iso.date(),
      revoked: z.boolean().default(false),
    })).min(1),
  })),
});

export type SimulatedPerson = z.infer<typeof seedSchema>['people'][number];

/** Reads and validates the simulation seed shared by the simulated registry and face verifier. */
export function readSimulationSeed(file: string): SimulatedPerson[] {
  const seed = seedSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!seed.success) {
    throw new Error(`${file}: ${seed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return seed.data.people;
}

function toPersonRecord({ personId, name, birthdate, gender, guardians }: SimulatedPerson): PersonRecord {
  return { personId, name, birthdate, gender, guardians };
}

export class SimulatedRegistry implements IdentityRegistry {
  readonly #byDocument = new Map<string, { person: SimulatedPerson; document: SimulatedPerson['documents'][number] }>();

  constructor(people: SimulatedPerson[]) {
    for (const person of people) {
      for (const document of person.documents) this.#byDocument.set(`${document.type}:${document.number}`, { person, document });
    }
  }

  async verify(claim: DocumentClaim, today: string): Promise<RegistryAnswer> {
    const entry = this.#byDocument.get(`${claim.document.type}:${claim.document.number}`);
    if (!entry) return { status: 'mismatch', reason: 'not_found' };
    const { person, document } = entry;
    if (!sameName(claim.name, person.name)) return { status: 'mismatch', reason: 'name' };
    if (claim.birthdate !== person.birthdate) return { status: 'mismatch', reason: 'birthdate' };
    if (claim.expiresOn !== document.expiresOn) return { status: 'mismatch', reason: 'expiry_date' };
    if (document.revoked) return { status: 'mismatch', reason: 'revoked' };
    if (document.expiresOn < today) return { status: 'mismatch', reason: 'expired' };
    return { status: 'verified', person: toPersonRecord(person) };
  }

  /** What the chip of a seeded document says (demo accounts are enrolled from it). */
  claimFor(document: IdentityDocument): DocumentClaim | undefined {
    const entry = this.#byDocument.get(`${document.type}:${document.number}`);
    return entry && { document, name: entry.person.name, birthdate: entry.person.birthdate, expiresOn: entry.document.expiresOn };
  }
}

const answerSchema = z.discriminatedUnion('result', [
  z.object({
    result: z.literal('verified'),
    person: z.object({
      id: z.string().min(1),
      name: z.string().min(1),
      birthdate: z.iso.date(),
      gender: z.enum(['female', 'male']),
      guardians: z.array(z.string()).default([]),
    }),
  }),
  z.object({ result: z.literal('mismatch'), reason: z.enum(MISMATCH_REASONS) }),
]);

/**
 * The authority's service: POST {url}/verify with the chip data, answered with
 * {"result":"verified","person":{…}} or {"result":"mismatch","reason":…}. Transport security and
 * credentials (mutual TLS) are the deployment's.
 */
export class HttpIdentityRegistry implements IdentityRegistry {
  readonly #url: URL;

  constructor(url: string) {
    this.#url = new URL('verify', url.endsWith('/') ? url : `${url}/`);
  }

  async verify(claim: DocumentClaim, today: string): Promise<RegistryAnswer> {
    const body = {
      document_type: claim.document.type,
      document_number: claim.document.number,
      name: claim.name,
      birthdate: claim.birthdate,
      expires_on: claim.expiresOn,
      today,
    };
    const answer = answerSchema.safeParse(await postJson(this.#url, body));
    if (!answer.success) throw new AuthorityUnavailableError('the registry answered in an unexpected form');
    if (answer.data.result === 'mismatch') return { status: 'mismatch', reason: answer.data.reason };
    const { id, ...person } = answer.data.person;
    return { status: 'verified', person: { personId: id, ...person } };
  }
}

const AUTHORITY_TIMEOUT_MS = 10_000;

/** POSTs JSON to an authority and returns its JSON answer; any failure is AuthorityUnavailableError. */
export async function postJson(url: URL, body: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.timeout(AUTHORITY_TIMEOUT_MS),
    });
  } catch (error) {
    throw new AuthorityUnavailableError(`${url.origin} did not answer`, { cause: error });
  }
  if (!response.ok) throw new AuthorityUnavailableError(`${url.origin} answered ${response.status}`);
  try {
    return await response.json();
  } catch (error) {
    throw new AuthorityUnavailableError(`${url.origin} answered with something other than JSON`, { cause: error });
  }
}
