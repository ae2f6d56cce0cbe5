// Connected platforms (what each holds, first and last use, revoke) and the disclosure ledger (filter,
// export as JSON and CSV).
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { DisclosureFilter, DisclosureRecord } from '../../adapters/types.ts';
import type { SecurityActivity } from '../identity/activity.ts';
import type { DisclosureLedger } from '../identity/ledger.ts';
import type { Logger } from '../logger.ts';
import type { Connections } from './connections.ts';
import type { PortalKit } from './kit.ts';

export interface PlatformPagesDependencies {
  kit: PortalKit;
  connections: Connections;
  ledger: DisclosureLedger;
  activity: SecurityActivity;
  platformName: (clientId: string) => Promise<string>;
  logger: Logger;
}

/** Dates on the history filter are calendar days in China Standard Time, like birth dates. */
const CHINA_OFFSET = '+08:00';
const DAY_MS = 24 * 3600 * 1000;
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00${CHINA_OFFSET}`)), 'not a date');
const historyQuery = z.object({
  platform: z.string().max(128).optional(),
  from: z.union([day, z.literal('')]).optional(),
  to: z.union([day, z.literal('')]).optional(),
});

export function platformPages(router: Router, { kit, connections, ledger, activity, platformName, logger }: PlatformPagesDependencies): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '4kb' });

  const showPlatforms = async (ctx: Context, person: NonNullable<Awaited<ReturnType<PortalKit['person']>>>, notice?: { key: string; platform: string }) => {
    await kit.render(ctx, person, 'platforms', 'account-platforms', { platforms: await connections.list(person.account.id), notice });
  };

  router.get('/', async (ctx) => {
    const person = await kit.person(ctx);
    if (person) await showPlatforms(ctx, person);
  });

  router.post('/platforms/revoke', form, async (ctx) => {
    const post = await kit.post(ctx, z.object({ platform: z.string().min(1).max(128) }));
    if (!post) return;
    const { person, body } = post;
    const revoked = await connections.revoke(person.account.id, body.platform);
    if (revoked) {
      await activity.record(person.account.id, 'platform_revoked', { userAgent: ctx.get('user-agent'), ip: ctx.ip }, { platform: body.platform });
      logger.info({ event: 'portal.platform_revoked', client: body.platform, requestId: ctx.state.requestId }, 'the person revoked a platform');
    }
    await showPlatforms(ctx, person, { key: revoked ? 'account.platforms.revoked' : 'account.platforms.not_connected', platform: await platformName(body.platform) });
  });

  /** The ledger entries the query asks for, with the filter as the page shows it. */
  async function entries(ctx: Context, accountId: string) {
    const query = historyQuery.parse(ctx.query);
    const filter: DisclosureFilter = {
      clientId: query.platform || undefined,
      from: query.from ? Date.parse(`${query.from}T00:00:00${CHINA_OFFSET}`) : undefined,
      to: query.to ? Date.parse(`${query.to}T00:00:00${CHINA_OFFSET}`) + DAY_MS : undefined,
    };
    const records = await ledger.list(accountId, filter);
    const names = new Map<string, string>();
    for (const record of records) if (!names.has(record.clientId)) names.set(record.clientId, await platformName(record.clientId));
    return { query, records: records.map((record) => ({ ...record, platform: names.get(record.clientId)! })) };
  }

  router.get('/history', async (ctx) => {
    const person = await kit.person(ctx);
    if (!person) return;
    const { query, records } = await entries(ctx, person.account.id);
    const usage = await ledger.usage(person.account.id);
    const platforms = await Promise.all(usage.map(async ({ clientId }) => ({ clientId, name: await platformName(clientId) })));
    const exportQuery = new URLSearchParams(Object.entries(query).filter(([, value]) => value) as [string, string][]).toString();
    await kit.render(ctx, person, 'history', 'account-history', {
      records, platforms, query, retentionDays: ledger.retentionDays,
      exportJson: `/account/history.json${exportQuery ? `?${exportQuery}` : ''}`,
      exportCsv: `/account/history.csv${exportQuery ? `?${exportQuery}` : ''}`,
    });
  });

  router.get(['/history.json', '/history.csv'], async (ctx) => {
    const person = await kit.person(ctx);
    if (!person) return;
    const { query, records } = await entries(ctx, person.account.id);
    const date = new Date().toISOString().slice(0, 10);
    const csv = ctx.path.endsWith('.csv');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="cyberid-disclosures-${date}.${csv ? 'csv' : 'json'}"`);
    if (csv) {
      ctx.type = 'text/csv; charset=utf-8';
      ctx.body = toCsv(records);
      return;
    }
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = JSON.stringify({
      generated_at: new Date().toISOString(),
      retention_days: ledger.retentionDays,
      filter: { platform: query.platform || null, from: query.from || null, to: query.to || null },
      entries: records.map(exported),
    }, null, 2);
  });
}

function exported(record: DisclosureRecord & { platform: string }) {
  return { time: new Date(record.at).toISOString(), platform_id: record.clientId, platform: record.platform, claims: record.claims, acr: record.acr, channel: record.channel };
}

/** RFC 4180 CSV with a header row; a cell that a spreadsheet would run as a formula is quoted as text. */
function toCsv(records: (DisclosureRecord & { platform: string })[]): string {
  const cell = (value: string) => {
    const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const header = ['time', 'platform_id', 'platform', 'claims', 'acr', 'channel'];
  const rows = records.map((record) => {
    const row = exported(record);
    return [row.time, row.platform_id, row.platform, row.claims.join(' '), row.acr ?? '', row.channel];
  });
  return `${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`;
}
