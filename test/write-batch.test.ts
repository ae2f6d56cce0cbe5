// The embedded store's group commit (adapters/sqlite/write-batch.ts) on a real SQLite database: what each caller
// is told when statements fail, when the whole transaction is lost (a genuinely full database: SQLite rolls the
// transaction back on SQLITE_FULL) and when the database closes under queued writes.
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { WriteBatch } from '../adapters/sqlite/write-batch.ts';

let db: DatabaseSync;
let batch: WriteBatch;

beforeEach(() => {
  db = new DatabaseSync(':memory:');
  db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, v BLOB)');
  batch = new WriteBatch(db);
});
afterEach(() => {
  if (db.isOpen) db.close();
});

const insert = (id: string, value: string | Uint8Array = 'x') => () => db.prepare('INSERT INTO t VALUES (?, ?)').run(id, value).changes;
const ids = () => (db.prepare('SELECT id FROM t ORDER BY id').all() as { id: string }[]).map((row) => row.id);

describe('group commit', () => {
  it('runs the writes of one turn in one transaction and answers each caller once committed', async () => {
    const inTransaction = () => db.isTransaction;
    const results = await Promise.all([batch.run(insert('a')), batch.run(inTransaction), batch.run(insert('b')), batch.run(insert('c'))]);
    expect(results).toEqual([1, true, 1, 1]);
    expect(ids()).toEqual(['a', 'b', 'c']);
    expect(db.isTransaction).toBe(false);
  });

  it('fails a statement that breaks a constraint alone: the writes around it are committed', async () => {
    const outcomes = await Promise.allSettled([batch.run(insert('a')), batch.run(insert('a')), batch.run(insert('b'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed/);
    expect(ids()).toEqual(['a', 'b']);
  });

  it('fails every write of the batch when the database is full (the transaction is lost), and runs nothing after it outside a transaction', async () => {
    db.exec('PRAGMA max_page_count = 10');
    const outcomes = await Promise.allSettled([
      batch.run(insert('before')),
      batch.run(insert('too-big', new Uint8Array(100_000))),
      batch.run(insert('after')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const outcome of outcomes) expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/full/);
    expect(ids()).toEqual([]);
    expect(db.isTransaction).toBe(false);
    // The next batch starts afresh.
    expect(await batch.run(insert('later'))).toBe(1);
    expect(ids()).toEqual(['later']);
  });

  it('commits what is queued on close and refuses later writes with an error', async () => {
    const queued = batch.run(insert('queued'));
    batch.close();
    await expect(queued).resolves.toBe(1);
    expect(ids()).toEqual(['queued']);
    await expect(batch.run(insert('late'))).rejects.toThrow('the embedded store is closed');
  });

  it('settles queued writes with an error when the database closes before they run', async () => {
    const queued = [batch.run(insert('a')), batch.run(insert('b'))];
    db.close();
    const outcomes = await Promise.allSettled(queued);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
