// The operators' audit log: who changed which client, key or registration token, and what. Append-only; entries
// name fields, never secret values.
import type { AuditRecord, AuditRepository } from '../../adapters/types.ts';

export type AuditEntry = Omit<AuditRecord, 'at'>;

export class AuditLog {
  readonly #entries: AuditRepository;

  constructor(entries: AuditRepository) {
    this.#entries = entries;
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.#entries.append({ ...entry, at: Date.now() });
  }

  list(filter: { target?: string | undefined; before?: number | undefined; limit?: number | undefined }): Promise<AuditRecord[]> {
    return this.#entries.list({ target: filter.target, before: filter.before, limit: Math.min(filter.limit ?? 100, 1000) });
  }
}
