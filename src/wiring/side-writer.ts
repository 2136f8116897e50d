/**
 * Writes citypipe's own points to InfluxDB beside the readings: rule events (from the durable event
 * log, marked written only once InfluxDB accepted them), self-monitoring and the collection plan.
 * These do not pass through the spool: they are not readings and do not count in
 * received = written + dead-lettered + pending. A failed write is retried on the next tick; events
 * wait in the event log meanwhile, self-monitoring points of a failed tick are dropped (the next
 * tick has fresher ones).
 */
import type { Logger } from '../observability/logger.js';

export interface SideSource {
  readonly name: string;
  /** Lines to write now, and what to call once InfluxDB has them. */
  take(): { lines: readonly string[]; written?: () => void } | undefined;
}

export interface SideWriterOptions {
  write(lines: readonly string[]): Promise<void>;
  sources: readonly SideSource[];
  intervalMs: number;
  log: Logger;
}

export class SideWriter {
  private readonly opts: SideWriterOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(opts: SideWriterOptions) {
    this.opts = opts;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Writes what the sources have now; concurrent calls share one run. */
  tick(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async run(): Promise<void> {
    for (const source of this.opts.sources) {
      // Drain a source in chunks until it has nothing more (events after an outage can be many).
      for (let round = 0; round < 100; round++) {
        const batch = source.take();
        if (!batch || batch.lines.length === 0) break;
        try {
          await this.opts.write(batch.lines);
          batch.written?.();
          if (this.failing) this.opts.log.info({ source: source.name }, 'InfluxDB takes citypipe\'s own points again');
          this.failing = false;
        } catch (err) {
          if (!this.failing) this.opts.log.warn({ err, source: source.name }, `could not write ${source.name} points to InfluxDB; retrying every ${this.opts.intervalMs} ms`);
          this.failing = true;
          return;
        }
      }
    }
  }
}
