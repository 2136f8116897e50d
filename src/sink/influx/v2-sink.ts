/**
 * PointSink for `/api/v2/write` (InfluxDB 2.x, 3.x, 1.8+) through @influxdata/influxdb-client.
 *
 * Why the client's transport and not its WriteApi: the WriteApi owns data once handed over, and
 * loses it in ways our caller cannot see. Reading its source (1.35, src/impl/WriteApiImpl.ts and
 * RetryBuffer.ts): it splits what we give it into `batchSize`/`maxBatchBytes` chunks and swallows the
 * errors of every chunk but the last (`flush().catch(() => {})` in WriteBuffer.add); its RetryBuffer
 * drops the oldest lines beyond `maxBufferLines` and gives up after `maxRetryTime`; it turns an
 * Enterprise "hinted handoff queue not empty" error into success; a closed WriteApi ignores pending
 * retries; and it reads Retry-After `1` as 1 ms. Even with maxRetries 0 and no flush interval, the
 * chunking remains. `InfluxDB.transport.request()` sends exactly one request for exactly our lines
 * and rejects with the client's `HttpError` (status, body, Retry-After header) on any non-2xx, so
 * batching and retrying stay in one place, InfluxWriter, whose batch is done only when InfluxDB
 * accepted it. We still use the client for what it is good at: auth, gzip (`gzipThreshold`) and
 * error parsing.
 */
import { HttpError, InfluxDB, RequestTimedOutError, type Transport } from '@influxdata/influxdb-client';
import { failureError, networkError, publicBaseUrl, type SinkTarget } from './http-failure.js';
import type { PointSink } from './types.js';

/** Where and how the v2 sink writes; from CITYPIPE_INFLUX_* via the config module. */
export interface V2SinkOptions {
  /** Base URL, e.g. `http://127.0.0.1:8086`. */
  url: string;
  /** Organization (InfluxDB 2.x); ignored by 1.8 and 3.x. */
  org?: string | undefined;
  /** Bucket (2.x), database (3.x) or `database/retention-policy` (1.8). */
  bucket: string;
  /** API token; `user:password` for 1.8 with auth on. */
  token?: string | undefined;
  /** Per request, including reading the answer; default 10 s. */
  timeoutMs?: number;
  /** Request bodies larger than this many bytes are gzipped; default 1000. */
  gzipThreshold?: number;
}

/** PointSink over `/api/v2/write`, one client request per `write()`. */
export class V2InfluxSink implements PointSink {
  readonly api = 'v2' as const;
  /** The server's base URL without credentials, for messages and logs. */
  readonly url: string;
  private readonly target: SinkTarget;
  private readonly transport: Transport;
  private readonly writePath: string;
  private readonly timeoutMs: number;
  private readonly gzipThreshold: number;

  constructor(opts: V2SinkOptions) {
    this.url = publicBaseUrl(opts.url);
    this.target = { api: 'v2', url: this.url, bucket: opts.bucket };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.gzipThreshold = opts.gzipThreshold ?? 1000;
    // The client's own socket timeout reports but does not end the request, so the AbortSignal
    // below (which destroys it) is the one that acts; this one is only a backstop.
    this.transport = new InfluxDB({ url: opts.url, token: opts.token, timeout: this.timeoutMs * 2 }).transport;
    // 2.x needs the org; 1.8 and 3.x ignore it, and an empty `org=` would make 2.x refuse every write.
    const params = new URLSearchParams({ bucket: opts.bucket, precision: 'ms' });
    if (opts.org) params.set('org', opts.org);
    this.writePath = `/api/v2/write?${params}`;
  }

  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.request(this.writePath, lines.join('\n'), 'POST');
  }

  async writeBody(body: Buffer): Promise<void> {
    if (body.length === 0) return;
    // The client's transport takes text (it encodes and gzips it itself).
    await this.request(this.writePath, body.toString('utf8'), 'POST');
  }

  /** `GET /ping`: 1.8, 2.x and 3.x all answer it (2.x's `/health` is not in 1.8). */
  async ping(): Promise<void> {
    await this.request('/ping', '', 'GET');
  }

  /** Buckets are created by an operator (they carry retention and an org); nothing to do here. */
  async prepare(): Promise<void> {}

  async close(): Promise<void> {
    // The transport uses node's global agent; there is nothing of ours to release.
  }

  private async request(path: string, body: string, method: 'GET' | 'POST'): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      await this.transport.request(
        path,
        body,
        { method, headers: { 'content-type': 'text/plain; charset=utf-8' }, gzipThreshold: this.gzipThreshold, signal },
      );
    } catch (err) {
      if (err instanceof HttpError) {
        const retryAfter = err.headers?.['retry-after'];
        throw failureError(this.target, {
          status: err.statusCode,
          body: err.body ?? '',
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        });
      }
      throw networkError(this.target, err, signal.aborted || err instanceof RequestTimedOutError, this.timeoutMs);
    }
  }
}
