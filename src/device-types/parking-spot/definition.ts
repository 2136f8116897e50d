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
});
