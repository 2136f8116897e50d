import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadmanSweep } from './deadman.js';
import { CompiledRules } from './rules/compile.js';
import { RuleBook } from './rules/rule-book.js';
import { RuleStateStore } from './rule-state-store.js';
import { MIN, T0, TestCatalog, device, reading, summary } from './testing/fixtures.js';
import type { RuleEvent } from './types.js';

const book = RuleBook.parse({
  rules: [
    {
      id: 'device.offline',
      deviceType: '*',
      condition: { kind: 'silent', intervals: 3 },
      severity: 'warning',
      ticket: true,
      serviceCode: 'device.offline',
      serviceName: 'Sensor offline',
    },
  ],
  overrides: [{ match: { deviceId: 'bin-fast' }, rules: { 'device.offline': { condition: { intervals: 2 } } } }],
});

// reportingIntervalS 300: offline after 15 minutes (bin-fast: 2 × 5 = 10 minutes).
const bin = device({ id: 'bin-1', type: 'waste-bin', reportingIntervalS: 300 });
const fast = device({ id: 'bin-fast', type: 'waste-bin', reportingIntervalS: 300 });
const meter = device({ id: 'meter-1', type: 'parking-meter', reportingIntervalS: 600 });

function build(file = ':memory:', devices: readonly (typeof bin)[] = [bin, fast, meter]) {
  const store = new RuleStateStore({ file });
  store.open();
  const catalog = new TestCatalog(devices);
  const delivered: RuleEvent[][] = [];
  const deadman = new DeadmanSweep({ compiled: new CompiledRules(book), catalog, store, onEvents: (e) => delivered.push([...e]) });
  return { deadman, store, catalog, delivered };
}

const seen = (d: typeof bin, receivedMin: number, deviceMin = receivedMin) => reading(d, T0 + deviceMin * MIN, { fillingLevel: 0.5 }, T0 + receivedMin * MIN);

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DeadmanSweep', () => {
  /** ['seen', received minute, expected, device minute (default: received)] or ['sweep', wall-clock minute, expected] */
  type Step = readonly ['seen' | 'sweep', number, readonly string[], number?];
  it.each<[string, typeof bin, readonly Step[]]>([
    [
      'silent for 3 intervals → offline; its next reading clears it',
      bin,
      [
        ['seen', 0, []],
        ['sweep', 14.9, []],
        ['sweep', 15, ['bin-1 raised device.offline']],
        ['sweep', 16, []],
        ['seen', 20, ['bin-1 cleared device.offline']],
        ['sweep', 34, []],
        ['sweep', 35, ['bin-1 raised device.offline']],
      ],
    ],
    [
      'a per-device override shortens the silence allowed',
      fast,
      [
        ['seen', 0, []],
        ['sweep', 9, []],
        ['sweep', 10, ['bin-fast raised device.offline']],
      ],
    ],
    [
      'the interval is the device’s own reportingIntervalS',
      meter,
      [
        ['seen', 0, []],
        ['sweep', 29, []],
        ['sweep', 30, ['meter-1 raised device.offline']],
      ],
    ],
    [
      'an old stored batch received now counts as heard from (receive time, not device time)',
      bin,
      [
        ['seen', 0, []],
        ['seen', 14, [], -120],
        ['sweep', 20, []],
        ['sweep', 29, ['bin-1 raised device.offline']],
      ],
    ],
  ])('%s', async (_name, d, steps) => {
    const { deadman, store } = build(':memory:', [d]);
    deadman.start();
    for (const [what, minute, expected, deviceMinute] of steps) {
      const events = what === 'seen' ? deadman.observe([seen(d, minute, deviceMinute ?? minute)]) : deadman.sweep(T0 + minute * MIN);
      expect(events.map(summary), `${what} at ${minute} min`).toEqual(expected);
    }
    await deadman.stop();
    store.close();
  });

  it('describes the silence and carries the ticket fields', async () => {
    const { deadman, store } = build(':memory:', [bin]);
    deadman.start();
    deadman.observe([seen(bin, 0)]);
    expect(deadman.sweep(T0 + 20 * MIN)).toEqual([
      {
        rule: 'device.offline',
        serviceCode: 'device.offline',
        deviceId: 'bin-1',
        district: 'centrum',
        type: 'waste-bin',
        severity: 'warning',
        state: 'raised',
        at: T0 + 20 * MIN,
        since: T0,
        value: 1200,
        message: 'Sensor offline: no reading for 20 min (limit 3 × 5 min)',
        late: false,
      },
    ]);
    expect(deadman.observe([seen(bin, 25)])).toEqual([
      expect.objectContaining({ state: 'cleared', at: T0 + 25 * MIN, serviceCode: 'device.offline', message: 'Sensor offline cleared: a reading arrived after 5 min offline' }),
    ]);
    await deadman.stop();
    store.close();
  });

  it('watches every catalog device: one that never reports is raised "never reported" after 3 intervals', async () => {
    const { deadman, store } = build(':memory:', [bin, meter]);
    deadman.start();
    expect(deadman.watchedDevices).toBe(2);
    expect(deadman.sweep(T0 + 14 * MIN)).toEqual([]);
    const raised = deadman.sweep(T0 + 15 * MIN);
    expect(raised.map(summary)).toEqual(['bin-1 raised device.offline']);
    expect(raised[0]).toMatchObject({ since: T0, message: 'Sensor offline: never reported (watched for 15 min; limit 3 × 5 min)' });
    expect(deadman.sweep(T0 + 30 * MIN).map(summary)).toEqual(['meter-1 raised device.offline']);
    // Its first reading clears it.
    expect(deadman.observe([seen(bin, 31)]).map(summary)).toEqual(['bin-1 cleared device.offline']);
    await deadman.stop();
    store.close();
  });

  it('watches a device added to the catalog while running from then; its first reading clears it', async () => {
    const { deadman, store, catalog } = build(':memory:', [meter]);
    deadman.start();
    catalog.set(bin);
    deadman.catalogChanged(T0 + 10 * MIN);
    expect(deadman.sweep(T0 + 24 * MIN)).toEqual([]);
    expect(deadman.sweep(T0 + 25 * MIN).map(summary)).toEqual(['bin-1 raised device.offline']);
    expect(deadman.observe([seen(bin, 26)]).map(summary)).toEqual(['bin-1 cleared device.offline']);
    await deadman.stop();
    store.close();
  });

  it('counts silence from its own start, so citypipe’s downtime does not raise the fleet', async () => {
    const { deadman, store } = build(':memory:', [bin]);
    store.saveLastSeen([['bin-1', T0 - 120 * MIN]]);
    deadman.start();
    expect(deadman.sweep(T0 + MIN)).toEqual([]);
    expect(deadman.sweep(T0 + 15 * MIN).map(summary)).toEqual(['bin-1 raised device.offline']);
    await deadman.stop();
    store.close();
  });

  it('keeps offline state and last-seen times across a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-deadman-'));
    try {
      const file = path.join(dir, 'rule-state.db');
      const first = build(file, [bin, meter]);
      first.deadman.start();
      first.deadman.observe([seen(bin, 0), seen(meter, 10)]);
      expect(first.deadman.sweep(T0 + 15 * MIN).map(summary)).toEqual(['bin-1 raised device.offline']);
      await first.deadman.stop();
      first.store.close();

      vi.setSystemTime(T0 + 16 * MIN);
      const second = build(file, [bin, meter]);
      second.deadman.start();
      expect(second.deadman.watchedDevices).toBe(2);
      // Not raised twice; meter-1 (last seen at 10, limit 30 min) is raised 30 min after the restart.
      expect(second.deadman.sweep(T0 + 40 * MIN)).toEqual([]);
      expect(second.deadman.sweep(T0 + 46 * MIN).map(summary)).toEqual(['meter-1 raised device.offline']);
      expect(second.deadman.observe([seen(bin, 47)]).map(summary)).toEqual(['bin-1 cleared device.offline']);
      expect(second.store.listActive().map((r) => [r.deviceId, r.rule])).toEqual([['meter-1', 'device.offline']]);
      await second.deadman.stop();
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('persist() writes the last-seen times observed since the last one, which a restart reads back', async () => {
    const { deadman, store } = build(':memory:', [bin]);
    deadman.start();
    deadman.observe([seen(bin, 3)]);
    expect(store.loadLastSeen().get('bin-1')).toBeUndefined();
    deadman.persist();
    expect(store.loadLastSeen().get('bin-1')).toBe(T0 + 3 * MIN);
    await deadman.stop();
    store.close();
  });

  it('stops watching a device that left the catalog', async () => {
    const { deadman, store, catalog } = build(':memory:', [bin, meter]);
    deadman.start();
    deadman.observe([seen(bin, 0), seen(meter, 0)]);
    catalog.delete('bin-1');
    expect(deadman.sweep(T0 + 60 * MIN).map(summary)).toEqual(['meter-1 raised device.offline']);
    expect(deadman.watchedDevices).toBe(1);
    await deadman.stop();
    store.close();
  });

  it('start() sweeps when the next device is due, not up to a minute later, and delivers the events', async () => {
    const { deadman, store, delivered } = build(':memory:', [bin]);
    deadman.start();
    deadman.observe([seen(bin, 0)]);
    await vi.advanceTimersByTimeAsync(15 * MIN - 1);
    expect(delivered).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(delivered.map((batch) => batch.map(summary))).toEqual([['bin-1 raised device.offline']]);
    await vi.advanceTimersByTimeAsync(10 * MIN);
    expect(delivered).toHaveLength(1);
    await deadman.stop();
    await vi.advanceTimersByTimeAsync(60 * MIN);
    expect(delivered).toHaveLength(1);
    store.close();
  });
});
