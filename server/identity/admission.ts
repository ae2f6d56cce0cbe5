// Who may use a platform: its operator's minimum age, and for platforms flagged for guardian approval,
// a minor's guardian saying yes before anything is shared.
import type { PlatformApprovalRecord, PlatformApprovalRepository } from '../../adapters/types.ts';
import type { ClientPolicy } from '../policy.ts';
import type { Account, Accounts } from './accounts.ts';
import { ageOn, todayInChina } from './claims.ts';

const ADULT_AGE = 18;

export type Admission =
  | { admitted: true }
  | { admitted: false; reason: 'under_age'; minimumAge: number }
  | { admitted: false; reason: 'awaiting_guardian' | 'declined_by_guardian' };

export interface PendingPlatform {
  minorId: string;
  minorName: string;
  clientId: string;
  requestedAt: number;
}

export class PlatformAdmission {
  readonly #accounts: Accounts;
  readonly #approvals: PlatformApprovalRepository;

  constructor(accounts: Accounts, approvals: PlatformApprovalRepository) {
    this.#accounts = accounts;
    this.#approvals = approvals;
  }

  /** Whether `account` may use the platform now; reads only. */
  async admit(account: Account, clientId: string, policy: Pick<ClientPolicy, 'minimum_age' | 'guardian_approval'>, now = new Date()): Promise<Admission> {
    const age = ageOn(account.identity.birthdate, todayInChina(now));
    if (policy.minimum_age !== undefined && age < policy.minimum_age) return { admitted: false, reason: 'under_age', minimumAge: policy.minimum_age };
    if (!policy.guardian_approval || age >= ADULT_AGE) return { admitted: true };
    const approval = await this.#approvals.find(account.id, clientId);
    if (approval?.status === 'approved') return { admitted: true };
    return { admitted: false, reason: approval?.status === 'declined' ? 'declined_by_guardian' : 'awaiting_guardian' };
  }

  /** Asks the minor's guardian (once; asking again keeps the first request). False if no guardian is linked. */
  async askGuardian(minor: Account, clientId: string): Promise<boolean> {
    if (!minor.guardianId) return false;
    await this.#approvals.request(minor.id, clientId, minor.guardianId);
    return true;
  }

  /** Platforms waiting for this guardian's decision, for minors whose accounts are still active. */
  async pendingFor(guardian: Account): Promise<PendingPlatform[]> {
    const requests = await this.#approvals.pendingFor(guardian.id);
    const pending = await Promise.all(requests.map(async (request) => {
      const minor = await this.#accounts.findById(request.minorId);
      if (minor?.status !== 'active' || minor.guardianId !== guardian.id) return undefined;
      return { minorId: minor.id, minorName: minor.identity.name, clientId: request.clientId, requestedAt: request.requestedAt };
    }));
    return pending.filter((entry) => entry !== undefined);
  }

  /** Every platform request made for this minor and the guardian's decision on it, oldest first. */
  decisionsFor(minor: Account): Promise<PlatformApprovalRecord[]> {
    return this.#approvals.listFor(minor.id);
  }

  /** The guardian's decision on a request, first or changed; false unless this guardian is the minor's. */
  async decide(guardian: Account, minorId: string, clientId: string, decision: 'approved' | 'declined'): Promise<boolean> {
    const minor = await this.#accounts.findById(minorId);
    if (guardian.status !== 'active' || minor?.guardianId !== guardian.id) return false;
    return this.#approvals.decide(minorId, clientId, guardian.id, decision);
  }
}
