/**
 * In-process fan-out of logged rule events to live subscribers (the SSE stream). The wiring
 * publishes after the transaction that logged the events commits, so every published event is also
 * in the log: a subscriber that falls behind is disconnected rather than buffered without bound, and
 * catches up from the log when it reconnects with `Last-Event-ID`.
 */
import type { LoggedEvent } from './event-log.js';

/** What a subscriber wants; an absent key matches everything. */
export interface EventFilter {
  readonly deviceId?: string | undefined;
  readonly rule?: string | undefined;
  /** Device type. */
  readonly type?: string | undefined;
  readonly state?: LoggedEvent['state'] | undefined;
}

/** Why a subscription ended. */
export type EndReason = 'closed' | 'overflow' | 'hub-closed';

/** One subscriber's queue. Consume with `next()` or `for await`. */
export interface HubSubscription extends AsyncIterable<LoggedEvent> {
  /** The next event; waits for one. Undefined once the subscription has ended. */
  next(): Promise<LoggedEvent | undefined>;
  /** Events queued and not yet taken. */
  readonly queued: number;
  /** Set once ended. An `overflow` subscription drops what it had queued. */
  readonly ended: EndReason | undefined;
  /** Ends the subscription (idempotent). */
  close(): void;
}

export interface EventHubOptions {
  /** Events a subscriber may have queued before it is disconnected. Default 1000. */
  maxQueue?: number | undefined;
}

export class EventHub {
  private readonly maxQueue: number;
  private readonly subs = new Set<Subscriber>();
  /** Totals since start, for metrics. */
  readonly counts = { published: 0, delivered: 0, overflows: 0 };

  constructor(opts: EventHubOptions = {}) {
    this.maxQueue = opts.maxQueue ?? 1000;
    if (!(Number.isInteger(this.maxQueue) && this.maxQueue >= 1)) throw new Error(`event hub maxQueue must be a positive integer, got ${String(opts.maxQueue)}`);
  }

  subscribe(filter: EventFilter = {}): HubSubscription {
    const sub = new Subscriber(filter, this.maxQueue, (s, reason) => {
      this.subs.delete(s);
      if (reason === 'overflow') this.counts.overflows++;
    });
    this.subs.add(sub);
    return sub;
  }

  /** Hands events (in log order) to every matching subscriber. Never throws. */
  publish(events: readonly LoggedEvent[]): void {
    this.counts.published += events.length;
    for (const sub of [...this.subs]) {
      for (const e of events) {
        if (!matches(sub.filter, e)) continue;
        if (!sub.push(e)) break;
        this.counts.delivered++;
      }
    }
  }

  /** Live subscribers. */
  get size(): number {
    return this.subs.size;
  }

  /** Ends every subscription (at shutdown). */
  close(): void {
    for (const sub of [...this.subs]) sub.end('hub-closed');
  }
}

/** True when `e` passes `f`. */
export function matches(f: EventFilter, e: LoggedEvent): boolean {
  return (
    (f.deviceId === undefined || f.deviceId === e.deviceId) &&
    (f.rule === undefined || f.rule === e.rule) &&
    (f.type === undefined || f.type === e.type) &&
    (f.state === undefined || f.state === e.state)
  );
}

class Subscriber implements HubSubscription {
  readonly filter: EventFilter;
  private readonly max: number;
  private readonly onEnd: (s: Subscriber, reason: EndReason) => void;
  private queue: LoggedEvent[] = [];
  private head = 0;
  private waiter: ((e: LoggedEvent | undefined) => void) | undefined;
  ended: EndReason | undefined;

  constructor(filter: EventFilter, max: number, onEnd: (s: Subscriber, reason: EndReason) => void) {
    this.filter = { ...filter };
    this.max = max;
    this.onEnd = onEnd;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** False when the subscription has ended (now or before). */
  push(e: LoggedEvent): boolean {
    if (this.ended) return false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(e);
      return true;
    }
    if (this.queued >= this.max) {
      this.end('overflow');
      return false;
    }
    this.queue.push(e);
    return true;
  }

  next(): Promise<LoggedEvent | undefined> {
    if (this.head < this.queue.length) {
      const e = this.queue[this.head++]!;
      // Compact now and then so a long-lived subscriber does not keep every event it ever had.
      if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve(e);
    }
    if (this.ended) return Promise.resolve(undefined);
    if (this.waiter) return Promise.reject(new Error('event hub subscription: next() called again before the previous one resolved'));
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    this.end('closed');
  }

  end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = reason;
    // A disconnected slow client replays from the log; what it had queued is dropped, not delivered late.
    if (reason === 'overflow') {
      this.queue = [];
      this.head = 0;
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
    this.onEnd(this, reason);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LoggedEvent> {
    for (;;) {
      const e = await this.next();
      if (e === undefined) return;
      yield e;
    }
  }
}
