/**
 * Behaviour of an air quality station: particulates and NO₂ follow the traffic of the local hour
 * (rush hours, quiet nights), scaled by the station's `traffic` attribute, with wandering weather.
 */
import type { DeviceRecord } from '../../../catalog/types.js';
import type { ReadingInputOf } from '../../types.js';
import { airQuality } from './definition.js';
import { clamp, commonFields, drift, positiveAttribute, round } from '../../../../simulators/common-fields.js';
import { deviceTimeZone, localTime } from '../../../../simulators/local-time.js';
import type { DeviceModel, DeviceSimulation } from '../../../../simulators/model.js';
import type { Rng } from '../../../../simulators/prng.js';

type Reading = ReadingInputOf<typeof airQuality>;

/** Traffic at each local hour 0..23, 1 = the busiest. */
const TRAFFIC = [0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.95, 1, 0.8, 0.65, 0.6, 0.62, 0.6, 0.62, 0.7, 0.85, 1, 0.9, 0.65, 0.45, 0.35, 0.28, 0.2];

export const airQualityModel: DeviceModel<typeof airQuality> = {
  type: airQuality,
  create(device: DeviceRecord, rng: Rng, startMs: number): DeviceSimulation<typeof airQuality> {
    const common = commonFields(rng, startMs, { batteryLifeDays: 300 });
    const traffic = positiveAttribute(device.attributes, 'traffic', 0.5);
    const timeZone = deviceTimeZone(device);
    const weather = drift(rng, 0.3, 6 * 3_600_000);
    let lastMs = startMs;
    return {
      next(simTimeMs: number): Reading {
        const w = weather(Math.max(0, simTimeMs - lastMs));
        lastMs = simTimeMs;
        const load = (TRAFFIC[localTime(simTimeMs, timeZone).hour] ?? 0.5) * traffic;
        const pm25 = round(clamp(6 + 30 * load * (1 + w), 0, 1000), 1);
        return { ...common(simTimeMs), pm25, pm10: round(clamp(pm25 * 1.6, 0, 2000), 1), no2: round(clamp(10 + 60 * load * (1 + w), 0, 1000), 1) };
      },
    };
  },
};
