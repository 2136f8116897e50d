/**
 * Durations in the rules file: ISO 8601 (`PT15M`, `PT1H30M`, `P1D`) or a number of seconds. Years and
 * months are refused: their length depends on the calendar, and a `for` window must mean the same
 * number of milliseconds on every device.
 */

const ISO_DURATION = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const UNIT_MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000] as const;

/**
 * Milliseconds in an ISO 8601 duration (weeks, days, hours, minutes, seconds) or a count of seconds;
 * undefined when `value` is neither. `PT` alone and `P` alone are refused (they name no unit).
 */
export function durationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const m = ISO_DURATION.exec(value);
  if (!m || value === 'P' || value.endsWith('T')) return undefined;
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * UNIT_MS[i]!;
  }
  return Math.round(ms);
}
