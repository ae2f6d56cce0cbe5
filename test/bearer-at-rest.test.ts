// Bearer values are stored only as hashes (DESIGN §6): after real flows on every backend — a sign-in at a platform
// (authorization code, access token, refresh token), the provider session, a portal session and an enrolment in
// progress — neither the SQLite file and its WAL (raw bytes), nor any Redis key or value, nor any MongoDB document
// (the in-process STAND-IN unless MONGODB_URI names a real server) contains one of the values issued; and every one
// of them still works.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import * as oidc from 'openid-client';
import { bearerHash } from '../adapters/bearer.ts';
import { composeStore } from '../adapters/compose.ts';
import { openMongoBackend } from '../adapters/mongodb/index.ts';
import { COLLECTIONS, DURABLE_MODELS, modelCollection, rehashBearerValues } from '../adapters/mongodb/schema.ts';
import { openRedisBackend } from '../adapters/redis/index.ts';
import { rehashRedisBearerValues } from '../adapters/redis/migrate.ts';
import type { Store } from '../adapters/types.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { start } from '../server/main.ts';
import { MONGODB_LABEL, REAL_MONGODB } from './support/backends.ts';
import { FormBrowser } from './support/browser.ts';
import { mongoStandIn } from './support/mongo-stand-in.ts';
import { authorizationRequest, discover, PLATFORM_A, portalSignIn, redeem, signInAndConsent, type Person } from './support/platform.ts';
import { redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
import { cyberid } from './support/cli.ts';
import { lastCodeSentTo, removeDataDir, tempDataDir } from './support/server.ts';

const withRedis = redisAvailable('the bearer-at-rest suite');
let redis: RedisServer;

beforeAll(async () => {
  if (withRedis) redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await redis?.stop();
});

interface Running {
  url: string;
  dataDir: string;
  adult: Person;
  /** Every document of the MongoDB (stand-in) database, as JSON. */
  mongoDocuments?: () => Promise<string[]>;
  mongoDb?: Db;
  stop(): Promise<void>;
}

async function startInProcess(env: Record<string, string>, store?: () => Promise<{ store: Store; mongoDocuments: () => Promise<string[]> }>, options: { dataDir?: string; keep?: boolean } = {}): Promise<Running> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = loadConfig({ NODE_ENV: 'development', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', CYBERID_DATA_DIR: dataDir, ...env });
  const given = store ? await store() : undefined;
  const server = await start(config, createLogger('silent'), given ? { store: given.store } : {});
  const adult = server.demoCredentials.find((person) => person.role === 'adult')!;
  return {
    url: server.url,
    dataDir,
    adult: { identifier: adult.networkNumber, password: adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, adult.phone) },
    ...(given ? { mongoDocuments: given.mongoDocuments } : {}),
    async stop() {
      await server.stop();
      if (!options.keep) removeDataDir(dataDir);
    },
  };
}

/** The stand-in database of the last MongoDB backend started (the migration test rewrites its documents). */
let lastMongoDb: Db | undefined;

const ALL_COLLECTIONS = [...Object.values(COLLECTIONS), ...DURABLE_MODELS.map(modelCollection)];

async function documentsOf(db: Db): Promise<string[]> {
  const documents: string[] = [];
  for (const name of ALL_COLLECTIONS) {
    for (const document of await db.collection(name).find({}).toArray()) documents.push(JSON.stringify(document));
  }
  return documents;
}

const backends: { name: string; redis: boolean; start: () => Promise<Running> }[] = [
  { name: 'sqlite', redis: false, start: () => startInProcess({}) },
  { name: 'sqlite + redis', redis: true, start: () => startInProcess({ REDIS_URL: redis.url }) },
  {
    name: `${MONGODB_LABEL} + redis`,
    redis: true,
    start: () => startInProcess({}, async () => {
      if (REAL_MONGODB) {
        const { connectMongo } = await import('../adapters/mongodb/index.ts');
        const client = connectMongo(REAL_MONGODB);
        await client.connect();
        const db = client.db(`cyberid_bearer_${process.pid}`);
        const durable = await openMongoBackend(db, client, { createIndexes: true });
        return { store: composeStore(durable, await openRedisBackend({ url: redis.url, cluster: false })), mongoDocuments: () => documentsOf(db) };
      }
      const standIn = mongoStandIn();
      const db = standIn.db as unknown as Db;
      lastMongoDb = db;
      const durable = await openMongoBackend(db, standIn, { createIndexes: true });
      return { store: composeStore(durable, await openRedisBackend({ url: redis.url, cluster: false })), mongoDocuments: () => documentsOf(db) };
    }),
  },
];

/** Every key and value in Redis (strings, hashes, sorted sets, sets, lists), as text. */
async function redisContents(url: string): Promise<string[]> {
  const client = new Redis(url);
  try {
    const keys = await client.keys('*');
    const contents: string[] = [];
    for (const key of keys) {
      contents.push(key);
      const type = await client.type(key);
      if (type === 'string') contents.push((await client.get(key)) ?? '');
      else if (type === 'hash') contents.push(JSON.stringify(await client.hgetall(key)));
      else if (type === 'zset') contents.push(JSON.stringify(await client.zrange(key, 0, -1)));
      else if (type === 'set') contents.push(JSON.stringify(await client.smembers(key)));
      else if (type === 'list') contents.push(JSON.stringify(await client.lrange(key, 0, -1)));
    }
    return contents;
  } finally {
    client.disconnect();
  }
}

function sqliteBytes(dataDir: string): string {
  const file = path.join(dataDir, 'cyberid.sqlite');
  return [file, `${file}-wal`].filter((name) => existsSync(name)).map((name) => readFileSync(name).toString('latin1')).join('\n');
}

describe.each(backends.filter((backend) => withRedis || !backend.redis))('bearer values at rest on $name', (backend) => {
  let server: Running;

  beforeAll(async () => {
    server = await backend.start();
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('stores no code, token, session id or enrolment id in clear, and every one still works', async () => {
    const issued = await issueBearers(server);
    expect(await bearersFoundIn(server, backend, issued.bearers)).toEqual([]);
    await expectAllStillWork(server, issued);
  }, 90_000);
});

type Issued = Awaited<ReturnType<typeof issueBearers>>;

/** A sign-in at a platform (code, access and refresh token), the provider and portal sessions, an enrolment started. */
async function issueBearers(server: Running) {
  const config = await discover(server.url, PLATFORM_A);
  const browser = new FormBrowser(server.url);
  const request = await authorizationRequest(config, PLATFORM_A, { scope: 'openid verified age offline_access', prompt: 'consent' });
  const callback = await signInAndConsent(browser, request.url, server.adult);
  const code = callback.searchParams.get('code')!;
  const tokens = await redeem(config, request, callback);
  expect(tokens.refresh_token).toBeTruthy();

  const account = await portalSignIn(browser, server.url, server.adult);
  expect(account.status).toBe(200);
  expect(account.doc.querySelector('form[action$="/login"]')).toBeNull();

  const started = await fetch(new URL('/enrol/api/v1/enrolments', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(started.status).toBe(201);
  const enrolmentToken = (await started.json() as { enrolment_token: string }).enrolment_token;

  // The provider's session and interaction cookies, the portal's session cookie (not their signatures).
  const cookies = (await browser.jar.getCookies(server.url)).filter((cookie) => !cookie.key.endsWith('.sig') && cookie.value.length >= 16);
  const cookieNames = cookies.map((cookie) => cookie.key);
  expect(cookieNames).toEqual(expect.arrayContaining(['_session', 'cyberid_account']));

  const bearers: Record<string, string> = {
    'authorization code': code,
    'access token': tokens.access_token,
    'refresh token': tokens.refresh_token!,
    'enrolment id': enrolmentToken,
    ...Object.fromEntries(cookies.map((cookie) => [`cookie ${cookie.key}`, cookie.value])),
  };
  // An operator's client-credentials token for the admin API, where the CLI reaches the durable store (the SQLite file).
  let admin: { token: string; resource: string; secret: string } | undefined;
  if (server.mongoDocuments === undefined) {
    const added = await cyberid(server.dataDir, 'clients', 'add', '--operator', '--id', 'ops-at-rest', '--name', 'Operator at rest', '--scopes', 'clients:read', '--json');
    const secret = added.json<{ client_secret: string }>().client_secret;
    const operator = await oidc.discovery(new URL(server.url), 'ops-at-rest', undefined, oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
    const resource = `${server.url}/admin/v1`;
    admin = { token: (await oidc.clientCredentialsGrant(operator, { scope: 'clients:read', resource })).access_token, resource, secret };
    bearers['admin client-credentials token'] = admin.token;
  }
  return { bearers, tokens, browser, enrolmentToken, admin };
}

/** Where any of the bearer values is found in clear: the SQLite file and WAL, Redis, MongoDB. */
async function bearersFoundIn(server: Running, backend: { name: string; redis: boolean }, bearers: Record<string, string>): Promise<string[]> {
  const stored: [where: string, text: string][] = [];
  if (backend.name.startsWith('sqlite')) stored.push(['the SQLite file and its WAL', sqliteBytes(server.dataDir)]);
  if (backend.redis) stored.push(...(await redisContents(redis.url)).map((text): [string, string] => ['Redis', text]));
  if (server.mongoDocuments) stored.push(...(await server.mongoDocuments()).map((text): [string, string] => ['MongoDB', text]));
  expect(stored.length).toBeGreaterThan(0);
  const found = Object.entries(bearers).flatMap(([name, value]) => stored.filter(([, text]) => text.includes(value)).map(([where]) => `${name} in ${where}`));
  return [...new Set(found)];
}

async function expectAllStillWork(server: Running, { tokens, browser, enrolmentToken, admin }: Issued): Promise<void> {
  const config = await discover(server.url, PLATFORM_A);
  // Every one still works: userinfo, introspection, refresh, the portal page (portal and provider sessions), the enrolment.
  // (The subject is not compared: after an in-process restart it differs even without any migration; see the report.)
  expect((await oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck)).identity_verified).toBe(true);
  expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(true);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  expect(refreshed.access_token).toBeTruthy();
  expect((await oidc.fetchUserInfo(config, refreshed.access_token, oidc.skipSubjectCheck)).identity_verified).toBe(true);
  const again = await browser.open(new URL('/account', server.url));
  expect(again.kind === 'page' && again.page.status === 200 && !again.page.doc.querySelector('form[action$="/login"]')).toBe(true);
  const enrolment = await fetch(new URL('/enrol/api/v1/enrolment', server.url), { headers: { authorization: `Bearer ${enrolmentToken}` } });
  expect(enrolment.status).toBe(200);
  expect(await enrolment.json()).toMatchObject({ step: 'document' });
  if (admin && admin.resource === `${server.url}/admin/v1`) {
    const clients = await fetch(new URL('/admin/v1/clients', server.url), { headers: { authorization: `Bearer ${admin.token}`, accept: 'application/json' } });
    expect(clients.status).toBe(200);
  } else if (admin) {
    // Restarted on another port, the token's resource names the old issuer, which the admin API refuses: introspect it.
    const operator = await oidc.discovery(new URL(server.url), 'ops-at-rest', undefined, oidc.ClientSecretBasic(admin.secret), { execute: [oidc.allowInsecureRequests] });
    expect((await oidc.tokenIntrospection(operator, admin.token)).active).toBe(true);
  }
}

/** The bearer values issued, with each one's stored hash: to put rows back as an earlier version wrote them. */
function byHash(bearers: Record<string, string>): Map<string, string> {
  return new Map(Object.values(bearers).map((value) => [bearerHash(value), value]));
}

describe('bearer values an earlier version stored in clear are rehashed in place: the tokens keep working', () => {
  it('in the SQLite file, when it is opened', async () => {
    const dataDir = tempDataDir();
    try {
      let server = await startInProcess({}, undefined, { dataDir, keep: true });
      const issued = await issueBearers(server);
      await server.stop();

      // The rows and keys as the version before wrote them: keyed by the clear value, which is also the payload's jti.
      const db = new DatabaseSync(path.join(dataDir, 'cyberid.sqlite'));
      const clear = byHash(issued.bearers);
      for (const { model, id, payload } of db.prepare('SELECT model, id, payload FROM oidc_models').all() as { model: string; id: string; payload: string }[]) {
        const value = clear.get(id);
        if (value) db.prepare('UPDATE oidc_models SET id = ?, payload = ? WHERE model = ? AND id = ?').run(value, JSON.stringify({ ...JSON.parse(payload), jti: value }), model, id);
      }
      for (const { key } of db.prepare('SELECT key FROM short_lived').all() as { key: string }[]) {
        const [prefix, hash] = key.split(':');
        if (hash && clear.has(hash)) db.prepare('UPDATE short_lived SET key = ? WHERE key = ?').run(`${prefix}:${clear.get(hash)!}`, key);
      }
      const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
      db.exec(`PRAGMA user_version = ${version - 1}`);
      db.close();
      expect(sqliteBytes(dataDir)).toContain(issued.tokens.refresh_token!);

      server = await startInProcess({}, undefined, { dataDir, keep: true });
      try {
        expect(await bearersFoundIn(server, { name: 'sqlite', redis: false }, issued.bearers)).toEqual([]);
        await expectAllStillWork(server, issued);
      } finally {
        await server.stop();
      }
    } finally {
      removeDataDir(dataDir);
    }
  }, 90_000);

  (withRedis ? it : it.skip)(`in Redis and ${MONGODB_LABEL}, by npm run migrate`, async () => {
    const backend = backends[2]!;
    const server = await backend.start();
    const client = new Redis(redis.url);
    try {
      const issued = await issueBearers(server);
      const clear = byHash(issued.bearers);
      // Redis as the version before wrote it: objects keyed by the clear id (the jti), indexes naming it.
      for (const key of await client.keys('cyberid:*')) {
        const parts = key.split(':');
        const last = parts.at(-1)!;
        const type = await client.type(key);
        if (type === 'hash' && clear.has(last)) {
          const value = clear.get(last)!;
          const fields = await client.hgetall(key);
          const ttl = await client.pttl(key);
          const clearKey = [...parts.slice(0, -1), value].join(':');
          await client.hset(clearKey, { ...fields, payload: JSON.stringify({ ...JSON.parse(fields.payload!), jti: value }) });
          if (ttl > 0) await client.pexpire(clearKey, ttl);
          await client.del(key);
        } else if (type === 'string' && clear.has(last)) {
          await client.rename(key, [...parts.slice(0, -1), clear.get(last)!].join(':'));
        } else if (type === 'string' && parts.includes('uid')) {
          const id = await client.get(key);
          if (id && clear.has(id)) await client.set(key, clear.get(id)!, 'KEEPTTL');
        } else if (type === 'zset') {
          for (const [member, score] of chunk(await client.zrange(key, 0, -1, 'WITHSCORES'))) {
            const memberParts = member.split(':');
            const value = clear.get(memberParts.at(-1)!);
            if (!value) continue;
            await client.zadd(key, score, [...memberParts.slice(0, -1), value].join(':'));
            await client.zrem(key, member);
          }
        }
      }
      // MongoDB: the refresh token's document keyed by the clear value.
      const refreshTokens = lastMongoDb!.collection<{ _id: string; payload: Record<string, unknown> }>(modelCollection('RefreshToken'));
      for (const document of await refreshTokens.find({}).toArray()) {
        const value = clear.get(document._id);
        if (!value) continue;
        await refreshTokens.insertOne({ ...document, _id: value, payload: { ...document.payload, jti: value } });
        await refreshTokens.deleteOne({ _id: document._id });
      }
      expect(await bearersFoundIn(server, backend, issued.bearers)).toEqual(expect.arrayContaining(['refresh token in MongoDB', 'access token in Redis']));

      expect(await rehashRedisBearerValues(client)).toBeGreaterThanOrEqual(4);
      expect(await rehashBearerValues(lastMongoDb!)).toBe(1);
      expect(await rehashRedisBearerValues(client)).toBe(0);
      expect(await rehashBearerValues(lastMongoDb!)).toBe(0);

      expect(await bearersFoundIn(server, backend, issued.bearers)).toEqual([]);
      await expectAllStillWork(server, issued);
    } finally {
      client.disconnect();
      await server.stop();
    }
  }, 90_000);
});

function chunk(flat: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return pairs;
}
