import type { FleetDefaults } from '../module.js';

/** Generated meters: dearer towards the centre, 4 to 30 bays each. */
export const parkingMeterFleet: FleetDefaults = {
  idPart: 'meter',
  share: 0.15,
  reportingIntervalS: 300,
  attributes: (rng, district, fromCentre) => ({
    tariffZone: fromCentre < 0.25 ? '1' : fromCentre < 0.5 ? '2' : fromCentre < 0.8 ? '3' : '4',
    bays: 4 + Math.floor(rng() * 27),
    footfall: district.footfall,
  }),
};
