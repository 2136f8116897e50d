import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, NoticeCodes } from './catalog.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every `'CP_…'` string literal in src (tests excluded), with the files that use it. */
function codesUsedInSource(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const rel of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.test.ts')) continue;
    const text = readFileSync(path.join(SRC, rel), 'utf8');
    for (const m of text.matchAll(/['"`](CP_(?:ERR|WARN|INFO)_[A-Z0-9_]*[A-Z0-9])['"`]/g)) {
      const files = used.get(m[1]!) ?? [];
      used.set(m[1]!, [...files, rel.split(path.sep).join('/')]);
    }
  }
  return used;
}

const catalogued: ReadonlySet<string> = new Set([...Object.values(ErrorCodes), ...Object.values(NoticeCodes)].map((s) => s.code));

describe('the error catalog', () => {
  it('lists every code the source logs or throws', () => {
    const used = codesUsedInSource();
    expect(used.size).toBeGreaterThan(10); // the scan found the source
    const missing = [...used].filter(([code]) => !catalogued.has(code)).map(([code, files]) => `${code} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('has each code once, with a summary (and a fix for notices)', () => {
    const all = [...Object.values(ErrorCodes), ...Object.values(NoticeCodes)];
    expect(new Set(all.map((s) => s.code)).size).toBe(all.length);
    for (const s of all) expect(s.summary.length, s.code).toBeGreaterThan(10);
    for (const n of Object.values(NoticeCodes)) expect(n.fix.length, n.code).toBeGreaterThan(10);
  });
});
