// oidc-provider's CIBA feature (poll mode) wired to Cyber ID: who the platform means (the network number the
// person tells it), whether the platform admits them, the SMS that takes them to the approval page, and what
// an approval or a refusal hands back to the polling platform. The approval page is interactions/scan-approval-routes.ts.
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { chooseLanguage, translator, LANGUAGES, type Language } from '../interactions/i18n.ts';
import type { Accounts } from './identity/accounts.ts';
import type { PlatformAdmission } from './identity/admission.ts';
import type { DecoupledRequest, DecoupledSignIns } from './identity/decoupled-sign-in.ts';
import type { SmsSender } from './identity/sms.ts';
import type { ClientPolicy } from './policy.ts';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export interface CibaDependencies {
  issuer: string;
  accounts: Accounts;
  admission: PlatformAdmission;
  decoupled: DecoupledSignIns;
  sms: SmsSender;
}

/** Printable text in any script, up to 40 characters: it is shown on the platform's screen and on the person's phone. */
const BINDING_MESSAGE = /^[\p{L}\p{N}\p{Zs}\-.,:#/+]{1,40}$/u;

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

export function cibaFeature(deps: CibaDependencies | undefined): CibaFeature {
  return {
    enabled: true,
    deliveryModes: ['poll'],
    processLoginHint: async (ctx, loginHint) => {
      if (!deps) return undefined;
      const account = await deps.accounts.findByNetworkNumber(loginHint ?? '');
      // Someone without a phone (a child enrolled by a guardian) cannot be asked on a device.
      if (account?.status !== 'active' || !account.identity.phone) return undefined;
      const policy = (ctx.oidc.client as unknown as { cyberid_policy: ClientPolicy }).cyberid_policy;
      if (!(await deps.admission.admit(account, ctx.oidc.client!.clientId, policy)).admitted) {
        throw new errors.AccessDenied('this platform does not admit this person yet');
      }
      return account.id;
    },
    processLoginHintToken: async () => {
      throw new errors.InvalidRequest('login_hint_token is not supported: send the person\'s network number as login_hint');
    },
    validateBindingMessage: async (_ctx, message) => {
      if (message !== undefined && !BINDING_MESSAGE.test(message)) {
        throw new errors.InvalidBindingMessage('binding_message must be 1–40 letters, digits, spaces or - . , : # / +');
      }
    },
    validateRequestContext: async () => {},
    verifyUserCode: async (_ctx, _account, userCode) => {
      if (userCode !== undefined) throw new errors.InvalidRequest('user_code is not supported');
    },
    triggerAuthenticationDevice: async (ctx, request, account, client) => {
      if (!deps) throw new Error('CIBA is not served by this process');
      const person = (await deps.accounts.findById(account.accountId))!;
      const message = ctx.oidc.params!.binding_message as string | undefined;
      const token = await deps.decoupled.start({
        authReqId: request.jti, clientId: client.clientId, accountId: person.id, scope: request.scope ?? 'openid',
        bindingMessage: message, expiresAt: Date.now() + request.expiration * 1000,
      });
      const t = translator(languageOf(ctx));
      await deps.sms.send(person.identity.phone!, t(message ? 'sms.decoupled_with_message' : 'sms.decoupled', {
        platform: client.clientName ?? client.clientId, message: message ?? '', url: new URL(`/scan/${token}`, deps.issuer).href,
      }));
    },
  };
}

/** The request's ui_locales when it names one we speak, else the platform's Accept-Language, else Chinese. */
function languageOf(ctx: KoaContextWithOIDC): Language {
  const asked = String(ctx.oidc.params?.ui_locales ?? '').split(' ').find((tag) => (LANGUAGES as readonly string[]).includes(tag));
  return (asked as Language | undefined) ?? chooseLanguage(ctx);
}

/**
 * The person's answer, handed to the polling platform: approval grants the requested scopes (the page showed
 * what they release) at the level of the approving device's sign-in; a refusal becomes access_denied.
 */
export async function answerDecoupled(provider: Provider, request: DecoupledRequest, answer: { approved: false } | { approved: true; acr: string; amr: string[] }): Promise<void> {
  if (!answer.approved) {
    await provider.backchannelResult(request.authReqId, new errors.AccessDenied('the person declined'));
    return;
  }
  const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
  grant.addOIDCScope(request.scope);
  await grant.save();
  await provider.backchannelResult(request.authReqId, grant, { acr: answer.acr, amr: answer.amr, authTime: Math.floor(Date.now() / 1000) });
}
