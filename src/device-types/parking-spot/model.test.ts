/**
 * The parking-spot model against what makes its data and its rule meaningful: bays fuller at the
 * day's peaks than at night, stays as long as the model draws them (and overstays of the zone's
 * maximum as often as it says), each change reported when it happens, and faults at the rates
 * `PARKING_SPOT_HAZARDS` declares.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../../catalog/types.js';
import { modelFor } from '../../../simulators/index.js';
import { deviceSeed, mulberry32 } from '../../../simulators/prng.js';
import { at, catalogDevice, DECEMBER_MONDAY, expectSaneRate, HOUR_MS, JUNE_MONDAY, many, rateRatio, type Sample, SEASONS, simulate, WEEK_H } from '../testing/simulate.js';
import { PARKING_SPOT_HAZARDS, PARKING_SPOT_STAY } from './model.js';

const DISTRICTS = ['centrum', 'zuid', 'west', 'oost'];
const bays = (n: number, maxStayMin: number): DeviceRecord[] =>
  many(n, (i) => catalogDevice(`bay-${maxStayMin}-${i}`, 'parking-spot', DISTRICTS[i % 4]!, 52.36 + i * 1e-4, 4.89, 600, { zone: `${DISTRICTS[i % 4]}-z1`, maxStayMin }));

/**
 * Every reading a bay sends, as the fleet schedules them: on the heartbeat (`reportingIntervalS`)
 * and at each change the model announces in between.
 */
function simulateOnChange(d: DeviceRecord, startMs: number, hours: number, faultRate = 0, seed = 3): { t: number; onBeat: boolean; status: string }[] {
  const sim = modelFor(d.type)!.create(d, mulberry32(deviceSeed(seed, d.id)), startMs, { faultRate });
  const interval = d.reportingIntervalS * 1000;
  const end = startMs + hours * HOUR_MS;
  const out: { t: number; onBeat: boolean; status: string }[] = [];
  let beat = startMs + interval;
  let t = beat;
  while (t <= end) {
    out.push({ t, onBeat: t === beat, status: (sim.next(t) as { status: string }).status });
    if (t === beat) beat += interval;
    const change = Math.ceil(sim.nextChangeMs?.() ?? Number.POSITIVE_INFINITY);
    t = change > t && change < beat ? change : beat;
  }
  return out;
}

/** How long each car stood, in minutes: from an `occupied` reading after a `free` one to the next `free`. */
function stays(readings: { t: number; status: string }[]): number[] {
  const out: number[] = [];
  let since: number | undefined;
  for (let i = 1; i < readings.length; i++) {
    const prev = readings[i - 1]!.status;
    const cur = readings[i]!;
    if (prev === 'free' && cur.status === 'occupied') since = cur.t;
    else if (prev === 'occupied' && cur.status === 'free' && since !== undefined) {
      out.push((cur.t - since) / 60_000);
      since = undefined;
    }
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** P(Z > z) for a standard normal Z (Abramowitz–Stegun 7.1.26 through erfc), to about 1e-7. */
function normalTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

describe.each(SEASONS)('48 simulated hours in %s', (_month, start) => {
  it('bays are occupied far more often at the 11:00 peak than at 03:00 on a weekday', () => {
    let busy = 0;
    let quiet = 0;
    let n = 0;
    for (const d of bays(24, 120)) {
      const samples = simulate(d, start, 48, 0);
      const occupied = (s: Sample) => (s.r['status'] === 'occupied' ? 1 : 0);
      for (const s of at(samples, 11)) busy += occupied(s);
      for (const s of at(samples, 3)) quiet += occupied(s);
      n += at(samples, 11).length;
    }
    expect(busy / n).toBeGreaterThan(0.65);
    expect(quiet / n).toBeLessThan(0.3);
  });
});

describe('two simulated weeks of bays, reported on change', () => {
  it('report each change when it happens, and a heartbeat at least every reportingIntervalS', () => {
    const readings = simulateOnChange(bays(1, 120)[0]!, JUNE_MONDAY, WEEK_H);
    let changes = 0;
    for (let i = 1; i < readings.length; i++) {
      expect(readings[i]!.t - readings[i - 1]!.t).toBeLessThanOrEqual(600_000);
      if (readings[i]!.status !== readings[i - 1]!.status) {
        changes++;
        // A car comes and goes at its own time, not on the heartbeat's.
        expect(readings[i]!.onBeat, new Date(readings[i]!.t).toISOString()).toBe(false);
      }
    }
    expect(changes).toBeGreaterThan(7 * 6);
  });

  it('stays are as long as drawn: the median is the model’s, whatever the maximum, when few would pass it', () => {
    const all = bays(12, 240).flatMap((d) => stays(simulateOnChange(d, JUNE_MONDAY, 2 * WEEK_H)));
    expect(all.length).toBeGreaterThan(1000);
    expect(median(all)).toBeGreaterThan(PARKING_SPOT_STAY.medianMin * 0.85);
    expect(median(all)).toBeLessThan(PARKING_SPOT_STAY.medianMin * 1.15);
  });

  it('most drivers leave before maxStayMin; those who overstay are as many as the model says', () => {
    const all = bays(12, 120).flatMap((d) => stays(simulateOnChange(d, JUNE_MONDAY, 2 * WEEK_H)));
    const s = PARKING_SPOT_STAY;
    // Drawn stays longer than 120 min, and the share of their drivers who stay on.
    const wouldPass = normalTail(Math.log(120 / s.medianMin) / s.sigma);
    const count = all.filter((m) => m > 120).length;
    const expected = all.length * wouldPass * s.overstayShare;
    expect(count).toBeGreaterThanOrEqual(10);
    expect(count / expected, `${count} overstays, ${expected.toFixed(1)} expected`).toBeGreaterThan(0.5);
    expect(count / expected, `${count} overstays, ${expected.toFixed(1)} expected`).toBeLessThan(2);
    // Those who heed the limit leave shortly before it, not after.
    expect(all.filter((m) => m > 0.85 * 120 && m <= 120).length).toBeGreaterThan(count);
  });
});

describe('with fault injection turned up, faults occur at the rates the model declares', () => {
  const weekBays = bays(20, 120);
  const status = (s: Sample) => s.r['status'];

  it('closures', () => {
    expectSaneRate(rateRatio(weekBays, JUNE_MONDAY, 40, PARKING_SPOT_HAZARDS.closedPerHour, (s) => status(s) === 'closed', (p) => status(p) === 'free' || status(p) === 'occupied'));
  });

  it('sensor faults (unknown)', () => {
    expectSaneRate(rateRatio(weekBays, JUNE_MONDAY, 20, PARKING_SPOT_HAZARDS.unknownPerHour, (s) => status(s) === 'unknown', (p) => status(p) !== 'unknown'));
  });

  it('and none at all with fault injection off', () => {
    for (const d of weekBays.slice(0, 4)) {
      for (const s of simulate(d, DECEMBER_MONDAY, WEEK_H, 0, 1)) expect(['free', 'occupied'], d.id).toContain(status(s));
    }
  });
});
