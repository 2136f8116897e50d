/**
 * The write path to InfluxDB. Two implementations of `PointSink` (v1 `/write`, v2 through
 * @influxdata/influxdb-client) share one contract test suite; `InfluxWriter` batches and retries
 * over either.
 */

/** One point on its way to InfluxDB, with what a dead letter needs if InfluxDB refuses it. */
export interface PendingPoint {
  /** One line of line protocol, ms precision, no trailing newline. */
  readonly line: string;
  readonly type: string;
  readonly deviceId: string;
  readonly topic: string;
  readonly receivedAt: number;
}

/**
 * Sends one batch of line protocol. Throws `CitypipeError` with a catalog code: retryable for
 * network errors, timeouts, 429 and 5xx (with `retryAfterMs` when the server sent Retry-After);
 * not retryable (`CP_ERR_INFLUX_REJECTED`) for a 400, whose message is InfluxDB's own.
 */
export interface PointSink {
  readonly api: 'v1' | 'v2';
  /** Writes newline-joined lines; resolves when InfluxDB accepted all of them. */
  write(lines: readonly string[]): Promise<void>;
  /** Resolves when the server answers its health/ping endpoint; throws CitypipeError otherwise. */
  ping(): Promise<void>;
  /** Creates the database when the API and credentials allow it (v1); a no-op elsewhere. */
  prepare(): Promise<void>;
  close(): Promise<void>;
}
