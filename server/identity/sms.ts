// The SmsSender port. In development the simulation writes each message to an outbox file in the data
// directory and to the log (with the phone number masked); HttpSmsSender is where an SMS gateway plugs in.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { postJson } from './registry.ts';

export interface SmsSender {
  /** `to` is E.164. */
  send(to: string, text: string): Promise<void>;
}

/** +8613800138000 → +86138****8000: enough to tell phones apart in a log, not enough to call one. */
export function maskPhone(e164: string): string {
  return `${e164.slice(0, -8)}****${e164.slice(-4)}`;
}

export const OUTBOX_FILE = 'sms-outbox.jsonl';

/** SIMULATION: the outbox file (one JSON line per message, mode 0600) and the log. */
export class OutboxSmsSender implements SmsSender {
  readonly #file: string;
  readonly #logger: Logger;

  constructor(dataDir: string, logger: Logger) {
    this.#file = path.join(dataDir, OUTBOX_FILE);
    this.#logger = logger;
  }

  async send(to: string, text: string): Promise<void> {
    await appendFile(this.#file, `${JSON.stringify({ at: new Date().toISOString(), to, text })}\n`, { mode: 0o600 });
    this.#logger.info({ event: 'sms.outbox', to: maskPhone(to), text }, 'simulated SMS written to the outbox');
  }
}

/** An SMS gateway: POST {url} {to, text}; any 2xx JSON answer counts as accepted. */
export class HttpSmsSender implements SmsSender {
  readonly #url: URL;

  constructor(url: string) {
    this.#url = new URL(url);
  }

  async send(to: string, text: string): Promise<void> {
    await postJson(this.#url, { to, text });
  }
}
