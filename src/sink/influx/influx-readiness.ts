/**
 * Whether InfluxDB answers, for `/readyz`: pinged every READINESS_PING_MS while it does, and every
 * second while it does not, so that writes resume within a second of its return rather than at the
 * end of their backoff (`onBack`). A successful write counts as an answer too.
 */
import type { Logger } from '../../observability/logger.js';
import { ErrorCodes, type CitypipeError } from '../../errors/catalog.js';
import type { PointSink } from './types.js';

const READINESS_PING_MS = 5000;
const OUTAGE_PING_MS = 1000;

export interface InfluxReadinessOptions {
  sink: Pick<PointSink, 'ping'>;
  /** For messages: where InfluxDB is. */
  url: string;
  log: Logger;
  /** InfluxDB answers again after it did not: retry waiting writes now. */
  onBack(): void;
}

export class InfluxReadiness {
  private readonly opts: InfluxReadinessOptions;
  /** Why InfluxDB is not ready, or undefined when it answered last. */
  problem: string | undefined = 'InfluxDB not checked yet';
  private timer: NodeJS.Timeout | undefined;
  private lastPing = 0;

  constructor(opts: InfluxReadinessOptions) {
    this.opts = opts;
  }

  /** Pings now; logs a warning at start and when InfluxDB stops answering (not on every failed ping). */
  async check(atStart = false): Promise<void> {
    this.lastPing = Date.now();
    try {
      await this.opts.sink.ping();
      if (this.problem !== undefined) this.opts.onBack();
      this.problem = undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const was = this.problem;
      this.problem = `InfluxDB at ${this.opts.url} is not reachable: ${message}`;
      if (atStart || was === undefined) {
        this.opts.log.warn({ code: (err as CitypipeError).code ?? ErrorCodes.INFLUX_UNREACHABLE.code, url: this.opts.url }, this.problem);
      }
    }
  }

  /** A write request succeeded. */
  answered(): void {
    this.problem = undefined;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.problem === undefined && Date.now() - this.lastPing < READINESS_PING_MS) return;
      void this.check();
    }, OUTAGE_PING_MS).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
