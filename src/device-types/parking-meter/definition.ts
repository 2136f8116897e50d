import { defineDeviceType } from '../types.js';
import { count, oneOf, ratio, required } from '../common/fields.js';

/** A parking meter that also counts the bays it serves (FIWARE OnStreetParking). */
export const parkingMeter = defineDeviceType({
  name: 'parking-meter',
  measurement: 'parking_meter',
  fiwareModel: 'OnStreetParking',
  fields: {
    totalSpotNumber: required(count('bays served, integer ≥ 0')),
    availableSpotNumber: required(count('free bays, integer 0..totalSpotNumber')),
    status: oneOf(['ok', 'outOfOrder', 'coinJam', 'paperLow', 'vandalized', 'unknown']),
    coinBoxLevel: ratio('coin box fill 0..1'),
    transactions: count('paid sessions since the last reading, integer ≥ 0'),
    revenue: count('cents since the last reading, integer ≥ 0'),
  },
  // The open parking feed (src/residents/) shows each meter as a place with these counts.
  capacity: { totalField: 'totalSpotNumber', availableField: 'availableSpotNumber' },
  refine: (r, ctx) => {
    if (r.availableSpotNumber > r.totalSpotNumber) {
      ctx.addIssue({
        code: 'custom',
        path: ['availableSpotNumber'],
        message: `must be ≤ totalSpotNumber (${r.totalSpotNumber}), got ${r.availableSpotNumber}`,
      });
    }
  },
});
