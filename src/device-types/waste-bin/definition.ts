import { defineDeviceType } from '../types.js';
import { float, oneOf, ratio, required } from '../common/fields.js';

/** A waste container fill sensor (FIWARE WasteContainer). */
export const wasteBin = defineDeviceType({
  name: 'waste-bin',
  measurement: 'waste_bin',
  fiwareModel: 'WasteContainer',
  fields: {
    fillingLevel: required(ratio('fill ratio 0..1 (not percent)')),
    temperature: float('°C, -40..120', -40, 120),
    status: oneOf(['ok', 'lidOpen', 'dropped', 'moved', 'vandalized', 'burning', 'unknown']),
    methaneConcentration: float('ppm ≥ 0', 0),
    cargoWeight: float('kg ≥ 0', 0),
    distanceMm: float('mm ≥ 0, sensor to the waste, from a distance sensor (LoRaWAN models)', 0),
  },
  collection: { fillField: 'fillingLevel' },
  // Residents see open public tickets of bins (a bin being emptied, a fire) as outages (src/residents/).
  outages: { heading: 'Waste bins' },
});
