// Guardians and minors: a 14–17-year-old's account waits until one of the guardians the registry names
// approves it; the guardian sees who is waiting, approves or declines.
import type { GuardianRequestRepository } from '../../adapters/types.ts';
import type { Account, Accounts } from '../identity/accounts.ts';
import type { Logger } from '../logger.ts';

export interface PendingMinor {
  id: string;
  name: string;
  birthdate: string;
}

export class Guardianship {
  readonly #accounts: Accounts;
  readonly #requests: GuardianRequestRepository;
  readonly #logger: Logger;

  constructor(accounts: Accounts, requests: GuardianRequestRepository, logger: Logger) {
    this.#accounts = accounts;
    this.#requests = requests;
    this.#logger = logger;
  }

  async pendingFor(guardian: Account): Promise<PendingMinor[]> {
    const ids = await this.#requests.pendingFor(guardian.personHash);
    const minors = await Promise.all(ids.map((id) => this.#accounts.findById(id)));
    return minors
      .filter((minor): minor is Account => minor?.status === 'awaiting_guardian')
      .map((minor) => ({ id: minor.id, name: minor.identity.name, birthdate: minor.identity.birthdate }));
  }

  /** False when this guardian has no pending request for that minor, or the minor's account is not waiting (e.g. suspended). */
  async approve(guardian: Account, minorId: string): Promise<boolean> {
    if (guardian.status !== 'active' || !(await this.#requests.isPending(minorId, guardian.personHash))) return false;
    if ((await this.#accounts.findById(minorId))?.status !== 'awaiting_guardian') return false;
    await this.#accounts.linkGuardian(minorId, guardian.id);
    await this.#requests.removeAll(minorId);
    this.#logger.info({ event: 'guardian.approved', guardian: guardian.id, minor: minorId }, 'guardian approved a minor\'s account');
    return true;
  }

  /** The minor's account keeps waiting (another guardian the registry names may still approve). */
  async decline(guardian: Account, minorId: string): Promise<boolean> {
    if (!(await this.#requests.isPending(minorId, guardian.personHash))) return false;
    await this.#requests.remove(minorId, guardian.personHash);
    this.#logger.info({ event: 'guardian.declined', guardian: guardian.id, minor: minorId }, 'guardian declined a minor\'s account');
    return true;
  }
}
