import { defineDeviceType } from '../../types.js';
import { float, required } from '../../common/fields.js';

/** An air quality station (FIWARE AirQualityObserved): particulate matter and nitrogen dioxide. */
export const airQuality = defineDeviceType({
  name: 'air-quality',
  measurement: 'air_quality',
  fiwareModel: 'AirQualityObserved',
  plural: 'air quality stations',
  fields: {
    pm25: required(float('PM2.5, µg/m³, 0..1000', 0, 1000)),
    pm10: float('PM10, µg/m³, 0..2000', 0, 2000),
    no2: float('NO₂, µg/m³ ≥ 0', 0),
  },
});
