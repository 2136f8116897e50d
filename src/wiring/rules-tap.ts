/**
 * Feeds the rules stage (and anything else that acts on stored readings) in the order readings were
 * stored, without waiting for InfluxDB: live readings as soon as their spool record is durable, and
 * after a restart the recovered records as the drain reads them (their evaluation may have been cut
 * off by the stop; evaluating a reading twice is a no-op, the engine skips device times it has seen).
 *
 * Readings that became durable in the same event-loop turn are evaluated as one batch on the next
 * turn, so a group commit of hundreds of records costs one rules transaction.
 */
import type { Logger } from '../observability/logger.js';
import type { Outcome } from '../ingest/outcome.js';
import type { RuleInput } from '../dispatch/types.js';
import { readingFromLine } from './stored-readings.js';
import { ErrorCodes } from '../errors/catalog.js';

export interface RulesTapOptions {
  /** Called with each batch, in stored order. A throw is logged and the batch is not retried. */
  consumers: readonly ((batch: readonly RuleInput[]) => void)[];
  log: Logger;
}

export class RulesTap {
  private readonly opts: RulesTapOptions;
  private queue: RuleInput[] = [];
  private scheduled = false;
  private failures = 0;
  /** Stored lines that could not be read back (recovered records only). */
  unreadable = 0;

  constructor(opts: RulesTapOptions) {
    this.opts = opts;
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
      const input = readingFromLine(line, outcome.type, outcome.receivedAt);
      if (input) this.queue.push(input);
      else this.unreadable++;
    }
    this.schedule();
  }

  /** Evaluates what is queued now (also used at stop). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    for (const consume of this.opts.consumers) {
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
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}
