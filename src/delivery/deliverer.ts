/**
 * The delivery worker: sends what the outbox holds, per target, each ticket's messages strictly in
 * order, different tickets in parallel (bounded per target).
 *
 * Retryable failures (network errors, timeouts, 408, 429, 5xx) are retried for as long as it takes,
 * with exponential backoff and jitter, never earlier than a Retry-After asks. The outbox is durable,
 * so a receiver that is down for an hour gets everything afterwards, in order. Any other answer is
 * final: the delivery is recorded as failed (status and body excerpt), logged, and the ticket's later
 * messages go on. Delivery is at least once: a receiver deduplicates by the idempotency key.
 *
 * Targets appear in logs, events (metrics) and stats by their label, never by URL, and every error
 * text and answer excerpt passes through the target's redactor (redact.ts) before it is logged,
 * stored or handed on: a receiver's 404 page may echo the secret path it was sent to.
 */
import { ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { DeliveryRecord, TargetStats } from './outbox.js';
import type { RemoteRef } from './types.js';

type Awaitable<T> = T | Promise<T>;

/**
 * The outbox as the deliverer uses it: the SQLite `Outbox` answers at once; the PostgreSQL one
 * (src/postgres/pg-outbox.ts) answers later, and its `dueHeads` claims the rows it returns so that
 * no other worker sends them meanwhile.
 */
export interface DeliveryQueue {
  readonly targets: readonly DeliveryTarget[];
  open(): void;
  onEnqueue(listener: () => void): () => void;
  dueHeads(target: string, now: number, limit: number): Awaitable<DeliveryRecord[]>;
  markDelivered(messageId: number, target: string, status: number | null, remote?: RemoteRef): Awaitable<void>;
  markRetry(messageId: number, target: string, nextAt: number, status: number | null, error: string): Awaitable<void>;
  markFailed(messageId: number, target: string, status: number | null, error: string): Awaitable<void>;
  stats(now?: number): Record<string, TargetStats>;
  prune(deliveredBefore: number, failedBefore: number): Awaitable<number>;
  /** Gives back a row `dueHeads` returned that is not sent now (a queue that claims rows). */
  release?(messageId: number, target: string): Awaitable<void>;
}
import { Open311Channel } from './open311.js';
import { redactorFor } from './redact.js';
import { targetLabel, type DeliveryChannel, type DeliveryTarget, type OutgoingMessage, type SendResult } from './types.js';
import { WebhookChannel } from './webhook.js';

/** Log codes of this stage. Not yet in src/errors/catalog.ts. */
export const DeliveryLogCodes = {
  /** Retryable: the receiver is down, slow or busy; the message waits. */
  RETRYING: ErrorCodes.DELIVERY_RETRYING.code,
  /** Not retryable: the receiver refused the message (4xx); it is recorded as failed. */
  REJECTED: ErrorCodes.DELIVERY_REJECTED.code,
  /** Retryable: the outbox could not be read or written. */
  STORE: ErrorCodes.DELIVERY_STORE.code,
  /** A metrics or other callback threw; deliveries go on. */
  LISTENER: ErrorCodes.DELIVERY_LISTENER.code,
} as const;

interface EventBase {
  /** The target's label (never its URL). */
  readonly target: string;
  /** The idempotency key, `<ticketId>:<seq>`. */
  readonly key: string;
  readonly ticketId: string;
  readonly seq: number;
  readonly transition: OutgoingMessage['transition'];
  /** The attempt that produced this event, 1 for the first. */
  readonly attempt: number;
}

export interface DeliveredEvent extends EventBase {
  readonly status: number;
  /** From enqueue to delivery. */
  readonly latencyMs: number;
  readonly remoteId?: string | undefined;
}

export interface RetryEvent extends EventBase {
  readonly status?: number | undefined;
  readonly error: string;
  /** Until the next attempt. */
  readonly delayMs: number;
}

export interface FailedEvent extends EventBase {
  readonly status?: number | undefined;
  readonly error: string;
  readonly bodyExcerpt?: string | undefined;
}

export interface BackoffOptions {
  /** First retry after about this long. Default 1 s. */
  readonly baseMs?: number | undefined;
  /** Retries never wait longer than this, unless a Retry-After asks for more. Default 5 min. */
  readonly maxMs?: number | undefined;
  /** The longest Retry-After honoured. Default 1 h. */
  readonly maxRetryAfterMs?: number | undefined;
}

export interface DelivererOptions {
  readonly outbox: DeliveryQueue;
  readonly log: Logger;
  /** Tickets in flight at once per target. Default 4. */
  readonly concurrencyPerTarget?: number | undefined;
  /** How often due retries are looked for. New messages wake the worker at once. Default 500 ms. */
  readonly pollIntervalMs?: number | undefined;
  /** Per attempt. Default 10 s. */
  readonly requestTimeoutMs?: number | undefined;
  readonly backoff?: BackoffOptions | undefined;
  /** Delivered rows are pruned this long after delivery. Default 7 days. */
  readonly retentionMs?: number | undefined;
  /** Failed rows are pruned this long after failing. Default 30 days. */
  readonly failedRetentionMs?: number | undefined;
  /** Default 1 h. */
  readonly pruneIntervalMs?: number | undefined;
  readonly onDelivered?: ((e: DeliveredEvent) => void) | undefined;
  readonly onRetry?: ((e: RetryEvent) => void) | undefined;
  readonly onFailed?: ((e: FailedEvent) => void) | undefined;
  /** Channels by target name, replacing the built-in ones (a new kind of receiver, or tests). */
  readonly channels?: Readonly<Record<string, DeliveryChannel>> | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
}

/** `stats()` per target, keyed by label. */
export interface DelivererTargetStats extends TargetStats {
  readonly inFlight: number;
}

const DAY_MS = 24 * 3600_000;

interface Line {
  readonly target: DeliveryTarget;
  /** What logs and metrics call it. */
  readonly label: string;
  /** Hides the target's secrets in a text (redact.ts). */
  readonly redact: (text: string) => string;
  readonly channel: DeliveryChannel;
  /** Ticket id → the attempt in flight for it. */
  readonly inFlight: Map<string, Promise<void>>;
  readonly retryLog: RateLimitedLog;
  /** A Retry-After on 429 or 503 is about the receiver, not one message: nothing goes before it. */
  pausedUntil: number;
  /** An asynchronous `dueHeads` is under way. */
  reading: boolean;
}

export class Deliverer {
  private readonly opts: DelivererOptions;
  private readonly now: () => number;
  private lines: Line[] = [];
  private running = false;
  private abort = new AbortController();
  private poll: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private wakeScheduled = false;
  private unsubscribe: (() => void) | undefined;

  constructor(opts: DelivererOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Opens the outbox, prunes, and starts sending. Picks up whatever an earlier run left pending. */
  start(): void {
    if (this.running) return;
    const { outbox, log } = this.opts;
    outbox.open();
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    this.lines = outbox.targets.map((target) => ({
      target,
      label: targetLabel(target),
      redact: redactorFor(target),
      channel: this.opts.channels?.[target.name] ?? channelFor(target, timeoutMs, this.now),
      inFlight: new Map(),
      retryLog: new RateLimitedLog(log, 60_000),
      pausedUntil: 0,
      reading: false,
    }));
    this.abort = new AbortController();
    this.running = true;
    this.unsubscribe = outbox.onEnqueue(() => this.wake());
    this.prune();
    this.poll = setInterval(() => this.fill(), this.opts.pollIntervalMs ?? 500);
    this.poll.unref();
    this.pruneTimer = setInterval(() => this.prune(), this.opts.pruneIntervalMs ?? 3600_000);
    this.pruneTimer.unref();
    this.wake();
  }

  /**
   * Stops taking new work and waits up to `timeoutMs` for attempts in flight. Attempts still running
   * then are aborted and left pending: the next start sends them again (same idempotency key).
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.poll);
    clearInterval(this.pruneTimer);
    this.unsubscribe?.();
    const inFlight = this.lines.flatMap((l) => [...l.inFlight.values()]);
    if (inFlight.length === 0) return;
    const settled = Promise.allSettled(inFlight);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      settled.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.opts.log.warn({ inFlight: inFlight.length }, 'delivery stopped with attempts in flight; they are sent again after the next start');
      this.abort.abort();
      await settled;
    }
  }

  /** Looks for due work now rather than at the next poll. */
  wake(): void {
    if (!this.running || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.fill();
    });
  }

  /** Pending, oldest pending age and failed per target label, plus attempts in flight. */
  stats(): Record<string, DelivererTargetStats> {
    const stored = this.opts.outbox.stats(this.now());
    const out: Record<string, DelivererTargetStats> = {};
    for (const [name, s] of Object.entries(stored)) {
      const line = this.lines.find((l) => l.target.name === name);
      // Rows of a target no longer configured are counted under a name that shows no URL either.
      out[line?.label ?? 'unconfigured'] = { ...s, inFlight: line?.inFlight.size ?? 0 };
    }
    return out;
  }

  /** Deletes delivered and failed rows past their retention; runs at start and then periodically. */
  prune(): Awaitable<number> {
    const now = this.now();
    const failed = (err: unknown) => {
      this.opts.log.error({ err, code: DeliveryLogCodes.STORE }, 'cannot prune the delivery outbox; will try again');
      return 0;
    };
    try {
      const n = this.opts.outbox.prune(now - (this.opts.retentionMs ?? 7 * DAY_MS), now - (this.opts.failedRetentionMs ?? 30 * DAY_MS));
      return typeof n === 'number' ? n : n.catch(failed);
    } catch (err) {
      return failed(err);
    }
  }

  private fill(): void {
    if (!this.running) return;
    const concurrency = this.opts.concurrencyPerTarget ?? 4;
    const now = this.now();
    for (const line of this.lines) {
      if (line.inFlight.size >= concurrency || now < line.pausedUntil || line.reading) continue;
      let heads: Awaitable<DeliveryRecord[]>;
      try {
        // Heads in flight are still pending, so ask for enough to fill the free slots past them.
        heads = this.opts.outbox.dueHeads(line.target.name, now, concurrency + line.inFlight.size);
      } catch (err) {
        line.retryLog.warn({ err, code: DeliveryLogCodes.STORE, target: line.label }, 'cannot read the delivery outbox; will try again');
        continue;
      }
      if (Array.isArray(heads)) {
        this.startAttempts(line, heads, concurrency);
        continue;
      }
      // One read per target at a time: a second would claim rows the first is about to start.
      line.reading = true;
      heads.then(
        (got) => {
          line.reading = false;
          if (this.running) this.startAttempts(line, got, concurrency);
        },
        (err: unknown) => {
          line.reading = false;
          line.retryLog.warn({ err, code: DeliveryLogCodes.STORE, target: line.label }, 'cannot read the delivery outbox; will try again');
        },
      );
    }
  }

  private startAttempts(line: Line, heads: readonly DeliveryRecord[], concurrency: number): void {
    for (const head of heads) {
      if (line.inFlight.size >= concurrency || line.inFlight.has(head.ticketId)) {
        void Promise.resolve(this.opts.outbox.release?.(head.messageId, line.target.name)).catch(() => undefined);
        continue;
      }
      const attempt = this.attempt(line, head).finally(() => {
        line.inFlight.delete(head.ticketId);
        // The ticket's next message may be due right now.
        this.wake();
      });
      line.inFlight.set(head.ticketId, attempt);
    }
  }

  private async attempt(line: Line, rec: DeliveryRecord): Promise<void> {
    const message: OutgoingMessage = {
      key: rec.key,
      ticketId: rec.ticketId,
      seq: rec.seq,
      transition: rec.transition,
      at: rec.at,
      ticket: rec.ticket,
      attempt: rec.attempts + 1,
    };
    const signal = this.abort.signal;
    let result: SendResult;
    try {
      result = await line.channel.send(message, signal);
    } catch (err) {
      // Channels report failures as results; a throw is a bug in one, and must not lose the message.
      result = { ok: false, retryable: true, error: err instanceof Error ? err.message : String(err) };
    }
    // Aborted by stop(): not the receiver's fault, and not an attempt. The row stays as it was.
    if (!result.ok && signal.aborted) return;
    try {
      await this.record(line, rec, message, result);
    } catch (err) {
      // The outcome is lost; the row is still pending and is sent again (same idempotency key).
      line.retryLog.warn({ err, code: DeliveryLogCodes.STORE, target: line.label, ticketId: rec.ticketId }, 'cannot record a delivery outcome; it will be sent again');
    }
  }

  private async record(line: Line, rec: DeliveryRecord, message: OutgoingMessage, sent: SendResult): Promise<void> {
    const { outbox, log } = this.opts;
    const key = line.target.name;
    const target = line.label;
    const base: EventBase = { target, key: rec.key, ticketId: rec.ticketId, seq: rec.seq, transition: rec.transition, attempt: message.attempt };
    const deviceId = rec.ticket.device_id ?? undefined;
    const result = sent.ok ? sent : { ...sent, error: line.redact(sent.error), bodyExcerpt: sent.bodyExcerpt === undefined ? undefined : line.redact(sent.bodyExcerpt) };
    if (result.ok) {
      await outbox.markDelivered(rec.messageId, key, result.status, result.remoteId);
      this.emit(this.opts.onDelivered, { ...base, status: result.status, latencyMs: Math.max(0, this.now() - rec.createdAt), remoteId: result.remoteId?.id });
      return;
    }
    if (result.retryable) {
      const delayMs = this.delayFor(message.attempt, result.retryAfterMs);
      if (result.retryAfterMs !== undefined && (result.status === 429 || result.status === 503)) {
        const pauseMs = Math.min(result.retryAfterMs, this.opts.backoff?.maxRetryAfterMs ?? 3600_000);
        line.pausedUntil = Math.max(line.pausedUntil, this.now() + pauseMs);
      }
      await outbox.markRetry(rec.messageId, key, this.now() + delayMs, result.status ?? null, result.error);
      line.retryLog.warn(
        { code: DeliveryLogCodes.RETRYING, target, ticketId: rec.ticketId, deviceId, key: rec.key, attempt: message.attempt, status: result.status, error: result.error, delayMs },
        `delivery to ${target} failed; retrying`,
      );
      this.emit(this.opts.onRetry, { ...base, status: result.status, error: result.error, delayMs });
      return;
    }
    const excerpt = result.bodyExcerpt ? `${result.error}: ${result.bodyExcerpt}` : result.error;
    await outbox.markFailed(rec.messageId, key, result.status ?? null, excerpt);
    log.error(
      { code: DeliveryLogCodes.REJECTED, target, ticketId: rec.ticketId, deviceId, key: rec.key, attempt: message.attempt, status: result.status, body: result.bodyExcerpt },
      `${target} rejected ${rec.key} (${result.error}); recorded as failed, not retried; the ticket's later messages still go`,
    );
    this.emit(this.opts.onFailed, { ...base, status: result.status, error: result.error, bodyExcerpt: result.bodyExcerpt });
  }

  /** Exponential from `baseMs`, capped, with jitter in [½, 1] of it; never before a Retry-After. */
  private delayFor(attempt: number, retryAfterMs: number | undefined): number {
    const b = this.opts.backoff ?? {};
    const base = b.baseMs ?? 1000;
    const max = b.maxMs ?? 300_000;
    const exp = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
    const jittered = Math.round(exp * (0.5 + 0.5 * (this.opts.random ?? Math.random)()));
    if (retryAfterMs === undefined) return jittered;
    return Math.max(jittered, Math.min(retryAfterMs, b.maxRetryAfterMs ?? 3600_000));
  }

  private emit<E>(listener: ((e: E) => void) | undefined, event: E): void {
    if (!listener) return;
    try {
      listener(event);
    } catch (err) {
      // A faulty metrics callback must not stop deliveries.
      this.opts.log.error({ err, code: DeliveryLogCodes.LISTENER }, 'a delivery listener threw');
    }
  }
}

function channelFor(target: DeliveryTarget, timeoutMs: number, now: () => number): DeliveryChannel {
  switch (target.kind) {
    case 'webhook':
      return new WebhookChannel(target, { timeoutMs, now });
    case 'open311':
      return new Open311Channel(target, { timeoutMs, now });
  }
}
