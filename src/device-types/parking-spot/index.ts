/** The parking-spot device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { parkingSpotBench } from './bench.js';
import { parkingSpot } from './definition.js';
import { parkingSpotDemo } from './demo.js';
import { parkingSpotFleet } from './fleet.js';
import { parkingSpotModel } from './model.js';
import { completeParkingSpot } from './lorawan.js';
import { nwaveNps405 } from './models/nwave-nps405/index.js';
import { boschTpl110 } from './models/bosch-tpl110/index.js';

export const parkingSpotType: DeviceTypeModule<typeof parkingSpot> = {
  definition: parkingSpot,
  model: parkingSpotModel,
  fleet: parkingSpotFleet,
  bench: parkingSpotBench,
  demo: parkingSpotDemo,
  lorawan: { models: [nwaveNps405, boschTpl110], complete: completeParkingSpot },
};
