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

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class WriteBatch {
  readonly #db: DatabaseSync;
  #queue: Queued[] = [];
  #closed = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Runs `write` (one statement, or several that may stand apart) in the next group commit; resolves with its result. */
  run<T>(write: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the embedded store is closed'));
    return new Promise<T>((resolve, reject) => {
      if (!this.#queue.length) setImmediate(() => this.flush());
      this.#queue.push({ write, resolve: resolve as (value: never) => void, reject });
    });
  }

  /** Commits what is queued and refuses every later write: the database is about to close. */
  close(): void {
    this.flush();
    this.#closed = true;
  }

  /** Commits whatever is queued now. Every queued promise settles, whatever happens. */
  flush(): void {
    const queued = this.#queue;
    this.#queue = [];
    if (!queued.length) return;
    const outcomes: Outcome[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const { write } of queued) {
        try {
          outcomes.push({ ok: true, value: write() });
        } catch (error) {
          outcomes.push({ ok: false, error });
          // A constraint failure undoes its own statement and the transaction goes on; a full disk or an I/O error
          // rolls back the whole transaction, the writes before it included. Then every write of the batch fails.
          if (!this.#db.isTransaction) throw error;
        }
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#rollBack();
      for (const { reject } of queued) reject(error);
      return;
    }
    queued.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) resolve(outcome.value as never);
      else reject(outcome.error);
    });
  }

  #rollBack(): void {
    try {
      if (this.#db.isOpen && this.#db.isTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // The failure that brought us here is what the callers are told; a failed ROLLBACK adds nothing to it.
    }
  }
}
