/** `sunUp`: the sun above an altitude at the device's location. */
import { z } from 'zod';
import { isSunUp, sunAltitude } from '../../sun.js';
import { CLEAR, fmt, NEVER, RAISE, type ConditionKind } from './kind.js';
import { finite } from './schema-blocks.js';

export const sunUp: ConditionKind<'sunUp'> = {
  schema: () => z.strictObject({ kind: z.literal('sunUp'), altitude: finite.min(-18).max(90).optional() }),
  onReadings: true,
  needsDevice: () => true,
  compile(c, device) {
    if (!device) return NEVER;
    const { lat, lon } = device.location;
    const min = c.altitude ?? 0;
    return {
      // Trigonometry for the ephemeris: try it after the field conditions.
      cost: 10,
      test: (_fields, timeMs) => (isSunUp(timeMs, lat, lon, min) ? RAISE : CLEAR),
      explain(_fields, timeMs) {
        const alt = sunAltitude(timeMs, lat, lon);
        return { value: Number(alt.toFixed(1)), text: `sun ${alt.toFixed(1)}° ${alt > min ? 'above' : 'not above'} ${fmt(min)}°` };
      },
    };
  },
};
