/** The waste-bin device type, as the registry lists it. */
import type { DeviceTypeModule } from '../module.js';
import { wasteBinBench } from './bench.js';
import { wasteBin } from './definition.js';
import { wasteBinDemo } from './demo.js';
import { wasteBinFleet } from './fleet.js';
import { completeWasteBin, measureWasteBin } from './lorawan.js';
import { wasteBinModel } from './model.js';
import { draginoLdds75 } from './models/dragino-ldds75/index.js';
import { milesightEm310Udl } from './models/milesight-em310-udl/index.js';
import { milesightEm400Udl } from './models/milesight-em400-udl/index.js';

export const wasteBinType: DeviceTypeModule<typeof wasteBin> = {
  definition: wasteBin,
  model: wasteBinModel,
  fleet: wasteBinFleet,
  bench: wasteBinBench,
  demo: wasteBinDemo,
  lorawan: { models: [milesightEm400Udl, milesightEm310Udl, draginoLdds75], complete: completeWasteBin, measure: measureWasteBin },
};
