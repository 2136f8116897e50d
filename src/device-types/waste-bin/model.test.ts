/**
 * The waste-bin model against what makes its data and its rules meaningful: bins filled by district
 * and weekday, emptied by collection rounds, warmer by day, and fires and tipped bins at the rates
 * `WASTE_BIN_HAZARDS` declares.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../../catalog/types.js';
import { localTime } from '../../../simulators/local-time.js';
import { at, catalogDevice, DECEMBER_MONDAY, expectSaneRate, HOUR_MS, JUNE_MONDAY, JUNE_TUESDAY, many, rateRatio, type Sample, SEASONS, simulate, TZ, WEEK_H } from '../testing/simulate.js';
import { WASTE_BIN_HAZARDS } from './model.js';

const bins = [
  catalogDevice('bin-c1', 'waste-bin', 'centrum', 52.3731, 4.8926, 900, { binCapacity: 240, wasteKind: 'residual' }),
  catalogDevice('bin-c2', 'waste-bin', 'centrum', 52.3727, 4.9005, 900, { binCapacity: 1100, wasteKind: 'plastic' }),
  catalogDevice('bin-w1', 'waste-bin', 'west', 52.3665, 4.8635, 900, { binCapacity: 3000, wasteKind: 'paper' }),
  catalogDevice('bin-o1', 'waste-bin', 'oost', 52.363, 4.9275, 900, { binCapacity: 240, wasteKind: 'organic' }),
  catalogDevice('bin-n1', 'waste-bin', 'noord', 52.389, 4.917, 900, { binCapacity: 3000, wasteKind: 'glass' }),
  catalogDevice('bin-z1', 'waste-bin', 'zuid', 52.3556, 4.8945, 900, { binCapacity: 1100, wasteKind: 'residual' }),
  catalogDevice('bin-nw1', 'waste-bin', 'nieuw-west', 52.358, 4.8, 900, { binCapacity: 240, wasteKind: 'residual' }),
  catalogDevice('bin-zo1', 'waste-bin', 'zuidoost', 52.312, 4.953, 900, { binCapacity: 5000, wasteKind: 'residual' }),
];

describe.each(SEASONS)('48 simulated hours in %s', (_month, start) => {
  it('bins fill, get emptied once full-ish, and are warmer in the afternoon than at dawn', () => {
    let emptied = 0;
    for (const d of bins) {
      const fills = simulate(d, start, 48).map((s) => s.r['fillingLevel'] as number);
      let rise = 0;
      for (let i = 1; i < fills.length; i++) {
        const delta = fills[i]! - fills[i - 1]!;
        if (delta < -0.3) {
          emptied++;
          expect(fills[i - 1], `${d.id} emptied while only at ${fills[i - 1]}`).toBeGreaterThanOrEqual(0.75);
          expect(fills[i]).toBeLessThan(0.1);
        } else {
          rise += delta;
        }
      }
      expect(rise, `${d.id} should fill`).toBeGreaterThan(0.25);
    }
    expect(emptied).toBeGreaterThanOrEqual(2);

    const temps = (hour: number) => bins.flatMap((d) => at(simulate(d, start, 48), hour).map((s) => s.r['temperature'] as number));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(temps(15))).toBeGreaterThan(mean(temps(5)) + 2);
  });
});

describe('faults agree with the rules that detect them', () => {
  it('a burning bin is hot', () => {
    let burning = 0;
    for (const d of bins) {
      for (const s of simulate(d, JUNE_TUESDAY, 24 * 14, 2000)) {
        if (s.r['status'] === 'burning') {
          burning++;
          expect(s.r['temperature'] as number).toBeGreaterThanOrEqual(60);
        }
      }
    }
    expect(burning).toBeGreaterThan(0);
  });
});

const centrumBins = many(14, (i) => catalogDevice(`bin-c${i}`, 'waste-bin', 'centrum', 52.373 + i * 1e-4, 4.893, 900, { binCapacity: 1100 }));
const noordBins = many(14, (i) => catalogDevice(`bin-n${i}`, 'waste-bin', 'noord', 52.395 + i * 1e-4, 4.93, 900, { binCapacity: 1100 }));
const weekBins = [...centrumBins, ...noordBins];

describe('a simulated week of waste bins', () => {
  const runs = new Map(weekBins.map((d) => [d.id, simulate(d, JUNE_MONDAY, WEEK_H, 0, 1)]));
  const fills = (id: string) => runs.get(id)!.map((s) => ({ t: s.t, fill: s.r['fillingLevel'] as number }));

  it('every bin that gets full is emptied by a collection round, Monday to Saturday in the day shift, and only then', () => {
    let rounds = 0;
    for (const d of weekBins) {
      const f = fills(d.id);
      const emptied: number[] = [];
      for (let i = 1; i < f.length; i++) {
        if (f[i]!.fill < f[i - 1]!.fill - 0.3) {
          emptied.push(f[i]!.t);
          expect(f[i - 1]!.fill, `${d.id} emptied at ${f[i - 1]!.fill}`).toBeGreaterThanOrEqual(0.75);
          expect(f[i]!.fill).toBeLessThan(0.1);
          const lt = localTime(f[i]!.t, TZ);
          expect(lt.weekday, `${d.id} emptied on a Sunday`).not.toBe(0);
          expect(lt.hour).toBeGreaterThanOrEqual(7);
          expect(lt.hour).toBeLessThanOrEqual(16.5);
        }
      }
      rounds += emptied.length;
      // Each time the bin got full, a round came within two days (Saturday afternoon to Monday).
      for (let i = 1; i < f.length; i++) {
        const full = f[i]!.fill >= 0.8 && f[i - 1]!.fill < 0.8;
        if (!full || f[i]!.t > JUNE_MONDAY + (WEEK_H - 50) * HOUR_MS) continue;
        expect(emptied.some((t) => t > f[i]!.t && t - f[i]!.t <= 50 * HOUR_MS), `${d.id} full at ${new Date(f[i]!.t).toISOString()} was never collected`).toBe(true);
      }
    }
    expect(rounds).toBeGreaterThanOrEqual(weekBins.length);
  });

  /** Mean rise of the fill level per hour, over the readings matching `when`, collections excluded. */
  function riseRate(group: DeviceRecord[], when: (weekday: number) => boolean): number {
    let rise = 0;
    let hours = 0;
    for (const d of group) {
      const f = fills(d.id);
      for (let i = 1; i < f.length; i++) {
        const delta = f[i]!.fill - f[i - 1]!.fill;
        // Skip collections and a full bin (which cannot rise).
        if (delta < -0.1 || f[i - 1]!.fill > 0.97 || !when(localTime(f[i]!.t, TZ).weekday)) continue;
        rise += delta;
        hours += 0.25;
      }
    }
    return rise / hours;
  }

  it('fills faster in a busy district, and in the centre faster at weekends', () => {
    const any = () => true;
    expect(riseRate(centrumBins, any)).toBeGreaterThan(1.3 * riseRate(noordBins, any));
    const weekend = (w: number) => w === 0 || w === 5 || w === 6;
    expect(riseRate(centrumBins, weekend)).toBeGreaterThan(1.25 * riseRate(centrumBins, (w) => !weekend(w)));
  });
});

describe('with fault injection turned up, faults occur at the rates the model declares', () => {
  const status = (s: Sample) => s.r['status'];

  it('bin fires', () => {
    expectSaneRate(rateRatio(weekBins, JUNE_MONDAY, 3000, WASTE_BIN_HAZARDS.firePerHour, (s) => status(s) === 'burning', (p) => status(p) !== 'burning'));
  });

  it('tipped bins', () => {
    // Damage is 40 % a tipped (`dropped`) bin; it can only start on a bin without a fault.
    expectSaneRate(rateRatio(weekBins, JUNE_MONDAY, 20, 0.4 * WASTE_BIN_HAZARDS.damagePerHour, (s) => status(s) === 'dropped', (p) => status(p) === 'ok'));
  });

  it('and none at all with fault injection off', () => {
    for (const d of weekBins.slice(0, 4)) {
      for (const s of simulate(d, DECEMBER_MONDAY, WEEK_H, 0, 1)) expect(status(s), d.id).toBe('ok');
    }
  });
});
