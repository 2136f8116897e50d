/** The parking-meter device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { parkingMeterBench } from './bench.js';
import { parkingMeter } from './definition.js';
import { parkingMeterDemo } from './demo.js';
import { parkingMeterFleet } from './fleet.js';
import { parkingMeterModel } from './model.js';

export const parkingMeterType: DeviceTypeModule<typeof parkingMeter> = {
  definition: parkingMeter,
  model: parkingMeterModel,
  fleet: parkingMeterFleet,
  bench: parkingMeterBench,
  demo: parkingMeterDemo,
};
