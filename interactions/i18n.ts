// Message catalogues (zh-CN, en) and the choice between them: an explicit switch (?lang=, remembered in a
// cookie) wins over Accept-Language; Chinese is the default.
import { readFileSync } from 'node:fs';
import type { Context } from 'koa';

export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export type Translate = (key: string, params?: Record<string, string>) => string;

const LANGUAGE_COOKIE = 'cyberid_lang';

export const catalogues: Record<Language, Record<string, string>> = {
  'zh-CN': load('zh-CN'),
  en: load('en'),
};

function load(language: Language): Record<string, string> {
  return JSON.parse(readFileSync(new URL(`./i18n/${language}.json`, import.meta.url), 'utf8')) as Record<string, string>;
}

/**
 * The first language of a platform's `ui_locales` (space-separated BCP 47 tags, in order of preference) that we have:
 * `zh`, `zh-CN`, `zh-Hans…` are Chinese, `en` and `en-*` English.
 */
export function fromUiLocales(uiLocales: unknown): Language | undefined {
  if (typeof uiLocales !== 'string') return undefined;
  for (const tag of uiLocales.split(' ').map((value) => value.toLowerCase())) {
    if (tag === 'zh' || tag.startsWith('zh-')) return 'zh-CN';
    if (tag === 'en' || tag.startsWith('en-')) return 'en';
  }
  return undefined;
}

function isLanguage(value: unknown): value is Language {
  return LANGUAGES.includes(value as Language);
}

export function chooseLanguage(ctx: Context): Language {
  const asked = ctx.query.lang;
  if (isLanguage(asked)) {
    ctx.cookies.set(LANGUAGE_COOKIE, asked, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 365 * 24 * 3600_000, overwrite: true });
    return asked;
  }
  const requested = fromUiLocales(ctx.state?.uiLocales);
  if (requested) return requested;
  const remembered = ctx.cookies.get(LANGUAGE_COOKIE);
  if (isLanguage(remembered)) return remembered;
  const accepted = ctx.acceptsLanguages('zh-CN', 'zh', 'en');
  return accepted === 'en' ? 'en' : 'zh-CN';
}

export function translator(language: Language): Translate {
  const catalogue = catalogues[language];
  return (key, params = {}) => {
    const message = catalogue[key];
    if (message === undefined) throw new Error(`message "${key}" is missing from the ${language} catalogue`);
    return message.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole);
  };
}
