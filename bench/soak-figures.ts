/**
 * What a soak (soak.ts) makes of its samples: the slope of the live memory after the warm-up, its
 * growth, the flat figures of `bench --json`, the targets and the report's rows. No I/O here.
 */
import { round } from './proc-stats.js';

export const SOAK_MODES = ['multiplexed', 'per-device'] as const;
export type SoakMode = (typeof SOAK_MODES)[number];

/** Gateway connections of the multiplexed mode (the lab measurement that found the leak used 20). */
export const SOAK_GATEWAYS = 20;

/** One sample: the service's memory and counters at `t` seconds after the whole fleet was connected. */
export interface SoakSample {
  /** Seconds since the fleet was connected; negative for the idle sample taken before it connected. */
  t: number;
  /** V8 heap in use after a full collection, MB (10^6 bytes). */
  heapLiveMb: number;
  /** Buffers and other memory outside the V8 heap after a full collection, MB. */
  externalLiveMb: number;
  /** Resident set size, MB. */
  rssMb: number;
  received: number;
  written: number;
  /** Readings received but not yet written (a backlog holds memory that is not leaked). */
  pending: number;
  connections: number;
  ticketTransitions: number;
  webhooksDelivered: number;
}

/** What one soak of one mode measured. */
export interface SoakRun {
  mode: SoakMode;
  devices: number;
  /** Readings per second offered (devices ÷ interval) and received after the warm-up. */
  offeredPerS: number;
  readingsPerS: number;
  seconds: number;
  warmupSeconds: number;
  /** Least-squares slope of the samples from the end of the warm-up on, MB per minute. */
  slopeMbPerMin: number;
  heapSlopeMbPerMin: number;
  externalSlopeMbPerMin: number;
  rssSlopeMbPerMin: number;
  /** Heap + external at the last sample minus at the first sample after the warm-up, MB. */
  growthAfterWarmupMb: number;
  /**
   * The slope of heap + external with the backlog's share taken out ({@link slopeBesideBacklog}),
   * MB per minute; and that share, MB per 1,000 readings pending.
   */
  slopeBesideBacklogMbPerMin: number;
  backlogMbPerThousand: number;
  /** Before the fleet connected (the catalog loaded, nothing else), and at the last sample. */
  idle: SoakSample;
  end: SoakSample;
  rssMaxMb: number;
  /** POSTs the webhook receiver answered. */
  webhooksReceived: number;
  samples: SoakSample[];
}

/** Least-squares slope of y over x. NaN with fewer than two points. */
export function leastSquaresSlope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : Number.NaN;
}

/**
 * The slope over time of heap + external (MB per minute) beside the backlog: the least-squares fit
 * of live = a + b·t + c·pending over the samples after the warm-up, b (and c, MB per 1,000 readings
 * pending). A pipeline that falls behind holds the readings it has not written yet (the spool keeps
 * up to 64 MiB of records in memory, the writer up to 8 batches, the broker what it has not parsed):
 * beside a CPU hog a backlog of 20,000 readings came and went within seconds and moved the live set
 * by up to 40 MB, which a plain slope over 40 s reads as growth or shrinkage. A leak grows with time
 * whatever the backlog. When the backlog does not vary, or varies in step with time (nothing then
 * tells them apart), this is the plain slope and `separated` is false.
 */
export function slopeBesideBacklog(samples: readonly SoakSample[], warmupSeconds: number): { slope: number; mbPerThousand: number; separated: boolean } {
  const after = samples.filter((s) => s.t >= warmupSeconds - 0.5);
  const n = after.length;
  const plain = { slope: round(leastSquaresSlope(after.map((s) => [s.t / 60, liveMb(s)])), 2), mbPerThousand: Number.NaN, separated: false };
  if (n < 4) return plain;
  const mean = (f: (s: SoakSample) => number) => after.reduce((a, s) => a + f(s), 0) / n;
  const mt = mean((s) => s.t / 60);
  const mp = mean((s) => s.pending / 1000);
  const my = mean(liveMb);
  let stt = 0;
  let spp = 0;
  let stp = 0;
  let sty = 0;
  let spy = 0;
  for (const s of after) {
    const t = s.t / 60 - mt;
    const p = s.pending / 1000 - mp;
    const y = liveMb(s) - my;
    stt += t * t;
    spp += p * p;
    stp += t * p;
    sty += t * y;
    spy += p * y;
  }
  const det = stt * spp - stp * stp;
  // Correlation of time and backlog above 0.9: the fit cannot say which of them the memory follows.
  if (spp === 0 || det <= 0.19 * stt * spp) return plain;
  return { slope: round((spp * sty - stp * spy) / det, 2), mbPerThousand: round((stt * spy - stp * sty) / det, 2), separated: true };
}

/** Heap + external, MB. */
export const liveMb = (s: SoakSample): number => s.heapLiveMb + s.externalLiveMb;

/**
 * The slopes (MB per minute) over the samples from the end of the warm-up on, and heap + external at
 * the last sample minus at the first of those.
 */
export function growthAfterWarmup(samples: readonly SoakSample[], warmupSeconds: number): { slope: number; heap: number; external: number; rss: number; growth: number } {
  // The first sample at or after the warm-up's end (the sampler may be a little late, never early).
  const after = samples.filter((s) => s.t >= warmupSeconds - 0.5);
  const slopeOf = (value: (s: SoakSample) => number) => round(leastSquaresSlope(after.map((s) => [s.t / 60, value(s)])), 2);
  return {
    slope: slopeOf(liveMb),
    heap: slopeOf((s) => s.heapLiveMb),
    external: slopeOf((s) => s.externalLiveMb),
    rss: slopeOf((s) => s.rssMb),
    growth: after.length >= 2 ? round(liveMb(after.at(-1)!) - liveMb(after[0]!), 1) : Number.NaN,
  };
}

/** A soak's figures from its samples (at least one); `idle` is the sample taken before the fleet connected. */
export function summarise(
  run: { mode: SoakMode; devices: number; offeredPerS: number; seconds: number; warmupSeconds: number },
  idle: SoakSample,
  samples: readonly SoakSample[],
  webhooks: number,
): SoakRun {
  const g = growthAfterWarmup(samples, run.warmupSeconds);
  const b = slopeBesideBacklog(samples, run.warmupSeconds);
  const after = samples.filter((s) => s.t >= run.warmupSeconds - 0.5);
  const first = after[0] ?? samples[0]!;
  const last = samples.at(-1)!;
  return {
    ...run,
    readingsPerS: last.t > first.t ? Math.round((last.received - first.received) / (last.t - first.t)) : Number.NaN,
    slopeMbPerMin: g.slope,
    heapSlopeMbPerMin: g.heap,
    externalSlopeMbPerMin: g.external,
    rssSlopeMbPerMin: g.rss,
    growthAfterWarmupMb: g.growth,
    slopeBesideBacklogMbPerMin: b.slope,
    backlogMbPerThousand: b.mbPerThousand,
    idle,
    end: last,
    rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    webhooksReceived: webhooks,
    samples: [...samples],
  };
}

/** Per mode, the flat keys of `bench --json` (mode `per-device` as `per_device`). */
const FIGURES = {
  devices: (r: SoakRun) => r.devices,
  readings_per_s: (r: SoakRun) => r.readingsPerS,
  slope_mb_per_min: (r: SoakRun) => r.slopeMbPerMin,
  growth_after_warmup_mb: (r: SoakRun) => r.growthAfterWarmupMb,
  slope_beside_backlog_mb_per_min: (r: SoakRun) => r.slopeBesideBacklogMbPerMin,
  heap_slope_mb_per_min: (r: SoakRun) => r.heapSlopeMbPerMin,
  external_slope_mb_per_min: (r: SoakRun) => r.externalSlopeMbPerMin,
  rss_slope_mb_per_min: (r: SoakRun) => r.rssSlopeMbPerMin,
  heap_live_mb_idle: (r: SoakRun) => r.idle.heapLiveMb,
  external_live_mb_idle: (r: SoakRun) => r.idle.externalLiveMb,
  rss_mb_idle: (r: SoakRun) => r.idle.rssMb,
  heap_live_mb_end: (r: SoakRun) => r.end.heapLiveMb,
  external_live_mb_end: (r: SoakRun) => r.end.externalLiveMb,
  rss_mb_end: (r: SoakRun) => r.end.rssMb,
  rss_mb_max: (r: SoakRun) => r.rssMaxMb,
  ticket_transitions: (r: SoakRun) => r.end.ticketTransitions,
  webhooks_delivered: (r: SoakRun) => r.webhooksReceived,
} as const;

type ModeKey = 'multiplexed' | 'per_device';

/**
 * The soak's part of `bench --json`: per mode (`multiplexed`, `per_device`), `soak_<mode>_<figure>`
 * for each figure of {@link FIGURES} (MB are 10^6 bytes; slopes in MB per minute over the samples
 * after the warm-up; `growth_after_warmup_mb` = heap + external at the end minus at the end of the
 * warm-up; `_idle` before the fleet connected, `_end` at the last sample), NaN (null) when not run;
 * and `soak_runs`, every sample of every run.
 */
export type SoakFigures = { [K in `soak_${ModeKey}_${keyof typeof FIGURES}`]: number } & {
  soak_readings_per_s_offered: number;
  soak_warmup_s: number;
  soak_runs: SoakRun[];
};

export function soakFigures(runs: readonly SoakRun[] | undefined, sizes: { soakReadingsPerS: number; soakWarmupSeconds: number }): SoakFigures {
  const out: Record<string, unknown> = { soak_readings_per_s_offered: runs ? sizes.soakReadingsPerS : Number.NaN, soak_warmup_s: runs ? sizes.soakWarmupSeconds : Number.NaN, soak_runs: runs ?? [] };
  for (const mode of SOAK_MODES) {
    const run = runs?.find((r) => r.mode === mode);
    for (const [key, value] of Object.entries(FIGURES)) out[`soak_${mode.replace('-', '_')}_${key}`] = run ? value(run) : Number.NaN;
  }
  return out as SoakFigures;
}

/** The issue's targets: heap + external flat after the warm-up, in both modes. */
export const TARGET_SOAK_SLOPE_MB_PER_MIN = 1;
export const TARGET_SOAK_GROWTH_MB = 20;

export function soakTargets(r: SoakFigures): { name: string; goal: string; measured: string; met: boolean }[] {
  const out = [];
  for (const mode of SOAK_MODES) {
    const key = mode.replace('-', '_') as ModeKey;
    const slope = r[`soak_${key}_slope_mb_per_min`];
    const growth = r[`soak_${key}_growth_after_warmup_mb`];
    const warmup = Number.isNaN(r.soak_warmup_s) ? 'the warm-up' : `${r.soak_warmup_s} s`;
    out.push(
      {
        name: `soak, ${mode}: slope of live heap + external after ${warmup}`,
        goal: `< ${TARGET_SOAK_SLOPE_MB_PER_MIN} MB/min`,
        measured: Number.isNaN(slope) ? 'not run' : `${slope} MB/min`,
        met: slope < TARGET_SOAK_SLOPE_MB_PER_MIN,
      },
      {
        name: `soak, ${mode}: live heap + external at the end minus after ${warmup}`,
        goal: `≤ ${TARGET_SOAK_GROWTH_MB} MB`,
        measured: Number.isNaN(growth) ? 'not run' : `${growth} MB`,
        met: growth <= TARGET_SOAK_GROWTH_MB,
      },
    );
  }
  return out;
}

/** Markdown: one row per mode for the report's table, and the samples. */
export function formatSoak(r: SoakFigures): { rows: string[]; details: string[] } {
  const rows: string[] = [];
  const details: string[] = [];
  for (const run of r.soak_runs) {
    rows.push(
      `| soak, ${run.mode}: ${run.devices.toLocaleString('en-US')} devices ${run.mode === 'multiplexed' ? `over ${SOAK_GATEWAYS} gateway connections (lab mode)` : 'on their own authenticated connections'}, ` +
        `${run.offeredPerS.toLocaleString('en-US')} readings/s for ${run.seconds} s, rules and webhook delivery running | ` +
        `heap + external ${run.slopeMbPerMin} MB/min after ${run.warmupSeconds} s, ${run.growthAfterWarmupMb} MB from then to the end | ` +
        `live heap / external / RSS: idle ${run.idle.heapLiveMb} / ${run.idle.externalLiveMb} / ${run.idle.rssMb} MB, end ${run.end.heapLiveMb} / ${run.end.externalLiveMb} / ${run.end.rssMb} MB ` +
        `(RSS ${run.rssSlopeMbPerMin} MB/min, max ${run.rssMaxMb} MB); ${run.readingsPerS.toLocaleString('en-US')} readings/s received; ` +
        `${run.end.ticketTransitions} ticket transitions, ${run.webhooksReceived} webhooks delivered |`,
    );
  }
  if (r.soak_runs.length > 0) {
    details.push('Soak samples (live heap + external, MB, after a forced full collection; RSS, MB):');
    details.push('');
    details.push(`| t (s) | ${r.soak_runs.map((run) => `${run.mode}: heap + external | RSS`).join(' | ')} |`);
    details.push(`|---:|${r.soak_runs.map(() => '---:|---:').join('|')}|`);
    const times = r.soak_runs[0]!.samples.map((s) => s.t);
    for (const [i, t] of times.entries()) {
      details.push(`| ${Math.round(t)} | ${r.soak_runs.map((run) => (run.samples[i] ? `${round(liveMb(run.samples[i]), 1)} | ${run.samples[i].rssMb}` : ' | ')).join(' | ')} |`);
    }
  }
  return { rows, details };
}
