/**
 * Seeded randomness for the simulators, so a run with the same seed and catalog repeats exactly.
 * Math.random cannot be seeded; mulberry32 is tiny, fast and good enough for behaviour models (it is
 * not for cryptography: secrets come from node:crypto).
 */

/** A uniform random number in [0, 1). */
export type Rng = () => number;

/** mulberry32: a 32-bit state PRNG. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seed for one device's stream, from the run's seed and the device id (FNV-1a). Each device gets
 * its own stream, so adding or removing a device does not change what the others do.
 */
export function deviceSeed(seed: number, deviceId: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A standard normal variate (Box–Muller). */
export function normal(rng: Rng): number {
  const u = 1 - rng(); // (0, 1]: log(0) would be -Infinity
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Uniform in [min, max). */
export function uniform(rng: Rng, min: number, max: number): number {
  return min + (max - min) * rng();
}

/** True with probability `p` (clamped to 0..1). */
export function chance(rng: Rng, p: number): boolean {
  return rng() < p;
}

/** Number of successes in `n` trials of probability `p`. */
export function binomial(rng: Rng, n: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  let k = 0;
  for (let i = 0; i < n; i++) if (rng() < p) k++;
  return k;
}

/** One of the options, chosen with probability proportional to its weight. */
export function pick<T>(rng: Rng, options: ReadonlyArray<readonly [T, number]>): T {
  let x = rng() * options.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of options) {
    x -= w;
    if (x < 0) return v;
  }
  return (options.at(-1) as readonly [T, number])[0];
}
