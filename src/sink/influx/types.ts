/**
 * The write path to InfluxDB. Two implementations of `PointSink` (v1 `/write`, v2 through
 * @influxdata/influxdb-client) share one contract test suite; `InfluxWriter` batches and retries
 * over either.
 */

/**
 * Lines on their way to InfluxDB, as bytes: `count` lines of line protocol (ms precision,
 * newline-separated, no trailing newline) in `data[start, end)`. The drain hands over the bytes of
 * a spool record as they are, so a reading's line is encoded once, at ingest, and copied once more,
 * into the request body (docs/BENCHMARKS.md, "Where the time goes", fix 1).
 */
export interface PendingLines {
  readonly data: Buffer;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  /** The adder's own (what a dead letter needs, say); handed back in the writer's hooks, never read. */
  readonly context: unknown;
}

/** One line of text as PendingLines, for callers that have strings rather than spool bytes. */
export function pendingLine(line: string, context?: unknown): PendingLines {
  const data = Buffer.from(line, 'utf8');
  return { data, start: 0, end: data.length, count: 1, context };
}

/**
 * Sends one batch of line protocol. Throws `CitypipeError` with a catalog code: retryable for
 * network errors, timeouts, 429 and 5xx (with `retryAfterMs` when the server sent Retry-After);
 * not retryable (`CP_ERR_INFLUX_REJECTED`) for a 400 or a 422 (InfluxDB 2.x's partial write), whose
 * message is InfluxDB's own: InfluxWriter reads it to find the refused lines (refused-lines.ts).
 */
export interface PointSink {
  readonly api: 'v1' | 'v2';
  /** Writes newline-joined lines; resolves when InfluxDB accepted all of them. */
  write(lines: readonly string[]): Promise<void>;
  /** The same for a request body that is already newline-separated line protocol (not empty). */
  writeBody(body: Buffer): Promise<void>;
  /** Resolves when the server answers its health/ping endpoint; throws CitypipeError otherwise. */
  ping(): Promise<void>;
  /** Creates the database when the API and credentials allow it (v1); a no-op elsewhere. */
  prepare(): Promise<void>;
  close(): Promise<void>;
}
