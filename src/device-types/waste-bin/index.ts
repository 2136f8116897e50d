/** The waste-bin device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { wasteBinBench } from './bench.js';
import { wasteBin } from './definition.js';
import { wasteBinDemo } from './demo.js';
import { wasteBinFleet } from './fleet.js';
import { wasteBinModel } from './model.js';

export const wasteBinType: DeviceTypeModule<typeof wasteBin> = {
  definition: wasteBin,
  model: wasteBinModel,
  fleet: wasteBinFleet,
  bench: wasteBinBench,
  demo: wasteBinDemo,
};
