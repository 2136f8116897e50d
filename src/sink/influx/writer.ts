/**
 * Batches points and writes them through a PointSink, retrying until InfluxDB accepts them.
 *
 * Flow of lines: `add()` → the open batch → (full, or `flushIntervalMs` after its first line) a
 * ready batch → one of `concurrency` delivery slots → `onWritten` once InfluxDB accepted it. Nothing
 * is dropped on the way: retryable failures are retried without a cap. A refused batch (400, 422,
 * 413) is narrowed down to the lines InfluxDB refuses: first by what its message says (every line,
 * the N oldest beyond a retention policy, the lines of a field type conflict, the lines it could not
 * parse; see refused-lines.ts), sending that group and the rest as requests of their own so that
 * InfluxDB's answers confirm it; by bisection only where the message names no lines. A batch is
 * done only when each of its lines was either accepted or refused, which is what a durable spool in
 * front of this needs to acknowledge.
 *
 * Lines stay the bytes they were added as (a spool record's, see PendingLines) until the request
 * body is built: one Buffer, one copy of each line, no per-line objects or strings.
 */
import { CitypipeError, ErrorCodes, type ErrorCode } from '../../errors/catalog.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import { pickRefused, readRefusal } from './refused-lines.js';
import { halves, joinRuns, requestBody, singleLines, splitLines } from './pending-lines.js';
import type { PendingLines, PointSink } from './types.js';

/** One request's outcome, for metrics. */
export interface BatchOutcome {
  /** Lines in the request (a bisected half counts as its own request). */
  readonly lines: number;
  readonly durationMs: number;
  readonly ok: boolean;
  /** The catalog code of the failure; undefined on success or for an unexpected error. */
  readonly code?: ErrorCode | undefined;
}

/** Everything an InfluxWriter needs; only `sink` is required. */
export interface InfluxWriterOptions {
  sink: PointSink;
  log?: Logger;
  /** Where the sink writes, for log lines; default: the sink's `url` when it has one. */
  target?: string;
  /** Lines per request (an added PendingLines is split at a line to fill a batch exactly); default 5000. */
  batchSize?: number;
  /** A batch is sent at the latest this long after its first point; default 1000 ms. */
  flushIntervalMs?: number;
  /** Requests in flight at once; default 2. */
  concurrency?: number;
  /**
   * Requests in flight at once while full batches wait (a backlog after an outage, a burst); default
   * three times `concurrency`. InfluxDB spends part of each request waiting on its disk, so a backlog
   * drains faster with more of them: a drain after a 5-minute outage took 329 ms per request with 4
   * in flight and 328 ms with 6, and drained at 52,902 and 69,163 readings/s (docs/BENCHMARKS.md).
   */
  backlogConcurrency?: number;
  /** `isFull()` is true from this many pending lines on; default 500 000. */
  maxPending?: number;
  /** First retry delay, doubled per attempt (with jitter) up to `retryMaxMs`; default 250 ms. */
  retryInitialMs?: number;
  /** Cap of the retry delay (a longer Retry-After is still honoured); default 30 s. */
  retryMaxMs?: number;
  /** A failure that goes on is logged again at most this often; default 30 s. */
  failureLogIntervalMs?: number;
  /**
   * InfluxDB accepted these lines. Each is an added PendingLines or a piece of one (same `data` and
   * `context`, its own `start`, `end` and `count`): count lines by `count`.
   */
  onWritten?: (written: readonly PendingLines[]) => void;
  /** InfluxDB refuses this one line (`count` 1); `message` is InfluxDB's answer to a request that held it. */
  onRejected?: (line: PendingLines, message: string) => void;
  /** After every request, for metrics. */
  onBatch?: (outcome: BatchOutcome) => void;
}

interface Failing {
  readonly since: number;
  lastLogAt: number;
  failures: number;
}

/** A batch: its pieces and their lines. */
interface Batch {
  readonly items: PendingLines[];
  lines: number;
}

interface Sleep {
  timer: NodeJS.Timeout;
  wake: () => void;
  /** The server asked for this wait (Retry-After): `retryNow()` does not cut it short. */
  asked: boolean;
}

/**
 * The batching, retrying write stage over a PointSink. `start()` before the sources, `stop()` after
 * them; `add()` is the hot path (an array push and a length check).
 */
export class InfluxWriter {
  private readonly sink: PointSink;
  private readonly log: Logger;
  private readonly target: string | undefined;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly concurrency: number;
  private readonly backlogConcurrency: number;
  private readonly maxPending: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly failureLogIntervalMs: number;
  private readonly hooks: Pick<InfluxWriterOptions, 'onWritten' | 'onRejected' | 'onBatch'>;

  /** The batch being filled. */
  private open: Batch = { items: [], lines: 0 };
  /** The open batch has waited `flushIntervalMs`: send it as soon as a slot is free. */
  private openDue = false;
  private openTimer: NodeJS.Timeout | undefined;
  /** Full batches waiting for a slot. */
  private readonly ready: Batch[] = [];
  private inFlight = 0;
  private pendingCount = 0;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<number> | undefined;
  /** stop() ran out of time: retries end, no new batch starts. */
  private abandoned = false;
  private readonly sleeps = new Set<Sleep>();
  private drainedWaiters: (() => void)[] = [];
  private failing: Failing | undefined;
  private lastError: unknown;

  constructor(opts: InfluxWriterOptions) {
    this.sink = opts.sink;
    this.log = (opts.log ?? silentLogger).child({ stage: 'influx-writer' });
    const sinkUrl = (opts.sink as { url?: unknown }).url;
    this.target = opts.target ?? (typeof sinkUrl === 'string' ? sinkUrl : undefined);
    this.batchSize = opts.batchSize ?? 5000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.concurrency = opts.concurrency ?? 2;
    this.backlogConcurrency = Math.max(this.concurrency, opts.backlogConcurrency ?? this.concurrency * 3);
    this.maxPending = opts.maxPending ?? 500_000;
    this.retryInitialMs = opts.retryInitialMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
    this.failureLogIntervalMs = opts.failureLogIntervalMs ?? 30_000;
    this.hooks = { onWritten: opts.onWritten, onRejected: opts.onRejected, onBatch: opts.onBatch };
  }

  /** Lines added and not yet accepted or refused by InfluxDB (buffered + in flight + retrying). */
  get pending(): number {
    return this.pendingCount;
  }

  /** True when callers should stop adding (refuse publishes) until `pending` drains. */
  isFull(): boolean {
    return this.pendingCount >= this.maxPending;
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    if (this.open.lines > 0) this.armOpenTimer();
    this.pump();
  }

  /**
   * Queues lines (`count` ≥ 1). Never drops: check `isFull()` first to apply backpressure. Throws
   * after `stop()` began, because such lines could not be flushed anymore. The writer keeps `data`
   * until the lines are done: do not modify it.
   */
  add(lines: PendingLines): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new Error('InfluxWriter.add() after stop()');
    if (lines.count <= 0) return;
    this.pendingCount += lines.count;
    let rest: PendingLines | undefined = lines;
    while (rest !== undefined) {
      const open = this.open;
      // Always > 0: a batch is closed as soon as it is full.
      const room = this.batchSize - open.lines;
      let piece: PendingLines = rest;
      rest = undefined;
      // Fill this batch exactly; the rest starts the next one.
      if (piece.count > room) [piece, rest] = splitLines(piece, room);
      open.items.push(piece);
      open.lines += piece.count;
      if (open.lines >= this.batchSize) {
        this.closeOpen();
        this.pump();
      } else if (open.items.length === 1 && this.state === 'running') {
        this.armOpenTimer();
      }
    }
  }

  /**
   * Flushes everything and keeps retrying until `timeoutMs`. Resolves with the number of points that
   * were not written (0 when all were), after logging them as an error.
   */
  stop(timeoutMs = 10_000): Promise<number> {
    this.stopping ??= this.stopNow(timeoutMs);
    return this.stopping;
  }

  private async stopNow(timeoutMs: number): Promise<number> {
    this.state = 'stopping';
    this.openDue = true;
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => (this.pendingCount === 0 ? resolve(true) : this.drainedWaiters.push(() => resolve(true)))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    this.state = 'stopped';
    if (drained) return 0;
    this.abandoned = true;
    for (const s of this.sleeps) s.wake();
    const unwritten = this.pendingCount;
    const err = this.lastError;
    // Not lost: nothing was acknowledged to the caller for these points (the spool keeps them).
    this.log.warn(
      { code: err instanceof CitypipeError ? err.code : undefined, url: this.target, unwritten, timeoutMs },
      `${unwritten} points not written to InfluxDB before the stop timeout (${timeoutMs} ms); they were not acknowledged` +
        (err instanceof Error ? `; last error: ${err.message}` : ''),
    );
    return unwritten;
  }

  private armOpenTimer(): void {
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      this.openTimer = undefined;
      this.openDue = true;
      this.pump();
    }, this.flushIntervalMs);
  }

  private closeOpen(): void {
    clearTimeout(this.openTimer);
    this.openTimer = undefined;
    this.openDue = false;
    this.ready.push(this.open);
    this.open = { items: [], lines: 0 };
  }

  /**
   * Starts deliveries while slots are free: full batches first, then the open batch if its time is
   * up. While all slots are busy the open batch keeps filling, so an outage ends in full-size
   * batches rather than in many small ones.
   */
  private pump(): void {
    if (this.state === 'new' || this.abandoned) return;
    while (this.inFlight < (this.ready.length > 0 && this.inFlight >= this.concurrency ? this.backlogConcurrency : this.concurrency)) {
      if (this.ready.length === 0) {
        if (!this.openDue || this.open.lines === 0) return;
        this.closeOpen();
      }
      const batch = this.ready.shift()!;
      this.inFlight++;
      void this.deliver(batch.items, batch.lines).then(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** Resolves when every line of `items` was accepted or refused, or stop() gave up. */
  private async deliver(items: PendingLines[], lines: number): Promise<void> {
    const body = requestBody(items);
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let error: unknown;
      try {
        await this.sink.writeBody(body);
      } catch (err) {
        error = err ?? new Error('write failed');
      }
      const durationMs = performance.now() - started;
      const code = error instanceof CitypipeError ? error.code : undefined;
      this.call('onBatch', () => this.hooks.onBatch?.({ lines, durationMs, ok: error === undefined, code }));

      if (error === undefined) {
        this.recovered();
        this.settle(lines);
        this.call('onWritten', () => this.hooks.onWritten?.(items));
        return;
      }
      if (code === ErrorCodes.INFLUX_REJECTED.code || code === ErrorCodes.INFLUX_TOO_LARGE.code) {
        const message = (error as CitypipeError).message;
        if (lines === 1) {
          this.settle(1);
          this.call('onRejected', () => this.hooks.onRejected?.(items[0]!, message));
          return;
        }
        if (code === ErrorCodes.INFLUX_REJECTED.code && (await this.setApart(items, lines, message))) return;
        // Resending the half InfluxDB already took is harmless: a point with the same measurement,
        // tags and time overwrites itself.
        const [first, second] = halves(items, lines);
        await this.deliver(first, lines >>> 1);
        await this.deliver(second, lines - (lines >>> 1));
        return;
      }
      this.lastError = error;
      if (this.abandoned) return;
      const delayMs = this.retryDelay(attempt, error);
      this.failed(error, delayMs);
      await this.sleep(delayMs, error instanceof CitypipeError && (error.retryAfterMs ?? 0) >= delayMs);
      if (this.abandoned) return;
    }
  }

  /**
   * Settles a refused request by what InfluxDB's `message` says about its lines; false when it says
   * nothing this can use, and the caller bisects. A group found by reasoning (the N oldest, the lines
   * of a conflicting field) is not taken on trust: InfluxDB 1.x reports one shard's error of several
   * and hides parse errors behind a write error, and 2.x may keep none of a batch it answers 422.
   * So the group and the rest are sent again on their own, one request each, and their answers
   * decide, each narrowed the same way. Both are smaller than this request, so this ends; resending
   * what InfluxDB already wrote is harmless (a point overwrites itself).
   */
  private async setApart(items: PendingLines[], lines: number, message: string): Promise<boolean> {
    const refusal = readRefusal(message);
    if (refusal.dropped === lines) {
      // Every line sent was dropped: nothing is left to tell apart.
      this.reject(singleLines(items, lines), () => message);
      return true;
    }
    if (refusal.cause === 'other') return false;
    const each = singleLines(items, lines);
    const refused = pickRefused(
      refusal,
      each.map((l) => l.data.toString('utf8', l.start, l.end)),
    );
    if (refused === undefined) return false;
    const { indexes, messages } = refused;
    if (indexes.length === lines) {
      // Only lines InfluxDB named one by one are certain; a group that is all of them is not.
      if (messages === undefined) return false;
      this.reject(each, (i) => messages[i]!);
      return true;
    }
    const group: PendingLines[] = [];
    const rest: PendingLines[] = [];
    for (let i = 0, k = 0; i < each.length; i++) {
      if (indexes[k] === i) {
        group.push(each[i]!);
        k++;
      } else {
        rest.push(each[i]!);
      }
    }
    await this.deliver(joinRuns(group), group.length);
    await this.deliver(joinRuns(rest), rest.length);
    return true;
  }

  /** Hands each of `lines` (single lines) to onRejected, with InfluxDB's words about the i-th. */
  private reject(lines: readonly PendingLines[], messageOf: (i: number) => string): void {
    this.settle(lines.length);
    lines.forEach((line, i) => this.call('onRejected', () => this.hooks.onRejected?.(line, messageOf(i))));
  }

  /** Exponential backoff with jitter (half fixed, half random), but never sooner than Retry-After. */
  private retryDelay(attempt: number, error: unknown): number {
    const backoff = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.min(attempt, 30));
    const jittered = backoff / 2 + Math.random() * (backoff / 2);
    const retryAfterMs = error instanceof CitypipeError ? (error.retryAfterMs ?? 0) : 0;
    return Math.max(jittered, retryAfterMs);
  }

  private settle(n: number): void {
    this.pendingCount -= n;
    if (this.pendingCount === 0 && this.drainedWaiters.length > 0) {
      const waiters = this.drainedWaiters;
      this.drainedWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Logs a failure when it begins and then at most every `failureLogIntervalMs`. */
  private failed(error: unknown, retryInMs: number): void {
    const now = Date.now();
    const code = error instanceof CitypipeError ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    const f = this.failing;
    if (f === undefined) {
      this.failing = { since: now, lastLogAt: now, failures: 1 };
      this.log.warn(
        { code, url: this.target, retryInMs: Math.round(retryInMs), pending: this.pendingCount },
        `writing to InfluxDB failed, retrying (points are kept): ${message}`,
      );
      return;
    }
    f.failures++;
    if (now - f.lastLogAt >= this.failureLogIntervalMs) {
      f.lastLogAt = now;
      this.log.warn(
        { code, url: this.target, retryInMs: Math.round(retryInMs), failingForMs: now - f.since, failures: f.failures, pending: this.pendingCount },
        `writing to InfluxDB still failing, retrying (points are kept): ${message}`,
      );
    }
  }

  private recovered(): void {
    const f = this.failing;
    if (f === undefined) return;
    this.failing = undefined;
    this.log.info(
      { url: this.target, failedForMs: Date.now() - f.since, failures: f.failures, pending: this.pendingCount },
      'writing to InfluxDB recovered',
    );
  }

  /**
   * InfluxDB answers again (the service's readiness ping saw it): retry failed batches now instead
   * of at the end of their backoff. Waits the server asked for with Retry-After are kept.
   */
  retryNow(): void {
    for (const s of [...this.sleeps]) if (!s.asked) s.wake();
  }

  private sleep(ms: number, asked = false): Promise<void> {
    return new Promise((resolve) => {
      const s: Sleep = {
        asked,
        timer: setTimeout(() => s.wake(), ms),
        wake: () => {
          clearTimeout(s.timer);
          this.sleeps.delete(s);
          resolve();
        },
      };
      this.sleeps.add(s);
    });
  }

  /** A throwing hook must not stall deliveries or take the process down. */
  private call(hook: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, hook }, `InfluxWriter ${hook} hook threw; continuing`);
    }
  }
}
