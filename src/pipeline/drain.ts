/**
 * The write half of the pipeline: reads decided Outcomes from the spool, hands their points to the
 * InfluxDB writer and their dead letters to the dead-letter store, and acknowledges a spool record
 * only when every reading in it is either accepted by InfluxDB or stored as a dead letter. Until
 * then the record stays on disk, across outages and restarts.
 *
 * A points-only record (the common case) is not decoded: its lines go to the writer as the bytes
 * ingest encoded, with one object per record and none per line (docs/BENCHMARKS.md, "Where the time
 * goes", fix 1). Records with dead letters are decoded in full.
 */
import type { Logger } from '../observability/logger.js';
import type { DeadLetter } from '../ingest/types.js';
import { decodeOutcome, readPointsRecord, type PointsView } from '../ingest/outcome.js';
import type { PendingLines } from '../sink/influx/types.js';
import { ErrorCodes, type DeadLetterReason } from '../errors/catalog.js';

/**
 * One spool record in progress, and its lines for the writer (it is their `context`). A reading is
 * done when InfluxDB accepted it or its dead letter is committed; the record is acknowledged when
 * all `total` are done.
 */
class Tracker implements PendingLines {
  done = 0;
  /** Dead letters of this record waiting for a durable commit. */
  unflushed = 0;
  /** The record's topic, device and receive time, decoded once if InfluxDB refuses a line of it. */
  header: { readonly topic: string; readonly deviceId: string; readonly receivedAt: number } | undefined;
  readonly context: Tracker = this;

  constructor(
    readonly seq: number,
    /** The spool record, decoded again only if InfluxDB refuses one of its lines. */
    readonly record: Buffer,
    readonly type: string,
    readonly total: number,
    /** The record's lines: `count` of them in `data[start, end)`. */
    readonly data: Buffer,
    readonly start: number,
    readonly end: number,
    readonly count: number,
  ) {}
}

type SpoolItem = { readonly seq: number; readonly data: Buffer };

const NO_LINES = Buffer.alloc(0);

export interface DrainDeps {
  spool: {
    read(max: number): Promise<readonly { readonly seq: number; readonly data: Buffer }[]>;
    ack(seq: number): void;
  };
  writer: { add(lines: PendingLines): void; readonly pending: number };
  deadLetters: { add(d: DeadLetter): void; flush(): boolean };
  metrics: {
    countWritten(type: string, n: number): void;
    countDeadLettered(type: string | undefined, reason: DeadLetterReason): void;
  };
  log: Logger;
  /** Points held by the writer (buffered + in flight) before the drain reads more from the spool. */
  maxInFlight: number;
  /** Records read per spool read. */
  readBatch?: number;
  /**
   * Called before done records are released to the spool (at most every `releaseIntervalMs`, with
   * all that are done by then): the service saves the device state their readings changed
   * (last-seen times, latest readings), so that state is as durable as the readings. A record
   * released is gone; one not yet released is read again after a crash. Throws when it cannot
   * save: the records are kept and it is tried again.
   */
  beforeRelease?: () => void | Promise<void>;
  /** Longest a done record waits for `beforeRelease`; default 250 ms. */
  releaseIntervalMs?: number;
}

const DEAD_LETTER_RETRY_MS = 1000;
/** With no new messages coming in, a spool read this slow means it has nothing left. */
const IDLE_MS = 250;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SpoolDrain {
  private readonly deps: DrainDeps;
  private running = false;
  private loop: Promise<void> | undefined;
  /**
   * Resumes the loop while it waits (for a read, for the writer to have room, for a stop). One
   * promise per wait, settled by whichever comes first: never a race against a long-lived promise,
   * which would keep a reaction (and through it the records of every read) per wait until it
   * settles, i.e. for the life of the process (docs/BENCHMARKS.md, "Memory").
   */
  private resume: ((why: 'stop' | 'nudge' | 'room' | 'read' | 'idle') => void) | undefined;
  private finishBy: number | undefined;
  /** Readings of handed-out, unacknowledged records that are already done (for `pending`). */
  private doneInOpen = 0;
  private readonly awaitingFlush: Tracker[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Records with lines InfluxDB refused in this turn: their dead letters are committed together. */
  private readonly refused = new Set<Tracker>();
  /** Done records waiting for `beforeRelease`. */
  private completed: Tracker[] = [];
  private releaseTimer: NodeJS.Timeout | undefined;
  private releaseFailing = false;
  /** An asynchronous `beforeRelease` under way. */
  private releasing: Promise<void> | undefined;
  private readonly view: PointsView = { type: '', start: 0, count: 0 };

  constructor(deps: DrainDeps) {
    this.deps = deps;
  }

  /** Readings done in records that are not yet acknowledged; subtract from the spool's pending weight. */
  get doneInOpenRecords(): number {
    return this.doneInOpen;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /**
   * For a graceful stop, once no new messages arrive: keeps reading until the spool has nothing
   * more to hand out (idle for `IDLE_MS`) or `deadline` passes, then stops.
   */
  async finish(deadline: number): Promise<void> {
    this.finishBy = deadline;
    this.resume?.('nudge');
    await Promise.race([this.loop, sleep(Math.max(0, deadline - Date.now()))]);
    await this.stop();
  }

  /**
   * Stops reading from the spool; what was handed to the writer is the writer's to finish. Records
   * the spool hands out after this are never acknowledged, so they are read again at the next start.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.resume?.('stop');
    await this.loop;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.retryDeadLetterFlush();
    await this.releaseCompleted();
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
  }

  /**
   * Releases the done records now (after `beforeRelease`); the writer's stop calls this too. With a
   * `beforeRelease` that answers later (shared state in PostgreSQL), the records done at the call
   * are released once it resolves; records done meanwhile wait for the next call.
   */
  releaseCompleted(): Promise<void> {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    if (this.completed.length === 0) return this.releasing ?? Promise.resolve();
    if (this.releasing) {
      this.scheduleRelease();
      return this.releasing;
    }
    const done = this.completed;
    let saved: void | Promise<void>;
    try {
      saved = this.deps.beforeRelease?.();
    } catch (err) {
      this.releaseFailed(err);
      return Promise.resolve();
    }
    this.completed = [];
    if (!saved) {
      this.release(done);
      return Promise.resolve();
    }
    this.releasing = saved.then(
      () => this.release(done),
      (err: unknown) => {
        this.completed = done.concat(this.completed);
        this.releaseFailed(err);
      },
    ).finally(() => (this.releasing = undefined));
    return this.releasing;
  }

  private releaseFailed(err: unknown): void {
    if (!this.releaseFailing) this.deps.log.error({ err, code: ErrorCodes.RULE_STATE_IO.code, records: this.completed.length }, 'cannot save device state; spool records are kept until it can');
    this.releaseFailing = true;
    this.scheduleRelease();
  }

  private release(done: readonly Tracker[]): void {
    if (this.releaseFailing) this.deps.log.info('device state saved again; held spool records released');
    this.releaseFailing = false;
    for (const t of done) {
      this.doneInOpen -= t.total;
      this.deps.spool.ack(t.seq);
    }
  }

  /** Writer hook: InfluxDB accepted these lines (whole records' or pieces of them). */
  onWritten = (written: readonly PendingLines[]): void => {
    let type: string | undefined;
    let run = 0;
    for (const lines of written) {
      const t = lines.context as Tracker;
      if (t.type !== type) {
        if (type !== undefined) this.deps.metrics.countWritten(type, run);
        type = t.type;
        run = 0;
      }
      run += lines.count;
      this.done(t, lines.count);
    }
    if (type !== undefined && run > 0) this.deps.metrics.countWritten(type, run);
    this.resume?.('room');
  };

  /** Writer hook: InfluxDB refuses this line on its own; it becomes a dead letter. */
  onRejected = (rejected: PendingLines, message: string): void => {
    const t = rejected.context as Tracker;
    // Rare: the record's header is read again for the dead letter's topic, device and time, once
    // per record however many of its lines are refused.
    t.header ??= decodeOutcome(t.record);
    const { topic, deviceId, receivedAt } = t.header;
    this.deps.deadLetters.add({
      reason: 'influx_rejected',
      path: '',
      message: `InfluxDB refused the point: ${message}`,
      topic,
      deviceId,
      type: t.type,
      index: undefined,
      payload: rejected.data.toString('utf8', rejected.start, rejected.end).slice(0, 4096),
      receivedAt,
    });
    this.deps.metrics.countDeadLettered(t.type, 'influx_rejected');
    t.unflushed++;
    // The writer refuses a batch's lines one call each (1,000 for a batch beyond the retention
    // policy): one durable commit for all of them, after the writer's loop, not one each.
    if (this.refused.size === 0) {
      queueMicrotask(() => {
        const trackers = [...this.refused];
        this.refused.clear();
        this.flushDeadLetters(trackers);
      });
    }
    this.refused.add(t);
  };

  private async run(): Promise<void> {
    const { deps } = this;
    const max = deps.readBatch ?? 512;
    // One read at a time, kept across wake-ups: a read abandoned while the spool fills it would
    // take records out of this run (they would only come back at the next start).
    let reading: Promise<void> | undefined;
    let read: { items?: readonly SpoolItem[]; err?: unknown } | undefined;
    while (this.running) {
      if (deps.writer.pending >= deps.maxInFlight) {
        // Resumed by onWritten: the writer has room again.
        await this.wait();
        continue;
      }
      reading ??= deps.spool.read(max).then(
        (items) => {
          read = { items };
          this.resume?.('read');
        },
        (err: unknown) => {
          read = { err };
          this.resume?.('read');
        },
      );
      if (read === undefined) {
        const idle = this.finishBy === undefined ? undefined : setTimeout(() => this.resume?.('idle'), Math.min(IDLE_MS, Math.max(0, this.finishBy - Date.now())));
        const why = await this.wait();
        clearTimeout(idle);
        if (why === 'stop' || why === 'idle') break;
        if (read === undefined) continue;
      }
      const got: { items?: readonly SpoolItem[]; err?: unknown } = read;
      read = undefined;
      reading = undefined;
      if (got.err !== undefined) throw got.err;
      if (got.items!.length === 0) break;
      this.process(got.items!);
    }
  }

  /** Until something resumes the loop; every signal that could come meanwhile is checked first by the caller. */
  private wait(): Promise<'stop' | 'nudge' | 'room' | 'read' | 'idle'> {
    if (!this.running) return Promise.resolve('stop');
    return new Promise((resolve) => {
      this.resume = (why) => {
        this.resume = undefined;
        resolve(why);
      };
    });
  }

  private process(records: readonly { readonly seq: number; readonly data: Buffer }[]): void {
    const { deps } = this;
    const withDeadLetters: Tracker[] = [];
    const view = this.view;
    for (const rec of records) {
      const data = rec.data;
      if (readPointsRecord(data, view)) {
        deps.writer.add(new Tracker(rec.seq, data, view.type, view.count, data, view.start, data.length, view.count));
        continue;
      }
      let outcome;
      try {
        outcome = decodeOutcome(data);
      } catch (err) {
        // Cannot happen for records this version wrote; keep going rather than stall the spool.
        deps.log.error({ err, seq: rec.seq, code: ErrorCodes.SPOOL_RECORD.code }, 'unreadable spool record skipped');
        deps.spool.ack(rec.seq);
        continue;
      }
      const n = outcome.lines.length;
      const total = n + outcome.deadLetters.length;
      if (total === 0) {
        deps.spool.ack(rec.seq);
        continue;
      }
      const lines = n > 0 ? Buffer.from(outcome.lines.join('\n'), 'utf8') : NO_LINES;
      const tracker = new Tracker(rec.seq, data, outcome.type, total, lines, 0, lines.length, n);
      for (const d of outcome.deadLetters) {
        deps.deadLetters.add(d);
        deps.metrics.countDeadLettered(d.type, d.reason);
      }
      if (outcome.deadLetters.length) {
        tracker.unflushed = outcome.deadLetters.length;
        withDeadLetters.push(tracker);
      }
      if (n > 0) deps.writer.add(tracker);
    }
    if (withDeadLetters.length) this.flushDeadLetters(withDeadLetters);
  }

  /** Dead letters count as done only once committed; a failed commit is retried, the record kept. */
  private flushDeadLetters(trackers: Tracker[]): void {
    if (this.deps.deadLetters.flush()) {
      for (const t of trackers) this.flushed(t);
      for (const t of this.awaitingFlush.splice(0)) this.flushed(t);
      return;
    }
    this.awaitingFlush.push(...trackers);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.retryDeadLetterFlush();
    }, DEAD_LETTER_RETRY_MS);
  }

  private retryDeadLetterFlush(): void {
    if (this.awaitingFlush.length) this.flushDeadLetters([]);
  }

  private flushed(t: Tracker): void {
    const n = t.unflushed;
    t.unflushed = 0;
    if (n > 0) this.done(t, n);
  }

  private done(t: Tracker, n: number): void {
    t.done += n;
    this.doneInOpen += n;
    if (t.done !== t.total) return;
    if (this.deps.beforeRelease === undefined) {
      this.doneInOpen -= t.total;
      this.deps.spool.ack(t.seq);
      return;
    }
    // Still counted as done-but-open (`pending` excludes it) until it is released.
    this.completed.push(t);
    this.scheduleRelease();
  }

  private scheduleRelease(): void {
    this.releaseTimer ??= setTimeout(() => void this.releaseCompleted(), this.deps.releaseIntervalMs ?? 250);
  }
}
