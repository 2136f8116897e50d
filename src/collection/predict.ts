/**
 * When will a bin reach its threshold? A straight line through the recent samples of its current
 * fill cycle (least squares, with one pass that drops outliers), extrapolated to the threshold.
 *
 * A line is a deliberate simplification: real bins fill faster by day than by night and faster on
 * some weekdays, so over a 24 h window the fitted rate is roughly the daily mean. The prediction is
 * only trusted when the line rises clearly above the noise; a flat or falling series gives none.
 */
import type { FillSample } from './fill-history.js';

const HOUR_MS = 3_600_000;

/** Knobs of {@link fitFillRate}; the defaults suit a bin reporting every 15 minutes. */
export interface FitOptions {
  /** Only samples this close to the newest are used. Default 24 h. */
  readonly windowMs?: number;
  /** Fewer samples than this: no fit. Default 4. */
  readonly minSamples?: number;
  /** Samples spanning less than this: no fit. Default 1 h. */
  readonly minSpanMs?: number;
  /** A rate below this (fill ratio per hour) counts as not filling. Default 0.002 (500 h from empty to full). */
  readonly minRatePerHour?: number;
  /** The slope must be this many standard errors above zero. Default 3. */
  readonly minTStat?: number;
}

/** A fitted straight line through a bin's recent samples. */
export interface FillFit {
  /** Fill ratio per hour. */
  readonly ratePerHour: number;
  /** The line's level at {@link lastTimeMs}: the current level with the sensor's jitter smoothed out. */
  readonly levelAtLast: number;
  /** Device time of the newest sample. */
  readonly lastTimeMs: number;
  /** Standard error of the rate, per hour. */
  readonly rateStdErr: number;
  /** Samples the line was fitted to (after outliers were dropped). */
  readonly used: number;
}

/** The outcome for one bin. */
export type FillPrediction =
  /** At or over the threshold already. */
  | { readonly kind: 'due'; readonly level: number; readonly ratePerHour: number | undefined; readonly lastTimeMs: number }
  /** Rising: reaches the threshold at `fullAtMs`. */
  | { readonly kind: 'rising'; readonly level: number; readonly ratePerHour: number; readonly fullAtMs: number; readonly lastTimeMs: number }
  /** No trustworthy prediction. */
  | { readonly kind: 'none'; readonly reason: 'no-samples' | 'too-few-samples' | 'not-filling'; readonly level: number | undefined; readonly lastTimeMs: number | undefined };

interface Line {
  slope: number;
  intercept: number;
  /** Residual standard deviation. */
  sigma: number;
  /** Σ (t − t̄)². */
  sxx: number;
  n: number;
}

/** Ordinary least squares of level on time (hours from `t0`). Undefined for fewer than 2 distinct times. */
function leastSquares(samples: readonly FillSample[], t0: number): Line | undefined {
  const n = samples.length;
  if (n < 2) return undefined;
  let st = 0;
  let sy = 0;
  for (const s of samples) {
    st += (s.timeMs - t0) / HOUR_MS;
    sy += s.level;
  }
  const mt = st / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (const s of samples) {
    const dt = (s.timeMs - t0) / HOUR_MS - mt;
    sxx += dt * dt;
    sxy += dt * (s.level - my);
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const intercept = my - slope * mt;
  let sse = 0;
  for (const s of samples) {
    const r = s.level - (intercept + slope * ((s.timeMs - t0) / HOUR_MS));
    sse += r * r;
  }
  return { slope, intercept, sigma: n > 2 ? Math.sqrt(sse / (n - 2)) : 0, sxx, n };
}

/** Residuals below this never count as outliers: about the jitter of an ultrasonic fill sensor. */
const MIN_OUTLIER_RESIDUAL = 0.03;

/**
 * Fits a line to the samples of one fill cycle (oldest first) within `windowMs` of the newest.
 * One robust step: samples further than 3 robust standard deviations (1.4826 × median absolute
 * residual, at least {@link MIN_OUTLIER_RESIDUAL}) from the first line are dropped and the line is
 * fitted again, so a single bad echo (a bag on the sensor, a bird) does not tilt it.
 * Undefined when there are too few samples or they span too little time.
 */
export function fitFillRate(samples: readonly FillSample[], opts: FitOptions = {}): FillFit | undefined {
  const last = samples.at(-1);
  if (!last) return undefined;
  const from = last.timeMs - (opts.windowMs ?? 24 * HOUR_MS);
  const recent = samples.filter((s) => s.timeMs >= from);
  const minSamples = Math.max(2, opts.minSamples ?? 4);
  if (recent.length < minSamples) return undefined;
  if (last.timeMs - (recent[0] as FillSample).timeMs < (opts.minSpanMs ?? HOUR_MS)) return undefined;
  const t0 = last.timeMs;
  let line = leastSquares(recent, t0);
  if (!line) return undefined;
  const first = line;
  const residuals = recent.map((s) => Math.abs(s.level - (first.intercept + first.slope * ((s.timeMs - t0) / HOUR_MS))));
  const sorted = [...residuals].sort((a, b) => a - b);
  const mad = sorted[Math.floor(sorted.length / 2)] as number;
  const limit = Math.max(3 * 1.4826 * mad, MIN_OUTLIER_RESIDUAL);
  const kept = recent.filter((_, i) => (residuals[i] as number) <= limit);
  if (kept.length < recent.length && kept.length >= minSamples) line = leastSquares(kept, t0) ?? line;
  return {
    ratePerHour: line.slope,
    // t0 is the newest sample, so the intercept is the line's level there.
    levelAtLast: line.intercept,
    lastTimeMs: last.timeMs,
    rateStdErr: line.n > 2 ? line.sigma / Math.sqrt(line.sxx) : Infinity,
    used: line.n,
  };
}

/**
 * Predicts when a bin reaches `threshold` from the samples of its current fill cycle (oldest first).
 *
 * - `due` when the newest reading or the fitted current level is at or over the threshold (the
 *   newest reading is what the collection rule raises on, so a bin with an open request is due);
 * - `rising` with the time the fitted line crosses the threshold, when the rate is at least
 *   `minRatePerHour` and `minTStat` standard errors above zero;
 * - `none` otherwise: no samples, too few, or not (clearly) filling.
 */
export function predictFull(samples: readonly FillSample[], threshold: number, opts: FitOptions = {}): FillPrediction {
  const last = samples.at(-1);
  if (!last) return { kind: 'none', reason: 'no-samples', level: undefined, lastTimeMs: undefined };
  const fit = fitFillRate(samples, opts);
  const level = clamp01(fit?.levelAtLast ?? last.level);
  if (last.level >= threshold || (fit && fit.levelAtLast >= threshold)) {
    return { kind: 'due', level: Math.max(level, last.level), ratePerHour: fit?.ratePerHour, lastTimeMs: last.timeMs };
  }
  if (!fit) return { kind: 'none', reason: 'too-few-samples', level: last.level, lastTimeMs: last.timeMs };
  const minRate = opts.minRatePerHour ?? 0.002;
  const minT = opts.minTStat ?? 3;
  if (!(fit.ratePerHour >= minRate && fit.ratePerHour >= minT * fit.rateStdErr)) {
    return { kind: 'none', reason: 'not-filling', level, lastTimeMs: last.timeMs };
  }
  const fullAtMs = last.timeMs + ((threshold - fit.levelAtLast) / fit.ratePerHour) * HOUR_MS;
  return { kind: 'rising', level, ratePerHour: fit.ratePerHour, fullAtMs, lastTimeMs: last.timeMs };
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
