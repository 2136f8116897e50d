import type { FleetDefaults } from '../module.js';
import { pick } from '../../../simulators/prng.js';

/** Generated lights: mostly LED, some sodium and metal halide, each with its night dimming schedule. */
export const streetlightFleet: FleetDefaults = {
  idPart: 'light',
  share: 0.4,
  reportingIntervalS: 600,
  attributes: (rng) => {
    const lampType = pick(rng, [
      ['LED', 0.75],
      ['HPS', 0.2],
      ['MH', 0.05],
    ]);
    const [dimFromH, dimUntilH] = pick(rng, [
      [[0, 6], 0.5],
      [[23, 5], 0.25],
      [[1, 5], 0.15],
      [[22, 6], 0.1],
    ]);
    return {
      lampType,
      powerRating: lampType === 'LED' ? pick(rng, [[35, 0.3], [45, 0.3], [60, 0.3], [100, 0.1]]) : pick(rng, [[70, 0.5], [100, 0.3], [150, 0.2]]),
      dimFromH,
      dimUntilH,
    };
  },
};
