import type { Logger } from './logger.js';

/**
 * Logs a recurring condition (publishes refused while the spool is full) once per interval, with
 * how many times it happened since the last line, instead of once per message.
 */
export class RateLimitedLog {
  private last = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed: this.suppressed }, this.suppressed ? `${message} (and ${this.suppressed} more since the last report)` : message);
    this.last = now;
    this.suppressed = 0;
  }
}
