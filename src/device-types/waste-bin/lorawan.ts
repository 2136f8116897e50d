/**
 * A bin measured by distance (CONTRACT §7): `fillingLevel = clamp((containerDepthMm − distance) /
 * (containerDepthMm − fullDistanceMm), 0, 1)`, with `containerDepthMm` (sensor to the bottom of the
 * empty container) and `fullDistanceMm` (sensor to the waste when full, default 0) from the catalog.
 * The measured distance is kept as `distanceMm`. {@link measureWasteBin} is the simulator's inverse.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { Completed, Measured } from '../lorawan.js';

function attribute(device: DeviceRecord, key: string): number | undefined | 'invalid' {
  const v = device.attributes[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? n : 'invalid';
}

export function completeWasteBin(measured: Measured, device: DeviceRecord): Completed {
  if (typeof measured['fillingLevel'] === 'number' || typeof measured['distanceMm'] !== 'number') return { ok: true, fields: measured };
  const depth = attribute(device, 'containerDepthMm');
  const full = attribute(device, 'fullDistanceMm') ?? 0;
  if (depth === undefined) {
    return {
      ok: false,
      reason: 'missing_attribute',
      path: 'attributes.containerDepthMm',
      message: `attributes.containerDepthMm: device "${device.id}" measures distance, and its fill level needs the container depth (sensor to the bottom of the empty container, mm); set it with \`npx citypipe devices add … --attr containerDepthMm=1200\` or in the catalog file`,
    };
  }
  if (depth === 'invalid' || full === 'invalid' || depth <= full) {
    return {
      ok: false,
      reason: 'missing_attribute',
      path: 'attributes.containerDepthMm',
      message: `attributes.containerDepthMm: device "${device.id}" has containerDepthMm ${JSON.stringify(device.attributes['containerDepthMm'])} and fullDistanceMm ${JSON.stringify(device.attributes['fullDistanceMm'] ?? 0)}; both must be numbers of mm ≥ 0, the depth larger`,
    };
  }
  const level = Math.min(1, Math.max(0, (depth - measured['distanceMm']) / (depth - full)));
  return { ok: true, fields: { fillingLevel: Math.round(level * 1000) / 1000, ...measured } };
}

/** The depth (mm) the simulator assumes for a bin whose catalog entry has no usable `containerDepthMm`. */
export const SIMULATED_DEPTH_MM = 1200;

/** The fields of a reading a distance sensor measures besides the distance itself (`status` from its tilt switch). */
const MEASURED_AS_IS = ['temperature', 'status'] as const;

/**
 * What a distance sensor in this bin would measure for a reading (the simulator's inverse of
 * {@link completeWasteBin}): `distanceMm = round(containerDepthMm − fillingLevel × (containerDepthMm −
 * fullDistanceMm))`, with the catalog attributes read as `completeWasteBin` reads them. A bin without a
 * usable depth (missing, not a number, or not larger than `fullDistanceMm`) is simulated as
 * {@link SIMULATED_DEPTH_MM} deep and full at 0 mm, so the simulator still sends it; citypipe then
 * refuses its uplinks with `missing_attribute`, as it would the real sensor's. `temperature` and
 * `status` are kept (and the `distanceMm` of a reading without a fill level); what the sensors do not
 * measure (`methaneConcentration`, `cargoWeight`) is dropped.
 */
export function measureWasteBin(reading: Readonly<Record<string, number | string>>, device: DeviceRecord): Measured {
  const out: Record<string, number | string> = {};
  const level = reading['fillingLevel'];
  if (typeof level === 'number' && Number.isFinite(level)) {
    let depth = attribute(device, 'containerDepthMm');
    let full = attribute(device, 'fullDistanceMm') ?? 0;
    if (typeof depth !== 'number' || typeof full !== 'number' || depth <= full) [depth, full] = [SIMULATED_DEPTH_MM, 0];
    out['distanceMm'] = Math.round(depth - Math.min(1, Math.max(0, level)) * (depth - full));
  } else if (typeof reading['distanceMm'] === 'number') {
    out['distanceMm'] = reading['distanceMm'];
  }
  for (const key of MEASURED_AS_IS) if (reading[key] !== undefined) out[key] = reading[key];
  return out;
}
