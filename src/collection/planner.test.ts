import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { device } from '../dispatch/testing/fixtures.js';
import type { FillSample, FillSource } from './fill-history.js';
import type { CollectionPlan } from './plan.js';
import { CollectionPlanner, type CollectionPlannerOptions } from './planner.js';

const HOUR = 3_600_000;
/** 04:30 UTC; 06:30 in Amsterdam (summer time). */
const T0 = Date.parse('2026-06-02T04:30:00Z');

const bins = [
  device({ id: 'bin-1', type: 'waste-bin', district: 'west', location: { lat: 52.37, lon: 4.87 } }),
  device({ id: 'bin-2', type: 'waste-bin', district: 'west', location: { lat: 52.371, lon: 4.871 } }),
];

/** bin-1 rises 0.01/h and reaches 0.8 at T0 + 10 h; bin-2 is flat. */
const history: FillSource = {
  currentCycle(id) {
    const out: FillSample[] = [];
    for (let t = T0 - 12 * HOUR; t <= T0; t += HOUR / 4) out.push({ timeMs: t, level: id === 'bin-1' ? 0.7 - (0.01 * (T0 - t)) / HOUR : 0.2 });
    return out;
  },
};

function planner(opts: Partial<CollectionPlannerOptions> = {}): { planner: CollectionPlanner; plans: CollectionPlan[] } {
  const plans: CollectionPlan[] = [];
  const p = new CollectionPlanner({ devices: () => bins, history, thresholdOf: () => 0.8, onPlan: (plan) => void plans.push(plan), ...opts });
  return { planner: p, plans };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('CollectionPlanner', () => {
  it('generates on demand, keeps the latest plan and hands it on', () => {
    const { planner: p, plans } = planner();
    expect(p.latest()).toBeUndefined();
    const plan = p.generate();
    expect(plan.generatedAt).toBe('2026-06-02T04:30:00.000Z');
    expect(plan.districts.flatMap((d) => d.stops.map((s) => [s.deviceId, s.hoursToFull]))).toEqual([['bin-1', 10]]);
    expect(p.latest()).toBe(plan);
    expect(plans).toEqual([plan]);
    const later = p.generate(T0 + 9 * HOUR);
    expect(later.districts[0]?.stops[0]?.hoursToFull).toBe(1);
    expect(p.latest()).toBe(later);
  });

  it('runs every day at 05:00 by default, until stopped', async () => {
    const { planner: p, plans } = planner({ timeZone: 'UTC' });
    p.start();
    await vi.advanceTimersByTimeAsync(29 * 60_000);
    expect(plans).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(plans.map((x) => x.generatedAt)).toEqual(['2026-06-02T05:00:00.000Z']);
    await vi.advanceTimersByTimeAsync(24 * HOUR);
    expect(plans.map((x) => x.generatedAt)).toEqual(['2026-06-02T05:00:00.000Z', '2026-06-03T05:00:00.000Z']);
    await p.stop();
    await vi.advanceTimersByTimeAsync(48 * HOUR);
    expect(plans).toHaveLength(2);
    expect(p.latest()?.generatedAt).toBe('2026-06-03T05:00:00.000Z');
  });

  it('reads its schedule in the given time zone', async () => {
    // 05:00 in Amsterdam is 03:00 UTC in June: the next one after T0 is tomorrow's.
    const { planner: p, plans } = planner({ timeZone: 'Europe/Amsterdam' });
    p.start();
    await vi.advanceTimersByTimeAsync(2 * HOUR);
    expect(plans).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(21 * HOUR);
    expect(plans.map((x) => x.generatedAt)).toEqual(['2026-06-03T03:00:00.000Z']);
    await p.stop();
  });

  it('takes another schedule', async () => {
    const { planner: p, plans } = planner({ schedule: '0 */6 * * *', timeZone: 'UTC' });
    p.start();
    await vi.advanceTimersByTimeAsync(12 * HOUR);
    expect(plans.map((x) => x.generatedAt)).toEqual(['2026-06-02T06:00:00.000Z', '2026-06-02T12:00:00.000Z']);
    await p.stop();
  });

  it('refuses a bad schedule or time zone at start', () => {
    expect(() => planner({ schedule: 'every morning' }).planner.start()).toThrow(/cron expression/);
    expect(() => planner({ timeZone: 'Mars/Olympus' }).planner.start()).toThrow(/time zone/);
  });

  it('keeps running when a consumer of the plan throws or rejects', async () => {
    const errors: unknown[] = [];
    const log = { error: (o: unknown) => errors.push(o), info: () => undefined } as unknown as NonNullable<CollectionPlannerOptions['log']>;
    const throwing = new CollectionPlanner({ devices: () => bins, history, thresholdOf: () => 0.8, log, onPlan: () => { throw new Error('influx down'); } });
    expect(throwing.generate().districts).toHaveLength(1);
    const rejecting = new CollectionPlanner({ devices: () => bins, history, thresholdOf: () => 0.8, log, onPlan: async () => { throw new Error('influx down'); } });
    expect(rejecting.generate().districts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(2);
  });
});
