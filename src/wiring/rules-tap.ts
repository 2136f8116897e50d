/**
 * Feeds the consumers of stored readings (registered in dispatch.ts: the rules stage, the latest
 * readings, the fill history) in the order readings were stored, without waiting for InfluxDB: live readings as soon as their spool record is durable, and
 * after a restart the recovered records as the drain reads them (their evaluation may have been cut
 * off by the stop; evaluating a reading twice is a no-op, the engine skips device times it has seen).
 *
 * Readings are evaluated in batches: what became durable within BATCH_MS (or BATCH_MAX readings,
 * whichever comes first) is one batch, so each consumer's SQLite transaction is paid per batch, not
 * per reading. That delays a rule event by at most BATCH_MS.
 */
import type { Logger } from '../observability/logger.js';
import type { Outcome } from '../ingest/outcome.js';
import type { RuleInput } from '../dispatch/types.js';
import { readingFromLine } from '../sink/influx/line-protocol-reader.js';
import { ErrorCodes } from '../errors/catalog.js';

/** Longest a stored reading waits for the rules. */
const BATCH_MS = 25;
/** A queue this long is evaluated at once. */
const BATCH_MAX = 5000;

export interface RulesTapOptions {
  /** Called with each batch, in stored order. A throw is logged and the batch is not retried. */
  consumers: readonly ((batch: readonly RuleInput[]) => void)[];
  log: Logger;
}

export class RulesTap {
  private readonly opts: RulesTapOptions;
  private readonly consumers: ((batch: readonly RuleInput[]) => void)[];
  private queue: RuleInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Stored lines that could not be read back (recovered records only). */
  unreadable = 0;

  constructor(opts: RulesTapOptions) {
    this.opts = opts;
    this.consumers = [...opts.consumers];
  }

  /** One more consumer, called after the others (e.g. what residents see is made again after the rules ran). */
  addConsumer(consume: (batch: readonly RuleInput[]) => void): void {
    this.consumers.push(consume);
  }

  /** A live outcome, once its spool record is durable. */
  stored(outcome: Outcome): void {
    const { readings, district } = outcome;
    if (!readings || district === undefined || readings.length === 0) return;
    for (const r of readings) {
      this.queue.push({ type: r.type, deviceId: r.deviceId, district, timeMs: r.timeMs, receivedAt: outcome.receivedAt, fields: r.fields });
    }
    this.schedule();
  }

  /** A record recovered from before the last stop (decoded: lines only). */
  recovered(outcome: Outcome): void {
    if (!outcome.type || outcome.lines.length === 0) return;
    for (const line of outcome.lines) {
      const r = readingFromLine(line);
      if (r) this.queue.push({ type: outcome.type, deviceId: r.deviceId, district: r.district, timeMs: r.timeMs, receivedAt: outcome.receivedAt, fields: r.fields });
      else this.unreadable++;
    }
    this.schedule();
  }

  /** Evaluates what is queued now (also used at stop). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    for (const consume of this.consumers) {
      try {
        consume(batch);
      } catch (err) {
        // A rules or ticket failure must never stop ingest; the readings are stored either way.
        this.failures++;
        this.opts.log.error({ err, readings: batch.length, failures: this.failures, code: ErrorCodes.DISPATCH.code }, 'dispatch could not evaluate a batch of stored readings');
      }
    }
  }

  private schedule(): void {
    if (this.queue.length >= BATCH_MAX) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }
}
