import type { FleetDefaults } from '../module.js';
import { pick } from '../../../simulators/prng.js';

/**
 * Generated bays: each in one of a few zones of its district (`centrum-z1` … `centrum-z4`, so a zone
 * holds several bays of a large fleet), with the zone's maximum stay: two hours in the middle of town,
 * two or four further out.
 */
export const parkingSpotFleet: FleetDefaults = {
  idPart: 'bay',
  share: 0.15,
  // The sensor's heartbeat; it also reports every change of status as it happens.
  reportingIntervalS: 600,
  attributes: (rng, district, fromCentre) => ({
    zone: `${district.name}-z${1 + Math.floor(rng() * 4)}`,
    maxStayMin: fromCentre < 0.35 ? 120 : pick(rng, [[120, 0.5], [240, 0.5]]),
    footfall: district.footfall,
  }),
};
