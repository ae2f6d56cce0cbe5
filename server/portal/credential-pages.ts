// The person's credentials: passkeys (list, add, name, remove), password, phone number (a one-time code to the
// current number, then one to the new number) and the personal network number. Adding or removing a passkey,
// changing the phone or the password and seeing the network number need a recent sign-in made on this device
// (password and code, or a passkey; never a scan approval: see sessions.ts); the password change also needs the
// current password. Every change that lets someone in is told to the person's phone.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { jsonAnswer } from '../../interactions/interaction.ts';
import { csrfValid } from '../../interactions/csrf.ts';
import { translator } from '../../interactions/i18n.ts';
import { DuplicateAccountError } from '../../adapters/types.ts';
import type { Accounts } from '../identity/accounts.ts';
import type { SecurityActivity, SecurityEventType } from '../identity/activity.ts';
import { formatNetworkNumber } from '../identity/network-number.ts';
import { RESEND_COOL_DOWN_SECONDS, type OneTimeCodes } from '../identity/one-time-codes.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, passwordProblem, personalStrings } from '../identity/password-policy.ts';
import type { Passkeys } from '../identity/passkeys.ts';
import { formatCountryCodes, normalisePhone, smsAllowed, type SmsCountryCodes } from '../identity/phone.ts';
import { maskPhone } from '../identity/sms.ts';
import type { SecurityNotifications } from '../identity/notifications.ts';
import type { CredentialThrottle, RateLimiterFactory } from '../identity/throttle.ts';
import { passkeyForm } from '../enrol/forms.ts';
import type { Logger } from '../logger.ts';
import type { PortalKit } from './kit.ts';
import { signedInRecently, type SignedIn } from './sessions.ts';
import { jsonEndpoint } from '../../interactions/page-errors.ts';

export interface CredentialPagesDependencies {
  kit: PortalKit;
  accounts: Accounts;
  passkeys: Passkeys;
  codes: OneTimeCodes;
  throttle: CredentialThrottle;
  activity: SecurityActivity;
  notifications: SecurityNotifications;
  rateLimiter: RateLimiterFactory;
  smsCountryCodes: SmsCountryCodes;
  logger: Logger;
}

/** New numbers one account may try in an hour: enough for typos, too few to ask which numbers have a Cyber ID. */
export const PHONE_CHANGE_TRIES_PER_HOUR = 5;

const PAGE = '/account/credentials';
const passwordForm = z.object({
  current: z.string().max(256).default(''),
  password: z.string().max(MAX_PASSWORD_LENGTH * 4).default(''),
  confirm: z.string().max(MAX_PASSWORD_LENGTH * 4).default(''),
});
const passkeyId = z.string().min(1).max(1024);

type FieldErrors = Partial<Record<string, string>>;
interface PageState {
  notice?: string;
  fieldErrors?: FieldErrors;
  params?: Record<string, string>;
  phone?: string;
  status?: number;
}

export function credentialPages(router: Router, { kit, accounts, passkeys, codes, throttle, activity, notifications, rateLimiter, smsCountryCodes, logger }: CredentialPagesDependencies): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });
  const phoneTries = rateLimiter({ keyPrefix: 'phone-change-tries', points: PHONE_CHANGE_TRIES_PER_HOUR, duration: 3600 });
  const t = translator('zh-CN'); // texts to Chinese numbers are written in Chinese, as at enrolment and sign-in
  const json = jsonEndpoint();
  const origin = (ctx: Context) => ({ userAgent: ctx.get('user-agent'), ip: ctx.ip });
  const record = (ctx: Context, person: SignedIn, type: SecurityEventType, detail: Record<string, string> = {}) => {
    logger.info({ event: `portal.${type}`, requestId: ctx.state.requestId }, 'credential changed');
    return activity.record(person.account.id, type, origin(ctx), detail);
  };

  async function show(ctx: Context, person: SignedIn, state: PageState = {}): Promise<void> {
    const fieldErrors = state.fieldErrors ?? {};
    await kit.render(ctx, person, 'credentials', 'account-credentials', {
      passkeys: await passkeys.list(person.account.id),
      recent: signedInRecently(person.session),
      phone: person.account.identity.phone ? maskPhone(person.account.identity.phone) : undefined,
      newPhone: state.phone ?? '',
      minLength: MIN_PASSWORD_LENGTH,
      notice: state.notice,
      fieldErrors,
      errors: Object.entries(fieldErrors).map(([field, key]) => ({ field, key: key!, params: state.params })),
      params: state.params ?? {},
    }, state.status);
  }

  router.get('/credentials', async (ctx) => {
    const person = await kit.person(ctx);
    if (person) await show(ctx, person);
  });
  router.get(['/password', '/phone', '/phone/confirm', '/passkeys/rename', '/passkeys/remove'], (ctx) => {
    ctx.status = 303;
    ctx.redirect(PAGE);
  });

  router.post('/password', form, async (ctx) => {
    const post = await kit.post(ctx, passwordForm);
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, PAGE)) return;
    const attempt = { account: person.account.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt);
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfter));
      return show(ctx, person, { fieldErrors: { current: 'login.error.locked' }, params: { minutes: String(Math.ceil(verdict.retryAfter / 60)) }, status: 429 });
    }
    if (!(await accounts.checkPassword(person.account.id, body.current))) {
      await throttle.failed(attempt);
      await record(ctx, person, 'sign_in_failed', { method: 'pwd' });
      return show(ctx, person, { fieldErrors: { current: 'account.credentials.error.current_wrong' }, status: 401 });
    }
    const { identity } = person.account;
    const problem = passwordProblem(body.password, personalStrings(identity));
    if (problem) return show(ctx, person, { fieldErrors: { password: `enrol.error.password_${problem}` }, params: { min: String(MIN_PASSWORD_LENGTH) }, status: 400 });
    if (body.password !== body.confirm) return show(ctx, person, { fieldErrors: { confirm: 'enrol.error.invalid.confirm' }, status: 400 });
    await accounts.changePassword(person.account.id, body.password);
    await record(ctx, person, 'password_changed');
    await notifications.tell(person.account.identity.phone, 'password_changed');
    return show(ctx, person, { notice: 'account.credentials.password_changed' });
  });

  router.post('/phone', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ phone: z.string().trim().max(32).default('') }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, PAGE)) return;
    const tried = await phoneTries.consume(person.account.id).then(() => undefined, (refusal: { msBeforeNext?: number }) => refusal);
    if (tried) {
      const seconds = Math.max(1, Math.ceil((tried.msBeforeNext ?? 3_600_000) / 1000));
      ctx.set('Retry-After', String(seconds));
      return show(ctx, person, { fieldErrors: { phone: 'account.credentials.error.phone_tries' }, params: { minutes: String(Math.ceil(seconds / 60)) }, phone: body.phone, status: 429 });
    }
    const phone = normalisePhone(body.phone);
    if (!phone) return show(ctx, person, { fieldErrors: { phone: 'enrol.error.phone_invalid' }, phone: body.phone, status: 400 });
    if (!smsAllowed(phone, smsCountryCodes)) return show(ctx, person, { fieldErrors: { phone: 'enrol.error.phone_not_allowed' }, params: { codes: formatCountryCodes(smsCountryCodes) }, phone: body.phone, status: 400 });
    if (phone === person.account.identity.phone) return show(ctx, person, { fieldErrors: { phone: 'account.credentials.error.phone_same' }, phone: body.phone, status: 400 });
    if (await accounts.isPhoneTaken(phone)) return show(ctx, person, { fieldErrors: { phone: 'enrol.error.phone_taken' }, phone: body.phone, status: 409 });
    // Whoever holds this session must also hold the current phone (when there is one): its code comes first.
    const current = person.account.identity.phone;
    const confirming = current ?? phone;
    const sent = await codes.send(`phone-change:${person.id}`, confirming, (code) => t(current ? 'sms.phone_change_old_code' : 'sms.phone_change_code', { code, minutes: '5' }));
    // A new number typed again within the minute: the code already on its way to the current phone still serves.
    const stillValid = !sent.sent && current !== null && sent.retryAfter <= RESEND_COOL_DOWN_SECONDS;
    if (!sent.sent && !stillValid) {
      ctx.set('Retry-After', String(sent.retryAfter));
      return show(ctx, person, { fieldErrors: { phone: 'login.code.wait' }, params: { seconds: String(sent.retryAfter) }, phone: body.phone, status: 429 });
    }
    await kit.sessions.update(person, { pendingPhone: phone, confirmingPhone: confirming });
    return showCode(ctx, person, {});
  });

  function showCode(ctx: Context, person: SignedIn, state: PageState): Promise<void> {
    const fieldErrors = state.fieldErrors ?? {};
    const confirmingOld = person.session.confirmingPhone !== person.session.pendingPhone;
    return kit.render(ctx, person, 'credentials', 'account-phone-code', {
      phone: maskPhone(person.session.confirmingPhone!),
      confirmingOld,
      fieldErrors,
      errors: Object.entries(fieldErrors).map(([field, key]) => ({ field, key: key!, params: state.params })),
    }, state.status);
  }

  router.post('/phone/confirm', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ code: z.string().trim().max(16).default('') }));
    if (!post) return;
    const { person, body } = post;
    const { pendingPhone: phone, confirmingPhone: confirming } = person.session;
    if (!phone || !confirming) return show(ctx, person);
    if (!/^\d{6}$/.test(body.code)) return showCode(ctx, person, { fieldErrors: { code: 'login.error.code_format' }, status: 400 });
    const attempt = { account: person.account.id, ip: ctx.ip };
    const verdict = await throttle.verdict(attempt, { code: true });
    if (!verdict.allowed) return showCode(ctx, person, { fieldErrors: { code: 'login.error.locked' }, params: { minutes: String(Math.ceil(verdict.retryAfter / 60)) }, status: 429 });
    const checked = await codes.check(`phone-change:${person.id}`, confirming, body.code);
    if (checked.result !== 'ok') {
      if (checked.result !== 'expired') await throttle.failed(attempt, { code: true });
      const key = { expired: 'login.error.code_expired', exhausted: 'login.error.code_exhausted', wrong: 'login.error.code_wrong' }[checked.result];
      return showCode(ctx, person, { fieldErrors: { code: key }, params: { left: String(checked.result === 'wrong' ? checked.guessesLeft : 0) }, status: 401 });
    }
    if (confirming !== phone) {
      // The current phone is confirmed; now the new one.
      const sent = await codes.send(`phone-change:${person.id}`, phone, (code) => t('sms.phone_change_code', { code, minutes: '5' }));
      await kit.sessions.update(person, { confirmingPhone: phone });
      if (!sent.sent) ctx.set('Retry-After', String(sent.retryAfter));
      return showCode(ctx, person, sent.sent ? {} : { fieldErrors: { code: 'login.code.wait' }, params: { seconds: String(sent.retryAfter) }, status: 429 });
    }
    const old = person.account.identity.phone;
    try {
      await accounts.changePhone(person.account.id, phone);
    } catch (error) {
      if (!(error instanceof DuplicateAccountError)) throw error;
      await kit.sessions.update(person, { pendingPhone: undefined, confirmingPhone: undefined });
      return show(ctx, person, { fieldErrors: { phone: 'enrol.error.phone_taken' }, status: 409 });
    }
    await kit.sessions.update(person, { pendingPhone: undefined, confirmingPhone: undefined });
    await record(ctx, person, 'phone_changed');
    await Promise.all([notifications.tell(old, 'phone_changed_old'), notifications.tell(phone, 'phone_changed')]);
    person.account.identity.phone = phone;
    return show(ctx, person, { notice: 'account.credentials.phone_changed' });
  });

  // Adding a passkey: /static/passkey.js in registration mode, JSON in and out.
  const passkeyPost = async (ctx: Context): Promise<SignedIn | undefined> => {
    if (!csrfValid(ctx, ctx.get('x-csrf-token'))) {
      jsonAnswer(ctx, 403, { error: 'invalid_request', error_description: 'missing or wrong CSRF token' });
      return undefined;
    }
    const person = await kit.sessions.current(ctx);
    if (!person || !signedInRecently(person.session)) {
      jsonAnswer(ctx, 401, { error: 'login_required', error_description: 'sign in again to add a passkey' });
      return undefined;
    }
    return person;
  };

  router.post('/passkeys/options', json, async (ctx) => {
    const person = await passkeyPost(ctx);
    if (person) jsonAnswer(ctx, 200, await passkeys.registrationOptions(`portal:${person.id}`, person.account));
  });

  router.post('/passkeys', json, async (ctx) => {
    const person = await passkeyPost(ctx);
    if (!person) return;
    const body = passkeyForm.safeParse(ctx.request.body);
    const added = body.success && await passkeys.register(`portal:${person.id}`, person.account.id, body.data.response as never, body.data.name);
    if (!added) return jsonAnswer(ctx, 400, { error: 'invalid_request', error_description: 'the passkey could not be added; try again' });
    await record(ctx, person, 'passkey_added');
    await notifications.tell(person.account.identity.phone, 'passkey_added');
    jsonAnswer(ctx, 200, { added: true });
  });

  router.post('/passkeys/rename', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ id: passkeyId, name: z.string().trim().max(40).default('') }));
    if (!post) return;
    const { person, body } = post;
    if (!body.name) return show(ctx, person, { fieldErrors: { [`name-${body.id}`]: 'account.credentials.error.name_missing' }, status: 400 });
    const renamed = await passkeys.rename(person.account.id, body.id, body.name);
    if (renamed) await record(ctx, person, 'passkey_renamed');
    return show(ctx, person, { notice: renamed ? 'account.credentials.passkey_renamed' : 'account.credentials.passkey_gone' });
  });

  router.post('/passkeys/remove', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ id: passkeyId }));
    if (!post) return;
    const { person, body } = post;
    if (!kit.recentOrSignInAgain(ctx, person, PAGE)) return;
    const removed = await passkeys.remove(person.account.id, body.id);
    if (removed) await record(ctx, person, 'passkey_removed');
    return show(ctx, person, { notice: removed ? 'account.credentials.passkey_removed' : 'account.credentials.passkey_gone' });
  });

  router.get('/network-number', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person || !kit.recentOrSignInAgain(ctx, person, '/account/network-number')) return;
    await record(ctx, person, 'network_number_viewed');
    await kit.render(ctx, person, 'credentials', 'account-network-number', { networkNumber: formatNetworkNumber(person.account.identity.networkNumber) });
  });
}
