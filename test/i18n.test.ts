// Every string on every page exists in both languages.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { catalogues } from '../interactions/i18n.ts';
import { ALL_CLAIMS } from '../server/identity/claims.ts';

const VIEWS = new URL('../interactions/views/', import.meta.url);

describe('message catalogues', () => {
  it('have the same keys in zh-CN and en, and no empty message', () => {
    expect(Object.keys(catalogues['zh-CN']).sort()).toEqual(Object.keys(catalogues.en).sort());
    for (const catalogue of Object.values(catalogues)) {
      for (const message of Object.values(catalogue)) expect(message.trim()).not.toBe('');
    }
  });

  it('use the same placeholders in both languages', () => {
    for (const [key, english] of Object.entries(catalogues.en)) {
      const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect([key, names(catalogues['zh-CN'][key]!)]).toEqual([key, names(english)]);
    }
  });

  it('hold every key the templates use literally, and a label and purpose for every claim', () => {
    const used = new Set<string>();
    for (const file of readdirSync(VIEWS)) {
      const template = readFileSync(new URL(file, VIEWS), 'utf8');
      for (const match of template.matchAll(/it\.t\('([\w.]+)'/g)) used.add(match[1]!);
    }
    // Keys the route code hands to the templates (field errors, error pages).
    for (const file of readdirSync(new URL('../interactions/', import.meta.url)).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(new URL(`../interactions/${file}`, import.meta.url), 'utf8');
      for (const match of source.matchAll(/(?<!event: )'((?:login|consent|error)\.[\w.]+)'/g)) used.add(match[1]!);
    }
    for (const claim of ALL_CLAIMS) used.add(`claim.${claim}.label`).add(`claim.${claim}.purpose`);
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((key) => !(key in catalogues.en) || !(key in catalogues['zh-CN']));
    expect(missing).toEqual([]);
  });
});
