// Picks the storage backend from configuration. Only the embedded store exists so far.
import type { Config } from '../server/config.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './types.ts';

export function openStore(config: Pick<Config, 'dataDir'>): Store {
  return openSqliteStore(config.dataDir);
}
