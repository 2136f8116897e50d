import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../simulators/prng.js';
import { haversineKm, nearestNeighbourOrder, pathLengthKm, planRoute, twoOpt, type GeoPoint } from './route.js';

describe('haversineKm', () => {
  it('measures known distances', () => {
    // One degree of latitude ≈ 111.2 km; Amsterdam Dam to Utrecht Dom ≈ 35 km.
    expect(haversineKm({ lat: 0, lon: 0 }, { lat: 1, lon: 0 })).toBeCloseTo(111.19, 1);
    expect(haversineKm({ lat: 52.3731, lon: 4.8926 }, { lat: 52.0908, lon: 5.1222 })).toBeCloseTo(35, 0);
    expect(haversineKm({ lat: 52, lon: 4 }, { lat: 52, lon: 4 })).toBe(0);
  });
});

/** Points on a grid, ~111 m apart north-south at the equator, for easy mental arithmetic. */
const p = (x: number, y: number): GeoPoint => ({ lat: y / 1000, lon: x / 1000 });

describe('twoOpt', () => {
  it('fixes an obvious crossing', () => {
    // A square visited corner to opposite corner: 0 → 2 → 1 → 3 crosses itself.
    const pts = [p(0, 0), p(10, 0), p(0, 10), p(10, 10)];
    const crossing = [0, 3, 1, 2]; // (0,0) → (10,10) → (10,0) → (0,10): diagonal, side, diagonal
    const fixed = twoOpt(pts, crossing);
    expect(pathLengthKm(pts, fixed)).toBeLessThan(pathLengthKm(pts, crossing) - 0.5);
    expect(fixed[0]).toBe(0);
    // The best open path from (0,0) walks three sides.
    expect(pathLengthKm(pts, fixed)).toBeCloseTo(3 * haversineKm(p(0, 0), p(10, 0)), 2);
  });

  it('never lengthens a route, and keeps its start and its stops', () => {
    const rng = mulberry32(42);
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + Math.floor(rng() * 40);
      const pts = Array.from({ length: n }, () => p(rng() * 1000, rng() * 1000));
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 1; i--) {
        const j = 1 + Math.floor(rng() * i);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const start of [order, nearestNeighbourOrder(pts)]) {
        const improved = twoOpt(pts, start);
        expect(pathLengthKm(pts, improved)).toBeLessThanOrEqual(pathLengthKm(pts, start) + 1e-9);
        expect(improved[0]).toBe(start[0]);
        expect([...improved].sort((a, b) => a - b)).toEqual(order.slice().sort((a, b) => a - b));
      }
    }
  });

  it('swaps the last two of three stops when that is shorter', () => {
    const pts = [p(0, 0), p(10, 0), p(5, 0)];
    expect(twoOpt(pts, [0, 1, 2])).toEqual([0, 2, 1]);
    expect(twoOpt(pts, [0, 2, 1])).toEqual([0, 2, 1]);
  });
});

describe('nearestNeighbourOrder', () => {
  it('walks to the closest unvisited stop each time', () => {
    const pts = [p(0, 0), p(100, 0), p(10, 0), p(30, 0)];
    expect(nearestNeighbourOrder(pts)).toEqual([0, 2, 3, 1]);
    expect(nearestNeighbourOrder(pts, 1)).toEqual([1, 3, 2, 0]);
    expect(nearestNeighbourOrder([])).toEqual([]);
  });
});

describe('planRoute', () => {
  it('visits every stop once, starting at the first, and reports the length', () => {
    const stops = [
      { id: 'a', ...p(0, 0) },
      { id: 'b', ...p(50, 0) },
      { id: 'c', ...p(10, 0) },
      { id: 'd', ...p(30, 0) },
    ];
    const route = planRoute(stops);
    expect(route.stops.map((s) => s.id)).toEqual(['a', 'c', 'd', 'b']);
    expect(route.distanceKm).toBeCloseTo(haversineKm(p(0, 0), p(50, 0)), 6);
  });

  it('starts from a depot and counts the leg to the first stop', () => {
    const stops = [
      { id: 'a', ...p(0, 0) },
      { id: 'b', ...p(50, 0) },
    ];
    const route = planRoute(stops, p(60, 0));
    expect(route.stops.map((s) => s.id)).toEqual(['b', 'a']);
    expect(route.distanceKm).toBeCloseTo(haversineKm(p(60, 0), p(0, 0)), 6);
  });

  it('is shorter than the stops in the order given for a scattered district', () => {
    const rng = mulberry32(7);
    const stops = Array.from({ length: 60 }, (_, i) => ({ id: String(i), lat: 52.35 + rng() * 0.05, lon: 4.85 + rng() * 0.08 }));
    const route = planRoute(stops);
    const given = pathLengthKm(stops, stops.map((_, i) => i));
    expect(route.distanceKm).toBeLessThan(given / 3);
    expect(new Set(route.stops.map((s) => s.id)).size).toBe(60);
    expect(route.stops[0]?.id).toBe('0');
  });

  it('handles no stops and one stop', () => {
    expect(planRoute([])).toEqual({ stops: [], distanceKm: 0 });
    expect(planRoute([{ lat: 1, lon: 2 }])).toEqual({ stops: [{ lat: 1, lon: 2 }], distanceKm: 0 });
  });
});
