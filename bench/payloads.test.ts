import { describe, expect, it } from 'vitest';
import { deviceType } from '../src/device-types/registry.js';
import { toLine } from '../src/sink/influx/line-protocol.js';
import { BENCH_DEVICE_TYPES, batchPayload, lineFor, measurementOf, readingBuilder } from './payloads.js';

const NOW = 1_780_000_000_000;
// Seqs that hit the edges of every modulo the builders use, and one that makes a long decimal.
const SEQS = [0, 1, 6, 24, 99, 999, 1000, 123_457];

describe('bench payloads', () => {
  for (const type of BENCH_DEVICE_TYPES) {
    const def = deviceType(type)!;

    it(`${type}: every reading passes the schema and becomes exactly the line lineFor() predicts`, () => {
      for (const seq of SEQS) {
        const payload = readingBuilder(type)(NOW + seq, seq);
        const parsed = def.schema.safeParse(JSON.parse(payload));
        expect(parsed.success, `${payload}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
        const { ts, ...fields } = parsed.data as Record<string, number | string>;
        expect(ts).toBe(NOW + seq);
        const line = toLine(def, { type, deviceId: 'bench-d1', timeMs: NOW + seq, stampedAtReceive: false, fields, index: undefined }, 'bench');
        expect(lineFor(type, 'bench-d1', 'bench', seq, NOW + seq)).toBe(line);
      }
      expect(measurementOf(type)).toBe(def.measurement);
    });

    it(`${type}: a batch payload is an array of valid readings with consecutive seqs, the last at lastTs`, () => {
      const batch = JSON.parse(batchPayload(type, 40, 5, NOW)) as Record<string, unknown>[];
      expect(batch.map((r) => r.seq)).toEqual([40, 41, 42, 43, 44]);
      expect(batch.at(-1)!.ts).toBe(NOW);
      for (const r of batch) expect(def.schema.safeParse(r).success).toBe(true);
    });
  }
});
