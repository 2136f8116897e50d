import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from './catalog.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The receive, catalog and drain stages: every code they log or throw must be in the catalog. */
const FILES = [
  'src/broker/broker.ts',
  'src/broker/client-hooks.ts',
  'src/broker/listeners.ts',
  'src/broker/warnings.ts',
  'src/catalog/catalog.ts',
  'src/catalog/catalog-edits.ts',
  'src/catalog/catalog-files.ts',
  'src/catalog/catalog-watch.ts',
  'src/catalog/record-problems.ts',
  'src/pipeline/drain.ts',
  'src/ingest/validate.ts',
  'src/ingest/reading-problems.ts',
  'src/tickets/ticket-store.ts',
];

/** A code written out (`'CP_ERR_SPOOL_IO'`) or named through the catalog (`ErrorCodes.SPOOL_IO`). */
const LITERAL = /\bCP_[A-Z]+_[A-Z0-9_]*[A-Z0-9]\b/g;
const NAMED = /\bErrorCodes\.([A-Z0-9_]+)\b/g;

const specs = Object.values(ErrorCodes);
const byCode = new Map(specs.map((s) => [s.code as string, s]));

function codesIn(file: string): string[] {
  const text = readFileSync(root + file, 'utf8');
  const named = [...text.matchAll(NAMED)].map((m) => (ErrorCodes as Record<string, { code: string } | undefined>)[m[1] as string]?.code ?? `ErrorCodes.${m[1]}`);
  return [...(text.match(LITERAL) ?? []), ...named];
}

describe('error catalog', () => {
  it('has one entry per code, each saying what happened', () => {
    expect(byCode.size).toBe(specs.length);
    for (const s of specs) expect(s.summary.length, s.code).toBeGreaterThan(20);
  });

  it.each(FILES)('knows every code %s uses', (file) => {
    const unknown = codesIn(file).filter((code) => !byCode.has(code));
    expect(unknown).toEqual([]);
  });

  it('sees the codes these stages log (the scan reads what it should)', () => {
    const seen = new Set(FILES.flatMap(codesIn));
    for (const code of ['CP_ERR_MQTT_SERVER', 'CP_ERR_CATALOG_LISTENER', 'CP_ERR_SPOOL_RECORD', 'CP_ERR_MQTT_ACL_DENIED']) {
      expect(seen.has(code), code).toBe(true);
    }
  });
});
