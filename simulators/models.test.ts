import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../src/catalog/types.js';
import { deviceRecordSchema } from '../src/catalog/types.js';
import { deviceTypes } from '../src/device-types/registry.js';
import { deviceModels, modelFor, type AnyDeviceModel } from './index.js';
import { localTime } from './local-time.js';
import { deviceSeed, mulberry32 } from './prng.js';

const HOUR = 3_600_000;
const TZ = 'Europe/Amsterdam';

const device = (id: string, type: string, district: string, lat: number, lon: number, reportingIntervalS: number, attributes: Record<string, string | number>): DeviceRecord =>
  deviceRecordSchema.parse({ id, type, district, location: { lat, lon }, reportingIntervalS, attributes });

const bins = [
  device('bin-c1', 'waste-bin', 'centrum', 52.3731, 4.8926, 900, { binCapacity: 240, wasteKind: 'residual' }),
  device('bin-c2', 'waste-bin', 'centrum', 52.3727, 4.9005, 900, { binCapacity: 1100, wasteKind: 'plastic' }),
  device('bin-w1', 'waste-bin', 'west', 52.3665, 4.8635, 900, { binCapacity: 3000, wasteKind: 'paper' }),
  device('bin-o1', 'waste-bin', 'oost', 52.363, 4.9275, 900, { binCapacity: 240, wasteKind: 'organic' }),
  device('bin-n1', 'waste-bin', 'noord', 52.389, 4.917, 900, { binCapacity: 3000, wasteKind: 'glass' }),
  device('bin-z1', 'waste-bin', 'zuid', 52.3556, 4.8945, 900, { binCapacity: 1100, wasteKind: 'residual' }),
  device('bin-nw1', 'waste-bin', 'nieuw-west', 52.358, 4.8, 900, { binCapacity: 240, wasteKind: 'residual' }),
  device('bin-zo1', 'waste-bin', 'zuidoost', 52.312, 4.953, 900, { binCapacity: 5000, wasteKind: 'residual' }),
];
const meters = [
  device('meter-c1', 'parking-meter', 'centrum', 52.3641, 4.883, 300, { tariffZone: '1', bays: 12 }),
  device('meter-z1', 'parking-meter', 'zuid', 52.358, 4.881, 300, { tariffZone: '2', bays: 20 }),
  device('meter-o1', 'parking-meter', 'oost', 52.361, 4.927, 300, { tariffZone: '3', bays: 8 }),
  device('meter-nw1', 'parking-meter', 'nieuw-west', 52.358, 4.8, 300, { tariffZone: '4', bays: 30 }),
];
const lights = [
  device('light-c1', 'streetlight', 'centrum', 52.3752, 4.884, 600, { powerRating: 45, lampType: 'LED' }),
  device('light-n1', 'streetlight', 'noord', 52.401, 4.892, 600, { powerRating: 100, lampType: 'HPS' }),
  device('light-zo1', 'streetlight', 'zuidoost', 52.3165, 4.9545, 600, { powerRating: 60, lampType: 'LED' }),
];
const fleet = [...bins, ...meters, ...lights];

/** Tuesdays at local midnight, so the first 48 h are two weekdays. */
const JUNE = Date.parse('2024-06-18T00:00:00+02:00');
const DECEMBER = Date.parse('2024-12-17T00:00:00+01:00');

interface Sample {
  t: number;
  hour: number;
  r: Record<string, unknown>;
}

function simulate(d: DeviceRecord, startMs: number, hours: number, faultRate = 1, seed = 7): Sample[] {
  const model = modelFor(d.type)!;
  const sim = model.create(d, mulberry32(deviceSeed(seed, d.id)), startMs, { faultRate });
  const out: Sample[] = [];
  for (let t = startMs + d.reportingIntervalS * 1000; t <= startMs + hours * HOUR; t += d.reportingIntervalS * 1000) {
    out.push({ t, hour: localTime(t, TZ).hour, r: sim.next(t) as Record<string, unknown> });
  }
  return out;
}

const at = (samples: Sample[], hour: number) => samples.filter((s) => s.hour === hour);

describe('the model registry', () => {
  it('has a model for every registered device type, built on that type', () => {
    for (const def of deviceTypes) {
      const model: AnyDeviceModel | undefined = modelFor(def.name);
      expect(model, def.name).toBeDefined();
      expect(model!.type).toBe(def);
    }
    expect(Object.keys(deviceModels).sort()).toEqual(deviceTypes.map((d) => d.name).sort());
    expect(modelFor('toaster')).toBeUndefined();
    expect(modelFor('toString')).toBeUndefined();
  });
});

describe.each([
  ['June', JUNE],
  ['December', DECEMBER],
])('48 simulated hours in %s', (_month, start) => {
  it.each([1, 300])('every reading passes its type schema (fault rate ×%d)', (faultRate) => {
    for (const d of fleet) {
      const def = modelFor(d.type)!.type;
      const samples = simulate(d, start, 48, faultRate);
      expect(samples.length).toBe((48 * 3600) / d.reportingIntervalS);
      samples.forEach((s, i) => {
        const parsed = def.schema.safeParse(s.r);
        if (!parsed.success) throw new Error(`${d.id} reading ${i}: ${JSON.stringify(parsed.error.issues)} in ${JSON.stringify(s.r)}`);
        expect(s.r['seq']).toBe(i);
      });
    }
  });

  it('batteries drain slowly and the radio stays plausible', () => {
    for (const d of fleet) {
      const samples = simulate(d, start, 48);
      const levels = samples.map((s) => s.r['batteryLevel'] as number);
      for (let i = 1; i < levels.length; i++) expect(levels[i]).toBeLessThanOrEqual(levels[i - 1]!);
      expect(levels[0]! - levels.at(-1)!).toBeLessThan(0.01);
      for (const s of samples) expect(s.r['rssi']).toBeGreaterThanOrEqual(-130);
    }
  });

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

  it('lights are on at night, dimmed after midnight, and off at noon', () => {
    for (const d of lights) {
      const samples = simulate(d, start, 48, 0);
      const rating = d.attributes['powerRating'] as number;
      for (const s of at(samples, 12)) {
        expect(s.r['powerState'], `${d.id} at noon`).toBe('off');
        expect(s.r['powerConsumption'] as number).toBeLessThan(1);
        expect(s.r['ambientLight'] as number).toBeGreaterThan(1000);
      }
      for (const s of at(samples, 1)) {
        expect(s.r['powerState'], `${d.id} at 01:00`).toBe('low');
        expect(s.r['illuminanceLevel'] as number).toBeLessThan(1);
        expect(s.r['ambientLight'] as number).toBeLessThan(1);
      }
      for (const s of at(samples, 23)) {
        expect(s.r['powerState'], `${d.id} at 23:00`).toBe('on');
        expect(s.r['illuminanceLevel']).toBe(1);
        expect(s.r['powerConsumption'] as number).toBeGreaterThan(0.9 * rating);
        expect(s.r['powerConsumption'] as number).toBeLessThan(1.1 * rating + 1);
      }
      for (const s of samples) {
        const v = s.r['voltage'] as number;
        expect(v).toBeGreaterThan(215);
        expect(v).toBeLessThan(245);
      }
      const energy = samples.map((s) => s.r['energyConsumed'] as number);
      for (let i = 1; i < energy.length; i++) expect(energy[i]).toBeGreaterThanOrEqual(energy[i - 1]!);
      // Nights of ~7 h (June) to ~16 h (December), half of them dimmed: 3.5 to 17 full-power hours.
      const perDayKWh = (energy.at(-1)! - energy[0]!) / 2;
      expect(perDayKWh).toBeGreaterThan((rating * 3.5) / 1000);
      expect(perDayKWh).toBeLessThan((rating * 17) / 1000);
    }
  });

  it('meters are fuller at 11:00 than at 03:00 on a weekday, and only take money in paid hours', () => {
    let busy = 0;
    let quiet = 0;
    let total = 0;
    let revenue = 0;
    for (const d of meters) {
      const samples = simulate(d, start, 48, 0);
      const occupied = (s: Sample) => (s.r['totalSpotNumber'] as number) - (s.r['availableSpotNumber'] as number);
      for (const s of at(samples, 11)) busy += occupied(s);
      for (const s of at(samples, 3)) quiet += occupied(s);
      total += (d.attributes['bays'] as number) * 2;
      for (const s of samples) {
        if (s.hour > 0.1 && s.hour < 9) expect(s.r['transactions'], `${d.id} at ${s.hour}`).toBe(0);
        revenue += s.r['revenue'] as number;
      }
    }
    expect(busy / total).toBeGreaterThan(0.6);
    expect(quiet / total).toBeLessThan(0.25);
    expect(revenue).toBeGreaterThan(0);
  });
});

describe('faults agree with the rules that detect them', () => {
  it('a burning bin is hot, a failed lamp draws almost nothing while on', () => {
    let burning = 0;
    let failedOn = 0;
    for (const d of bins) {
      for (const s of simulate(d, JUNE, 24 * 14, 2000)) {
        if (s.r['status'] === 'burning') {
          burning++;
          expect(s.r['temperature'] as number).toBeGreaterThanOrEqual(60);
        }
      }
    }
    for (const d of lights) {
      for (const s of simulate(d, DECEMBER, 24 * 14, 2000)) {
        if (s.r['status'] === 'defectiveLamp' && s.r['powerState'] !== 'off') {
          failedOn++;
          expect(s.r['powerConsumption'] as number).toBeLessThan(0.1 * (d.attributes['powerRating'] as number));
        }
      }
    }
    expect(burning).toBeGreaterThan(0);
    expect(failedOn).toBeGreaterThan(0);
  });
});

describe('reproducibility', () => {
  it('the same seed gives the same readings, another seed others', () => {
    for (const d of [bins[0]!, meters[0]!, lights[0]!]) {
      expect(simulate(d, JUNE, 6, 1, 42)).toEqual(simulate(d, JUNE, 6, 1, 42));
      expect(simulate(d, JUNE, 6, 1, 42)).not.toEqual(simulate(d, JUNE, 6, 1, 43));
    }
  });
});
