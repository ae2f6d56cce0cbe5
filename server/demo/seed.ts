// Demo people for development: an adult and a 16-year-old under the adult's guardianship, enrolled from
// the simulated registry on first start. Their credentials are printed at start-up; never in production.
import type { Accounts } from '../identity/accounts.ts';
import type { IdentityDocument } from '../identity/documents.ts';
import { todayInChina } from '../identity/claims.ts';
import type { SimulatedRegistry } from '../identity/registry.ts';

interface DemoPerson {
  role: string;
  document: IdentityDocument;
  phone: string;
  password: string;
  guardianOf?: string;
}

export const DEMO_PEOPLE: DemoPerson[] = [
  { role: 'adult', document: { type: 'resident_id_card', number: '110105198803151232' }, phone: '13800138000', password: 'CyberID-demo-adult' },
  { role: '16-year-old (guardian: adult)', document: { type: 'resident_id_card', number: '310104201006083025' }, phone: '13900139000', password: 'CyberID-demo-minor', guardianOf: 'adult' },
];

export interface DemoCredential {
  role: string;
  networkNumber: string;
  phone: string;
  password: string;
}

export async function seedDemoAccounts(accounts: Accounts, registry: SimulatedRegistry): Promise<DemoCredential[]> {
  const ids = new Map<string, string>();
  const credentials: DemoCredential[] = [];
  for (const person of DEMO_PEOPLE) {
    let account = await accounts.findByDocument(person.document);
    if (!account) {
      const claim = registry.claimFor(person.document);
      const answer = claim && await registry.verify(claim, todayInChina());
      if (answer?.status !== 'verified') throw new Error(`demo person "${person.role}" is missing from the simulated registry`);
      const guardianId = person.guardianOf ? ids.get(person.guardianOf) : undefined;
      account = await accounts.create({ person: answer.person, document: person.document, phone: person.phone, password: person.password, ...(guardianId ? { guardianId } : {}) });
    }
    ids.set(person.role, account.id);
    credentials.push({ role: person.role, networkNumber: account.identity.networkNumber, phone: person.phone, password: person.password });
  }
  return credentials;
}
