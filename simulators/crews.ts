/**
 * When a city crew shows up: emptying a bin, a coin box, repairing a meter or a lamp. Crews work
 * daytime shifts, so a bin that fills up at night is emptied the next morning, not at 03:00.
 */
import { localTime } from './local-time.js';
import { uniform, type Rng } from './prng.js';

const HOUR_MS = 3_600_000;
const STEP_MS = HOUR_MS / 4;

/** Crew shift, local time. */
const SHIFT_START_H = 7;
const SHIFT_END_H = 19;

/**
 * The time a crew arrives, given it was needed at `fromMs`: after a random delay of
 * `minDelayH`..`maxDelayH` hours, moved forward into the next shift (Monday–Saturday, 07:00–19:00).
 */
export function crewArrival(rng: Rng, fromMs: number, timeZone: string, minDelayH: number, maxDelayH: number): number {
  let t = fromMs + uniform(rng, minDelayH, maxDelayH) * HOUR_MS;
  // At most a weekend and a night ahead; the bound only guards against a broken time zone.
  for (let i = 0; i < 4 * 24 * 4; i++) {
    const lt = localTime(t, timeZone);
    if (lt.weekday !== 0 && lt.hour >= SHIFT_START_H && lt.hour < SHIFT_END_H) return t;
    t += STEP_MS;
  }
  return t;
}
