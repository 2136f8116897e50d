/**
 * Test fixture: waste bins that fill at a known, constant rate, so a test can say from the
 * parameters alone (not from the code under test) when each bin reaches its threshold. Readings
 * carry the jitter of an ultrasonic sensor and are rounded as devices send them.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { RuleInput } from '../../dispatch/types.js';
import { normal, type Rng } from '../../../simulators/prng.js';

export const HOUR_MS = 3_600_000;

/** A bin's true fill trajectory: emptied to `levelAfter` at `emptiedAtMs`, then rising at `ratePerHour`. */
export interface KnownFill {
  readonly device: DeviceRecord;
  readonly emptiedAtMs: number;
  readonly levelAfter: number;
  readonly ratePerHour: number;
  /** The level just before the emptying (when that is inside the simulated time). */
  readonly levelBefore: number;
}

/** True level at `t` (capped at 1: a full bin stays full). */
export function trueLevel(bin: KnownFill, t: number): number {
  if (t < bin.emptiedAtMs) return Math.max(0, Math.min(1, bin.levelBefore - bin.ratePerHour * ((bin.emptiedAtMs - t) / HOUR_MS)));
  return Math.min(1, bin.levelAfter + bin.ratePerHour * ((t - bin.emptiedAtMs) / HOUR_MS));
}

/** Hours from `now` until the true trajectory reaches `threshold`: 0 when it is there already, Infinity for a flat bin. */
export function trueHoursToReach(bin: KnownFill, threshold: number, now: number): number {
  const level = trueLevel(bin, now);
  if (level >= threshold) return 0;
  if (bin.ratePerHour <= 0) return Infinity;
  return (threshold - level) / bin.ratePerHour;
}

/**
 * Every bin's readings from `fromMs` to `toMs`, one per `intervalMs` at a per-bin phase, as stored
 * batches of `batchMs` (devices interleaved, each batch in time order).
 */
export function simulateReadings(bins: readonly KnownFill[], fromMs: number, toMs: number, rng: Rng, opts: { intervalMs?: number; batchMs?: number; noise?: number } = {}): RuleInput[][] {
  const intervalMs = opts.intervalMs ?? 15 * 60_000;
  const batchMs = opts.batchMs ?? HOUR_MS;
  const noise = opts.noise ?? 0.008;
  const all: RuleInput[] = [];
  for (const bin of bins) {
    const phase = Math.floor(rng() * intervalMs);
    for (let t = fromMs + phase; t <= toMs; t += intervalMs) {
      const level = Math.min(1, Math.max(0, trueLevel(bin, t) + noise * normal(rng)));
      all.push({
        type: 'waste-bin',
        deviceId: bin.device.id,
        district: bin.device.district,
        timeMs: t,
        receivedAt: t + 2000,
        fields: { fillingLevel: Math.round(level * 1000) / 1000, temperature: 14.5, status: 'ok' },
      });
    }
  }
  all.sort((a, b) => a.timeMs - b.timeMs || (a.deviceId < b.deviceId ? -1 : 1));
  const batches: RuleInput[][] = [];
  for (const r of all) {
    const k = Math.floor((r.timeMs - fromMs) / batchMs);
    (batches[k] ??= []).push(r);
  }
  return batches.filter((b) => b !== undefined);
}
