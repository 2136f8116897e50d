import { describe, expect, it } from 'vitest';
import { mulberry32, normal } from '../../simulators/prng.js';
import type { FillSample } from './fill-history.js';
import { fitFillRate, predictFull } from './predict.js';

const HOUR = 3_600_000;
const T = Date.parse('2026-06-02T05:00:00Z');

/** Every 15 minutes over `hours` up to T: level(t) = f(hours before T), plus gaussian jitter. */
function series(hours: number, f: (hoursBefore: number) => number, jitter = 0, seed = 1): FillSample[] {
  const rng = mulberry32(seed);
  const out: FillSample[] = [];
  for (let m = hours * 60; m >= 0; m -= 15) {
    out.push({ timeMs: T - m * 60_000, level: Math.min(1, Math.max(0, f(m / 60) + jitter * normal(rng))) });
  }
  return out;
}

describe('fitFillRate', () => {
  it('recovers rate and current level of a clean line exactly', () => {
    const fit = fitFillRate(series(12, (h) => 0.5 - 0.02 * h));
    expect(fit?.ratePerHour).toBeCloseTo(0.02, 10);
    expect(fit?.levelAtLast).toBeCloseTo(0.5, 10);
    expect(fit?.lastTimeMs).toBe(T);
    expect(fit?.used).toBe(49);
  });

  it('is within a few per cent of the rate under sensor jitter', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const fit = fitFillRate(series(24, (h) => 0.6 - 0.01 * h, 0.008, seed));
      expect(Math.abs((fit?.ratePerHour ?? 0) - 0.01)).toBeLessThan(0.0005);
      expect(Math.abs((fit?.levelAtLast ?? 0) - 0.6)).toBeLessThan(0.01);
    }
  });

  it('is not tilted by a single wild echo', () => {
    const clean = series(12, (h) => 0.5 - 0.02 * h);
    const spiked = clean.map((s, i) => (i === clean.length - 2 ? { ...s, level: 0.98 } : s));
    const fit = fitFillRate(spiked);
    expect(fit?.ratePerHour).toBeCloseTo(0.02, 6);
    // The echo was dropped, not averaged in.
    expect(fit?.used).toBe(clean.length - 1);
  });

  it('uses only the window before the newest sample', () => {
    // Slow for a day, then fast for the last 6 hours: a 6 h window sees only the fast part.
    const fit = fitFillRate(
      series(30, (h) => (h <= 6 ? 0.5 - 0.04 * h : 0.26 - 0.005 * (h - 6))),
      { windowMs: 6 * HOUR },
    );
    expect(fit?.ratePerHour).toBeCloseTo(0.04, 6);
  });

  it('gives no fit for too few samples or too short a span', () => {
    expect(fitFillRate([])).toBeUndefined();
    expect(fitFillRate(series(0.5, (h) => 0.5 - 0.02 * h))).toBeUndefined(); // 3 samples
    expect(fitFillRate(series(0.75, (h) => 0.5 - 0.02 * h), { minSamples: 3 })).toBeUndefined(); // 45 minutes
    expect(fitFillRate(series(1, (h) => 0.5 - 0.02 * h))).toBeDefined();
  });
});

describe('predictFull', () => {
  it('predicts when a rising bin crosses its threshold', () => {
    const p = predictFull(series(12, (h) => 0.5 - 0.02 * h), 0.8);
    expect(p.kind).toBe('rising');
    if (p.kind !== 'rising') return;
    expect(p.fullAtMs).toBeCloseTo(T + 15 * HOUR, -3);
    expect(p.ratePerHour).toBeCloseTo(0.02, 8);
    expect(p.level).toBeCloseTo(0.5, 8);
  });

  it.each([
    ['newest reading over the threshold', series(12, (h) => 0.7 - 0.01 * h).concat({ timeMs: T + 60_000, level: 0.81 })],
    ['fitted level over the threshold, newest reading jittered below', series(12, (h) => 0.85 - 0.01 * h).map((s, i, a) => (i === a.length - 1 ? { ...s, level: 0.795 } : s))],
    ['full, flat at 1', series(12, () => 1)],
  ])('is due now: %s', (_name, samples) => {
    expect(predictFull(samples, 0.8).kind).toBe('due');
  });

  it('is due for a single reading over the threshold (no fit needed)', () => {
    expect(predictFull([{ timeMs: T, level: 0.9 }], 0.8)).toEqual({ kind: 'due', level: 0.9, ratePerHour: undefined, lastTimeMs: T });
  });

  it.each([
    ['flat', series(24, () => 0.4)],
    ['flat with jitter', series(24, () => 0.4, 0.008, 3)],
    ['falling (compaction, a sensor drifting)', series(24, (h) => 0.4 + 0.005 * h, 0.008)],
    ['a rate too small to matter', series(24, (h) => 0.4 - 0.001 * h)],
    ['rising less than its jitter shows', series(6, (h) => 0.4 - 0.002 * h, 0.05, 4)],
  ])('gives no prediction for %s', (_name, samples) => {
    const p = predictFull(samples, 0.8);
    expect(p).toMatchObject({ kind: 'none', reason: 'not-filling' });
  });

  it('gives no prediction without enough samples', () => {
    expect(predictFull([], 0.8)).toMatchObject({ kind: 'none', reason: 'no-samples' });
    expect(predictFull([{ timeMs: T, level: 0.3 }], 0.8)).toMatchObject({ kind: 'none', reason: 'too-few-samples', level: 0.3 });
  });

  it('honours a lower threshold', () => {
    const samples = series(12, (h) => 0.5 - 0.02 * h);
    const p = predictFull(samples, 0.6);
    expect(p.kind === 'rising' && p.fullAtMs).toBeCloseTo(T + 5 * HOUR, -3);
    expect(predictFull(samples, 0.5).kind).toBe('due');
  });
});
