/**
 * What every registered type's simulator model does, run on each type's shipped demo devices. A
 * type's own behaviour (bins fill, lights follow the sun, faults at their declared rates) is tested
 * in its folder (`src/device-types/<type>/model.test.ts`); that every reading passes the type's
 * schema is part of the type contract (`src/device-types/testing/type-contract.ts`).
 */
import { describe, expect, it } from 'vitest';
import { deviceTypeModules, deviceTypes } from '../src/device-types/registry.js';
import { demoRecords, JUNE_TUESDAY, SEASONS, simulate, WEEK_H } from '../src/device-types/testing/simulate.js';
import { deviceModels, modelFor, type AnyDeviceModel } from './index.js';

const fleet = deviceTypeModules.flatMap(demoRecords);

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

describe.each(SEASONS)('48 simulated hours in %s', (_month, start) => {
  it.each([1, 300])('every device reports once an interval, seq counting from 0 (fault rate ×%d)', (faultRate) => {
    for (const d of fleet) {
      const samples = simulate(d, start, 48, faultRate);
      expect(samples.length, d.id).toBe((48 * 3600) / d.reportingIntervalS);
      samples.forEach((s, i) => expect(s.r['seq'], d.id).toBe(i));
    }
  });

  it('batteries drain slowly and the radio stays plausible', () => {
    for (const d of fleet) {
      const samples = simulate(d, start, 48);
      const levels = samples.map((s) => s.r['batteryLevel'] as number);
      for (let i = 1; i < levels.length; i++) expect(levels[i], d.id).toBeLessThanOrEqual(levels[i - 1]!);
      expect(levels[0]! - levels.at(-1)!, d.id).toBeLessThan(0.01);
      for (const s of samples) expect(s.r['rssi'], d.id).toBeGreaterThanOrEqual(-130);
    }
  });
});

describe('a simulated week of every device', () => {
  it('drains every battery', () => {
    for (const d of fleet) {
      const battery = simulate(d, JUNE_TUESDAY, WEEK_H, 1, 1).map((s) => s.r['batteryLevel'] as number);
      expect(battery.at(-1)!, d.id).toBeLessThan(battery[0]!);
      for (let i = 1; i < battery.length; i++) expect(battery[i]!, d.id).toBeLessThanOrEqual(battery[i - 1]!);
    }
  });
});

describe('reproducibility', () => {
  it.each(deviceTypeModules.map((m) => [m.definition.name, m] as const))('%s: the same seed gives the same readings, another seed others', (_name, mod) => {
    const d = demoRecords(mod)[0]!;
    expect(simulate(d, JUNE_TUESDAY, 6, 1, 42)).toEqual(simulate(d, JUNE_TUESDAY, 6, 1, 42));
    expect(simulate(d, JUNE_TUESDAY, 6, 1, 42)).not.toEqual(simulate(d, JUNE_TUESDAY, 6, 1, 43));
  });
});
