// Runs after the whole suite (`npm run jest:logs`, part of `npm test`): reads the log output of every process
// the suite started (test-artifacts/logs, see test/support/suite-log.ts) and looks for every seeded name,
// document number and phone number: the simulated registry's people, the demo accounts, and every phone
// number a test enrols with. None may appear: logs carry ids, codes and masked phones only.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SUITE_LOG_DIR } from '../support/suite-log.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Needle { kind: 'name' | 'document number' | 'phone'; value: string }

function seededPersonalData(): Needle[] {
  const registry = JSON.parse(readFileSync(path.join(ROOT, 'server/identity/simulation/registry.json'), 'utf8')) as {
    people: { name: string; documents: { number: string }[] }[];
  };
  const needles: Needle[] = registry.people.flatMap((person) => [
    { kind: 'name' as const, value: person.name },
    ...person.documents.map((document) => ({ kind: 'document number' as const, value: document.number })),
  ]);
  // Mainland mobile numbers as the demo seed and the tests write them; a log line holding +86… contains these too.
  const sources = [path.join(ROOT, 'server/demo/seed.ts'), ...readdirSync(path.join(ROOT, 'test')).filter((f) => f.endsWith('.ts')).map((f) => path.join(ROOT, 'test', f))];
  const phones = new Set(sources.flatMap((file) => readFileSync(file, 'utf8').match(/(?<!\d)1[3-9]\d{9}(?!\d)/g) ?? []));
  return [...needles, ...[...phones].map((value) => ({ kind: 'phone' as const, value }))];
}

/** Log lines: pino's JSON lines and anything on stderr; the development banner that introduces the demo people is not a log line. */
function logLines(): { file: string; line: number; text: string }[] {
  if (!existsSync(SUITE_LOG_DIR)) return [];
  return readdirSync(SUITE_LOG_DIR).flatMap((file) => readFileSync(path.join(SUITE_LOG_DIR, file), 'utf8').split('\n')
    .map((text, index) => ({ file, line: index + 1, text }))
    .filter(({ text }) => text.trim() && !/^\s+(adult|16-year-old)\b.*network number/.test(text)));
}

describe('the log output of the whole suite', () => {
  it('holds no seeded name, document number or phone number', () => {
    const needles = seededPersonalData();
    const lines = logLines();
    const files = new Set(lines.map((line) => line.file)).size;
    process.stdout.write(`searched ${lines.length} log lines from ${files} processes for ${needles.length} seeded values `
      + `(${needles.filter((n) => n.kind === 'name').length} names, ${needles.filter((n) => n.kind === 'document number').length} document numbers, ${needles.filter((n) => n.kind === 'phone').length} phones)\n`);
    expect(files).toBeGreaterThan(10); // the suite ran and its logs were kept
    expect(lines.some((line) => line.text.includes('"msg":"listening"'))).toBe(true);
    const found = lines.flatMap(({ file, line, text }) => needles.filter((needle) => text.includes(needle.value)).map((needle) => `${needle.kind} in ${file}:${line}`));
    expect(found).toEqual([]);
  });

  it('holds no scan token or interaction uid in a path: the access log writes their route template (/scan/:token)', () => {
    // The scan link's token (also a CIBA approval's link) and the interaction uid (/interaction/<uid>, /auth/<uid>)
    // are bearer values: whoever has one acts in the person's sign-in.
    const BEARER_PATH = /\/(scan|interaction|auth)\/(?!:)[A-Za-z0-9_-]{8,}/;
    const found = logLines().filter(({ text }) => BEARER_PATH.test(text)).map(({ file, line, text }) => `${file}:${line}: ${BEARER_PATH.exec(text)![0]}`);
    expect(found).toEqual([]);
  });
});
