/**
 * A bay sensor's uplink as a parking-spot reading. The occupancy is what matters to a resident
 * looking for a space; a temperature outside the type's -40..85 °C (a raw signed byte from the
 * Bosch sensor can read beyond it) is dropped rather than let it turn the whole reading, and the
 * bay's status with it, into a dead letter.
 */
import type { Completed, Measured } from '../lorawan.js';

export function completeParkingSpot(measured: Measured): Completed {
  const t = measured['temperature'];
  if (typeof t !== 'number' || (t >= -40 && t <= 85)) return { ok: true, fields: measured };
  const { temperature: _dropped, ...rest } = measured;
  return { ok: true, fields: rest };
}
