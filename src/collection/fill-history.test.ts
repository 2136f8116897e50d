import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../simulators/prng.js';
import type { RuleInput } from '../dispatch/types.js';
import { collectionDbFile, cycleStartIndex, FillHistory, type FillSample } from './fill-history.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

const bin = (deviceId: string, minute: number, fillingLevel: number): RuleInput => ({
  type: 'waste-bin',
  deviceId,
  district: 'west',
  timeMs: T0 + minute * MIN,
  receivedAt: T0 + minute * MIN,
  fields: { fillingLevel, status: 'ok' },
});

const levels = (samples: readonly FillSample[]) => samples.map((s) => s.level);
const samplesOf = (...ls: number[]): FillSample[] => ls.map((level, i) => ({ timeMs: T0 + i * 15 * MIN, level }));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-fill-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function open(opts: Partial<ConstructorParameters<typeof FillHistory>[0]> = {}): FillHistory {
  const h = new FillHistory({ store: { file: collectionDbFile(dir) }, ...opts });
  h.open();
  return h;
}

describe('FillHistory', () => {
  it('keeps one sample a minute from a chatty bin, but never misses an emptying', () => {
    const h = open();
    // A reading every 10 s for 5 minutes, then an emptying 10 s after the last one.
    const inputs = Array.from({ length: 30 }, (_, i) => bin('bin-9', i / 6, 0.5 + i * 0.001));
    inputs.push(bin('bin-9', 30 / 6, 0.05));
    h.observe(inputs);
    const kept = h.samples('bin-9');
    expect(kept.map((s) => Math.round((s.timeMs - T0) / 1000))).toEqual([0, 60, 120, 180, 240, 300]);
    expect(kept.at(-1)!.level).toBe(0.05);
    h.close();
  });

  it('keeps waste-bin fill samples per bin, in device-time order', () => {
    const h = open();
    const added = h.observe([
      bin('bin-1', 0, 0.1),
      bin('bin-2', 0, 0.5),
      { type: 'parking-meter', deviceId: 'meter-1', district: 'west', timeMs: T0, receivedAt: T0, fields: { totalSpotNumber: 4, availableSpotNumber: 1 } },
      { type: 'waste-bin', deviceId: 'bin-3', district: 'west', timeMs: T0, receivedAt: T0, fields: { status: 'lidOpen' } },
      bin('bin-1', 15, 0.12),
    ]);
    expect(added).toBe(3);
    expect(h.currentCycle('bin-1')).toEqual([
      { timeMs: T0, level: 0.1 },
      { timeMs: T0 + 15 * MIN, level: 0.12 },
    ]);
    expect(levels(h.currentCycle('bin-2'))).toEqual([0.5]);
    expect(h.currentCycle('meter-1')).toEqual([]);
    expect(h.currentCycle('bin-3')).toEqual([]);
    expect(h.binCount).toBe(2);
    h.close();
  });

  it('ignores duplicates and readings older than the newest, so a replay changes nothing', () => {
    const h = open();
    const batch = [bin('bin-1', 0, 0.1), bin('bin-1', 15, 0.12), bin('bin-1', 30, 0.14)];
    h.observe(batch);
    expect(h.observe(batch)).toBe(0);
    expect(h.observe([bin('bin-1', 20, 0.5), bin('bin-1', 30, 0.9)])).toBe(0);
    expect(levels(h.samples('bin-1'))).toEqual([0.1, 0.12, 0.14]);
    h.close();
    const reopened = open();
    expect(reopened.observe(batch)).toBe(0);
    expect(levels(reopened.samples('bin-1'))).toEqual([0.1, 0.12, 0.14]);
    reopened.close();
  });

  it('starts a new fill cycle at an emptying', () => {
    const h = open();
    h.observe([bin('bin-1', 0, 0.7), bin('bin-1', 15, 0.75), bin('bin-1', 30, 0.81), bin('bin-1', 45, 0.02), bin('bin-1', 60, 0.03)]);
    expect(levels(h.currentCycle('bin-1'))).toEqual([0.02, 0.03]);
    expect(levels(h.samples('bin-1'))).toEqual([0.7, 0.75, 0.81, 0.02, 0.03]);
    h.close();
  });

  it('keeps its samples and cycles across a restart', () => {
    const h = open();
    h.observe([bin('bin-1', 0, 0.8), bin('bin-1', 15, 0.82), bin('bin-1', 30, 0.01)]);
    h.observe([bin('bin-1', 45, 0.02), bin('bin-2', 45, 0.3)]);
    h.close();
    const reopened = open();
    expect(reopened.currentCycle('bin-1')).toEqual([
      { timeMs: T0 + 30 * MIN, level: 0.01 },
      { timeMs: T0 + 45 * MIN, level: 0.02 },
    ]);
    expect(levels(reopened.currentCycle('bin-2'))).toEqual([0.3]);
    reopened.close();
  });

  it('keeps at most the last 48 h and the last N samples of a bin, in memory and on disk', () => {
    const h = open({ maxSamplesPerBin: 10 });
    // One reading an hour for three days, rising slowly (no emptying).
    for (let hour = 0; hour < 72; hour++) h.observe([bin('bin-1', hour * 60, 0.1 + hour * 0.001), bin('bin-2', hour * 15, 0.1)]);
    const one = h.samples('bin-1');
    expect(one).toHaveLength(10);
    expect(one[0]?.timeMs).toBe(T0 + 62 * HOUR);
    h.close();

    const reopened = open({ maxSamplesPerBin: 10 });
    expect(reopened.samples('bin-1')).toEqual(one);
    reopened.close();
    // On disk, trimmed rows are deleted 32 at a time: the file stays bounded too.
    const db = new Database(collectionDbFile(dir), { readonly: true });
    const rows = db.prepare<[], { device_id: string; n: number }>('SELECT device_id, COUNT(*) AS n FROM collection_fill_samples GROUP BY device_id ORDER BY device_id').all();
    db.close();
    expect(rows.map((r) => r.device_id)).toEqual(['bin-1', 'bin-2']);
    for (const r of rows) expect(r.n).toBeLessThan(10 + 32);

    const byAge = new FillHistory({ store: { file: ':memory:' }, maxAgeMs: 48 * HOUR });
    byAge.open();
    for (let hour = 0; hour < 72; hour++) byAge.observe([bin('bin-1', hour * 60, 0.1)]);
    expect(byAge.samples('bin-1')).toHaveLength(49);
    expect(byAge.samples('bin-1')[0]?.timeMs).toBe(T0 + 23 * HOUR);
    byAge.close();
  });

  it('can keep its table in a database the service already has open, and leaves it open', () => {
    const db = new Database(path.join(dir, 'shared.db'));
    const h = new FillHistory({ store: { database: db } });
    h.open();
    h.observe([bin('bin-1', 0, 0.4)]);
    h.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT level FROM collection_fill_samples').all()).toEqual([{ level: 0.4 }]);
    const again = new FillHistory({ store: { database: db } });
    again.open();
    expect(levels(again.currentCycle('bin-1'))).toEqual([0.4]);
    again.forget('bin-1');
    expect(again.currentCycle('bin-1')).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM collection_fill_samples').get()).toEqual({ n: 0 });
    db.close();
  });

  it('finds the same cycle reading by reading, in batches and while trimming, as one scan of every sample ever sent', () => {
    const rng = mulberry32(3);
    for (const maxSamplesPerBin of [20, 300]) {
      const h = new FillHistory({ store: { file: ':memory:' }, maxSamplesPerBin });
      h.open();
      let level = 0.1;
      let minute = 0;
      const sent: FillSample[] = [];
      for (let batch = 0; batch < 200; batch++) {
        const readings: RuleInput[] = [];
        for (let k = Math.floor(rng() * 4); k >= 0; k--) {
          const r = rng();
          // Mostly filling; now and then an emptying, a high echo or a low glitch.
          const reported = r < 0.08 ? (level = 0.02) : r < 0.12 ? 0.95 : r < 0.16 ? 0.01 : (level = Math.min(1, level + rng() * 0.05));
          readings.push(bin('bin-1', (minute += 15), reported));
          sent.push({ timeMs: T0 + minute * MIN, level: reported });
        }
        h.observe(readings);
        const oldestKept = (h.samples('bin-1')[0] as FillSample).timeMs;
        const cycle = sent.slice(cycleStartIndex(sent)).filter((x) => x.timeMs >= oldestKept);
        expect(h.currentCycle('bin-1')).toEqual(cycle);
      }
      h.close();
    }
  });

  it('refuses to observe before open()', () => {
    expect(() => new FillHistory({ store: { file: ':memory:' } }).observe([bin('bin-1', 0, 0.1)])).toThrow(/open\(\)/);
  });
});

describe('cycleStartIndex', () => {
  it.each<[string, FillSample[], number]>([
    ['no emptying', samplesOf(0.1, 0.2, 0.3), 0],
    ['an emptying', samplesOf(0.7, 0.8, 0.85, 0.03, 0.05), 3],
    ['the last of two emptyings', samplesOf(0.8, 0.02, 0.1, 0.5, 0.81, 0.82, 0.01, 0.02), 6],
    ['a small fall (compaction, jitter) is no emptying', samplesOf(0.5, 0.52, 0.4, 0.41), 0],
    ['one high echo and back is no emptying', samplesOf(0.3, 0.31, 0.32, 0.95, 0.33, 0.34), 0],
    ['one low glitch and back is no emptying', samplesOf(0.6, 0.61, 0.62, 0.05, 0.63, 0.64), 0],
    ['an emptying as the newest sample', samplesOf(0.6, 0.7, 0.8, 0.01), 3],
    ['an empty history', [], 0],
  ])('%s', (_name, samples, expected) => {
    expect(cycleStartIndex(samples)).toBe(expected);
  });
});
