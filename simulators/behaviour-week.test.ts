/**
 * A simulated week of each device type, held against what makes the data and the rules meaningful:
 * bins filled by district and weekday and emptied by collection rounds, lights switching with the
 * sun, and every fault occurring at the rate its model declares (with fault injection turned up, so
 * a week holds enough of them to count).
 */
import { getPosition, getTimes } from 'suncalc';
import { describe, expect, it } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../src/catalog/types.js';
import { modelFor } from './index.js';
import { localTime } from './local-time.js';
import { PARKING_METER_HAZARDS } from '../src/device-types/parking-meter/model.js';
import { deviceSeed, mulberry32 } from './prng.js';
import { STREETLIGHT_HAZARDS } from '../src/device-types/streetlight/model.js';
import { WASTE_BIN_HAZARDS } from '../src/device-types/waste-bin/model.js';

const HOUR = 3_600_000;
const WEEK_H = 7 * 24;
const TZ = 'Europe/Amsterdam';
/** Mondays at local midnight. */
const JUNE = Date.parse('2024-06-17T00:00:00+02:00');
const DECEMBER = Date.parse('2024-12-16T00:00:00+01:00');

interface Sample {
  t: number;
  r: Record<string, unknown>;
}

function device(id: string, type: string, district: string, lat: number, lon: number, reportingIntervalS: number, attributes: Record<string, string | number> = {}): DeviceRecord {
  return deviceRecordSchema.parse({ id, type, district, location: { lat, lon }, reportingIntervalS, attributes });
}

function simulate(d: DeviceRecord, startMs: number, hours: number, faultRate: number, seed = 1): Sample[] {
  const model = modelFor(d.type)!;
  const sim = model.create(d, mulberry32(deviceSeed(seed, d.id)), startMs, { faultRate });
  const out: Sample[] = [];
  const step = d.reportingIntervalS * 1000;
  for (let t = startMs + step; t <= startMs + hours * HOUR; t += step) out.push({ t, r: sim.next(t) as Record<string, unknown> });
  return out;
}

const many = (n: number, make: (i: number) => DeviceRecord) => Array.from({ length: n }, (_, i) => make(i));
const centrumBins = many(14, (i) => device(`bin-c${i}`, 'waste-bin', 'centrum', 52.373 + i * 1e-4, 4.893, 900, { binCapacity: 1100 }));
const noordBins = many(14, (i) => device(`bin-n${i}`, 'waste-bin', 'noord', 52.395 + i * 1e-4, 4.93, 900, { binCapacity: 1100 }));
const bins = [...centrumBins, ...noordBins];
const lights = many(16, (i) => device(`light-${i}`, 'streetlight', i % 2 ? 'west' : 'oost', 52.36 + i * 1e-3, 4.87 + i * 1e-3, 600, { powerRating: 60 }));
const meters = many(10, (i) => device(`meter-${i}`, 'parking-meter', i % 2 ? 'zuid' : 'centrum', 52.35 + i * 1e-3, 4.88, 300, { bays: 20, tariffZone: '2' }));

/**
 * Episodes of a condition (readings where it starts after a reading without it), and the hours
 * exposed to it starting: the time between readings where `exposed(previous)` held.
 */
function episodes(samples: Sample[], starts: (s: Sample) => boolean, exposed: (prev: Sample) => boolean): { count: number; hours: number } {
  let count = 0;
  let hours = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    if (!exposed(prev)) continue;
    hours += (cur.t - prev.t) / HOUR;
    if (starts(cur)) count++;
  }
  return { count, hours };
}

/** Observed over expected, summed over devices. */
function rateRatio(devices: DeviceRecord[], start: number, faultRate: number, perHour: number, starts: (s: Sample) => boolean, exposed: (prev: Sample) => boolean) {
  let count = 0;
  let hours = 0;
  for (const d of devices) {
    const e = episodes(simulate(d, start, WEEK_H, faultRate), starts, exposed);
    count += e.count;
    hours += e.hours;
  }
  const expected = perHour * faultRate * hours;
  return { count, expected, ratio: count / expected };
}

describe('a simulated week of waste bins', () => {
  const runs = new Map(bins.map((d) => [d.id, simulate(d, JUNE, WEEK_H, 0)]));
  const fills = (id: string) => runs.get(id)!.map((s) => ({ t: s.t, fill: s.r['fillingLevel'] as number }));

  it('every bin that gets full is emptied by a collection round, Monday to Saturday in the day shift, and only then', () => {
    let rounds = 0;
    for (const d of bins) {
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
        if (!full || f[i]!.t > JUNE + (WEEK_H - 50) * HOUR) continue;
        expect(emptied.some((t) => t > f[i]!.t && t - f[i]!.t <= 50 * HOUR), `${d.id} full at ${new Date(f[i]!.t).toISOString()} was never collected`).toBe(true);
      }
    }
    expect(rounds).toBeGreaterThanOrEqual(bins.length);
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

describe('a simulated week of streetlights', () => {
  it('switch on at sunset and off at sunrise at their own place, dimmed in their schedule', () => {
    for (const d of lights.slice(0, 4)) {
      const samples = simulate(d, JUNE, WEEK_H, 0);
      const { lat, lon } = d.location;
      for (let day = 0; day < 6; day++) {
        const times = getTimes(new Date(JUNE + (day * 24 + 12) * HOUR), lat, lon);
        const sunset = times.sunset!.getTime();
        const on = samples.find((s) => s.t > sunset - HOUR && s.r['powerState'] !== 'off')!;
        expect(on.t - sunset, `${d.id} on`).toBeGreaterThanOrEqual(0);
        expect(on.t - sunset, `${d.id} on`).toBeLessThanOrEqual(25 * 60_000);
        const sunrise = getTimes(new Date(JUNE + ((day + 1) * 24 + 12) * HOUR), lat, lon).sunrise!.getTime();
        const off = samples.find((s) => s.t > sunrise - 2 * HOUR && s.r['powerState'] === 'off')!;
        expect(off.t - sunrise, `${d.id} off`).toBeGreaterThanOrEqual(-15 * 60_000);
        expect(off.t - sunrise, `${d.id} off`).toBeLessThanOrEqual(10 * 60_000);
      }
    }
    const late = device('light-late', 'streetlight', 'oost', 52.36, 4.94, 600, { powerRating: 60, dimFromH: 23, dimUntilH: 5 });
    for (const s of simulate(late, DECEMBER, 48, 0)) {
      const h = localTime(s.t, TZ).hour;
      if (h >= 23 || h < 5) expect(s.r['powerState'], `${h}`).toBe('low');
      if (h >= 5.1 && h < 7.5) expect(s.r['powerState'], `${h}`).toBe('on');
      if (h >= 17.5 && h < 22.9) expect(s.r['powerState'], `${h}`).toBe('on');
    }
  });
});

describe('with fault injection turned up, faults occur at the rates the models declare', () => {
  // Each within half to twice what the hazard and the hours exposed to it predict. The runs are
  // seeded, so this is not flaky; a model that counted per reading instead of per hour, or lost a
  // fault, would be off by far more.
  const sane = (r: { count: number; expected: number; ratio: number }) => {
    expect(r.count).toBeGreaterThanOrEqual(10);
    expect(r.ratio, `${r.count} seen, ${r.expected.toFixed(1)} expected`).toBeGreaterThan(0.5);
    expect(r.ratio, `${r.count} seen, ${r.expected.toFixed(1)} expected`).toBeLessThan(2);
  };
  const status = (s: Sample) => s.r['status'];

  it('bin fires', () => {
    sane(rateRatio(bins, JUNE, 3000, WASTE_BIN_HAZARDS.firePerHour, (s) => status(s) === 'burning', (p) => status(p) !== 'burning'));
  });

  it('tipped bins', () => {
    // Damage is 40 % a tipped (`dropped`) bin; it can only start on a bin without a fault.
    sane(rateRatio(bins, JUNE, 20, 0.4 * WASTE_BIN_HAZARDS.damagePerHour, (s) => status(s) === 'dropped', (p) => status(p) === 'ok'));
  });

  it('lamp failures', () => {
    sane(
      rateRatio(lights, DECEMBER, 3000, STREETLIGHT_HAZARDS.lampFailsPerOnHour, (s) => status(s) === 'defectiveLamp', (p) => status(p) === 'ok' && p.r['powerState'] !== 'off'),
    );
  });

  it('day-burners', () => {
    const sunUp = (s: Sample, d: DeviceRecord) => getPosition(new Date(s.t), d.location.lat, d.location.lon).altitude > 10;
    let count = 0;
    let hours = 0;
    for (const d of lights) {
      const e = episodes(
        simulate(d, JUNE, WEEK_H, 50),
        (s) => s.r['powerState'] !== 'off' && sunUp(s, d),
        (p) => p.r['powerState'] === 'off' && sunUp(p, d),
      );
      count += e.count;
      hours += e.hours;
    }
    const expected = STREETLIGHT_HAZARDS.dayBurnPerDayHour * 50 * hours;
    sane({ count, expected, ratio: count / expected });
  });

  it('voltage dips below 207 V', () => {
    const dipped = (s: Sample) => (s.r['voltage'] as number) < 207;
    sane(rateRatio(lights, DECEMBER, 10, STREETLIGHT_HAZARDS.voltageDipPerHour, dipped, (p) => !dipped(p)));
  });

  it('parking meter faults', () => {
    const anyFault = Object.values(PARKING_METER_HAZARDS).reduce((a, b) => a + b, 0);
    sane(rateRatio(meters, JUNE, 20, anyFault, (s) => status(s) !== 'ok', (p) => status(p) === 'ok'));
  });

  it('and none at all with fault injection off', () => {
    for (const d of [...bins.slice(0, 4), ...lights.slice(0, 4), ...meters.slice(0, 4)]) {
      for (const s of simulate(d, DECEMBER, WEEK_H, 0)) {
        expect(status(s), d.id).toBe('ok');
        if (d.type === 'streetlight') expect(s.r['voltage'] as number).toBeGreaterThan(207);
      }
    }
  });
});

describe('a simulated week of every device', () => {
  it('drains every battery, and meters’ coin boxes fill until a crew empties them', () => {
    let emptied = 0;
    for (const d of [...bins, ...lights, ...meters]) {
      const samples = simulate(d, JUNE, WEEK_H, 1);
      const battery = samples.map((s) => s.r['batteryLevel'] as number);
      expect(battery.at(-1)!, d.id).toBeLessThan(battery[0]!);
      for (let i = 1; i < battery.length; i++) expect(battery[i]!, d.id).toBeLessThanOrEqual(battery[i - 1]!);
      if (d.type !== 'parking-meter') continue;
      const coins = samples.map((s) => s.r['coinBoxLevel'] as number);
      for (let i = 1; i < coins.length; i++) {
        if (coins[i]! < coins[i - 1]!) {
          emptied++;
          expect(coins[i - 1]!, d.id).toBeGreaterThanOrEqual(0.9);
          expect(coins[i]).toBe(0);
        }
      }
    }
    expect(emptied).toBeGreaterThanOrEqual(1);
  });
});
