// Security notifications by SMS: whenever something changes who can get into the account (password, passkey,
// phone, recovery, "this wasn't me"), the person's phone is told what happened and what to do if it was not them.
// Texts are in Chinese, as every SMS to a Chinese number here; they never carry a code or a link that signs in.
import { translator } from '../../interactions/i18n.ts';
import type { Logger } from '../logger.ts';
import { chinaClock, todayInChina } from './claims.ts';
import type { SmsSender } from './sms.ts';

export const NOTICES = ['password_changed', 'passkey_added', 'phone_changed', 'phone_changed_old', 'password_recovered', 'phone_recovered', 'not_me'] as const;
export type Notice = (typeof NOTICES)[number];

export class SecurityNotifications {
  readonly #sms: SmsSender;
  readonly #issuer: string;
  readonly #logger: Logger;

  constructor(sms: SmsSender, issuer: string, logger: Logger) {
    this.#sms = sms;
    this.#issuer = issuer;
    this.#logger = logger;
  }

  /**
   * Tells `phone` (E.164; null for a child without a phone: nothing to send) about `notice`. A notification that
   * cannot be sent is logged and does not undo the change it reports: the change is already made and recorded in
   * the security activity.
   */
  async tell(phone: string | null, notice: Notice): Promise<void> {
    if (!phone) return;
    const t = translator('zh-CN');
    const text = t(`sms.notice.${notice}`, { time: chinaMinute(Date.now()), recover: `${this.#issuer}/recover` });
    try {
      await this.#sms.send(phone, text);
    } catch (error) {
      this.#logger.warn({ event: 'notice.not_sent', notice, err: { message: (error as Error).message } }, 'a security notification could not be sent');
    }
  }
}

/** "12月5日 14:03": China Standard Time, as the person reads it on their phone. */
function chinaMinute(epochMs: number): string {
  const [, month, day] = todayInChina(new Date(epochMs)).split('-').map(Number);
  return `${month}月${day}日 ${chinaClock(epochMs)}`;
}
