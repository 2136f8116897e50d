/**
 * The fields every simulated reading carries (seq, batteryLevel, rssi), as one reusable block, the
 * way the device types declare them once in src/device-types/common/fields.ts.
 */
import type { DeviceRecord } from '../src/catalog/types.js';
import type { Rng } from './prng.js';
import { normal, uniform } from './prng.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface CommonFieldsOptions {
  /** Days a full battery lasts at this device's reporting rate. */
  readonly batteryLifeDays: number;
}

export interface CommonReadingFields {
  seq: number;
  batteryLevel: number;
  rssi: number;
}

/**
 * seq counting up from 0; a battery that drains linearly with time (some start nearly flat, so a
 * demo shows `device.battery` tickets) and is swapped for a new one when empty; an RSSI around a
 * per-device level (its distance to the gateway) with some fading.
 */
export function commonFields(rng: Rng, startMs: number, opts: CommonFieldsOptions): (simTimeMs: number) => CommonReadingFields {
  let seq = 0;
  let battery = rng() < 0.05 ? uniform(rng, 0.16, 0.22) : uniform(rng, 0.35, 1);
  let lastMs = startMs;
  const drainPerMs = 1 / (opts.batteryLifeDays * DAY_MS);
  const rssiLevel = uniform(rng, -105, -62);
  return (simTimeMs) => {
    battery -= Math.max(0, simTimeMs - lastMs) * drainPerMs;
    lastMs = Math.max(lastMs, simTimeMs);
    // A technician swaps a flat battery; the reading after shows a full one.
    if (battery < 0.02) battery = 1;
    const rssi = Math.round(Math.min(0, Math.max(-150, rssiLevel + 3 * normal(rng))));
    return { seq: seq++, batteryLevel: round(battery, 3), rssi };
  };
}

/** `x` rounded to `digits` decimals: payloads look like a device's, not like float noise. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `x` limited to [min, max]. */
export function clamp(x: number, min: number, max: number): number {
  return x < min ? min : x > max ? max : x;
}

/** A numeric attribute of the device, or `fallback` when absent or not a positive finite number. */
export function positiveAttribute(attributes: Readonly<Record<string, unknown>>, key: string, fallback: number): number {
  const v = attributes[key];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** An hour-of-day attribute (0..24, fractional), or `fallback` when absent or out of range. */
export function hourAttribute(attributes: Readonly<Record<string, unknown>>, key: string, fallback: number): number {
  const v = attributes[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 24 ? v : fallback;
}

/**
 * True when an event with a constant hazard of `perHour` happens within `dtMs`. Faults are rates in
 * time, not chances per reading, so a device that reports every 5 s (the demo) is not 180 times as
 * accident-prone as one that reports every 15 min.
 */
export function happens(rng: Rng, perHour: number, dtMs: number): boolean {
  if (!(perHour > 0) || !(dtMs > 0)) return false;
  return rng() < 1 - Math.exp((-perHour * dtMs) / HOUR_MS);
}

/** A string attribute, or `fallback`. */
export function stringAttribute(attributes: Readonly<Record<string, unknown>>, key: string, fallback: string): string {
  const v = attributes[key];
  return typeof v === 'string' && v !== '' ? v : fallback;
}

/**
 * A slowly wandering value (Ornstein–Uhlenbeck): mean-reverting noise for weather, cloud cover and
 * other things that drift rather than jump. `sd` is its long-run spread, `tauMs` how long a
 * deviation lasts.
 */
export function drift(rng: Rng, sd: number, tauMs: number): (dtMs: number) => number {
  let x = sd * normal(rng);
  return (dtMs) => {
    if (dtMs > 0) {
      const a = Math.exp(-dtMs / tauMs);
      x = a * x + sd * Math.sqrt(1 - a * a) * normal(rng);
    }
    return x;
  };
}

/**
 * How much parking a device's street sees (parking meters, bays), 0..1.2: `attributes.footfall`
 * (the fleet generator sets it), else the demo city's district (outer districts see fewer
 * visitors), else 0.9.
 */
export function parkingDemand(device: DeviceRecord): number {
  return Math.min(1.2, positiveAttribute(device.attributes, 'footfall', DISTRICT_PARKING_DEMAND[device.district] ?? 0.9));
}

const DISTRICT_PARKING_DEMAND: Readonly<Record<string, number>> = {
  centrum: 1.05,
  west: 0.95,
  oost: 0.95,
  zuid: 1.0,
  noord: 0.8,
  'nieuw-west': 0.75,
  zuidoost: 0.8,
};
