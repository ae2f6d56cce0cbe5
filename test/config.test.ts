// Configuration: the schema's decisions, and the README documenting every variable it reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig } from '../server/config.ts';

const SECRET = Buffer.alloc(32, 9).toString('base64');

describe('configuration', () => {
  it('documents every environment variable in the README configuration table', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of ENVIRONMENT_VARIABLES) expect([name, readme.includes(`| \`${name}\` |`)]).toEqual([name, true]);
  });

  it('defaults to a localhost issuer, the demo and the example clients in development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ production: false, port: 3000, issuer: 'http://localhost:3000', demo: true, clientsFile: 'clients.example.json' });
  });

  it('accepts an http issuer on localhost in production, and keeps the given secrets', () => {
    const config = loadConfig({
      NODE_ENV: 'production', CYBERID_ISSUER: 'http://localhost:8080', CYBERID_COOKIE_KEYS: `${'k'.repeat(32)}, ${'j'.repeat(40)}`,
      CYBERID_PAIRWISE_SECRET: SECRET, CYBERID_ENCRYPTION_KEY: SECRET, CYBERID_LOOKUP_SECRET: SECRET,
      CYBERID_REGISTRY_URL: 'https://registry.example.cn/v1', CYBERID_FACE_VERIFIER_URL: 'https://face.example.cn/v1', CYBERID_SMS_URL: 'https://sms.example.cn/send',
    });
    expect(config.demo).toBe(false);
    expect(config.authorities).toEqual({ registry: 'https://registry.example.cn/v1', faceVerifier: 'https://face.example.cn/v1', sms: 'https://sms.example.cn/send' });
    expect(config.clientsFile).toBeUndefined();
    expect(config.secrets.cookieKeys).toEqual(['k'.repeat(32), 'j'.repeat(40)]);
    expect(config.secrets.encryptionKey).toEqual(Buffer.alloc(32, 9));
  });

  it('rejects malformed values with the variable named', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ CYBERID_PROXY: 'maybe' })).toThrow(/CYBERID_PROXY/);
    expect(() => loadConfig({ CYBERID_ENCRYPTION_KEY: Buffer.alloc(48).toString('base64') })).toThrow(/exactly 32 bytes/);
    expect(() => loadConfig({ CYBERID_LOOKUP_SECRET: 'correct horse battery staple correct horse battery' })).toThrow(/CYBERID_LOOKUP_SECRET must be base64/);
    // openssl's wrapped output is accepted as printed
    const wrapped = `${Buffer.alloc(64, 3).toString('base64').slice(0, 64)}\n${Buffer.alloc(64, 3).toString('base64').slice(64)}\n`;
    expect(loadConfig({ CYBERID_LOOKUP_SECRET: wrapped }).secrets.lookupSecret).toEqual(Buffer.alloc(64, 3));
    expect(() => loadConfig({ NODE_ENV: 'production', CYBERID_ISSUER: 'HTTPS://id.example.cn' })).toThrow(/CYBERID_PROXY must be true/);
    expect(() => loadConfig({ NODE_ENV: 'production', CYBERID_SMS_URL: 'http://sms.example.cn/send' })).toThrow(/CYBERID_SMS_URL must use https in production/);
    try {
      loadConfig({ NODE_ENV: 'production' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      // Issuer, four secrets, and the three authorities (no simulation in production).
      expect((error as ConfigError).problems).toHaveLength(8);
      expect((error as ConfigError).message).toMatch(/CYBERID_REGISTRY_URL must be set in production/);
    }
  });

  it('chooses the storage: embedded by default, Redis for short-lived data, MongoDB only together with Redis', () => {
    expect(loadConfig({}).storage).toEqual({ mongodb: undefined, redis: undefined });
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379' }).storage).toEqual({ mongodb: undefined, redis: { url: 'redis://cache:6379', cluster: false } });
    expect(loadConfig({ MONGODB_URI: 'mongodb+srv://db.example.cn', REDIS_URL: 'rediss://u:p@cache:6380', CYBERID_REDIS_CLUSTER: 'true' }).storage).toEqual({
      mongodb: { uri: 'mongodb+srv://db.example.cn', database: 'cyberid' }, redis: { url: 'rediss://u:p@cache:6380', cluster: true },
    });
    expect(() => loadConfig({ MONGODB_URI: 'mongodb://db' })).toThrow(/REDIS_URL must be set with MONGODB_URI/);
    expect(() => loadConfig({ MONGODB_URI: 'postgres://db', REDIS_URL: 'redis://cache' })).toThrow(/MONGODB_URI: must be a mongodb/);
    expect(() => loadConfig({ REDIS_URL: 'cache:6379' })).toThrow(/REDIS_URL: must be a redis/);
    expect(() => loadConfig({ CYBERID_REDIS_CLUSTER: 'true' })).toThrow(/CYBERID_REDIS_CLUSTER needs REDIS_URL/);
    expect(() => loadConfig({ MONGODB_URI: 'mongodb://db', REDIS_URL: 'redis://cache', MONGODB_DATABASE: 'a.b' })).toThrow(/MONGODB_DATABASE/);
  });

  it('trusts loopback as the proxy by default, and only the proxies named in CYBERID_TRUSTED_PROXIES', () => {
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(loadConfig({ CYBERID_PROXY: 'true' }).trustedProxies).toEqual(['127.0.0.0/8', '::1']);
    expect(loadConfig({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7 ,fd00::/8' }).trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
    expect(() => loadConfig({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/CYBERID_TRUSTED_PROXIES: must be IP addresses or CIDR ranges/);
    expect(() => loadConfig({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: 'proxy.internal' })).toThrow(/CYBERID_TRUSTED_PROXIES/);
    expect(() => loadConfig({ CYBERID_PROXY: 'true', CYBERID_TRUSTED_PROXIES: ' , ' })).toThrow(/at least one/);
    expect(() => loadConfig({ CYBERID_TRUSTED_PROXIES: '10.0.0.1' })).toThrow(/CYBERID_TRUSTED_PROXIES needs CYBERID_PROXY=true/);
  });

  it('keeps /metrics and the details of /readyz off the public port except in development without a metrics port', () => {
    expect(loadConfig({})).toMatchObject({ operationsOnPublicPort: true, metrics: { port: undefined, host: '127.0.0.1' } });
    expect(loadConfig({ CYBERID_METRICS_PORT: '9464' })).toMatchObject({ operationsOnPublicPort: false, metrics: { port: 9464, host: '127.0.0.1' } });
    expect(loadConfig({ CYBERID_METRICS_PORT: '9464', CYBERID_METRICS_HOST: '10.1.2.3' }).metrics).toEqual({ port: 9464, host: '10.1.2.3' });
    expect(() => loadConfig({ PORT: '3000', CYBERID_METRICS_PORT: '3000' })).toThrow(/CYBERID_METRICS_PORT must differ from PORT/);
  });
});
