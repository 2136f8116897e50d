/**
 * The rule engine, table-driven: each scenario is a rules file, a few devices and a sequence of
 * batches (device time in minutes after T0, the wall clock set with fake timers), with the events
 * each batch must produce, exactly and in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceRecord } from '../../catalog/types.js';
import { RuleStateStore } from '../rule-state-store.js';
import { MIN, T0, TestCatalog, device, reading, summary } from '../testing/fixtures.js';
import { CompiledRules } from './compile.js';
import { RuleEngine } from './evaluate.js';
import { RuleBook } from './rule-book.js';

type Fields = Record<string, number | string>;
/** [device minutes after T0, fields, device id (default: the scenario's first device)] */
type Row = [number, Fields, string?];

interface Batch {
  readonly readings: readonly Row[];
  /** Wall clock at evaluation, minutes after T0; default: the last reading's time. */
  readonly now?: number;
  readonly expect: readonly string[];
}

interface Scenario {
  readonly name: string;
  readonly rules: readonly unknown[];
  readonly overrides?: readonly unknown[];
  readonly settings?: unknown;
  readonly devices?: readonly DeviceRecord[];
  readonly batches: readonly Batch[];
}

/** One reading per batch. */
const at = (min: number, fields: Fields, expected: readonly string[] = [], opts: { device?: string; now?: number } = {}): Batch => ({
  readings: [[min, fields, opts.device]],
  expect: expected,
  ...(opts.now === undefined ? {} : { now: opts.now }),
});

const bin = device({ id: 'bin-1', type: 'waste-bin' });
const meter = device({ id: 'meter-1', type: 'parking-meter' });
const lamp = device({ id: 'light-1', type: 'streetlight', attributes: { powerRating: 60 } });

const collect = (extra: object = {}) => ({
  id: 'waste.collect',
  deviceType: 'waste-bin',
  condition: { kind: 'threshold', field: 'fillingLevel', above: 0.8, clear: 0.3 },
  severity: 'info',
  ticket: true,
  serviceCode: 'waste.collect',
  serviceName: 'Collect',
  ...extra,
});

const meterStatus = (extra: object = {}) => ({
  id: 'parking.repair',
  deviceType: 'parking-meter',
  condition: { kind: 'enum', field: 'status', notIn: ['ok'] },
  severity: 'warning',
  ticket: true,
  serviceCode: 'parking.repair',
  serviceName: 'Repair',
  ...extra,
});

const parkingFull = {
  id: 'parking.full',
  deviceType: 'parking-meter',
  condition: { kind: 'threshold', field: 'availableSpotNumber', below: 1 },
  for: 'PT30M',
  severity: 'info',
  ticket: false,
};

const full: Fields = { totalSpotNumber: 8, availableSpotNumber: 0 };

const scenarios: Scenario[] = [
  {
    name: 'hysteresis: raises at ≥ the raise level, clears only below the clear level',
    rules: [collect()],
    batches: [
      at(0, { fillingLevel: 0.5 }),
      at(1, { fillingLevel: 0.8 }, ['bin-1 raised waste.collect']),
      at(2, { fillingLevel: 0.9 }),
      at(3, { fillingLevel: 0.5 }),
      at(4, { fillingLevel: 0.3 }),
      at(5, { fillingLevel: 0.29 }, ['bin-1 cleared waste.collect']),
      at(6, { fillingLevel: 0.7 }),
      at(7, { fillingLevel: 0.85 }, ['bin-1 raised waste.collect']),
    ],
  },
  {
    name: 'hysteresis on a `below` threshold: raises under the level, clears at or above `clear`',
    rules: [
      { id: 'device.battery', deviceType: '*', condition: { kind: 'threshold', field: 'batteryLevel', below: 0.15, clear: 0.3 }, severity: 'info', ticket: false },
    ],
    batches: [
      at(0, { fillingLevel: 0.1, batteryLevel: 0.15 }),
      at(1, { fillingLevel: 0.1, batteryLevel: 0.14 }, ['bin-1 raised device.battery']),
      at(2, { fillingLevel: 0.1, batteryLevel: 0.29 }),
      at(3, { fillingLevel: 0.1, batteryLevel: 0.3 }, ['bin-1 cleared device.battery']),
    ],
  },
  {
    name: 'without `clear` the raise level is also the clear level',
    rules: [{ id: 'hot', deviceType: 'waste-bin', condition: { kind: 'threshold', field: 'temperature', above: 60 }, severity: 'urgent', ticket: false }],
    batches: [
      at(0, { fillingLevel: 0, temperature: 59.9 }),
      at(1, { fillingLevel: 0, temperature: 60 }, ['bin-1 raised hot']),
      at(2, { fillingLevel: 0, temperature: 59.9 }, ['bin-1 cleared hot']),
    ],
  },
  {
    name: 'a rule whose field is absent does not evaluate (and does not clear)',
    rules: [{ id: 'hot', deviceType: 'waste-bin', condition: { kind: 'threshold', field: 'temperature', above: 60 }, severity: 'urgent', ticket: false }],
    batches: [at(0, { fillingLevel: 0, temperature: 70 }, ['bin-1 raised hot']), at(1, { fillingLevel: 0 }), at(2, { fillingLevel: 0, temperature: 20 }, ['bin-1 cleared hot'])],
  },
  {
    name: '`for`: raises only once the condition has held for the duration in device time',
    rules: [parkingFull],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(10, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(29, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(30, { totalSpotNumber: 8, availableSpotNumber: 0 }, ['meter-1 raised parking.full']),
      at(31, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(40, { totalSpotNumber: 8, availableSpotNumber: 3 }, ['meter-1 cleared parking.full']),
    ],
  },
  {
    name: '`for`: a reading outside the condition restarts the timer',
    rules: [parkingFull],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(20, { totalSpotNumber: 8, availableSpotNumber: 2 }),
      at(40, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(69, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(70, { totalSpotNumber: 8, availableSpotNumber: 0 }, ['meter-1 raised parking.full']),
    ],
  },
  {
    name: '`for` runs on device time: a stored batch evaluated at once still raises; wall-clock time alone does not',
    rules: [parkingFull],
    devices: [meter],
    batches: [
      // A device's stored half hour arrives as one batch, a minute after its last reading.
      {
        readings: [
          [0, { totalSpotNumber: 8, availableSpotNumber: 0 }],
          [15, { totalSpotNumber: 8, availableSpotNumber: 0 }],
          [30, { totalSpotNumber: 8, availableSpotNumber: 0 }],
        ],
        now: 31,
        expect: ['meter-1 raised parking.full'],
      },
      at(31, { totalSpotNumber: 8, availableSpotNumber: 4 }, ['meter-1 cleared parking.full']),
      // Pending from 40; hours pass on the wall clock, but the device says only 10 minutes did.
      at(40, { totalSpotNumber: 8, availableSpotNumber: 0 }),
      at(50, { totalSpotNumber: 8, availableSpotNumber: 0 }, [], { now: 300 }),
    ],
  },
  {
    name: 'enum notIn: any status but ok raises; another bad status keeps it raised; ok clears',
    rules: [meterStatus()],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }),
      at(1, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      at(2, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'outOfOrder' }),
      at(3, { totalSpotNumber: 8, availableSpotNumber: 3 }),
      at(4, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
    ],
  },
  {
    name: 'enum in + `any`: burning or hot raises; clears only when neither holds',
    rules: [
      {
        id: 'waste.fire',
        deviceType: 'waste-bin',
        condition: {
          kind: 'any',
          of: [
            { kind: 'threshold', field: 'temperature', above: 60, clear: 50 },
            { kind: 'enum', field: 'status', in: ['burning'] },
          ],
        },
        severity: 'urgent',
        ticket: true,
        serviceCode: 'waste.fire',
        serviceName: 'Fire',
      },
    ],
    batches: [
      at(0, { fillingLevel: 0.2, status: 'ok', temperature: 20 }),
      at(1, { fillingLevel: 0.2, status: 'burning', temperature: 30 }, ['bin-1 raised waste.fire']),
      at(2, { fillingLevel: 0.2, status: 'ok', temperature: 70 }),
      at(3, { fillingLevel: 0.2, status: 'ok', temperature: 55 }),
      at(4, { fillingLevel: 0.2 }),
      at(5, { fillingLevel: 0.2, status: 'ok', temperature: 40 }, ['bin-1 cleared waste.fire']),
      at(6, { fillingLevel: 0.2, temperature: 61 }, ['bin-1 raised waste.fire']),
    ],
  },
  {
    name: '`while` gate and attribute levels: a lamp on under 10 % of its rating for 15 min is out; off, it holds',
    rules: [
      {
        id: 'light.out',
        deviceType: 'streetlight',
        condition: { kind: 'threshold', field: 'powerConsumption', below: { attribute: 'powerRating', times: 0.1 } },
        while: { kind: 'enum', field: 'powerState', in: ['on'] },
        for: 'PT15M',
        severity: 'warning',
        ticket: true,
        serviceCode: 'light.out',
        serviceName: 'Lamp out',
      },
    ],
    devices: [lamp],
    batches: [
      at(0, { powerState: 'on', powerConsumption: 5.9 }),
      // Switched off before 15 min: the timer restarts at the next `on`.
      at(10, { powerState: 'off', powerConsumption: 0.5 }),
      at(20, { powerState: 'on', powerConsumption: 1 }),
      at(34, { powerState: 'on', powerConsumption: 1 }),
      at(35, { powerState: 'on', powerConsumption: 1 }, ['light-1 raised light.out']),
      // Switched off by day: outside the gate, a raised rule stays raised.
      at(40, { powerState: 'off', powerConsumption: 0 }),
      at(50, { powerState: 'on', powerConsumption: 6 }, ['light-1 cleared light.out']),
    ],
  },
  {
    name: 'flapping: more than N raises and clears within the window holds raised, then releases when stable',
    rules: [meterStatus({ flapping: { maxTransitions: 3, window: 'PT1H' } })],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      at(5, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
      at(10, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      // The 4th transition within the hour: the clear is held, and the hold is announced.
      at(15, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 raised parking.repair flapping=true']),
      at(20, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }),
      at(25, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }),
      at(60, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }),
      at(84, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }),
      // Stable (no raise or clear) for an hour since 25: released where it settled.
      at(85, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair flapping=false']),
      at(90, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
    ],
  },
  {
    name: 'flapping released while the condition still holds says so with a raised event',
    rules: [meterStatus({ flapping: { maxTransitions: 2, window: 'PT30M' } })],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      at(1, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
      at(2, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair flapping=true']),
      at(31, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }),
      at(32, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair flapping=false']),
      at(33, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
    ],
  },
  {
    name: 'transitions older than the window do not count towards flapping',
    rules: [meterStatus({ flapping: { maxTransitions: 2, window: 'PT10M' } })],
    devices: [meter],
    batches: [
      at(0, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      at(5, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
      at(11, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'coinJam' }, ['meter-1 raised parking.repair']),
      at(16, { totalSpotNumber: 8, availableSpotNumber: 3, status: 'ok' }, ['meter-1 cleared parking.repair']),
    ],
  },
  {
    name: 'late data: a backlog raise followed by its clear in the same batch is marked so no ticket opens',
    rules: [collect()],
    settings: { lateAfter: 'PT10M' },
    batches: [
      {
        readings: [
          [0, { fillingLevel: 0.9 }],
          [10, { fillingLevel: 0.1 }],
          [20, { fillingLevel: 0.85 }],
        ],
        now: 120,
        expect: ['bin-1 raised waste.collect late clearedAt=+10min', 'bin-1 cleared waste.collect late', 'bin-1 raised waste.collect late'],
      },
      // Live again: still raised from the backlog, so nothing new until it clears.
      at(121, { fillingLevel: 0.9 }, [], { now: 121 }),
      at(122, { fillingLevel: 0.2 }, ['bin-1 cleared waste.collect'], { now: 122 }),
    ],
  },
  {
    name: 'late is decided per reading against the wall clock',
    rules: [collect()],
    settings: { lateAfter: 'PT10M' },
    batches: [
      at(0, { fillingLevel: 0.9 }, ['bin-1 raised waste.collect'], { now: 10 }),
      at(1, { fillingLevel: 0.1 }, ['bin-1 cleared waste.collect late'], { now: 11.5 }),
    ],
  },
  {
    name: 'readings at or before the last evaluated one are not evaluated again (replays, out-of-order uploads)',
    rules: [collect()],
    batches: [
      at(10, { fillingLevel: 0.9 }, ['bin-1 raised waste.collect']),
      at(5, { fillingLevel: 0.1 }, [], { now: 11 }),
      at(10, { fillingLevel: 0.1 }, [], { now: 11 }),
      at(11, { fillingLevel: 0.1 }, ['bin-1 cleared waste.collect']),
    ],
  },
  {
    name: 'overrides: device > district > type, most specific wins',
    rules: [collect()],
    overrides: [
      { match: { deviceId: 'bin-own' }, rules: { 'waste.collect': { condition: { above: 0.5, clear: 0.2 } } } },
      { match: { district: 'centrum' }, rules: { 'waste.collect': { condition: { above: 0.6 } } } },
      { match: { type: 'waste-bin' }, rules: { 'waste.collect': { condition: { above: 0.75 } } } },
    ],
    devices: [
      device({ id: 'bin-west', type: 'waste-bin', district: 'west' }),
      device({ id: 'bin-centrum', type: 'waste-bin', district: 'centrum' }),
      device({ id: 'bin-own', type: 'waste-bin', district: 'centrum' }),
    ],
    batches: [
      {
        readings: [
          [0, { fillingLevel: 0.55 }, 'bin-west'],
          [0, { fillingLevel: 0.55 }, 'bin-centrum'],
          [0, { fillingLevel: 0.55 }, 'bin-own'],
        ],
        expect: ['bin-own raised waste.collect'],
      },
      {
        readings: [
          [1, { fillingLevel: 0.65 }, 'bin-west'],
          [1, { fillingLevel: 0.65 }, 'bin-centrum'],
        ],
        expect: ['bin-centrum raised waste.collect'],
      },
      at(2, { fillingLevel: 0.76 }, ['bin-west raised waste.collect'], { device: 'bin-west' }),
      // bin-own's clear level is its own; the district's clear stays the base 0.3.
      at(3, { fillingLevel: 0.25 }, [], { device: 'bin-own' }),
      at(4, { fillingLevel: 0.19 }, ['bin-own cleared waste.collect'], { device: 'bin-own' }),
      at(5, { fillingLevel: 0.29 }, ['bin-centrum cleared waste.collect'], { device: 'bin-centrum' }),
    ],
  },
  {
    name: 'overrides: among equally specific overrides the later one wins; `enabled: false` turns a rule off',
    rules: [collect()],
    overrides: [
      { match: { district: 'west' }, rules: { 'waste.collect': { condition: { above: 0.5 } } } },
      { match: { district: 'west' }, rules: { 'waste.collect': { condition: { above: 0.7 } } } },
      { match: { district: 'noord' }, rules: { 'waste.collect': { enabled: false } } },
    ],
    devices: [device({ id: 'bin-west', type: 'waste-bin', district: 'west' }), device({ id: 'bin-noord', type: 'waste-bin', district: 'noord' })],
    batches: [
      at(0, { fillingLevel: 0.6 }, [], { device: 'bin-west' }),
      at(1, { fillingLevel: 0.7 }, ['bin-west raised waste.collect'], { device: 'bin-west' }),
      at(1, { fillingLevel: 1 }, [], { device: 'bin-noord' }),
    ],
  },
  {
    name: 'overrides: a device with its own `for`',
    rules: [parkingFull],
    overrides: [{ match: { deviceId: 'meter-1' }, rules: { 'parking.full': { for: 600 } } }],
    devices: [meter],
    batches: [at(0, { totalSpotNumber: 8, availableSpotNumber: 0 }), at(10, { totalSpotNumber: 8, availableSpotNumber: 0 }, ['meter-1 raised parking.full'])],
  },
  {
    name: '`for` from a catalog attribute: each device waits its own time; without the attribute, the default',
    rules: [{ ...parkingFull, for: { attribute: 'fullForMin', unit: 'minutes', default: 30 } }],
    devices: [
      device({ id: 'meter-short', type: 'parking-meter', attributes: { fullForMin: 10 } }),
      device({ id: 'meter-long', type: 'parking-meter', attributes: { fullForMin: 45 } }),
      device({ id: 'meter-plain', type: 'parking-meter' }),
    ],
    batches: [
      { readings: [[0, full], [0, full, 'meter-long'], [0, full, 'meter-plain']], expect: [] },
      at(9, full),
      at(10, full, ['meter-short raised parking.full']),
      at(29, full, [], { device: 'meter-plain' }),
      at(30, full, ['meter-plain raised parking.full'], { device: 'meter-plain' }),
      at(44, full, [], { device: 'meter-long' }),
      at(45, full, ['meter-long raised parking.full'], { device: 'meter-long' }),
    ],
  },
  {
    name: '`for` from a catalog attribute: `times` scales it, a reading outside the condition restarts it',
    rules: [{ ...parkingFull, for: { attribute: 'fullForH', unit: 'hours', times: 0.5 } }],
    devices: [device({ id: 'meter-1', type: 'parking-meter', attributes: { fullForH: 2 } })],
    batches: [at(0, full), at(50, { totalSpotNumber: 8, availableSpotNumber: 1 }), at(60, full), at(119, full), at(120, full, ['meter-1 raised parking.full'])],
  },
  {
    name: 'overrides: a fixed `for` replaces an attribute one for a device, and the other way round',
    rules: [{ ...parkingFull, for: { attribute: 'fullForMin', unit: 'minutes' } }],
    overrides: [
      { match: { deviceId: 'meter-fixed' }, rules: { 'parking.full': { for: 'PT5M' } } },
      { match: { deviceId: 'meter-secs' }, rules: { 'parking.full': { for: { unit: 'seconds' } } } },
    ],
    devices: [device({ id: 'meter-fixed', type: 'parking-meter', attributes: { fullForMin: 60 } }), device({ id: 'meter-secs', type: 'parking-meter', attributes: { fullForMin: 120 } })],
    batches: [
      { readings: [[0, full], [0, full, 'meter-secs']], expect: [] },
      at(2, full, ['meter-secs raised parking.full'], { device: 'meter-secs' }),
      at(5, full, ['meter-fixed raised parking.full']),
    ],
  },
  {
    name: 'readings of devices not in the catalog, or of another type than the catalog says, are ignored',
    rules: [collect()],
    batches: [
      { readings: [[0, { fillingLevel: 0.9 }, 'bin-ghost']], expect: [] },
      at(1, { fillingLevel: 0.9 }, ['bin-1 raised waste.collect']),
    ],
  },
];

function build(s: Pick<Scenario, 'rules' | 'overrides' | 'settings'>, records: readonly DeviceRecord[], storeFile = ':memory:') {
  const book = RuleBook.parse({ rules: s.rules, ...(s.overrides ? { overrides: s.overrides } : {}), ...(s.settings ? { settings: s.settings } : {}) }, 'test-rules.json');
  const problems: string[] = [];
  const compiled = new CompiledRules(book, { onProblem: (id, p) => problems.push(`${id}: ${p}`) });
  const catalog = new TestCatalog(records);
  const store = new RuleStateStore({ file: storeFile });
  store.open();
  const engine = new RuleEngine({ compiled, catalog, store });
  return { engine, store, catalog, problems };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('rule engine scenarios', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const records = s.devices ?? [bin];
    const { engine, store } = build(s, records);
    const byId = new Map(records.map((r) => [r.id, r]));
    const ghost = device({ id: 'bin-ghost', type: 'waste-bin' });
    s.batches.forEach((b, i) => {
      const inputs = b.readings.map(([min, fields, id]) => reading(byId.get(id ?? records[0]!.id) ?? ghost, T0 + min * MIN, fields));
      vi.setSystemTime(T0 + (b.now ?? b.readings[b.readings.length - 1]![0]) * MIN);
      const got = engine.evaluate(inputs).map(summary);
      expect(got, `batch ${i} (readings at ${b.readings.map((r) => r[0]).join(', ')} min)`).toEqual(b.expect);
    });
    store.close();
  });
});

describe('rule engine', () => {
  it('keeps a `for` timer across a restart: pending before, raised on time after', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-'));
    try {
      const file = path.join(dir, 'rule-state.db');
      const first = build({ rules: [parkingFull] }, [meter], file);
      vi.setSystemTime(T0 + 20 * MIN);
      expect(first.engine.evaluate([reading(meter, T0, full), reading(meter, T0 + 20 * MIN, full)])).toEqual([]);
      first.store.close();

      const second = build({ rules: [parkingFull] }, [meter], file);
      vi.setSystemTime(T0 + 30 * MIN);
      const events = second.engine.evaluate([reading(meter, T0 + 30 * MIN, full)]);
      expect(events.map(summary)).toEqual(['meter-1 raised parking.full']);
      expect(events[0]).toMatchObject({ since: T0, at: T0 + 30 * MIN, value: 0, late: false });
      expect(events[0]!.serviceCode).toBeUndefined();
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not raise again after a restart, nor for a replay of the readings it already evaluated', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-'));
    try {
      const file = path.join(dir, 'rule-state.db');
      const first = build({ rules: [collect()] }, [bin], file);
      vi.setSystemTime(T0 + MIN);
      const replayed = [reading(bin, T0, { fillingLevel: 0.1 }), reading(bin, T0 + MIN, { fillingLevel: 0.9 })];
      expect(first.engine.evaluate(replayed).map(summary)).toEqual(['bin-1 raised waste.collect']);
      first.store.close();

      const second = build({ rules: [collect()] }, [bin], file);
      vi.setSystemTime(T0 + 2 * MIN);
      // The spool hands the same records out again after a crash, then the device goes on.
      expect(second.engine.evaluate(replayed)).toEqual([]);
      expect(second.engine.counts.stale).toBe(2);
      expect(second.engine.evaluate([reading(bin, T0 + 2 * MIN, { fillingLevel: 0.95 })])).toEqual([]);
      expect(second.engine.evaluate([reading(bin, T0 + 3 * MIN, { fillingLevel: 0.1 })]).map(summary)).toEqual(['bin-1 cleared waste.collect']);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps flapping state across a restart', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-'));
    const rules = [meterStatus({ flapping: { maxTransitions: 2, window: 'PT1H' } })];
    const r = (min: number, status: string) => reading(meter, T0 + min * MIN, { totalSpotNumber: 8, availableSpotNumber: 1, status });
    try {
      const file = path.join(dir, 'rule-state.db');
      const first = build({ rules }, [meter], file);
      vi.setSystemTime(T0 + 2 * MIN);
      expect(first.engine.evaluate([r(0, 'coinJam'), r(1, 'ok'), r(2, 'coinJam')]).map(summary)).toEqual([
        'meter-1 raised parking.repair clearedAt=+1min',
        'meter-1 cleared parking.repair',
        'meter-1 raised parking.repair flapping=true',
      ]);
      first.store.close();
      const second = build({ rules }, [meter], file);
      vi.setSystemTime(T0 + 3 * MIN);
      expect(second.engine.evaluate([r(3, 'ok'), r(4, 'coinJam')])).toEqual([]);
      expect(second.store.listActive()).toMatchObject([{ deviceId: 'meter-1', rule: 'parking.repair', flapping: true }]);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('releases a rule held by a flapping guard the rules file no longer has', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-'));
    const r = (min: number, status: string) => reading(meter, T0 + min * MIN, { totalSpotNumber: 8, availableSpotNumber: 1, status });
    try {
      const file = path.join(dir, 'rule-state.db');
      const first = build({ rules: [meterStatus({ flapping: { maxTransitions: 1, window: 'PT1H' } })] }, [meter], file);
      vi.setSystemTime(T0 + MIN);
      expect(first.engine.evaluate([r(0, 'coinJam'), r(1, 'ok')]).map(summary)).toEqual(['meter-1 raised parking.repair', 'meter-1 raised parking.repair flapping=true']);
      first.store.close();
      const second = build({ rules: [meterStatus({ flapping: false })] }, [meter], file);
      vi.setSystemTime(T0 + 2 * MIN);
      const events = second.engine.evaluate([r(2, 'ok')]);
      expect(events.map(summary)).toEqual(['meter-1 cleared parking.repair flapping=false']);
      expect(events[0]!.message).toBe('Repair: flapping guard turned off, no longer flapping; cleared. Now: status = ok');
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the store only for state changes, once per batch', () => {
    const { engine, store } = build({ rules: [collect()] }, [bin]);
    const save = vi.spyOn(store, 'save');
    vi.setSystemTime(T0 + 100 * MIN);
    engine.evaluate(Array.from({ length: 100 }, (_, i) => reading(bin, T0 + i * MIN, { fillingLevel: 0.5 })));
    expect(save).not.toHaveBeenCalled();
    engine.evaluate([reading(bin, T0 + 101 * MIN, { fillingLevel: 0.9 }), reading(bin, T0 + 102 * MIN, { fillingLevel: 0.1 })]);
    expect(save).toHaveBeenCalledTimes(1);
    expect(save.mock.calls[0]![0]).toHaveLength(1);
    store.close();
  });

  it('returns events even when the commit fails, and writes the changes with the next batch', () => {
    const { engine, store } = build({ rules: [collect()] }, [bin]);
    const save = vi.spyOn(store, 'save').mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    vi.setSystemTime(T0 + 2 * MIN);
    expect(engine.evaluate([reading(bin, T0, { fillingLevel: 0.9 })]).map(summary)).toEqual(['bin-1 raised waste.collect']);
    expect(engine.counts.commitFailures).toBe(1);
    engine.evaluate([reading(bin, T0 + MIN, { fillingLevel: 0.95 })]);
    expect(save).toHaveBeenCalledTimes(2);
    expect(store.listActive()).toMatchObject([{ deviceId: 'bin-1', rule: 'waste.collect', status: 'raised', since: T0 }]);
    store.close();
  });

  it('recompiles a device whose catalog record changed, keeping its state', () => {
    const rules = [
      {
        id: 'light.out',
        deviceType: 'streetlight',
        condition: { kind: 'threshold', field: 'powerConsumption', below: { attribute: 'powerRating', times: 0.1 } },
        severity: 'warning',
        ticket: false,
      },
    ];
    const { engine, catalog, store } = build({ rules }, [lamp]);
    vi.setSystemTime(T0);
    expect(engine.evaluate([reading(lamp, T0, { powerState: 'on', powerConsumption: 5 })]).map(summary)).toEqual(['light-1 raised light.out']);
    // A bigger lamp fitted: 5 W is still under 10 % of 100 W, so it stays raised; 8 W is not enough either.
    const bigger = device({ id: 'light-1', type: 'streetlight', attributes: { powerRating: 100 } });
    catalog.set(bigger);
    expect(engine.evaluate([reading(bigger, T0 + MIN, { powerState: 'on', powerConsumption: 8 })])).toEqual([]);
    expect(engine.evaluate([reading(bigger, T0 + 2 * MIN, { powerState: 'on', powerConsumption: 10 })]).map(summary)).toEqual(['light-1 cleared light.out']);
    store.close();
  });

  it('a rule that needs a missing attribute does not evaluate, and the problem is reported once', () => {
    const rules = [
      {
        id: 'light.out',
        deviceType: 'streetlight',
        condition: { kind: 'threshold', field: 'powerConsumption', below: { attribute: 'powerRating', times: 0.1 } },
        severity: 'warning',
        ticket: false,
      },
    ];
    const unrated = device({ id: 'light-2', type: 'streetlight' });
    const { engine, problems, store } = build({ rules }, [unrated]);
    vi.setSystemTime(T0);
    expect(engine.evaluate([reading(unrated, T0, { powerState: 'on', powerConsumption: 0 }), reading(unrated, T0 + MIN, { powerState: 'on', powerConsumption: 0 })])).toEqual([]);
    expect(problems).toEqual([expect.stringMatching(/light-2: .*rule "light.out".*condition\.below: attributes\.powerRating is missing/)]);
    store.close();
  });

  it('a `for` from an attribute the device lacks, with no default, does not evaluate, and the problem is reported once', () => {
    const rules = [{ ...parkingFull, for: { attribute: 'fullForMin', unit: 'minutes' } }];
    const odd = device({ id: 'meter-2', type: 'parking-meter', attributes: { fullForMin: 'half an hour' } });
    const { engine, problems, store } = build({ rules }, [meter, odd]);
    vi.setSystemTime(T0 + 600 * MIN);
    const readings = [0, 300, 600].flatMap((min) => [reading(meter, T0 + min * MIN, full), reading(odd, T0 + min * MIN, full)]);
    expect(engine.evaluate(readings)).toEqual([]);
    expect(problems).toEqual([
      expect.stringMatching(/^meter-1: .*rule "parking.full".*for: attributes\.fullForMin is missing and no default is given/),
      expect.stringMatching(/^meter-2: .*rule "parking.full".*for: attributes\.fullForMin is not a number \("half an hour"\)/),
    ]);
    store.close();
  });

  it('a `for` from an attribute follows a catalog change: the new value counts from the same start', () => {
    const rules = [{ ...parkingFull, for: { attribute: 'fullForMin', unit: 'minutes' } }];
    const patient = device({ id: 'meter-1', type: 'parking-meter', attributes: { fullForMin: 60 } });
    const { engine, catalog, store } = build({ rules }, [patient]);
    vi.setSystemTime(T0 + 20 * MIN);
    expect(engine.evaluate([reading(patient, T0, full), reading(patient, T0 + 20 * MIN, full)])).toEqual([]);
    const hasty = device({ id: 'meter-1', type: 'parking-meter', attributes: { fullForMin: 15 } });
    catalog.set(hasty);
    vi.setSystemTime(T0 + 21 * MIN);
    const events = engine.evaluate([reading(hasty, T0 + 21 * MIN, full)]);
    expect(events.map(summary)).toEqual(['meter-1 raised parking.full']);
    expect(events[0]).toMatchObject({ since: T0, message: 'parking.full: availableSpotNumber 0 < 1 for 21 min' });
    store.close();
  });

  it('clears a raised rule that no longer applies to the device (removed from the rules file)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-'));
    try {
      const file = path.join(dir, 'rule-state.db');
      const battery = { id: 'device.battery', deviceType: '*', condition: { kind: 'threshold', field: 'batteryLevel', below: 0.15 }, severity: 'info', ticket: false };
      const first = build({ rules: [collect(), battery] }, [bin], file);
      vi.setSystemTime(T0);
      expect(first.engine.evaluate([reading(bin, T0, { fillingLevel: 0.9, batteryLevel: 0.1 })]).map(summary)).toEqual([
        'bin-1 raised waste.collect',
        'bin-1 raised device.battery',
      ]);
      first.store.close();
      const second = build({ rules: [battery] }, [bin], file);
      expect(second.engine.evaluate([reading(bin, T0 + MIN, { fillingLevel: 0.9, batteryLevel: 0.1 })]).map(summary)).toEqual(['bin-1 cleared waste.collect']);
      expect(second.store.listActive().map((r) => r.rule)).toEqual(['device.battery']);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describes events for humans and carries the ticket fields', () => {
    const { engine, store } = build({ rules: [collect(), parkingFull] }, [bin, meter]);
    vi.setSystemTime(T0 + 30 * MIN);
    const events = engine.evaluate([
      reading(bin, T0, { fillingLevel: 0.85 }),
      reading(meter, T0, full),
      reading(meter, T0 + 30 * MIN, full),
      reading(bin, T0 + MIN, { fillingLevel: 0.2 }),
    ]);
    expect(events).toEqual([
      {
        rule: 'waste.collect',
        serviceCode: 'waste.collect',
        deviceId: 'bin-1',
        district: 'centrum',
        type: 'waste-bin',
        severity: 'info',
        state: 'raised',
        at: T0,
        value: 0.85,
        message: 'Collect: fillingLevel 0.85 ≥ 0.8',
        late: true,
        clearedAt: T0 + MIN,
      },
      expect.objectContaining({ rule: 'parking.full', state: 'raised', message: 'parking.full: availableSpotNumber 0 < 1 for 30 min', since: T0, late: false }),
      expect.objectContaining({ rule: 'waste.collect', state: 'cleared', message: 'Collect cleared: fillingLevel 0.2 < 0.3', value: 0.2, late: true }),
    ]);
    store.close();
  });
});
