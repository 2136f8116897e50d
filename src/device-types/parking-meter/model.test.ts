/**
 * The parking-meter model against what makes its data and its rules meaningful: fuller by day than
 * at night, paid only in paid hours, coin boxes emptied when nearly full, and faults at the rates
 * `PARKING_METER_HAZARDS` declares.
 */
import { describe, expect, it } from 'vitest';
import { at, catalogDevice, DECEMBER_MONDAY, expectSaneRate, JUNE_MONDAY, many, rateRatio, type Sample, SEASONS, simulate, WEEK_H } from '../testing/simulate.js';
import { PARKING_METER_HAZARDS } from './model.js';

const meters = [
  catalogDevice('meter-c1', 'parking-meter', 'centrum', 52.3641, 4.883, 300, { tariffZone: '1', bays: 12 }),
  catalogDevice('meter-z1', 'parking-meter', 'zuid', 52.358, 4.881, 300, { tariffZone: '2', bays: 20 }),
  catalogDevice('meter-o1', 'parking-meter', 'oost', 52.361, 4.927, 300, { tariffZone: '3', bays: 8 }),
  catalogDevice('meter-nw1', 'parking-meter', 'nieuw-west', 52.358, 4.8, 300, { tariffZone: '4', bays: 30 }),
];

describe.each(SEASONS)('48 simulated hours in %s', (_month, start) => {
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

const weekMeters = many(10, (i) => catalogDevice(`meter-${i}`, 'parking-meter', i % 2 ? 'zuid' : 'centrum', 52.35 + i * 1e-3, 4.88, 300, { bays: 20, tariffZone: '2' }));

describe('a simulated week of parking meters', () => {
  it('coin boxes fill until a crew empties them', () => {
    let emptied = 0;
    for (const d of weekMeters) {
      const coins = simulate(d, JUNE_MONDAY, WEEK_H, 1, 1).map((s) => s.r['coinBoxLevel'] as number);
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

describe('with fault injection turned up, faults occur at the rates the model declares', () => {
  const status = (s: Sample) => s.r['status'];

  it('parking meter faults', () => {
    const anyFault = Object.values(PARKING_METER_HAZARDS).reduce((a, b) => a + b, 0);
    expectSaneRate(rateRatio(weekMeters, JUNE_MONDAY, 20, anyFault, (s) => status(s) !== 'ok', (p) => status(p) === 'ok'));
  });

  it('and none at all with fault injection off', () => {
    for (const d of weekMeters.slice(0, 4)) {
      for (const s of simulate(d, DECEMBER_MONDAY, WEEK_H, 0, 1)) expect(status(s), d.id).toBe('ok');
    }
  });
});
