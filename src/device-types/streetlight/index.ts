/** The streetlight device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { streetlightBench } from './bench.js';
import { streetlight } from './definition.js';
import { streetlightDemo } from './demo.js';
import { streetlightFleet } from './fleet.js';
import { completeStreetlight, measureStreetlight } from './lorawan.js';
import { streetlightModel } from './model.js';
import { nasUl20xx } from './models/nas-ul20xx/index.js';

export const streetlightType: DeviceTypeModule<typeof streetlight> = {
  definition: streetlight,
  model: streetlightModel,
  fleet: streetlightFleet,
  bench: streetlightBench,
  demo: streetlightDemo,
  lorawan: { models: [nasUl20xx], complete: completeStreetlight, measure: measureStreetlight },
};
