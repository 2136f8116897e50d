/**
 * A value computed at most once per interval, whatever the number of callers: for aggregates over a
 * whole table that open or frequent routes show (dead letters by reason, open tickets by device), so
 * that their cost per second is bounded by the clock, not by the request rate.
 */
export function atMostEvery<T>(maxAgeMs: number, compute: () => T, now: () => number = Date.now): () => T {
  let value: T | undefined;
  let at = -Infinity;
  return () => {
    const t = now();
    if (value === undefined || t - at >= maxAgeMs) {
      value = compute();
      at = t;
    }
    return value;
  };
}
