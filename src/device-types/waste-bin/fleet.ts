import type { FleetDefaults } from '../module.js';
import { pick } from '../../../simulators/prng.js';

/** Generated bins: the sizes and waste streams of a Dutch city's stock, filled by their district. */
export const wasteBinFleet: FleetDefaults = {
  idPart: 'bin',
  share: 0.45,
  reportingIntervalS: 900,
  attributes: (rng, district) => ({
    binCapacity: pick(rng, [
      [240, 0.35],
      [1100, 0.35],
      [3000, 0.2],
      [5000, 0.1],
    ]),
    wasteKind: pick(rng, [
      ['residual', 0.4],
      ['paper', 0.2],
      ['plastic', 0.15],
      ['glass', 0.1],
      ['organic', 0.1],
      ['textile', 0.05],
    ]),
    areaKind: district.areaKind,
    footfall: district.footfall,
  }),
};
