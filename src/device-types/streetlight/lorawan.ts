/**
 * A lamp controller's uplink as a streetlight reading (CONTRACT §7). `powerState` is required, but a
 * usage packet carries the meter, not the lamp state: then the lamp counts as on when its active power
 * is above 5 % of its rated power (`attributes.powerRating`, W), else off. A controller's standby draw
 * (under a watt) stays below that; a lamp dimmed very deep may fall under it and count as off.
 *
 * The simulator's way back, `measureStreetlight`: a controller measures the reading's fields except the
 * current, which no UL20xx packet carries (its meter gives power, voltage and power factor).
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { Completed, Measured } from '../lorawan.js';

/** Fields of a streetlight reading that a lamp controller's packets do not carry. */
const NOT_MEASURED = new Set(['current']);

/** Share of `powerRating` above which a lamp drawing power counts as on. */
export const ON_ABOVE_SHARE_OF_RATING = 0.05;

function powerRating(device: DeviceRecord): number | undefined | 'invalid' {
  const v = device.attributes['powerRating'];
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : 'invalid';
}

export function completeStreetlight(measured: Measured, device: DeviceRecord): Completed {
  if (typeof measured['powerState'] === 'string') return { ok: true, fields: measured };
  const powerW = measured['powerConsumption'];
  if (typeof powerW !== 'number') {
    return {
      ok: false,
      reason: 'decode_failed',
      path: 'powerState',
      message: `powerState: device "${device.id}" sent an uplink with neither the lamp state nor the active power, so whether its lamp is on is unknown`,
    };
  }
  const rating = powerRating(device);
  if (rating === undefined) {
    return {
      ok: false,
      reason: 'missing_attribute',
      path: 'attributes.powerRating',
      message: `attributes.powerRating: device "${device.id}" reports its power but not its lamp state, and whether the lamp is on needs its rated power (W); set it with \`npx citypipe devices add … --attr powerRating=60\` or in the catalog file`,
    };
  }
  if (rating === 'invalid') {
    return {
      ok: false,
      reason: 'missing_attribute',
      path: 'attributes.powerRating',
      message: `attributes.powerRating: device "${device.id}" has powerRating ${JSON.stringify(device.attributes['powerRating'])}; it must be a number of W > 0, e.g. --attr powerRating=60`,
    };
  }
  return { ok: true, fields: { powerState: powerW > ON_ABOVE_SHARE_OF_RATING * rating ? 'on' : 'off', ...measured } };
}

/** What a lamp controller measures for one of the type's readings: its fields less the current. */
export function measureStreetlight(reading: Readonly<Record<string, number | string>>, _device: DeviceRecord): Measured {
  return Object.fromEntries(Object.entries(reading).filter(([k]) => !NOT_MEASURED.has(k)));
}
