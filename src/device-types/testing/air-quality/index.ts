/** The air-quality device type: a fifth type that exists only as this folder (see extension.test.ts). */
import type { DeviceTypeModule } from '../../module.js';
import { airQualityBench } from './bench.js';
import { airQuality } from './definition.js';
import { airQualityDemo } from './demo.js';
import { airQualityFleet } from './fleet.js';
import { airQualityModel } from './model.js';

export const airQualityType: DeviceTypeModule<typeof airQuality> = {
  definition: airQuality,
  model: airQualityModel,
  fleet: airQualityFleet,
  bench: airQualityBench,
  demo: airQualityDemo,
};
