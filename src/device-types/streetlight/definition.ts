import { defineDeviceType } from '../types.js';
import { float, oneOf, ratio, required } from '../common/fields.js';

/** A streetlight controller (FIWARE Streetlight). */
export const streetlight = defineDeviceType({
  name: 'streetlight',
  measurement: 'streetlight',
  fiwareModel: 'Streetlight',
  fields: {
    powerState: required(oneOf(['on', 'off', 'low', 'bootingUp'])),
    status: oneOf(['ok', 'defectiveLamp', 'brokenLantern', 'columnIssue']),
    illuminanceLevel: ratio('commanded dim level 0..1'),
    powerConsumption: float('W ≥ 0', 0),
    voltage: float('V, 0..400', 0, 400),
    current: float('A ≥ 0', 0),
    powerFactor: ratio('power factor 0..1'),
    ambientLight: float('lux ≥ 0', 0),
    energyConsumed: float('kWh, cumulative counter ≥ 0', 0),
  },
  // Residents see open public tickets of streetlights as outages (src/residents/).
  outages: { heading: 'Streetlights' },
});
