import { describe, expect, it } from 'vitest';
import { growthAfterWarmup, leastSquaresSlope, slopeBesideBacklog, soakFigures, soakTargets, summarise, type SoakSample } from './soak-figures.js';

/** A sample at `t` s with `live` MB of heap + external (split 4:1) and `pending` readings. */
function sample(t: number, live: number, pending = 0): SoakSample {
  return { t, heapLiveMb: live * 0.8, externalLiveMb: live * 0.2, rssMb: 150, received: t * 1000, written: t * 1000 - pending, pending, connections: 20, ticketTransitions: 0, webhooksDelivered: 0 };
}

const every5s = (live: (t: number) => number, pending: (t: number) => number = () => 0) =>
  Array.from({ length: 13 }, (_, i) => sample(i * 5, live(i * 5), pending(i * 5)));

describe('soak figures', () => {
  it('least squares: the slope of a line, NaN for fewer than two points', () => {
    expect(leastSquaresSlope([[0, 1], [1, 3], [2, 5]])).toBeCloseTo(2);
    expect(leastSquaresSlope([[0, 1]])).toBeNaN();
  });

  it('slope and growth count from the first sample at the end of the warm-up, in MB per minute', () => {
    // 10 MB during the warm-up, then 30 MB a minute.
    const samples = every5s((t) => (t < 20 ? 40 + t / 2 : 50 + ((t - 20) * 30) / 60));
    const g = growthAfterWarmup(samples, 20);
    expect(g.slope).toBeCloseTo(30);
    expect(g.growth).toBeCloseTo(20);
    // A sampler a little late is still at the end of the warm-up.
    expect(growthAfterWarmup(samples.map((s) => ({ ...s, t: s.t + 0.3 })), 20).growth).toBeCloseTo(20);
  });

  it('beside the backlog: memory that follows pending readings is not growth, memory that follows time is', () => {
    // A backlog of 20,000 readings at 1 MB per 1,000 comes and goes at the end: flat otherwise.
    const bump = (t: number) => (t >= 45 ? 20_000 : 0);
    const flat = every5s((t) => 50 + bump(t) / 1000, bump);
    expect(growthAfterWarmup(flat, 20).slope).toBeGreaterThan(30);
    const beside = slopeBesideBacklog(flat, 20);
    expect(beside.separated).toBe(true);
    expect(beside.slope).toBeCloseTo(0);
    expect(beside.mbPerThousand).toBeCloseTo(1);
    // A leak of 40 MB a minute, with the same bump: still 40.
    const leak = every5s((t) => 50 + (t * 40) / 60 + bump(t) / 1000, bump);
    expect(slopeBesideBacklog(leak, 20).slope).toBeCloseTo(40);
  });

  it('beside the backlog: the plain slope when the backlog does not vary or grows in step with time', () => {
    const steady = every5s((t) => 50 + t / 60, () => 500);
    expect(slopeBesideBacklog(steady, 20)).toEqual({ slope: 1, mbPerThousand: Number.NaN, separated: false });
    const rising = every5s((t) => 50 + t / 6, (t) => t * 100);
    expect(slopeBesideBacklog(rising, 20).separated).toBe(false);
    expect(slopeBesideBacklog(rising, 20).slope).toBeCloseTo(10);
  });

  it('flat keys per mode, null (NaN) and "not run" when the phase was left out', () => {
    const none = soakFigures(undefined, { soakReadingsPerS: 1000, soakWarmupSeconds: 120 });
    expect(none.soak_multiplexed_slope_mb_per_min).toBeNaN();
    expect(none.soak_per_device_growth_after_warmup_mb).toBeNaN();
    expect(soakTargets(none).map((t) => t.measured)).toEqual(['not run', 'not run', 'not run', 'not run']);

    const samples = every5s(() => 50);
    const run = summarise({ mode: 'per-device', devices: 1000, offeredPerS: 1000, seconds: 60, warmupSeconds: 20 }, sample(-1, 30), samples, 3);
    const some = soakFigures([run], { soakReadingsPerS: 1000, soakWarmupSeconds: 20 });
    expect(some.soak_per_device_slope_mb_per_min).toBe(0);
    expect(some.soak_per_device_growth_after_warmup_mb).toBe(0);
    expect(some.soak_per_device_readings_per_s).toBe(1000);
    expect(some.soak_per_device_webhooks_delivered).toBe(3);
    expect(some.soak_per_device_heap_live_mb_idle).toBe(24);
    expect(some.soak_multiplexed_devices).toBeNaN();
    expect(soakTargets(some).map((t) => t.met)).toEqual([false, false, true, true]);
  });
});
