import { describe, expect, it } from 'vitest';
import { TestCatalog, device } from '../dispatch/testing/fixtures.js';
import { RECEIVE_STAMP_WINDOW_MS } from '../ingest/receive-clock.js';
import { IngestPipeline } from './ingest.js';

const bin = device({ id: 'bin-9', type: 'waste-bin', district: 'Centrum' });
const ingest = () =>
  new IngestPipeline({
    catalog: new TestCatalog([bin]),
    validate: { maxPayloadBytes: 1 << 20, maxBatch: 1000, maxAgeMs: 7 * 86_400_000, maxFutureMs: 300_000, maxDeadLetterPayloadBytes: 4096 },
  });

function batch(n: number, withTs = false, now = Date.now()): Buffer {
  return Buffer.from(JSON.stringify(Array.from({ length: n }, (_, i) => ({ ...(withTs ? { ts: now - n + i } : {}), fillingLevel: (i % 100) / 100 }))));
}

const timeOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));

describe('IngestPipeline receive-time stamps', () => {
  it('stamps no reading later than a second after receipt: 30 batches of 1,000 without ts', () => {
    const pipeline = ingest();
    const receivedAt = Date.parse('2026-06-01T12:00:00Z');
    let stored = 0;
    let refused = 0;
    let latest = 0;
    for (let i = 0; i < 30; i++) {
      const o = pipeline.decide({ topic: `city/waste-bin/${bin.id}/telemetry`, payload: batch(1000), receivedAt: receivedAt + i, clientId: bin.id, username: bin.id })!;
      stored += o.lines.length;
      refused += o.deadLetters.length;
      for (const line of o.lines) {
        latest = Math.max(latest, timeOf(line));
        expect(timeOf(line)).toBeLessThan(receivedAt + i + RECEIVE_STAMP_WINDOW_MS);
      }
      for (const d of o.deadLetters) expect(d).toMatchObject({ reason: 'ts_required', path: 'ts', deviceId: bin.id });
    }
    // Nothing is silently merged: every reading is a distinct point or a dead letter.
    expect(stored + refused).toBe(30_000);
    expect(stored).toBe(RECEIVE_STAMP_WINDOW_MS + 29);
    expect(latest).toBe(receivedAt + 29 + RECEIVE_STAMP_WINDOW_MS - 1);
  });

  it('leaves readings with their own ts alone, however many', () => {
    const pipeline = ingest();
    const now = Date.now();
    for (let i = 0; i < 5; i++) {
      const o = pipeline.decide({ topic: `city/waste-bin/${bin.id}/telemetry`, payload: batch(1000, true, now - i * 2000), receivedAt: now, clientId: bin.id, username: bin.id })!;
      expect(o.lines).toHaveLength(1000);
      expect(o.deadLetters).toHaveLength(0);
    }
  });
});
