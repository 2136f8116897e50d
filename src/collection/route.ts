/**
 * A short route through the bins of one district: nearest neighbour from a fixed start, then 2-opt
 * until no reversal of a stretch shortens it. Open path (the crew does not return to the start),
 * great-circle distances. Not optimal, but within a few per cent of it for the few dozen stops of a
 * district's day, and fast: O(n²) per 2-opt pass on a distance matrix built once.
 */

/** A point on the earth, degrees. */
export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
}

const EARTH_RADIUS_KM = 6371.0088;
const RAD = Math.PI / 180;

/** Great-circle distance in km (haversine, mean earth radius). */
export function haversineKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Length in km of the open path through `points` in the given order (indices into `points`). */
export function pathLengthKm(points: readonly GeoPoint[], order: readonly number[]): number {
  let km = 0;
  for (let i = 1; i < order.length; i++) km += haversineKm(points[order[i - 1] as number] as GeoPoint, points[order[i] as number] as GeoPoint);
  return km;
}

type Matrix = readonly Float64Array[];

function distanceMatrix(points: readonly GeoPoint[]): Matrix {
  const n = points.length;
  const m = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = haversineKm(points[i] as GeoPoint, points[j] as GeoPoint);
      (m[i] as Float64Array)[j] = d;
      (m[j] as Float64Array)[i] = d;
    }
  }
  return m;
}

const at = (m: Matrix, i: number, j: number): number => (m[i] as Float64Array)[j] as number;

/**
 * Nearest-neighbour order of all `points`, starting at index `start`. Ties go to the lower index, so
 * the same input always gives the same route.
 */
export function nearestNeighbourOrder(points: readonly GeoPoint[], start = 0, matrix: Matrix = distanceMatrix(points)): number[] {
  const n = points.length;
  if (n === 0) return [];
  const visited = new Uint8Array(n);
  const order = [start];
  visited[start] = 1;
  let current = start;
  for (let k = 1; k < n; k++) {
    let best = -1;
    let bestKm = Infinity;
    for (let j = 0; j < n; j++) {
      if (visited[j]) continue;
      const d = at(matrix, current, j);
      if (d < bestKm) {
        bestKm = d;
        best = j;
      }
    }
    visited[best] = 1;
    order.push(best);
    current = best;
  }
  return order;
}

/**
 * 2-opt on an open path whose first stop is fixed: reverses the stretch `order[i..j]` whenever that
 * shortens the path, until no reversal does (or `maxPasses`). Never lengthens the path: a reversal
 * is made only when it saves more than a millimetre. Returns a new order.
 */
export function twoOpt(points: readonly GeoPoint[], order: readonly number[], opts: { maxPasses?: number; matrix?: Matrix } = {}): number[] {
  const route = [...order];
  const n = route.length;
  if (n < 4) {
    // With a fixed start, three stops have one alternative: swap the last two.
    if (n === 3) {
      const m = opts.matrix ?? distanceMatrix(points);
      const [a, b, c] = route as [number, number, number];
      if (at(m, a, c) + at(m, c, b) < at(m, a, b) + at(m, b, c) - 1e-6) return [a, c, b];
    }
    return route;
  }
  const m = opts.matrix ?? distanceMatrix(points);
  const maxPasses = opts.maxPasses ?? 50;
  for (let pass = 0; pass < maxPasses; pass++) {
    let improved = false;
    for (let i = 1; i < n - 1; i++) {
      const a = route[i - 1] as number;
      const b = route[i] as number;
      for (let j = i + 1; j < n; j++) {
        const c = route[j] as number;
        const d = j + 1 < n ? (route[j + 1] as number) : -1;
        // Reversing i..j replaces edges a-b and c-d with a-c and b-d (no d at the path's end).
        const before = at(m, a, b) + (d < 0 ? 0 : at(m, c, d));
        const after = at(m, a, c) + (d < 0 ? 0 : at(m, b, d));
        if (after < before - 1e-6) {
          reverse(route, i, j);
          improved = true;
          break;
        }
      }
    }
    if (!improved) break;
  }
  return route;
}

function reverse(route: number[], i: number, j: number): void {
  for (let lo = i, hi = j; lo < hi; lo++, hi--) {
    const t = route[lo] as number;
    route[lo] = route[hi] as number;
    route[hi] = t;
  }
}

/** A route through some stops. */
export interface Route<T> {
  /** The stops in visiting order (the depot is not one of them). */
  readonly stops: readonly T[];
  /** Path length, from the depot when there is one. */
  readonly distanceKm: number;
}

/**
 * Orders `stops` into a short route. Starts at `depot` when given, else at the first stop as given:
 * callers pass stops in a stable order (by device id) so the same bins give the same route.
 */
export function planRoute<T extends GeoPoint>(stops: readonly T[], depot?: GeoPoint): Route<T> {
  if (stops.length === 0) return { stops: [], distanceKm: 0 };
  const points: GeoPoint[] = depot ? [depot, ...stops] : [...stops];
  const matrix = distanceMatrix(points);
  const order = twoOpt(points, nearestNeighbourOrder(points, 0, matrix), { matrix });
  const visits = depot ? order.slice(1).map((i) => i - 1) : order;
  return { stops: visits.map((i) => stops[i] as T), distanceKm: pathLengthKm(points, order) };
}
