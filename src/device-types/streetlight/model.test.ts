/**
 * The streetlight model against what makes its data and its rules meaningful: on from sunset to
 * sunrise at the lamp's own place, dimmed in its schedule, drawing its rated power, and lamp
 * failures, day-burners and voltage dips at the rates `STREETLIGHT_HAZARDS` declares.
 */
import { getPosition, getTimes } from 'suncalc';
import { describe, expect, it } from 'vitest';
import { localTime } from '../../../simulators/local-time.js';
import { at, catalogDevice, DECEMBER_MONDAY, DECEMBER_TUESDAY, episodes, expectSaneRate, HOUR_MS, JUNE_MONDAY, many, rateRatio, type Sample, SEASONS, simulate, TZ, WEEK_H } from '../testing/simulate.js';
import { STREETLIGHT_HAZARDS } from './model.js';

const lights = [
  catalogDevice('light-c1', 'streetlight', 'centrum', 52.3752, 4.884, 600, { powerRating: 45, lampType: 'LED' }),
  catalogDevice('light-n1', 'streetlight', 'noord', 52.401, 4.892, 600, { powerRating: 100, lampType: 'HPS' }),
  catalogDevice('light-zo1', 'streetlight', 'zuidoost', 52.3165, 4.9545, 600, { powerRating: 60, lampType: 'LED' }),
];

describe.each(SEASONS)('48 simulated hours in %s', (_month, start) => {
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
});

describe('faults agree with the rules that detect them', () => {
  it('a failed lamp draws almost nothing while on', () => {
    let failedOn = 0;
    for (const d of lights) {
      for (const s of simulate(d, DECEMBER_TUESDAY, 24 * 14, 2000)) {
        if (s.r['status'] === 'defectiveLamp' && s.r['powerState'] !== 'off') {
          failedOn++;
          expect(s.r['powerConsumption'] as number).toBeLessThan(0.1 * (d.attributes['powerRating'] as number));
        }
      }
    }
    expect(failedOn).toBeGreaterThan(0);
  });
});

const weekLights = many(16, (i) => catalogDevice(`light-${i}`, 'streetlight', i % 2 ? 'west' : 'oost', 52.36 + i * 1e-3, 4.87 + i * 1e-3, 600, { powerRating: 60 }));

describe('a simulated week of streetlights', () => {
  it('switch on at sunset and off at sunrise at their own place, dimmed in their schedule', () => {
    for (const d of weekLights.slice(0, 4)) {
      const samples = simulate(d, JUNE_MONDAY, WEEK_H, 0, 1);
      const { lat, lon } = d.location;
      for (let day = 0; day < 6; day++) {
        const times = getTimes(new Date(JUNE_MONDAY + (day * 24 + 12) * HOUR_MS), lat, lon);
        const sunset = times.sunset!.getTime();
        const on = samples.find((s) => s.t > sunset - HOUR_MS && s.r['powerState'] !== 'off')!;
        expect(on.t - sunset, `${d.id} on`).toBeGreaterThanOrEqual(0);
        expect(on.t - sunset, `${d.id} on`).toBeLessThanOrEqual(25 * 60_000);
        const sunrise = getTimes(new Date(JUNE_MONDAY + ((day + 1) * 24 + 12) * HOUR_MS), lat, lon).sunrise!.getTime();
        const off = samples.find((s) => s.t > sunrise - 2 * HOUR_MS && s.r['powerState'] === 'off')!;
        expect(off.t - sunrise, `${d.id} off`).toBeGreaterThanOrEqual(-15 * 60_000);
        expect(off.t - sunrise, `${d.id} off`).toBeLessThanOrEqual(10 * 60_000);
      }
    }
    const late = catalogDevice('light-late', 'streetlight', 'oost', 52.36, 4.94, 600, { powerRating: 60, dimFromH: 23, dimUntilH: 5 });
    for (const s of simulate(late, DECEMBER_MONDAY, 48, 0, 1)) {
      const h = localTime(s.t, TZ).hour;
      if (h >= 23 || h < 5) expect(s.r['powerState'], `${h}`).toBe('low');
      if (h >= 5.1 && h < 7.5) expect(s.r['powerState'], `${h}`).toBe('on');
      if (h >= 17.5 && h < 22.9) expect(s.r['powerState'], `${h}`).toBe('on');
    }
  });
});

describe('with fault injection turned up, faults occur at the rates the model declares', () => {
  const status = (s: Sample) => s.r['status'];

  it('lamp failures', () => {
    expectSaneRate(
      rateRatio(weekLights, DECEMBER_MONDAY, 3000, STREETLIGHT_HAZARDS.lampFailsPerOnHour, (s) => status(s) === 'defectiveLamp', (p) => status(p) === 'ok' && p.r['powerState'] !== 'off'),
    );
  });

  it('day-burners', () => {
    const sunUp = (s: Sample, lat: number, lon: number) => getPosition(new Date(s.t), lat, lon).altitude > 10;
    let count = 0;
    let hours = 0;
    for (const d of weekLights) {
      const { lat, lon } = d.location;
      const e = episodes(
        simulate(d, JUNE_MONDAY, WEEK_H, 50, 1),
        (s) => s.r['powerState'] !== 'off' && sunUp(s, lat, lon),
        (p) => p.r['powerState'] === 'off' && sunUp(p, lat, lon),
      );
      count += e.count;
      hours += e.hours;
    }
    const expected = STREETLIGHT_HAZARDS.dayBurnPerDayHour * 50 * hours;
    expectSaneRate({ count, expected, ratio: count / expected });
  });

  it('voltage dips below 207 V', () => {
    const dipped = (s: Sample) => (s.r['voltage'] as number) < 207;
    expectSaneRate(rateRatio(weekLights, DECEMBER_MONDAY, 10, STREETLIGHT_HAZARDS.voltageDipPerHour, dipped, (p) => !dipped(p)));
  });

  it('and none at all with fault injection off', () => {
    for (const d of weekLights.slice(0, 4)) {
      for (const s of simulate(d, DECEMBER_MONDAY, WEEK_H, 0, 1)) {
        expect(status(s), d.id).toBe('ok');
        expect(s.r['voltage'] as number).toBeGreaterThan(207);
      }
    }
  });
});
