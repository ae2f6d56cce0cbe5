// `npm run demo`: the provider in development mode (simulated registry, demo people) and two demo platforms from
// clients.example.json, Platform A (City Services) and Platform B (Exams), each on the port its redirect URI names.
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { printDemoBanner, start } from '../server/main.ts';
import { startDemoPlatform, type DemoPlatform } from './platform.ts';

interface ExampleClient {
  client_id: string;
  client_secret: string;
  client_name: string;
  redirect_uris: string[];
  scope: string;
}

const SHOWN = ['platform-a', 'platform-b'];

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ LOG_LEVEL: 'warn', ...process.env, CYBERID_DEMO: 'true' });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const provider = await start(config, createLogger(config.logLevel));
  const file = JSON.parse(readFileSync(config.clientsFile ?? 'clients.example.json', 'utf8')) as { clients: ExampleClient[] };
  const clients = SHOWN.map((id) => file.clients.find((client) => client.client_id === id)!);
  const ports = clients.map((client) => Number(new URL(client.redirect_uris[0]!).port));
  const platforms: DemoPlatform[] = [];
  for (const [index, client] of clients.entries()) {
    const other = clients[1 - index]!;
    platforms.push(await startDemoPlatform({
      issuer: provider.url, clientId: client.client_id, clientSecret: client.client_secret, name: client.client_name,
      port: ports[index]!, scope: client.scope.replace(' offline_access', ''),
      other: { name: other.client_name, url: `http://localhost:${ports[1 - index]}/` },
    }));
  }
  printDemoBanner(provider.url, provider.demoCredentials);
  process.stdout.write(`Demo platforms:\n${platforms.map((p, i) => `  ${clients[i]!.client_name.padEnd(45)} ${p.url}`).join('\n')}\n`
    + `Sign in at each with the same person: each receives a different sub. One-time codes are in ${config.dataDir}/sms-outbox.jsonl.\n`);
  const stop = async () => {
    for (const platform of platforms) await platform.close();
    await provider.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

await main();
