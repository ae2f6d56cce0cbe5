// Group commit for the embedded store's hot writes. On this kind of disk a SQLite commit costs about 100 µs, most of
// it the commit itself; the token endpoint writes three or four times per request. Writes queued in the same turn of
// the event loop run together in one transaction at the end of that turn, and each caller's promise settles only
// once that transaction is committed, so a resolved write is as durable as before. BEGIN, the writes and COMMIT run
// in one synchronous step: no other statement of this process can fall inside the transaction.
import type { DatabaseSync } from 'node:sqlite';

interface Queued {
  write: () => unknown;
  resolve: (value: never) => void;
  reject: (error: unknown) => void;
}

export class WriteBatch {
  readonly #db: DatabaseSync;
  #queue: Queued[] = [];

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Runs `write` (one statement, or several that may stand apart) in the next group commit; resolves with its result. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.#queue.length) setImmediate(() => this.flush());
      this.#queue.push({ write, resolve: resolve as (value: never) => void, reject });
    });
  }

  /** Commits whatever is queued now (also called before the database closes). */
  flush(): void {
    const queued = this.#queue;
    this.#queue = [];
    if (!queued.length) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const { write } of queued) {
        // A failing statement (a constraint, say) is undone alone; the transaction and the other writes go on.
        try {
          outcomes.push({ ok: true, value: write() });
        } catch (error) {
          outcomes.push({ ok: false, error });
        }
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      for (const { reject } of queued) reject(error);
      return;
    }
    queued.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) resolve(outcome.value as never);
      else reject(outcome.error);
    });
  }
}
