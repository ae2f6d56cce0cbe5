// The IdentityRegistry port: the authoritative population registry that turns an identity document into
// a person record. The simulation reads a seed file shipped in the repository; a real deployment plugs the
// authority's service in behind the same interface.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const DOCUMENT_TYPES = [
  'resident_id_card',
  'hmt_residence_permit',
  'hk_macao_travel_permit',
  'taiwan_travel_permit',
  'foreign_permanent_resident_card',
  'overseas_chinese_passport',
] as const;

export type DocumentType = (typeof DOCUMENT_TYPES)[number];

export interface IdentityDocument {
  type: DocumentType;
  number: string;
}

export interface PersonRecord {
  /** The registry's own identifier of the person, the same across all of their documents. */
  personId: string;
  name: string;
  birthdate: string;
  gender: 'female' | 'male';
  documents: IdentityDocument[];
}

export type RegistryAnswer = { status: 'found'; person: PersonRecord } | { status: 'not_found' };

export interface IdentityRegistry {
  lookup(document: IdentityDocument): Promise<RegistryAnswer>;
}

const seedSchema = z.object({
  people: z.array(z.object({
    personId: z.string().min(1),
    name: z.string().min(1),
    birthdate: z.iso.date(),
    gender: z.enum(['female', 'male']),
    documents: z.array(z.object({ type: z.enum(DOCUMENT_TYPES), number: z.string().min(1) })).min(1),
  })),
});

export class SimulatedRegistry implements IdentityRegistry {
  readonly #byDocument = new Map<string, PersonRecord>();

  static fromFile(file: string): SimulatedRegistry {
    const seed = seedSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!seed.success) {
      throw new Error(`${file}: ${seed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return new SimulatedRegistry(seed.data.people);
  }

  constructor(people: PersonRecord[]) {
    for (const person of people) {
      for (const document of person.documents) this.#byDocument.set(`${document.type}:${document.number}`, person);
    }
  }

  async lookup(document: IdentityDocument): Promise<RegistryAnswer> {
    const person = this.#byDocument.get(`${document.type}:${document.number}`);
    return person ? { status: 'found', person } : { status: 'not_found' };
  }
}
