import type { FleetDefaults } from '../../module.js';

/** Generated stations: busier roads towards the centre. */
export const airQualityFleet: FleetDefaults = {
  idPart: 'air',
  share: 0.05,
  reportingIntervalS: 600,
  attributes: (rng, _district, fromCentre) => ({ traffic: Math.round((1.2 - 0.6 * fromCentre + 0.2 * rng()) * 100) / 100 }),
};
