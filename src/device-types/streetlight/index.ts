/** The streetlight device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { streetlightBench } from './bench.js';
import { streetlight } from './definition.js';
import { streetlightDemo } from './demo.js';
import { streetlightFleet } from './fleet.js';
import { streetlightModel } from './model.js';

export const streetlightType: DeviceTypeModule<typeof streetlight> = {
  definition: streetlight,
  model: streetlightModel,
  fleet: streetlightFleet,
  bench: streetlightBench,
  demo: streetlightDemo,
};
