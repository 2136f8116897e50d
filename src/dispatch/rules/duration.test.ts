import { describe, expect, it } from 'vitest';
import { durationMs } from './duration.js';

describe('durationMs', () => {
  it.each([
    ['PT15M', 900_000],
    ['PT1H30M', 5_400_000],
    ['PT30S', 30_000],
    ['PT0.5S', 500],
    ['P1D', 86_400_000],
    ['P1W', 604_800_000],
    ['P1DT2H', 93_600_000],
    [0, 0],
    [90, 90_000],
    [1.5, 1500],
  ] as const)('%s → %d ms', (input, ms) => {
    expect(durationMs(input)).toBe(ms);
  });

  it.each(['P', 'PT', 'P1Y', 'P1M', 'PT1H1D', '15m', '', 'PT-5M'])('refuses %j', (input) => {
    expect(durationMs(input)).toBeUndefined();
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses %d seconds', (input) => {
    expect(durationMs(input)).toBeUndefined();
  });
});
