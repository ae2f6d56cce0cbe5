// Bearer values are stored only as hashes (DESIGN §6): after real flows on every backend — a sign-in at a platform
// (authorization code, access token, refresh token), the provider session, a portal session, an enrolment in
// progress, a sign-in in progress through PAR (request_uri, interaction cookies), an operator's client-credentials
// token, an initial access token and the registration access token of the client it registered — neither the SQLite file and its WAL (raw bytes), nor any Redis key or value, nor any MongoDB document
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
import { openStore } from '../adapters/index.ts';
import { openRedisBackend } from '../adapters/redis/index.ts';
import { rehashRedisBearerValues } from '../adapters/redis/migrate.ts';
import type { Store } from '../adapters/types.ts';
import { AuditLog } from '../server/admin/audit.ts';
import { ClientRegistry } from '../server/admin/client-registry.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { start } from '../server/main.ts';
import { MONGODB_LABEL, REAL_MONGODB } from './support/backends.ts';
import { FormBrowser, type Outcome } from './support/browser.ts';
import { mongoStandIn } from './support/mongo-stand-in.ts';
import { authorizationRequest, continueToPlatform, discover, PLATFORM_A, portalSignIn, redeem, signInAndConsent, type Person } from './support/platform.ts';
import { redisAvailable, startRedis, type RedisServer } from './support/redis.ts';
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
  store: Store;
  /** Every document of the MongoDB (stand-in) database, as JSON. */
  mongoDocuments?: () => Promise<string[]>;
  mongoDb?: Db;
  stop(): Promise<void>;
}

async function startInProcess(env: Record<string, string>, store?: () => Promise<{ store: Store; mongoDocuments: () => Promise<string[]> }>, options: { dataDir?: string; keep?: boolean } = {}): Promise<Running> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = loadConfig({ NODE_ENV: 'development', PORT: '0', CYBERID_DEMO_SITE_PORT: '0', CYBERID_DATA_DIR: dataDir, ...env });
  // The test holds the store too (the embedded one exactly as the server would open it), to add an operator client.
  const given = store ? await store() : { store: await openStore(config) };
  const server = await start(config, createLogger('silent'), { store: given.store });
  const adult = server.demoCredentials.find((person) => person.role === 'adult')!;
  return {
    url: server.url,
    dataDir,
    adult: { identifier: adult.networkNumber, password: adult.password, oneTimeCode: () => lastCodeSentTo(dataDir, adult.phone) },
    store: given.store,
    ...('mongoDocuments' in given ? { mongoDocuments: given.mongoDocuments } : {}),
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

/** Every key in Redis with its value (strings, hashes, sorted sets, sets, lists), as text: [key, key and value]. */
async function redisContents(url: string): Promise<[key: string, text: string][]> {
  const client = new Redis(url);
  try {
    const keys = await client.keys('*');
    const contents: [string, string][] = [];
    for (const key of keys) {
      const type = await client.type(key);
      let value = '';
      if (type === 'string') value = (await client.get(key)) ?? '';
      else if (type === 'hash') value = JSON.stringify(await client.hgetall(key));
      else if (type === 'zset') value = JSON.stringify(await client.zrange(key, 0, -1));
      else if (type === 'set') value = JSON.stringify(await client.smembers(key));
      else if (type === 'list') value = JSON.stringify(await client.lrange(key, 0, -1));
      contents.push([key, `${key}\n${value}`]);
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

const OPERATOR_ID = 'ops-at-rest';
const OPERATOR_SCOPES = 'clients:read clients:write';

/**
 * A sign-in at a platform (code, access and refresh token), the provider and portal sessions, an enrolment started,
 * a sign-in through PAR left at the sign-in page, an operator's client-credentials token, an initial access token
 * and the registration it made (registration access token).
 */
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

  // A sign-in through PAR, left at the sign-in page: the interaction holds the request_uri until it completes.
  const parBrowser = new FormBrowser(server.url);
  const verifier = oidc.randomPKCECodeVerifier();
  const parState = oidc.randomState();
  const parUrl = await oidc.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: PLATFORM_A.redirectUri, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    state: parState, scope: 'openid verified',
  });
  const requestUri = parUrl.searchParams.get('request_uri')!;
  const parOutcome = await parBrowser.open(parUrl);
  expect(parOutcome.kind === 'page' && parOutcome.page.doc.querySelector('input[name=password]') !== null).toBe(true);
  const par = { browser: parBrowser, outcome: parOutcome, verifier, state: parState, issuer: server.url, url: parUrl };

  // The provider's session and interaction cookies, the portal's session cookie (not their signatures).
  const cookies = [...await browser.jar.getCookies(server.url, { allPaths: true }), ...await parBrowser.jar.getCookies(server.url, { allPaths: true })]
    .filter((cookie) => !cookie.key.endsWith('.sig') && cookie.value.length >= 16);
  const cookieNames = cookies.map((cookie) => cookie.key);
  expect(cookieNames).toEqual(expect.arrayContaining(['_session', 'cyberid_account', '_interaction', '_interaction_resume']));

  // An operator client (as `cyberid clients add --operator` makes one), its admin API token, an initial access token
  // from the admin API and the registration access token of the client registered with it.
  const registry = new ClientRegistry({ store: server.store, validate: async () => {}, audit: new AuditLog(server.store.audit) });
  const { client_secret: secret } = await registry.add({ kind: 'operator', client_id: OPERATOR_ID, client_name: 'Operator at rest', scopes: OPERATOR_SCOPES.split(' ') }, 'test');
  const operator = await oidc.discovery(new URL(server.url), OPERATOR_ID, undefined, oidc.ClientSecretBasic(secret!), { execute: [oidc.allowInsecureRequests] });
  const resource = `${server.url}/admin/v1`;
  const adminToken = (await oidc.clientCredentialsGrant(operator, { scope: OPERATOR_SCOPES, resource })).access_token;
  const initial = await fetch(`${resource}/initial-access-tokens`, {
    method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', accept: 'application/json' }, body: '{}',
  });
  expect(initial.status).toBe(201);
  const initialAccessToken = (await initial.json() as { initial_access_token: string }).initial_access_token;
  const registered = await register(server.url, initialAccessToken);
  expect(registered.status).toBe(201);
  const registration = await registered.json() as { client_id: string; registration_access_token: string };
  const admin = { token: adminToken, resource, secret: secret!, initialAccessToken, clientId: registration.client_id, registrationAccessToken: registration.registration_access_token };

  const bearers: Record<string, string> = {
    'authorization code': code,
    'access token': tokens.access_token,
    'refresh token': tokens.refresh_token!,
    'enrolment id': enrolmentToken,
    'PAR request_uri': requestUri.slice(requestUri.lastIndexOf(':') + 1),
    'admin client-credentials token': adminToken,
    'initial access token': initialAccessToken,
    'registration access token': registration.registration_access_token,
    ...Object.fromEntries(cookies.map((cookie) => [`cookie ${cookie.key}`, cookie.value])),
  };
  return { bearers, tokens, browser, enrolmentToken, admin, par };
}

const register = (issuer: string, initialAccessToken: string) => fetch(`${issuer}/reg`, {
  method: 'POST',
  headers: { authorization: `Bearer ${initialAccessToken}`, 'content-type': 'application/json', accept: 'application/json' },
  body: JSON.stringify({ client_name: 'Registered at rest', redirect_uris: ['http://localhost:4031/callback'], scope: 'openid verified' }),
});

/**
 * Known and outside this change (see docs/decisions.md, "Storage and secrets"): the interaction id, which is the value
 * of the signed `_interaction` cookies, is still the clear key suffix and a field of two short-lived entries owned by
 * other modules: scan to sign in (`scan-of:<uid>`, and `interactionUid` in `scan:<hash>`, server/identity/scan-sign-in.ts)
 * and the sign-in progress (`sign-in:<uid>`, interactions/sign-in.ts). For these two cookies only, a find in such an
 * entry is allowed; anywhere else (the provider's own rows above all) it is not.
 */
const INTERACTION_ID_COOKIES = new Set(['cookie _interaction', 'cookie _interaction_resume']);
const INTERACTION_ID_HOLDERS = /^(cyberid:short:)?(scan-of|scan|sign-in):/;

/**
 * Where any of the bearer values is found in clear: the SQLite file and WAL (also as the bytes the value's base64url
 * decodes to), Redis, MongoDB.
 */
async function bearersFoundIn(server: Running, backend: { name: string; redis: boolean }, bearers: Record<string, string>): Promise<string[]> {
  const stored: [where: string, text: string, key?: string][] = [];
  const sqlite = backend.name.startsWith('sqlite');
  if (sqlite) stored.push(['the SQLite file and its WAL', sqliteBytes(server.dataDir)]);
  if (backend.redis) stored.push(...(await redisContents(redis.url)).map(([key, text]): [string, string, string] => ['Redis', text, key]));
  if (server.mongoDocuments) stored.push(...(await server.mongoDocuments()).map((text): [string, string] => ['MongoDB', text]));
  expect(stored.length).toBeGreaterThan(0);
  const forms = (value: string) => [value, Buffer.from(value, 'base64url').toString('latin1')];
  const found = Object.entries(bearers).flatMap(([name, value]) => stored
    .filter(([where, text, key]) => {
      if (!(where.startsWith('the SQLite') ? forms(value) : [value]).some((form) => text.includes(form))) return false;
      if (!INTERACTION_ID_COOKIES.has(name)) return true;
      if (key !== undefined) return !INTERACTION_ID_HOLDERS.test(key);
      // The raw file cannot say which row a value came from: the live rows must (none of the provider's, only those entries).
      return where.startsWith('the SQLite') && sqliteRowsHolding(server.dataDir, value).some((row) => !INTERACTION_ID_HOLDERS.test(row));
    })
    .map(([where]) => `${name} in ${where}`));
  return [...new Set(found)];
}

/** The live SQLite rows (`model:id` of the provider's, `key` of short-lived entries, other tables by name) holding `value`. */
function sqliteRowsHolding(dataDir: string, value: string): string[] {
  const db = new DatabaseSync(path.join(dataDir, 'cyberid.sqlite'), { readOnly: true });
  try {
    const rows: string[] = [];
    for (const { model, id, payload } of db.prepare('SELECT model, id, payload FROM oidc_models').all() as { model: string; id: string; payload: string }[]) {
      if (`${id} ${payload}`.includes(value)) rows.push(`${model}:${id}`);
    }
    for (const { key, value: text } of db.prepare('SELECT key, value FROM short_lived').all() as { key: string; value: string }[]) {
      if (`${key} ${text}`.includes(value)) rows.push(key);
    }
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('oidc_models', 'short_lived')").all() as { name: string }[]).map(({ name }) => name);
    for (const table of tables) {
      if ((db.prepare(`SELECT * FROM "${table}"`).all()).some((row) => JSON.stringify(row).includes(value))) rows.push(`table ${table}`);
    }
    return rows;
  } finally {
    db.close();
  }
}

async function expectAllStillWork(server: Running, { tokens, browser, enrolmentToken, admin, par }: Issued): Promise<void> {
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

  // The registration access token reads its client; the initial access token is found, and refused as used.
  const read = await fetch(`${server.url}/reg/${admin.clientId}`, { headers: { authorization: `Bearer ${admin.registrationAccessToken}`, accept: 'application/json' } });
  expect(read.status).toBe(200);
  expect(await read.json()).toMatchObject({ client_id: admin.clientId, client_name: 'Registered at rest' });
  const reused = await register(server.url, admin.initialAccessToken);
  expect([reused.status, (await reused.json() as { error_description: string }).error_description]).toEqual([401, 'initial access token already used']);

  const operator = await oidc.discovery(new URL(server.url), OPERATOR_ID, undefined, oidc.ClientSecretBasic(admin.secret), { execute: [oidc.allowInsecureRequests] });
  if (admin.resource === `${server.url}/admin/v1`) {
    const clients = await fetch(new URL('/admin/v1/clients', server.url), { headers: { authorization: `Bearer ${admin.token}`, accept: 'application/json' } });
    expect(clients.status).toBe(200);
  } else {
    // Restarted on another port, the token's resource names the old issuer, which the admin API refuses: introspect it.
    expect((await oidc.tokenIntrospection(operator, admin.token)).active).toBe(true);
  }

  // The sign-in left at the page completes (the interaction finds its pushed request and consumes it). Only where the
  // server still has the issuer the pages were served under.
  if (par.issuer === server.url) {
    const parCallback = await continueToPlatform(par.browser, par.outcome as Outcome, server.adult);
    const parTokens = await oidc.authorizationCodeGrant(config, parCallback, { pkceCodeVerifier: par.verifier, expectedState: par.state });
    expect(parTokens.access_token).toBeTruthy();
    // …and it was consumed through the interaction's reference to it: the request_uri does not start a sign-in again.
    const replay = await new FormBrowser(server.url).open(par.url);
    expect(replay.kind === 'page' ? { status: replay.page.status, signInForm: replay.page.doc.querySelector('input[name=password]') !== null } : { error: replay.location.searchParams.get('error') })
      .toEqual(replay.kind === 'page' ? { status: 400, signInForm: false } : { error: 'invalid_request_uri' });
  }

  // Revocation finds them too: the refreshed tokens and the admin token end.
  await oidc.tokenRevocation(config, refreshed.access_token);
  await oidc.tokenRevocation(config, refreshed.refresh_token!);
  expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
  expect((await oidc.tokenIntrospection(config, refreshed.refresh_token!)).active).toBe(false);
  await oidc.tokenRevocation(operator, admin.token);
  expect((await oidc.tokenIntrospection(operator, admin.token)).active).toBe(false);
}

/** The bearer values issued, with each one's stored hash: to put rows back as an earlier version wrote them. */
function byHash(bearers: Record<string, string>): Map<string, string> {
  return new Map(Object.values(bearers).map((value) => [bearerHash(value), value]));
}

/** A payload as an earlier version stored it: its own id as jti, an Interaction's pushed request by its clear id. */
function legacyPayload(payload: Record<string, unknown>, id: string, clear: Map<string, string>): string {
  const parJti = typeof payload.parJti === 'string' ? clear.get(payload.parJti) : undefined;
  return JSON.stringify({ ...payload, jti: id, ...(parJti ? { parJti } : {}) });
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
        if (value) db.prepare('UPDATE oidc_models SET id = ?, payload = ? WHERE model = ? AND id = ?').run(value, legacyPayload(JSON.parse(payload) as Record<string, unknown>, value, clear), model, id);
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
          await client.hset(clearKey, { ...fields, payload: legacyPayload(JSON.parse(fields.payload!) as Record<string, unknown>, value, clear) });
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
      // MongoDB: the refresh, initial access and registration access tokens' documents keyed by the clear value.
      for (const model of ['RefreshToken', 'InitialAccessToken', 'RegistrationAccessToken']) {
        const collection = lastMongoDb!.collection<{ _id: string; payload: Record<string, unknown> }>(modelCollection(model));
        for (const document of await collection.find({}).toArray()) {
          const value = clear.get(document._id);
          if (!value) continue;
          await collection.insertOne({ ...document, _id: value, payload: { ...document.payload, jti: value } });
          await collection.deleteOne({ _id: document._id });
        }
      }
      expect(await bearersFoundIn(server, backend, issued.bearers)).toEqual(expect.arrayContaining([
        'refresh token in MongoDB', 'initial access token in MongoDB', 'registration access token in MongoDB', 'access token in Redis', 'PAR request_uri in Redis',
      ]));

      expect(await rehashRedisBearerValues(client)).toBeGreaterThanOrEqual(4);
      expect(await rehashBearerValues(lastMongoDb!)).toBe(3);
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
