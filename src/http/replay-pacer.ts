/**
 * One budget of replay work, shared by every event-stream replay: a little per event-loop turn, and
 * no more than a share of the process's time.
 *
 * A replay is a series of synchronous steps (read a page of the log, render it, write it). Steps
 * queue here and run in `setImmediate` turns, each turn until `turnMs` of work is spent, the rest in
 * a later turn, after the event loop has polled for I/O. So however many replays run, a turn of the
 * event loop carries at most about `turnMs` of them, and a PUBACK, which needs several turns, is not
 * held up by more than a few budgets. And once replays have used `share` of a `windowMs` window, the
 * next turn waits for the next window: the event loop is idle for replays for the rest of it, so
 * replays cannot keep the process at 100 % and starve everything else of CPU (and of the garbage
 * collector's time) on a busy machine. Replays get slower; PUBACKs do not.
 *
 * Per-stream paging alone does not bound this: 20 streams with a 200-event page each took ~25 ms per
 * turn and pushed a device's PUBACK p99 to 356 ms (test/event-stream-load.e2e.test.ts).
 */

interface Step {
  run(): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export interface ReplayPacerOptions {
  /** Replay work per event-loop turn, ms (at least one step runs per turn, however long). */
  turnMs: number;
  /** The most of each window replays may use, 0 < share ≤ 1. */
  share: number;
  /** The window `share` is measured over, ms. */
  windowMs: number;
  /** Monotonic ms; injectable for tests. */
  now?: (() => number) | undefined;
}

export class ReplayPacer {
  private readonly queue: Step[] = [];
  private scheduled = false;
  private readonly now: () => number;
  private windowStart = -Infinity;
  private spentInWindow = 0;

  constructor(readonly opts: ReplayPacerOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Steps waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `step` in a later turn, within the shared budget; resolves with what it returns. */
  run<T>(step: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: step, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const now = this.now();
    if (now - this.windowStart >= this.opts.windowMs) {
      this.windowStart = now;
      this.spentInWindow = 0;
    }
    if (this.spentInWindow < this.opts.share * this.opts.windowMs) setImmediate(() => this.turn());
    else setTimeout(() => this.turn(), Math.max(1, Math.ceil(this.windowStart + this.opts.windowMs - now)));
  }

  private turn(): void {
    this.scheduled = false;
    const start = this.now();
    if (start - this.windowStart >= this.opts.windowMs) {
      this.windowStart = start;
      this.spentInWindow = 0;
    } else if (this.spentInWindow >= this.opts.share * this.opts.windowMs) {
      // The window's share is used (a timer that fired early): wait for the next window.
      this.schedule();
      return;
    }
    do {
      const step = this.queue.shift()!;
      try {
        step.resolve(step.run());
      } catch (err) {
        step.reject(err);
      }
    } while (this.queue.length > 0 && this.now() - start < this.opts.turnMs);
    this.spentInWindow += this.now() - start;
    if (this.queue.length > 0) this.schedule();
  }
}
