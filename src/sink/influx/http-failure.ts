/**
 * How both sinks turn a failed InfluxDB request into a `CitypipeError`: one mapping, so v1 and v2
 * report the same code for the same situation (the contract suite checks it), and every message
 * says what the user can do about it.
 */
import { CitypipeError, ErrorCodes } from '../../errors/catalog.js';

/** Where a sink writes; used to make messages actionable. */
export interface SinkTarget {
  readonly api: 'v1' | 'v2';
  /** Base URL of the server, without credentials. */
  readonly url: string;
  /** `database` / `database/rp` (v1) or the bucket (v2). */
  readonly bucket: string;
}

/** A non-2xx answer. */
export interface HttpFailure {
  readonly status: number;
  readonly body: string;
  /** The raw Retry-After header, if any. */
  readonly retryAfter: string | null | undefined;
}

const START_HINT = 'is InfluxDB running? Start it with `sudo systemctl start influxdb` or point CITYPIPE_INFLUX_URL at it';

/**
 * InfluxDB's own words from an error body: `{"error": …}` (1.x), `{"message": …}` (2.x, 3.x), or the
 * text itself (proxies, VictoriaMetrics), trimmed and bounded.
 */
export function serverMessage(body: string): string {
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as { error?: unknown; message?: unknown };
      if (typeof json.error === 'string' && json.error) return json.error;
      if (typeof json.message === 'string' && json.message) return json.message;
    } catch {
      // not JSON after all; use the text
    }
  }
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Maps an HTTP status (and InfluxDB's body) to the catalog. */
export function failureError(target: SinkTarget, f: HttpFailure): CitypipeError {
  const msg = serverMessage(f.body);
  const said = msg ? `: ${msg}` : '';
  const where = `InfluxDB at ${target.url}`;
  const retryAfterMs = parseRetryAfter(f.retryAfter);
  const s = f.status;
  if (s === 400 || s === 422) {
    // The writer hands this message to dead letters, so it is InfluxDB's own, unadorned.
    return new CitypipeError(ErrorCodes.INFLUX_REJECTED, msg || `${where} rejected the batch (${s})`);
  }
  if (s === 401 || s === 403) {
    const creds = target.api === 'v1' ? 'CITYPIPE_INFLUX_TOKEN (`user:password` for v1)' : 'CITYPIPE_INFLUX_TOKEN';
    return new CitypipeError(
      ErrorCodes.INFLUX_AUTH,
      `${where} refused the credentials (${s}${said}); check ${creds} and that it may write to "${target.bucket}"`,
    );
  }
  if (s === 404) {
    const hint =
      target.api === 'v1'
        ? `create the database (\`CREATE DATABASE "${target.bucket.split('/')[0]}"\`) or fix CITYPIPE_INFLUX_BUCKET`
        : /bucket|org/i.test(msg)
          ? 'check CITYPIPE_INFLUX_BUCKET and CITYPIPE_INFLUX_ORG'
          : 'it has no /api/v2/write endpoint; for InfluxDB before 1.8 set CITYPIPE_INFLUX_API=v1';
    return new CitypipeError(ErrorCodes.INFLUX_NOT_FOUND, `${where} answered 404${said}; ${hint}`);
  }
  if (s === 413) {
    return new CitypipeError(
      ErrorCodes.INFLUX_TOO_LARGE,
      `${where} refused the request as too large (413${said}); lower the batch size or raise the server's max body size`,
    );
  }
  if (s === 429) {
    return new CitypipeError(ErrorCodes.INFLUX_THROTTLED, `${where} asked to slow down (429${said}); writes will be retried`, {
      retryAfterMs,
    });
  }
  if (s === 408) {
    return new CitypipeError(ErrorCodes.INFLUX_TIMEOUT, `${where} timed out the request (408${said}); writes will be retried`, {
      retryAfterMs,
    });
  }
  if (s >= 500) {
    return new CitypipeError(
      ErrorCodes.INFLUX_SERVER,
      `${where} failed with ${s}${said}; check the InfluxDB log, writes will be retried`,
      { retryAfterMs },
    );
  }
  // Anything else (405, 3xx that fetch did not follow, …) is most likely a wrong URL; keep the data
  // and keep retrying rather than dead-letter it.
  return new CitypipeError(
    ErrorCodes.INFLUX_SERVER,
    `${where} answered an unexpected ${s}${said}; check CITYPIPE_INFLUX_URL and CITYPIPE_INFLUX_API, writes will be retried`,
    { retryAfterMs },
  );
}

/** A request that got no HTTP answer: timed out, or the connection failed. */
export function networkError(target: SinkTarget, cause: unknown, timedOut: boolean, timeoutMs: number): CitypipeError {
  if (timedOut) {
    return new CitypipeError(
      ErrorCodes.INFLUX_TIMEOUT,
      `InfluxDB at ${target.url} did not answer within ${timeoutMs} ms; it may be overloaded, writes will be retried`,
      { cause },
    );
  }
  return new CitypipeError(
    ErrorCodes.INFLUX_UNREACHABLE,
    `InfluxDB at ${target.url} cannot be reached (${describeCause(cause)}); ${START_HINT}`,
    { cause },
  );
}

/** `ECONNREFUSED` and friends, dug out of fetch's `TypeError: fetch failed` wrapper. */
function describeCause(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    e = e.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The server's base URL without credentials or trailing slash, for request URLs, messages and logs. */
export function publicBaseUrl(url: string): string {
  const base = new URL(url);
  base.username = '';
  base.password = '';
  return base.href.replace(/\/+$/, '');
}
