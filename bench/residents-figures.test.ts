import { describe, expect, it } from 'vitest';
import { median, pubackP99, pubackP99PerSlice } from './puback-devices.js';
import { formatResidents, pubackWithinBound, residentsFigures, residentsTargets, type ResidentsRun, type Throughput } from './residents-figures.js';

const fast = (perS: number, cpuUsPerAnswer: number): Throughput => ({ perS, statuses: { 200: perS }, cpuUsPerAnswer, clientCpuPct: 80, p50Ms: 1, p99Ms: 5, from: 0, to: 1000 });

const run: ResidentsRun = {
  devices: 300,
  outages: 16,
  bodyBytes: [12_011, 4_359, 13_571, 10_804],
  maxConnections: 64,
  connections: 8,
  raw200: fast(10_000, 50),
  res200: fast(8_000, 80),
  raw304: fast(15_000, 30),
  res304: fast(12_000, 60),
  rate: 1000,
  windows: 3,
  achievedPerS: 1001,
  pacedStatuses: { 200: 1500, 304: 1500 },
  pacedP50Ms: 1.2,
  pacedP99Ms: 6,
  pubackWithout: [4, 5, 30, 4.5].map((p99) => ({ p99, n: 500 })),
  pubackWith: [6, 5.5, 40].map((p99) => ({ p99, n: 500 })),
  pubackWithRaw: [5, 5.2, 6].map((p99) => ({ p99, n: 500 })),
  pubackAtMax200: 90,
  pubackAtRawMax200: 20,
};

describe('residents figures', () => {
  it('the PUBACK bound: 20 % over, or 8 ms over, the higher of no load and the control', () => {
    expect(pubackWithinBound(50, 50, 60)).toBe(true);
    expect(pubackWithinBound(50, 50, 60.1)).toBe(false);
    expect(pubackWithinBound(30, 30, 38)).toBe(true);
    expect(pubackWithinBound(30, 30, 38.1)).toBe(false);
    expect(pubackWithinBound(4.5, 4, 12.5)).toBe(true);
    expect(pubackWithinBound(4.5, 4, 12.6)).toBe(false);
    // The machine was busy: the same load on a bare server cost the devices 4 ms, or 16 ms.
    expect(pubackWithinBound(4.5, 8.5, 16.5)).toBe(true);
    expect(pubackWithinBound(4.5, 8.5, 16.6)).toBe(false);
    expect(pubackWithinBound(28, 44, 52.8)).toBe(true);
    expect(pubackWithinBound(28, 44, 53.9)).toBe(false);
  });

  it('p99 of the samples published within a window, and the median of the windows', () => {
    const samples = Array.from({ length: 300 }, (_, i) => ({ at: i, ms: i < 200 ? i / 100 : 100 + i }));
    expect(pubackP99(samples, { from: 0, to: 200 })).toEqual({ p99: 1.98, n: 200 });
    expect(pubackP99(samples, { from: 1000, to: 2000 }).n).toBe(0);
    // Slices of a window: 300 ms in slices of about 100 ms; a window of 260 ms in three of ~87 ms.
    expect(pubackP99PerSlice(samples, [{ from: 0, to: 300 }], 100)).toEqual([
      { p99: 0.99, n: 100 },
      { p99: 1.99, n: 100 },
      { p99: 399, n: 100 },
    ]);
    expect(pubackP99PerSlice(samples, [{ from: 0, to: 260 }, { from: 1000, to: 1040 }], 100).map((w) => w.n)).toEqual([87, 87, 86, 0]);
    // One window spoiled by other work on the machine moves neither median.
    expect(median(run.pubackWithout.map((w) => w.p99))).toBe(4.75);
    expect(median(run.pubackWith.map((w) => w.p99))).toBe(6);
  });

  it('flat figures: ratios to the raw server, medians of the windows; a phase not run is NaN and reports not run', () => {
    const f = residentsFigures(run);
    expect(f).toMatchObject({
      residents_200_vs_raw: 0.8,
      residents_304_vs_raw: 0.8,
      residents_puback_p99_ms_without: 4.75,
      residents_puback_p99_ms_with: 6,
      residents_puback_p99_ms_with_raw: 5.2,
    });
    expect(residentsTargets(f)).toEqual([expect.objectContaining({ measured: '4.75 → 6 ms (+26 %; raw server 5.2 ms)', met: true })]);
    const none = residentsFigures(undefined);
    expect(none.residents_200_per_s).toBeNaN();
    expect(none.residents_run).toBeNull();
    expect(residentsTargets(none)).toEqual([expect.objectContaining({ measured: 'not run', met: false })]);
    expect(formatResidents(none)).toEqual([]);
  });

  it('report rows name the load and the baseline', () => {
    const rows = formatResidents(residentsFigures(run));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toContain("| residents' routes, 200: one client, 64 keep-alive connections");
    expect(rows[0]).toContain('80 % of a bare node:http server');
    expect(rows[2]).toContain('4.75 ms without → 6 ms with');
  });
});
