/**
 * CONTRACT §5, the rules every device type shares (`common-rules.json`), against the shipped
 * `rules/default.json` through the rules stage, for every registered type. Each type's own rules
 * are tested in its folder (`src/device-types/<type>/rules.test.ts`).
 */
import { describe, expect, it } from 'vitest';
import { deviceTypeModules } from '../device-types/registry.js';
import { ownFixtures, typeFolder } from '../device-types/testing/fixtures.js';
import { MIN, T0, device, reading, summary } from './testing/fixtures.js';
import { NIGHT, describeRuleCases, useShippedRules, type Fields, type RuleCase } from './testing/shipped-rules.js';

/** One device of every registered type, with the attributes of its first demo device, and the type's smallest valid reading. */
const typed = deviceTypeModules.map((m) => {
  const name = m.definition.name;
  return {
    device: device({ id: `${name}-1`, type: name, attributes: { ...m.demo.devices[0]?.attributes } }),
    base: ownFixtures(typeFolder(name)).base as Fields,
  };
});

describeRuleCases(
  'device.battery, every type (CONTRACT §5)',
  typed.map(({ device: d, base }): [string, RuleCase] => [
    `${d.type}: batteryLevel < 0.15 → device.battery`,
    {
      rule: 'device.battery',
      device: d,
      start: NIGHT,
      steps: [
        [0, { ...base, batteryLevel: 0.15 }, []],
        [1, { ...base, batteryLevel: 0.14 }, ['raised device.battery']],
      ],
    },
  ]),
);

describe('device.offline, every type (CONTRACT §5)', () => {
  const first = typed[0]!;
  const late = { device: device({ id: 'late-1', type: first.device.type }), base: first.base };
  const never = device({ id: 'never-1', type: typed.at(-1)!.device.type });
  const ctx = useShippedRules([...typed.map((t) => t.device), late.device, never]);

  it('silent for 3 × reportingIntervalS (a sweep) → raised; the next reading clears it', () => {
    ctx.stage.evaluate([...typed.map((t) => reading(t.device, T0, t.base)), reading(late.device, T0 + MIN, late.base, T0 + MIN)]);
    ctx.stage.sweep(T0 + 14 * MIN);
    expect(ctx.delivered).toEqual([]);
    ctx.stage.sweep(T0 + 15 * MIN);
    // A device in the catalog but never heard from is watched too.
    expect(ctx.delivered.map(summary).sort()).toEqual([...typed.map((t) => `${t.device.id} raised device.offline`), 'never-1 raised device.offline'].sort());
    expect(ctx.delivered.find((e) => e.deviceId === 'never-1')!.message).toMatch(/never reported/);
    const raised = ctx.delivered.length;
    ctx.stage.evaluate([reading(first.device, T0 + 16 * MIN, first.base)]);
    expect(ctx.delivered.slice(raised).map(summary)).toEqual([`${first.device.id} cleared device.offline`]);
    ctx.stage.sweep(T0 + 16 * MIN);
    expect(ctx.delivered.slice(raised + 1).map(summary)).toEqual(['late-1 raised device.offline']);
  });
});
