/**
 * A bin measured by distance (CONTRACT §7): `fillingLevel = clamp((containerDepthMm − distance) /
 * (containerDepthMm − fullDistanceMm), 0, 1)`, with `containerDepthMm` (sensor to the bottom of the
 * empty container) and `fullDistanceMm` (sensor to the waste when full, default 0) from the catalog.
 * The measured distance is kept as `distanceMm`.
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
