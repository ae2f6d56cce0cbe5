// An in-process STAND-IN for MongoDB, used only because no MongoDB server can be installed on these machines
// (DESIGN §5). It implements the driver calls our adapter makes (and nothing more) with MongoDB's semantics:
// mingo evaluates filters, update operators and aggregation pipelines as the server does; unique indexes (with
// partial filters, missing fields counting as null) raise E11000 with keyPattern/keyValue like the server; each
// operation is atomic on its document; stored documents are copies (undefined fields dropped, as the driver's
// ignoreUndefined does). Set MONGODB_URI to run the same suites against a real server instead.
import { ObjectId, type IndexDescription } from 'mongodb';
import { aggregate, Query, update } from 'mingo';

type Document = Record<string, unknown>;
type Filter = Record<string, unknown>;
type Sort = Record<string, 1 | -1>;

interface FindOptions {
  sort?: Sort;
  limit?: number;
  projection?: Record<string, 0 | 1>;
}

class DuplicateKeyError extends Error {
  override readonly name = 'MongoServerError';
  readonly code = 11000;
  readonly keyPattern: Record<string, 1 | -1>;
  readonly keyValue: Record<string, unknown>;

  constructor(collection: string, index: string, keyPattern: Record<string, 1 | -1>, keyValue: Record<string, unknown>) {
    super(`E11000 duplicate key error collection: stand-in.${collection} index: ${index} dup key: ${JSON.stringify(keyValue)}`);
    this.keyPattern = keyPattern;
    this.keyValue = keyValue;
  }
}

/** A deep copy as BSON would store it: Dates and ObjectIds kept, undefined object fields dropped, undefined in arrays null. */
function copy<T>(value: T): T {
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value instanceof ObjectId) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => (item === undefined ? null : copy(item))) as T;
  if (value && typeof value === 'object') {
    const result: Document = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) result[key] = copy(item);
    return result as T;
  }
  return value;
}

function valueAt(document: Document, path: string): unknown {
  let value: unknown = document;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as Document)[part] : undefined;
  return value;
}

/** An index key's identity: a missing field and null are the same key, as in MongoDB. */
function keyString(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (value instanceof Date) return `date:${value.getTime()}`;
  if (value instanceof ObjectId) return `oid:${value.toHexString()}`;
  return JSON.stringify(value);
}

/** BSON comparison order for the types we store: null < numbers < strings < objects < ObjectId < Date. */
function compare(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === undefined || v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : v instanceof ObjectId ? 4 : v instanceof Date ? 5 : 3);
  const [ra, rb] = [rank(a), rank(b)];
  if (ra !== rb) return ra - rb;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (a instanceof ObjectId && b instanceof ObjectId) return a.toHexString() < b.toHexString() ? -1 : a.toHexString() > b.toHexString() ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return 0;
}

function project(document: Document, projection: Record<string, 0 | 1> | undefined): Document {
  if (!projection) return copy(document);
  const fields = Object.entries(projection);
  if (fields.some(([, include]) => include === 1)) {
    const result: Document = {};
    const wanted = new Set(fields.filter(([, include]) => include === 1).map(([name]) => name));
    if (projection._id !== 0) wanted.add('_id');
    for (const name of wanted) if (name in document) result[name] = copy(document[name]);
    return result;
  }
  const result = copy(document);
  for (const [name] of fields) delete result[name];
  return result;
}

class StandInCollection {
  readonly #name: string;
  readonly #documents = new Map<string, Document>();
  readonly #indexes = new Map<string, IndexDescription>();

  constructor(name: string) {
    this.#name = name;
  }

  async insertOne(document: Document) {
    document._id ??= new ObjectId(); // the driver assigns _id on the caller's object too
    const stored = copy(document);
    if (this.#documents.has(keyString(stored._id))) throw new DuplicateKeyError(this.#name, '_id_', { _id: 1 }, { _id: stored._id });
    this.#checkUnique(stored, undefined);
    this.#documents.set(keyString(stored._id), stored);
    return { acknowledged: true, insertedId: stored._id };
  }

  async findOne(filter: Filter, options: FindOptions = {}) {
    return this.#find(filter, { ...options, limit: 1 })[0] ?? null;
  }

  find(filter: Filter, options: FindOptions = {}) {
    return { toArray: async () => this.#find(filter, options) };
  }

  async replaceOne(filter: Filter, replacement: Document, options: { upsert?: boolean } = {}) {
    const [match] = this.#matching(filter);
    if (!match) {
      if (!options.upsert) return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0 };
      await this.insertOne({ ...equalityFields(filter), ...copy(replacement) });
      return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 1 };
    }
    const next = { ...copy(replacement), _id: match._id };
    this.#checkUnique(next, match);
    this.#documents.set(keyString(match._id), next);
    return { acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0 };
  }

  async updateOne(filter: Filter, modifier: Record<string, Document>, options: { upsert?: boolean } = {}) {
    const { $setOnInsert, ...operators } = modifier;
    const [match] = this.#matching(filter);
    if (!match) {
      if (!options.upsert) return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0 };
      const created = { ...equalityFields(filter), ...copy($setOnInsert ?? {}) };
      if (Object.keys(operators).length) update(created, operators);
      await this.insertOne(created);
      return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 1 };
    }
    const next = copy(match);
    const changed = Object.keys(operators).length ? update(next, operators) : [];
    if (!changed.length) return { acknowledged: true, matchedCount: 1, modifiedCount: 0, upsertedCount: 0 };
    this.#checkUnique(next, match);
    this.#documents.set(keyString(match._id), copy(next));
    return { acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0 };
  }

  async deleteOne(filter: Filter) {
    const [match] = this.#matching(filter);
    if (match) this.#documents.delete(keyString(match._id));
    return { acknowledged: true, deletedCount: match ? 1 : 0 };
  }

  async deleteMany(filter: Filter) {
    const matches = this.#matching(filter);
    for (const match of matches) this.#documents.delete(keyString(match._id));
    return { acknowledged: true, deletedCount: matches.length };
  }

  aggregate<T>(pipeline: Document[]) {
    return { toArray: async () => aggregate([...this.#documents.values()].map(copy), pipeline) as T[] };
  }

  async createIndexes(indexes: IndexDescription[]) {
    for (const index of indexes) {
      const name = index.name ?? Object.keys(index.key).join('_');
      const existing = this.#indexes.get(name);
      if (existing && JSON.stringify(existing) !== JSON.stringify(index)) throw new Error(`An existing index has the same name (${name}) but different options`);
      const sameKey = [...this.#indexes.entries()].find(([other, spec]) => other !== name && JSON.stringify(spec.key) === JSON.stringify(index.key));
      if (sameKey) throw Object.assign(new Error(`Index already exists with a different name: ${sameKey[0]}`), { code: 85, codeName: 'IndexOptionsConflict' });
      this.#indexes.set(name, index);
    }
    return [...this.#indexes.keys()];
  }

  listIndexes() {
    return { toArray: async () => [{ name: '_id_', key: { _id: 1 } }, ...[...this.#indexes.entries()].map(([name, index]) => ({ ...index, name }))] };
  }

  #matching(filter: Filter): Document[] {
    const query = new Query(filter);
    return [...this.#documents.values()].filter((document) => query.test(document));
  }

  #find(filter: Filter, options: FindOptions): Document[] {
    let found = this.#matching(filter);
    if (options.sort) {
      const keys = Object.entries(options.sort);
      found = found.toSorted((a, b) => {
        for (const [path, direction] of keys) {
          const order = compare(valueAt(a, path), valueAt(b, path));
          if (order) return order * direction;
        }
        return 0;
      });
    }
    if (options.limit) found = found.slice(0, options.limit);
    return found.map((document) => project(document, options.projection));
  }

  /** Every unique index whose partial filter the document meets must not see its key on another document. */
  #checkUnique(document: Document, replacing: Document | undefined): void {
    for (const [name, index] of this.#indexes) {
      if (!index.unique) continue;
      const applies = (candidate: Document) => !index.partialFilterExpression || new Query(index.partialFilterExpression as Filter).test(candidate);
      if (!applies(document)) continue;
      const paths = Object.keys(index.key);
      const key = paths.map((path) => keyString(valueAt(document, path))).join('|');
      for (const other of this.#documents.values()) {
        if (other === replacing || !applies(other)) continue;
        if (paths.map((path) => keyString(valueAt(other, path))).join('|') === key) {
          throw new DuplicateKeyError(this.#name, name, index.key as Record<string, 1 | -1>, Object.fromEntries(paths.map((path) => [path, valueAt(document, path) ?? null])));
        }
      }
    }
  }
}

/** The fields an upsert takes from its filter: plain equalities, not operators. */
function equalityFields(filter: Filter): Document {
  return Object.fromEntries(Object.entries(filter).filter(([name, value]) => !name.startsWith('$') && !(value && typeof value === 'object' && !(value instanceof Date) && !(value instanceof ObjectId) && Object.keys(value).some((k) => k.startsWith('$')))));
}

class StandInDb {
  readonly #collections = new Map<string, StandInCollection>();

  collection(name: string): StandInCollection {
    let collection = this.#collections.get(name);
    if (!collection) {
      collection = new StandInCollection(name);
      this.#collections.set(name, collection);
    }
    return collection;
  }

  async command(command: Document) {
    if (!('ping' in command)) throw new Error(`the stand-in only answers ping, not ${Object.keys(command).join(', ')}`);
    return { ok: 1 };
  }
}

/** A fresh, empty stand-in database with a client-like close(). */
export function mongoStandIn(): { db: StandInDb; close(): Promise<void> } {
  return { db: new StandInDb(), close: async () => {} };
}
