/**
 * Runs a simulator model over hours of simulated time, for the behaviour tests in each type's folder
 * (`<type>/model.test.ts`) and the every-type tests in `simulators/models.test.ts`.
 */
import { expect } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../../catalog/types.js';
import type { DeviceTypeModule } from '../module.js';
import { modelFor } from '../../../simulators/index.js';
import { localTime } from '../../../simulators/local-time.js';
import { deviceSeed, mulberry32 } from '../../../simulators/prng.js';

export const HOUR_MS = 3_600_000;
export const WEEK_H = 7 * 24;
export const TZ = 'Europe/Amsterdam';

/** Tuesdays at local midnight, so the first 48 h are two weekdays: a summer and a winter start. */
export const JUNE_TUESDAY = Date.parse('2024-06-18T00:00:00+02:00');
export const DECEMBER_TUESDAY = Date.parse('2024-12-17T00:00:00+01:00');
/** Mondays at local midnight, for a week. */
export const JUNE_MONDAY = Date.parse('2024-06-17T00:00:00+02:00');
export const DECEMBER_MONDAY = Date.parse('2024-12-16T00:00:00+01:00');

/** The 48-hour runs every model test makes, in summer and in winter. */
export const SEASONS = [
  ['June', JUNE_TUESDAY],
  ['December', DECEMBER_TUESDAY],
] as const;

/** One reading and when it was sent (`hour`: local time in {@link TZ}, fractional). */
export interface Sample {
  t: number;
  hour: number;
  r: Record<string, unknown>;
}

/** A catalog record, as the catalog would parse it. */
export function catalogDevice(
  id: string,
  type: string,
  district: string,
  lat: number,
  lon: number,
  reportingIntervalS: number,
  attributes: Record<string, string | number> = {},
): DeviceRecord {
  return deviceRecordSchema.parse({ id, type, district, location: { lat, lon }, reportingIntervalS, attributes });
}

/** The shipped demo devices of a type, as catalog records reporting at the type's fleet interval. */
export function demoRecords(mod: DeviceTypeModule): DeviceRecord[] {
  return mod.demo.devices.map((d) => catalogDevice(d.id, mod.definition.name, d.district, d.lat, d.lon, mod.fleet.reportingIntervalS, { ...d.attributes }));
}

/** Every reading `d` sends in `hours` from `startMs`, seeded by `seed` and the device id. */
export function simulate(d: DeviceRecord, startMs: number, hours: number, faultRate = 1, seed = 7): Sample[] {
  const model = modelFor(d.type)!;
  const sim = model.create(d, mulberry32(deviceSeed(seed, d.id)), startMs, { faultRate });
  const out: Sample[] = [];
  const step = d.reportingIntervalS * 1000;
  for (let t = startMs + step; t <= startMs + hours * HOUR_MS; t += step) {
    out.push({ t, hour: localTime(t, TZ).hour, r: sim.next(t) as Record<string, unknown> });
  }
  return out;
}

/** The samples sent in one local hour of the day. */
export const at = (samples: Sample[], hour: number): Sample[] => samples.filter((s) => s.hour === hour);

export const many = (n: number, make: (i: number) => DeviceRecord): DeviceRecord[] => Array.from({ length: n }, (_, i) => make(i));

/**
 * Episodes of a condition (readings where it starts after a reading without it), and the hours
 * exposed to it starting: the time between readings where `exposed(previous)` held.
 */
export function episodes(samples: Sample[], starts: (s: Sample) => boolean, exposed: (prev: Sample) => boolean): { count: number; hours: number } {
  let count = 0;
  let hours = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    if (!exposed(prev)) continue;
    hours += (cur.t - prev.t) / HOUR_MS;
    if (starts(cur)) count++;
  }
  return { count, hours };
}

export interface RateRatio {
  count: number;
  expected: number;
  ratio: number;
}

/** Episodes observed over those a hazard of `perHour` (times `faultRate`) predicts, summed over a week of `devices`. */
export function rateRatio(devices: DeviceRecord[], start: number, faultRate: number, perHour: number, starts: (s: Sample) => boolean, exposed: (prev: Sample) => boolean): RateRatio {
  let count = 0;
  let hours = 0;
  for (const d of devices) {
    const e = episodes(simulate(d, start, WEEK_H, faultRate, 1), starts, exposed);
    count += e.count;
    hours += e.hours;
  }
  const expected = perHour * faultRate * hours;
  return { count, expected, ratio: count / expected };
}

/**
 * Within half to twice what the hazard and the hours exposed to it predict. The runs are seeded, so
 * this is not flaky; a model that counted per reading instead of per hour, or lost a fault, would be
 * off by far more.
 */
export function expectSaneRate(r: RateRatio): void {
  expect(r.count).toBeGreaterThanOrEqual(10);
  expect(r.ratio, `${r.count} seen, ${r.expected.toFixed(1)} expected`).toBeGreaterThan(0.5);
  expect(r.ratio, `${r.count} seen, ${r.expected.toFixed(1)} expected`).toBeLessThan(2);
}
