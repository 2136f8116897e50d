import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateFleet } from '../../simulators/generate-fleet.js';
import { mulberry32, uniform, type Rng } from '../../simulators/prng.js';
import type { DeviceRecord } from '../catalog/types.js';
import { device } from '../dispatch/testing/fixtures.js';
import { RuleBook } from '../dispatch/rules/rule-book.js';
import type { RuleInput } from '../dispatch/types.js';
import { collectionDbFile, FillHistory, type FillSample, type FillSource } from './fill-history.js';
import { buildPlan, planForDistrict, planLines, type CollectionPlan } from './plan.js';
import { haversineKm } from './route.js';
import { HOUR_MS, simulateReadings, trueHoursToReach, trueLevel, type KnownFill } from './testing/known-fill.js';

/** 05:00 UTC on a Tuesday: when the daily plan runs. */
const NOW = Date.parse('2026-06-02T05:00:00Z');

const defaultRules = JSON.parse(readFileSync(new URL('../../rules/default.json', import.meta.url), 'utf8')) as Record<string, unknown>;

interface Fleet {
  readonly records: readonly DeviceRecord[];
  readonly bins: readonly KnownFill[];
  /** Bins in the catalog that never reported. */
  readonly silent: readonly string[];
  readonly book: RuleBook;
  /** The thresholds the overrides below set, written out: the expectation must not ask the code under test. */
  readonly thresholdFor: (d: DeviceRecord) => number;
  readonly overriddenDevice: string;
  readonly overriddenDistrict: string;
  readonly batches: RuleInput[][];
}

/**
 * A known trajectory for `device`: most bins were emptied some time in the last 60 h and fill at a
 * constant rate since; some do not fill at all. Trajectories that reach the threshold between 20 and
 * 28 h from now are drawn again: there the sensor's jitter, not the planner, decides the side.
 */
function knownFill(d: DeviceRecord, threshold: number, rng: Rng): KnownFill {
  for (;;) {
    const flat = rng() < 0.12;
    const bin: KnownFill = flat
      ? { device: d, emptiedAtMs: NOW - 72 * HOUR_MS, levelAfter: uniform(rng, 0.02, threshold - 0.1), ratePerHour: 0, levelBefore: 0.9 }
      : { device: d, emptiedAtMs: NOW - uniform(rng, 6, 60) * HOUR_MS, levelAfter: uniform(rng, 0, 0.04), ratePerHour: uniform(rng, 0.004, 0.06), levelBefore: uniform(rng, 0.8, 1) };
    const h = trueHoursToReach(bin, threshold, NOW);
    if (h < 20 || h > 28) return bin;
  }
}

async function buildFleet(): Promise<Fleet> {
  const fleet = await generateFleet({ count: 400, districts: 5, seed: 11, hash: async () => 'scrypt$test' });
  const records = fleet.records;
  const wasteBins = records.filter((r) => r.type === 'waste-bin').sort((a, b) => (a.id < b.id ? -1 : 1));
  const overriddenDistrict = (fleet.districts[1] as { name: string }).name;
  const silent = wasteBins.filter((_, i) => i % 37 === 5).map((b) => b.id);
  const overriddenDevice = (wasteBins.find((b) => b.district !== overriddenDistrict && !silent.includes(b.id)) as DeviceRecord).id;
  const book = RuleBook.parse({
    ...defaultRules,
    overrides: [
      { match: { district: overriddenDistrict }, rules: { 'waste.collect': { condition: { above: 0.7 } } } },
      { match: { deviceId: overriddenDevice }, rules: { 'waste.collect': { condition: { above: 0.5, clear: 0.2 } } } },
    ],
  });
  const thresholdFor = (d: DeviceRecord) => (d.id === overriddenDevice ? 0.5 : d.district === overriddenDistrict ? 0.7 : 0.8);
  const rng = mulberry32(5);
  // Two bins that only their lower threshold brings onto the plan: 10 h to 0.5 (70 h to 0.8), and
  // 16 h to 0.7 (36 h to 0.8).
  const districtBin = (wasteBins.find((b) => b.district === overriddenDistrict && !silent.includes(b.id)) as DeviceRecord).id;
  const forced: Record<string, { levelNow: number; rate: number }> = { [overriddenDevice]: { levelNow: 0.45, rate: 0.005 }, [districtBin]: { levelNow: 0.62, rate: 0.005 } };
  const bins = wasteBins
    .filter((b) => !silent.includes(b.id))
    .map((b) => {
      const f = forced[b.id];
      if (!f) return knownFill(b, thresholdFor(b), rng);
      return { device: b, emptiedAtMs: NOW - 48 * HOUR_MS, levelAfter: f.levelNow - 48 * f.rate, ratePerHour: f.rate, levelBefore: 0.9 };
    });
  const batches = simulateReadings(bins, NOW - 24 * HOUR_MS, NOW, rng);
  // Parking meters report too; the history must let them pass.
  const meters = records.filter((r) => r.type === 'parking-meter').slice(0, 5);
  for (const [k, batch] of batches.entries()) {
    for (const m of meters) {
      const t = NOW - 24 * HOUR_MS + k * HOUR_MS + 60_000;
      batch.push({ type: 'parking-meter', deviceId: m.id, district: m.district, timeMs: t, receivedAt: t, fields: { totalSpotNumber: 10, availableSpotNumber: 3 } });
    }
  }
  return { records, bins, silent, book, thresholdFor, overriddenDevice, overriddenDistrict, batches };
}

const thresholdOf = (book: RuleBook) => (_id: string, d: DeviceRecord) => book.thresholdAbove(d, 'waste.collect');

const planned = (plan: CollectionPlan) => plan.districts.flatMap((d) => d.stops.map((s) => s.deviceId)).sort();

let dir: string;
let fleet: Fleet;

beforeAll(async () => {
  fleet = await buildFleet();
});

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-collection-'));
  return dir;
}

function feed(history: FillHistory, batches: readonly RuleInput[][]): void {
  for (const b of batches) history.observe(b);
}

describe('the collection plan for a generated fleet', () => {
  it('has every bin whose true trajectory reaches its threshold within 24 h, and no other', () => {
    const history = new FillHistory({ store: { file: collectionDbFile(freshDir()) } });
    history.open();
    feed(history, fleet.batches);
    const plan = buildPlan({ now: NOW, bins: fleet.records, history, thresholdOf: thresholdOf(fleet.book) });
    history.close();

    const expected = fleet.bins.filter((b) => trueHoursToReach(b, fleet.thresholdFor(b.device), NOW) <= 24).map((b) => b.device.id).sort();
    const wasteBinCount = fleet.records.filter((r) => r.type === 'waste-bin').length;
    // The fleet must have bins on both sides, or this test could not fail.
    expect(expected.length).toBeGreaterThan(20);
    expect(wasteBinCount - expected.length).toBeGreaterThan(20);
    expect(planned(plan)).toEqual(expected);

    expect(plan.generatedAt).toBe('2026-06-02T05:00:00.000Z');
    expect(plan.horizonHours).toBe(24);
    expect(plan.summary.bins).toBe(wasteBinCount);
    expect(plan.summary.planned).toBe(expected.length);
    expect(plan.summary.noRecentData).toBe(fleet.silent.length);
  });

  it('predicts each bin’s time to full about as well as its noisy readings allow', () => {
    const history = new FillHistory({ store: { file: ':memory:' } });
    history.open();
    feed(history, fleet.batches);
    const plan = buildPlan({ now: NOW, bins: fleet.records, history, thresholdOf: thresholdOf(fleet.book) });
    const byId = new Map(fleet.bins.map((b) => [b.device.id, b]));
    let checked = 0;
    for (const stop of plan.districts.flatMap((d) => d.stops)) {
      const bin = byId.get(stop.deviceId) as KnownFill;
      const threshold = fleet.thresholdFor(bin.device);
      expect(stop.threshold).toBe(threshold);
      const truth = trueHoursToReach(bin, threshold, NOW);
      const why = `${stop.deviceId}: ${stop.hoursToFull} h, truly ${truth} h`;
      // Due now: over its threshold, or a reading jittered (±0.008, 3σ < 0.03) over it just before.
      if (stop.hoursToFull === 0) expect(truth, why).toBeLessThan(0.03 / bin.ratePerHour);
      // A slow bin 20 h from full is a ±1 h guess from a day of readings with ±0.008 jitter.
      else expect(Math.abs(stop.hoursToFull - truth), why).toBeLessThan(0.5 + 0.15 * truth);
      expect(Date.parse(stop.predictedFullAt)).toBeCloseTo(NOW + stop.hoursToFull * HOUR_MS, -5);
      if (truth > 0) {
        expect(stop.fillRatePerHour).not.toBeNull();
        expect(Math.abs((stop.fillRatePerHour as number) - bin.ratePerHour)).toBeLessThan(0.25 * bin.ratePerHour + 0.002);
        // A bin that a jittered reading already put over its threshold shows that reading instead.
        if (stop.hoursToFull > 0) expect(Math.abs(stop.fillingLevel - trueLevel(bin, Date.parse(stop.lastReadingAt)))).toBeLessThan(0.02);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    history.close();
  });

  it('respects per-device and per-district threshold overrides', () => {
    const history = new FillHistory({ store: { file: ':memory:' } });
    history.open();
    feed(history, fleet.batches);
    const withOverrides = buildPlan({ now: NOW, bins: fleet.records, history, thresholdOf: thresholdOf(fleet.book) });
    const plain = buildPlan({ now: NOW, bins: fleet.records, history, thresholdOf: thresholdOf(RuleBook.parse(defaultRules)) });
    history.close();

    const truth = (b: KnownFill, threshold: number) => trueHoursToReach(b, threshold, NOW) <= 24;
    // Clear of the 24 h edge at 0.8 too (the fixture keeps trajectories clear of it only at their own threshold).
    const onlyWithOverride = fleet.bins.filter((b) => truth(b, fleet.thresholdFor(b.device)) && trueHoursToReach(b, 0.8, NOW) > 28).map((b) => b.device.id);
    // Lower thresholds bring bins forward; the fixture must have some for this to mean anything.
    expect(onlyWithOverride.length).toBeGreaterThanOrEqual(2);
    for (const id of onlyWithOverride) {
      expect(planned(withOverrides)).toContain(id);
      expect(planned(plain)).not.toContain(id);
    }
    const stopOf = (plan: CollectionPlan, id: string) => plan.districts.flatMap((d) => d.stops).find((s) => s.deviceId === id);
    const device = fleet.bins.find((b) => b.device.id === fleet.overriddenDevice) as KnownFill;
    expect(stopOf(withOverrides, device.device.id)?.threshold).toBe(0.5);
    expect(Math.abs((stopOf(withOverrides, device.device.id)?.hoursToFull ?? NaN) - 10)).toBeLessThan(2);
    const districtStops = withOverrides.districts.find((d) => d.district === fleet.overriddenDistrict)?.stops ?? [];
    expect(districtStops.length).toBeGreaterThan(0);
    for (const s of districtStops) expect(s.threshold).toBe(0.7);
  });

  it('groups stops by district into numbered routes whose length is what it says', () => {
    const history = new FillHistory({ store: { file: ':memory:' } });
    history.open();
    feed(history, fleet.batches);
    const plan = buildPlan({ now: NOW, bins: fleet.records, history, thresholdOf: thresholdOf(fleet.book) });
    history.close();
    const districtOf = new Map(fleet.records.map((r) => [r.id, r.district]));
    expect(plan.districts.map((d) => d.district)).toEqual([...new Set(plan.districts.map((d) => d.district))].sort());
    for (const d of plan.districts) {
      expect(d.stops.map((s) => s.order)).toEqual(d.stops.map((_, i) => i + 1));
      for (const s of d.stops) expect(districtOf.get(s.deviceId)).toBe(d.district);
      let km = 0;
      for (let i = 1; i < d.stops.length; i++) {
        const a = d.stops[i - 1]!;
        const b = d.stops[i]!;
        km += haversineKm({ lat: a.lat, lon: a.long }, { lat: b.lat, lon: b.long });
      }
      expect(d.distanceKm).toBeCloseTo(km, 2);
    }
    const one = plan.districts[0]!;
    expect(planForDistrict(plan, one.district).districts).toEqual([one]);
    expect(planForDistrict(plan, 'nowhere').districts).toEqual([]);
  });

  it('gives the same plan after a restart that replays readings as without one', () => {
    const file = collectionDbFile(freshDir());
    const half = Math.floor(fleet.batches.length / 2);
    const first = new FillHistory({ store: { file } });
    first.open();
    feed(first, fleet.batches.slice(0, half));
    first.close();
    const reopened = new FillHistory({ store: { file } });
    reopened.open();
    // The spool hands the last batches before the restart over again.
    feed(reopened, fleet.batches.slice(half - 3));

    const uninterrupted = new FillHistory({ store: { file: ':memory:' } });
    uninterrupted.open();
    feed(uninterrupted, fleet.batches);

    const input = { now: NOW, bins: fleet.records, thresholdOf: thresholdOf(fleet.book) };
    const afterRestart = buildPlan({ ...input, history: reopened });
    expect(afterRestart).toEqual(buildPlan({ ...input, history: uninterrupted }));
    // Without the first half the rates differ: the comparison above can fail.
    const forgetful = new FillHistory({ store: { file: ':memory:' } });
    forgetful.open();
    feed(forgetful, fleet.batches.slice(half));
    expect(buildPlan({ ...input, history: forgetful })).not.toEqual(afterRestart);
    for (const h of [reopened, uninterrupted, forgetful]) h.close();
  });
});

/** A history from literal samples. */
function historyOf(samples: Record<string, readonly FillSample[]>): FillSource {
  return { currentCycle: (id) => samples[id] ?? [] };
}

/** Samples every 15 minutes over the last `hours` before `now`, rising at `rate` to `level` at `now`. */
function rising(level: number, rate: number, hours = 12, now = NOW): FillSample[] {
  const out: FillSample[] = [];
  for (let t = now - hours * HOUR_MS; t <= now; t += 15 * 60_000) out.push({ timeMs: t, level: level - (rate * (now - t)) / HOUR_MS });
  return out;
}

describe('buildPlan', () => {
  const a = device({ id: 'bin-a', type: 'waste-bin', district: 'west', location: { lat: 52.37, lon: 4.87 }, address: 'Kade 1' });
  const b = device({ id: 'bin-b', type: 'waste-bin', district: 'west', location: { lat: 52.371, lon: 4.871 } });
  const c = device({ id: 'bin-c', type: 'waste-bin', district: 'oost', location: { lat: 52.36, lon: 4.93 } });
  const light = device({ id: 'light-1', type: 'streetlight', district: 'west' });
  const at08 = () => 0.8;

  it('puts a bin over its threshold on the plan as due now, and one just beyond the horizon off it', () => {
    const plan = buildPlan({
      now: NOW,
      bins: [a, b, c, light],
      history: historyOf({ 'bin-a': rising(0.85, 0.01), 'bin-b': rising(0.57, 0.01), 'bin-c': rising(0.55, 0.01), 'light-1': rising(0.9, 0.01) }),
      thresholdOf: at08,
    });
    // bin-b: 0.23 to go at 0.01/h = 23 h (on); bin-c: 25 h (off).
    expect(plan.districts).toEqual([
      {
        district: 'west',
        distanceKm: expect.any(Number),
        stops: [
          { order: 1, deviceId: 'bin-a', lat: 52.37, long: 4.87, address: 'Kade 1', fillingLevel: 0.85, fillRatePerHour: 0.01, predictedFullAt: '2026-06-02T05:00:00.000Z', hoursToFull: 0, threshold: 0.8, lastReadingAt: '2026-06-02T05:00:00.000Z' },
          { order: 2, deviceId: 'bin-b', lat: 52.371, long: 4.871, fillingLevel: 0.57, fillRatePerHour: 0.01, predictedFullAt: '2026-06-03T04:00:00.000Z', hoursToFull: 23, threshold: 0.8, lastReadingAt: '2026-06-02T05:00:00.000Z' },
        ],
      },
    ]);
    expect(plan.summary).toEqual({ bins: 3, planned: 2, due: 1, later: 1, noPrediction: 0, noRecentData: 0, noThreshold: 0 });
  });

  it('leaves off bins whose rule is off, that stopped reporting, or that are not filling', () => {
    const plan = buildPlan({
      now: NOW,
      bins: [a, b, c],
      history: historyOf({ 'bin-a': rising(0.79, 0.01), 'bin-b': rising(0.79, 0.01, 12, NOW - 49 * HOUR_MS), 'bin-c': rising(0.7, 0) }),
      thresholdOf: (id) => (id === 'bin-a' ? undefined : 0.8),
    });
    expect(plan.districts).toEqual([]);
    expect(plan.summary).toEqual({ bins: 3, planned: 0, due: 0, later: 0, noPrediction: 1, noRecentData: 1, noThreshold: 1 });
  });

  it('starts a district route at its depot when one is given', () => {
    const history = historyOf({ 'bin-a': rising(0.9, 0.01), 'bin-b': rising(0.9, 0.01) });
    // The depot lies beyond bin-b, so the route visits bin-b first.
    const depot = { lat: 52.375, lon: 4.875 };
    const plan = buildPlan({ now: NOW, bins: [a, b], history, thresholdOf: at08, depots: { west: depot } });
    const west = plan.districts[0]!;
    expect(west.stops.map((s) => s.deviceId)).toEqual(['bin-b', 'bin-a']);
    expect(west.distanceKm).toBeCloseTo(haversineKm(depot, b.location) + haversineKm(b.location, a.location), 3);
  });

  it('writes one collection_plan point per stop', () => {
    const odd = device({ id: 'bin-x', type: 'waste-bin', district: 'nieuw west, 2=b', location: { lat: 52.1, lon: 4.2 } });
    const plan = buildPlan({ now: NOW, bins: [a, odd], history: historyOf({ 'bin-a': rising(0.85, 0.01), 'bin-x': rising(0.7, 0.02) }), thresholdOf: at08 });
    expect(planLines(plan)).toEqual([
      'collection_plan,device_id=bin-x,district=nieuw\\ west\\,\\ 2\\=b order=1i,hours_to_full=5,lat=52.1,lon=4.2,filling_level=0.7 1780376400000',
      'collection_plan,device_id=bin-a,district=west order=1i,hours_to_full=0,lat=52.37,lon=4.87,filling_level=0.85 1780376400000',
    ]);
  });
});

describe('RuleBook.thresholdAbove (the planner’s threshold source)', () => {
  const bin = device({ id: 'bin-1', type: 'waste-bin', district: 'west', attributes: { collectAt: 0.6 } });
  it('reads overrides, attribute levels and a disabled rule', () => {
    const book = RuleBook.parse({
      ...defaultRules,
      overrides: [
        { match: { district: 'west' }, rules: { 'waste.collect': { condition: { above: { attribute: 'collectAt', default: 0.75 } } } } },
        { match: { deviceId: 'bin-off' }, rules: { 'waste.collect': { enabled: false } } },
      ],
    });
    expect(book.thresholdAbove(bin, 'waste.collect')).toBe(0.6);
    expect(book.thresholdAbove({ ...bin, attributes: {} }, 'waste.collect')).toBe(0.75);
    expect(book.thresholdAbove({ ...bin, district: 'oost' }, 'waste.collect')).toBe(0.8);
    expect(book.thresholdAbove({ ...bin, id: 'bin-off' }, 'waste.collect')).toBeUndefined();
    expect(book.thresholdAbove(bin, 'waste.fire')).toBeUndefined();
  });
});
