// The SmsSender port. In development the simulation writes each message to an outbox file in the data
// directory and to the log (with the phone number masked); HttpSmsSender is where an SMS gateway plugs in.
// Whichever it is, server/main.ts wraps it in CountryRestrictedSmsSender, so no SMS leaves for a country the
// operator has not allowed, whoever asks for it.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { smsAllowed, type SmsCountryCodes } from './phone.ts';
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
    // The text may carry an approval link (/scan/<token>, a bearer value): the log gets it without the token.
    this.#logger.info({ event: 'sms.outbox', to: maskPhone(to), text: text.replace(/\/scan\/[A-Za-z0-9_-]+/g, '/scan/…') }, 'simulated SMS written to the outbox');
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

/**
 * An SMS refused because its number is outside `CYBERID_SMS_COUNTRY_CODES`. The message never holds the number.
 * A 4xx for whichever route lets it escape: the request asked for something the operator does not offer.
 */
export class SmsNotAllowedError extends Error {
  readonly status = 422;
  readonly expose = true;

  constructor() {
    super('SMS are not sent to this number: its country is not in CYBERID_SMS_COUNTRY_CODES');
    this.name = 'SmsNotAllowedError';
  }
}

/**
 * The one gate every SMS goes through (enrolment and sign-in codes, the portal, notifications): numbers outside
 * the allowed countries are refused before the gateway is asked, since SMS pumping to expensive foreign numbers
 * costs real money. Routes check `smsAllowed` first to give the person a clear message; this makes sure of it.
 */
export class CountryRestrictedSmsSender implements SmsSender {
  readonly #inner: SmsSender;
  readonly #countryCodes: SmsCountryCodes;
  readonly #logger: Logger;

  constructor(inner: SmsSender, countryCodes: SmsCountryCodes, logger: Logger) {
    this.#inner = inner;
    this.#countryCodes = countryCodes;
    this.#logger = logger;
  }

  async send(to: string, text: string): Promise<void> {
    if (!smsAllowed(to, this.#countryCodes)) {
      this.#logger.warn({ event: 'sms.refused', to: maskPhone(to) }, 'SMS refused: the number is outside CYBERID_SMS_COUNTRY_CODES');
      throw new SmsNotAllowedError();
    }
    await this.#inner.send(to, text);
  }
}
