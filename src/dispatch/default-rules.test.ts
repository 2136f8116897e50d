/**
 * CONTRACT §5, rule by rule, against the shipped `rules/default.json` (assembled from each device
 * type's `rules.json` and `common-rules.json`) through the rules stage.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceRecord } from '../catalog/types.js';
import { silentLogger } from '../observability/logger.js';
import { RulesStage, defaultRulesFile } from './rules-stage.js';
import { RuleBook } from './rules/rule-book.js';
import { MIN, T0, TestCatalog, device, reading, summary } from './testing/fixtures.js';
import type { RuleEvent } from './types.js';

const bin = device({ id: 'bin-1', type: 'waste-bin' });
const meter = device({ id: 'meter-1', type: 'parking-meter' });
const lamp = device({ id: 'light-1', type: 'streetlight', attributes: { powerRating: 60 } });

/** 00:30 in Amsterdam: the sun is down. */
const NIGHT = Date.parse('2026-06-01T22:30:00Z');
/** T0 is noon in Amsterdam: the sun is high. */
const NOON = T0;

type Fields = Record<string, number | string>;
const meterFields = (f: Fields = {}): Fields => ({ totalSpotNumber: 10, availableSpotNumber: 4, ...f });
const lampFields = (f: Fields = {}): Fields => ({ powerState: 'off', ...f });

interface Case {
  readonly rule: string;
  readonly device: DeviceRecord;
  /** Device time of minute 0. */
  readonly start?: number;
  /** [minute, fields, expected events of that reading] */
  readonly steps: readonly [number, Fields, readonly string[]][];
}

const cases: [string, Case][] = [
  [
    'waste-bin: fillingLevel ≥ 0.8 → collect, clears below 0.3',
    {
      rule: 'waste.collect',
      device: bin,
      steps: [
        [0, { fillingLevel: 0.79 }, []],
        [1, { fillingLevel: 0.8 }, ['raised waste.collect']],
        [2, { fillingLevel: 0.3 }, []],
        [3, { fillingLevel: 0.29 }, ['cleared waste.collect']],
      ],
    },
  ],
  [
    'waste-bin: status = burning → urgent waste.fire',
    { rule: 'waste.fire', device: bin, steps: [[0, { fillingLevel: 0.2, status: 'burning' }, ['raised waste.fire']], [1, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.fire']]] },
  ],
  [
    'waste-bin: temperature ≥ 60 → urgent waste.fire',
    { rule: 'waste.fire', device: bin, steps: [[0, { fillingLevel: 0.2, temperature: 59 }, []], [1, { fillingLevel: 0.2, temperature: 60 }, ['raised waste.fire']]] },
  ],
  [
    'waste-bin: status ∈ {dropped, moved, vandalized} → waste.damage',
    {
      rule: 'waste.damage',
      device: bin,
      steps: [
        [0, { fillingLevel: 0.2, status: 'lidOpen' }, []],
        [1, { fillingLevel: 0.2, status: 'dropped' }, ['raised waste.damage']],
        [2, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.damage']],
        [3, { fillingLevel: 0.2, status: 'moved' }, ['raised waste.damage']],
        [4, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.damage']],
        [5, { fillingLevel: 0.2, status: 'vandalized' }, ['raised waste.damage']],
      ],
    },
  ],
  [
    'parking-meter: status ≠ ok → parking.repair',
    { rule: 'parking.repair', device: meter, steps: [[0, meterFields({ status: 'ok' }), []], [1, meterFields({ status: 'paperLow' }), ['raised parking.repair']]] },
  ],
  [
    'parking-meter: coinBoxLevel ≥ 0.9 → parking.coins',
    { rule: 'parking.coins', device: meter, steps: [[0, meterFields({ coinBoxLevel: 0.89 }), []], [1, meterFields({ coinBoxLevel: 0.9 }), ['raised parking.coins']], [2, meterFields({ coinBoxLevel: 0 }), ['cleared parking.coins']]] },
  ],
  [
    'parking-meter: availableSpotNumber = 0 for 30 min → event only',
    {
      rule: 'parking.full',
      device: meter,
      steps: [
        [0, meterFields({ availableSpotNumber: 0 }), []],
        [29, meterFields({ availableSpotNumber: 0 }), []],
        [30, meterFields({ availableSpotNumber: 0 }), ['raised parking.full']],
        [31, meterFields({ availableSpotNumber: 1 }), ['cleared parking.full']],
      ],
    },
  ],
  [
    'streetlight: status ≠ ok → light.repair',
    { rule: 'light.repair', device: lamp, start: NIGHT, steps: [[0, lampFields({ status: 'ok' }), []], [1, lampFields({ status: 'brokenLantern' }), ['raised light.repair']]] },
  ],
  [
    'streetlight: on and under 10 % of powerRating for 15 min → light.out',
    {
      rule: 'light.out',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
        [1, lampFields({ powerState: 'on', powerConsumption: 5.9 }), []],
        [15, lampFields({ powerState: 'on', powerConsumption: 3 }), []],
        [16, lampFields({ powerState: 'on', powerConsumption: 3 }), ['raised light.out']],
        [60, lampFields({ powerState: 'on', powerConsumption: 57 }), ['cleared light.out']],
      ],
    },
  ],
  [
    'streetlight: lamp on while the sun is up for 30 min → light.dayburner',
    {
      rule: 'light.dayburner',
      device: lamp,
      start: NOON,
      steps: [
        [0, lampFields({ powerState: 'low', powerConsumption: 30 }), []],
        [30, lampFields({ powerState: 'low', powerConsumption: 30 }), ['raised light.dayburner']],
        [40, lampFields({ powerState: 'off', powerConsumption: 0.5 }), ['cleared light.dayburner']],
      ],
    },
  ],
  [
    'streetlight: lamp on at night is no day-burner',
    {
      rule: 'light.dayburner',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
        [60, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
      ],
    },
  ],
  [
    'streetlight: voltage outside 207..253 V → light.electrical',
    {
      rule: 'light.electrical',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ voltage: 207 }), []],
        [1, lampFields({ voltage: 206.9 }), ['raised light.electrical']],
        [2, lampFields({ voltage: 230 }), ['cleared light.electrical']],
        [3, lampFields({ voltage: 253.1 }), ['raised light.electrical']],
      ],
    },
  ],
  ...[bin, meter, lamp].map(
    (d): [string, Case] => [
      `${d.type}: batteryLevel < 0.15 → device.battery`,
      {
        rule: 'device.battery',
        device: d,
        start: NIGHT,
        steps: [
          [0, { ...(d === bin ? { fillingLevel: 0.1 } : d === meter ? meterFields() : lampFields()), batteryLevel: 0.15 }, []],
          [1, { ...(d === bin ? { fillingLevel: 0.1 } : d === meter ? meterFields() : lampFields()), batteryLevel: 0.14 }, ['raised device.battery']],
        ],
      },
    ],
  ),
];

const ticketRules = new Set(
  RuleBook.load(defaultRulesFile)
    .rules.filter((r) => r.ticket)
    .map((r) => r.id),
);

describe('default rules (CONTRACT §5)', () => {
  let delivered: RuleEvent[];
  let stage: RulesStage;
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    delivered = [];
    stage = new RulesStage({
      rulesFile: defaultRulesFile,
      stateFile: ':memory:',
      catalog: new TestCatalog([bin, meter, lamp]),
      onEvents: (events) => delivered.push(...events),
      log: silentLogger,
    });
    stage.start();
  });
  afterEach(async () => {
    await stage.stop();
    vi.useRealTimers();
  });

  it.each(cases)('%s', (_name, c) => {
    const start = c.start ?? T0;
    for (const [minute, fields, expected] of c.steps) {
      vi.setSystemTime(start + minute * MIN);
      delivered.length = 0;
      stage.evaluate([reading(c.device, start + minute * MIN, fields)]);
      expect(
        delivered.filter((e) => e.rule === c.rule).map((e) => summary(e).replace(`${c.device.id} `, '')),
        `minute ${minute}`,
      ).toEqual(expected);
      // A ticket rule files under its own id as the service code; an event-only rule under none.
      for (const e of delivered) expect(e.serviceCode).toBe(ticketRules.has(e.rule) ? e.rule : undefined);
    }
  });

  it('device.offline: silent for 3 × reportingIntervalS (a sweep) → raised; the next reading clears it', () => {
    stage.evaluate([reading(bin, T0, { fillingLevel: 0.1 }), reading(meter, T0 + MIN, meterFields(), T0 + MIN)]);
    stage.sweep(T0 + 14 * MIN);
    expect(delivered).toEqual([]);
    stage.sweep(T0 + 15 * MIN);
    // The lamp, in the catalog but never heard from, is watched too.
    expect(delivered.map(summary)).toEqual(['bin-1 raised device.offline', 'light-1 raised device.offline']);
    expect(delivered[1]!.message).toMatch(/never reported/);
    stage.evaluate([reading(bin, T0 + 16 * MIN, { fillingLevel: 0.1 })]);
    expect(delivered.slice(2).map(summary)).toEqual(['bin-1 cleared device.offline']);
    stage.sweep(T0 + 16 * MIN);
    expect(delivered.slice(3).map(summary)).toEqual(['meter-1 raised device.offline']);
  });
});
