import { defineDeviceType } from '../types.js';
import { float, oneOf, required } from '../common/fields.js';

/** One parking bay, from an in-ground or overhead sensor (FIWARE ParkingSpot). */
export const parkingSpot = defineDeviceType({
  name: 'parking-spot',
  measurement: 'parking_spot',
  fiwareModel: 'ParkingSpot',
  plural: 'parking spots',
  fields: {
    status: required(oneOf(['free', 'occupied', 'closed', 'unknown'])),
    temperature: float('°C, -40..85', -40, 85),
  },
  // Zone availability (src/parking/zones.ts): bays are counted per catalog `zone` by their status.
  occupancy: { field: 'status', free: 'free', occupied: 'occupied', zoneAttribute: 'zone' },
});
