/**
 * PointSink for InfluxDB 1.x before 1.8: `POST /write?db=&rp=&precision=ms` over global fetch.
 * (1.8+, 2.x and 3.x take the v2 sink.)
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { CitypipeError, ErrorCodes } from '../../errors/catalog.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import { failureError, networkError, publicBaseUrl, serverMessage, type SinkTarget } from './http-failure.js';
import type { PointSink } from './types.js';

const gzip = promisify(gzipCb);
/**
 * Level 1, not zlib's default 6: on citypipe's line protocol it is about 3 × cheaper (1.8 instead of
 * 6 ms per 5,000 lines here) for bodies about 12 % larger (84 instead of 75 KiB), and that CPU is
 * taken from the same cores as ingest (docs/BENCHMARKS.md, "Where the time goes").
 */
const GZIP_OPTIONS = { level: 1 } as const;

/** Where and how the v1 sink writes; from CITYPIPE_INFLUX_* via the config module. */
export interface V1SinkOptions {
  /** Base URL, e.g. `http://127.0.0.1:8086`. */
  url: string;
  /** `database` or `database/retention-policy`. */
  bucket: string;
  /** `user:password` (sent as HTTP basic auth); absent when auth is off. */
  token?: string | undefined;
  /** Per request, including reading the answer; default 10 s. */
  timeoutMs?: number;
  /** Request bodies larger than this many bytes are gzipped; default 1000. */
  gzipThreshold?: number;
  log?: Logger;
}

/** PointSink over InfluxDB 1.x `/write`. */
export class V1InfluxSink implements PointSink {
  readonly api = 'v1' as const;
  /** The server's base URL without credentials, for messages and logs. */
  readonly url: string;
  private readonly target: SinkTarget;
  private readonly writeUrl: string;
  private readonly database: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly gzipThreshold: number;
  private readonly log: Logger;

  constructor(opts: V1SinkOptions) {
    this.url = publicBaseUrl(opts.url);
    this.target = { api: 'v1', url: this.url, bucket: opts.bucket };
    const slash = opts.bucket.indexOf('/');
    this.database = slash < 0 ? opts.bucket : opts.bucket.slice(0, slash);
    const params = new URLSearchParams({ db: this.database, precision: 'ms' });
    if (slash >= 0) params.set('rp', opts.bucket.slice(slash + 1));
    this.writeUrl = `${this.url}/write?${params}`;
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (opts.token) {
      // InfluxDB 1.x takes basic auth; a token without a colon is passed as a `Token`, which 1.x
      // instances behind the 2.x compatibility API (and 1.8+) accept.
      this.headers.authorization = opts.token.includes(':')
        ? `Basic ${Buffer.from(opts.token).toString('base64')}`
        : `Token ${opts.token}`;
    }
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.gzipThreshold = opts.gzipThreshold ?? 1000;
    this.log = (opts.log ?? silentLogger).child({ stage: 'influx-v1' });
  }

  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.writeBody(Buffer.from(lines.join('\n')));
  }

  async writeBody(body: Buffer): Promise<void> {
    if (body.length === 0) return;
    let headers = this.headers;
    if (body.length > this.gzipThreshold) {
      body = await gzip(body, GZIP_OPTIONS);
      headers = { ...this.headers, 'content-encoding': 'gzip' };
    }
    await this.request(this.writeUrl, { method: 'POST', headers, body });
  }

  async ping(): Promise<void> {
    await this.request(`${this.url}/ping`, { method: 'GET', headers: this.headers });
  }

  /**
   * `CREATE DATABASE` (a no-op when it exists). Without admin rights InfluxDB refuses; the database
   * may still exist, so that is logged and not fatal. Unreachable or failing servers throw.
   */
  async prepare(): Promise<void> {
    const q = `CREATE DATABASE "${this.database.replace(/["\\]/g, '\\$&')}"`;
    const headers = { ...this.headers, 'content-type': 'application/x-www-form-urlencoded' };
    let text: string;
    try {
      text = await this.request(`${this.url}/query`, { method: 'POST', headers, body: new URLSearchParams({ q }).toString() });
    } catch (err) {
      if (err instanceof CitypipeError && err.code === ErrorCodes.INFLUX_AUTH.code) {
        this.log.warn({ code: err.code, url: this.url, database: this.database }, `cannot create the database: ${err.message}; assuming it exists`);
        return;
      }
      throw err;
    }
    const error = statementError(text);
    if (error === undefined) return;
    if (/authoriz|permission|admin/i.test(error)) {
      this.log.warn({ url: this.url, database: this.database }, `cannot create the database (${error}); assuming it exists`);
      return;
    }
    throw failureError(this.target, { status: 400, body: error, retryAfter: undefined });
  }

  async close(): Promise<void> {
    // fetch's pooled connections belong to the process-wide dispatcher; nothing of ours to release.
  }

  /** Sends one request; resolves with the response text on 2xx, throws the mapped CitypipeError otherwise. */
  private async request(url: string, init: { method: string; headers: Record<string, string>; body?: Buffer | string }): Promise<string> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(url, { ...init, signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      // Read the whole answer even on success, so the keep-alive connection can be reused.
      text = await res.text();
    } catch (err) {
      throw networkError(this.target, err, signal.aborted, this.timeoutMs);
    }
    if (status >= 200 && status < 300) return text;
    throw failureError(this.target, { status, body: text, retryAfter });
  }
}

/** The first statement error in an InfluxQL JSON answer, if any. */
function statementError(text: string): string | undefined {
  try {
    const json = JSON.parse(text) as { error?: string; results?: { error?: string }[] };
    return json.error ?? json.results?.find((r) => r.error)?.error;
  } catch {
    return text ? serverMessage(text) : undefined;
  }
}
