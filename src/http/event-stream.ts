/**
 * `GET /api/events/stream`: rule events as server-sent events, replayed from the log after
 * `Last-Event-ID`, then live from the hub.
 *
 * What one stream may cost, and why:
 * - it needs the bearer token: it shows device ids and their problems, and holds a connection open;
 * - at most `maxStreams` are open in all and `maxStreamsPerAddress` per client address (`req.ip`,
 *   so behind a trusted proxy per real client); the excess gets 503 or 429 naming the setting;
 * - a replay reads the log one page at a time (`EventLog.scan`: bounded work whatever the filter),
 *   writes the page and waits until the client has taken it; reading and rendering a page is a step
 *   of the shared `ReplayPacer`, which gives all replays together 1 ms per event-loop turn and at
 *   most a quarter of the process's time, so replays never hold the process: see `REPLAY_TURN_MS`.
 *
 * The log is a port (`EventAccess`): a SQLite page is read, rendered and written in one pacer step,
 * as before; a page from a shared store is awaited outside the pacer (waiting costs no CPU) and
 * rendered and written in a step of its own. When the shared store fails, the stream has already
 * answered 200: it says why in a comment and ends, and the client reconnects with Last-Event-ID
 * after its `retry:` delay (EventSource gives up for good on a 503, so a 503 would serve it worse).
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes } from '../errors/catalog.js';
import type { EventFilter, EventHub, HubSubscription } from '../events/event-hub.js';
import type { EventScan, LoggedEvent } from '../events/event-log.js';
import type { Logger } from '../observability/logger.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { EventAccess } from './dispatch-ports.js';
import { ReplayPacer } from './replay-pacer.js';
import { clientKey } from './security.js';
import { isPromiseLike, StoreAnswers, StoreUnavailableError } from './store-unavailable.js';

/** Stream settings; every one has a default. */
export interface EventStreamOptions {
  /** A heartbeat comment every this many ms (default 15 s). */
  heartbeatMs?: number | undefined;
  /** The client's reconnect delay, `retry:` (default 3 s). */
  retryMs?: number | undefined;
  /** Open streams in all (CITYPIPE_HTTP_MAX_STREAMS, default 32). */
  maxStreams?: number | undefined;
  /** Open streams per client address (CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS, default 4). */
  maxStreamsPerAddress?: number | undefined;
  /** Events per replay page (default 100). */
  replayPage?: number | undefined;
  /** Replay work per event-loop turn, all streams together (default `REPLAY_TURN_MS`). */
  replayTurnMs?: number | undefined;
  /** The most of the process's time all replays together may use (default `REPLAY_SHARE`). */
  replayShare?: number | undefined;
}

export interface EventStreamDeps {
  /** The log the replay reads (`EventLog`, or the cluster's shared log). */
  events: EventAccess;
  hub: EventHub;
  stream?: EventStreamOptions | undefined;
}

export interface EventFilterQuery {
  device_id?: string;
  rule?: string;
  type?: string;
  state?: 'raised' | 'cleared';
}

export const DEFAULT_MAX_STREAMS = 32;
export const DEFAULT_MAX_STREAMS_PER_ADDRESS = 4;
/** A page of 50 events costs about 0.3 ms to read, render and write (`EventLog.scan` at 100 000 rows). */
const DEFAULT_REPLAY_PAGE = 50;
/**
 * Replay work per event-loop turn, all streams together. A PUBACK takes several turns (read, spool
 * append, fsync callback, write), so each turn must stay short; and replays must leave the process
 * time of its own, or on a busy machine they take every idle moment, the garbage collector's
 * included. With 20 concurrent replays from id 0 and a QoS 1 device publishing every 20 ms on a
 * 2-core machine, the device's PUBACK p99 was
 * - 20 s with the unpaged replay (100 000 events: it held the event loop as long as the replays ran);
 * - 356 ms with pages of 200, each page on its own turn per stream;
 * - 41–50 ms with 4 ms per turn (alone: 9–13 ms), but 210–270 ms beside other CPU load;
 * - 25–33 ms with 1 ms per turn and a quarter or half of the time (alone: 10–15 ms), 65–190 ms with
 *   other test files and CPU hogs running beside it (load average 4–10).
 * test/event-stream-load.e2e.test.ts prints the figures of each run.
 */
export const REPLAY_TURN_MS = 1;
/**
 * Replays together use at most this share of every `REPLAY_WINDOW_MS`; the rest is left to MQTT, the
 * writer and the garbage collector. 20 replays of 50 000 events took 35–60 s at a quarter.
 */
export const REPLAY_SHARE = 0.25;
/** Short, so that a window's share of replay work is a burst of a few ms, not tens. */
const REPLAY_WINDOW_MS = 20;
const OVERFLOW_GRACE_MS = 10_000;
/** What a refused client is told to wait: about one reconnect delay. */
const REFUSED_RETRY_AFTER_S = 5;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

export const eventFilterProps = {
  device_id: { type: 'string', maxLength: 64 },
  rule: { type: 'string', maxLength: 128 },
  type: { type: 'string', maxLength: 64, description: 'device type' },
  state: { type: 'string', enum: ['raised', 'cleared'] },
} as const;

export function filterOf(q: EventFilterQuery): EventFilter {
  return { deviceId: q.device_id, rule: q.rule, type: q.type, state: q.state };
}

/**
 * Open streams, in all and per client address. `take` either counts a new stream in and returns
 * its release, or says which cap it hit.
 */
export class StreamSlots {
  private open = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerAddress: number,
  ) {}

  get size(): number {
    return this.open;
  }

  take(address: string): { ok: true; release: () => void } | { ok: false; limit: 'total' | 'address'; open: number } {
    const mine = this.byAddress.get(address) ?? 0;
    if (mine >= this.maxPerAddress) return { ok: false, limit: 'address', open: mine };
    if (this.open >= this.maxTotal) return { ok: false, limit: 'total', open: this.open };
    this.open++;
    this.byAddress.set(address, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.byAddress.set(address, left);
        else this.byAddress.delete(address);
      },
    };
  }
}

/** Adds `GET /api/events/stream` to `app` (after `registerHttpSecurity`, which checks the token). */
export function registerEventStream(app: FastifyInstance, deps: EventStreamDeps): void {
  const opts = deps.stream ?? {};
  const slots = new StreamSlots(opts.maxStreams ?? DEFAULT_MAX_STREAMS, opts.maxStreamsPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS);
  const pacer = new ReplayPacer({ turnMs: opts.replayTurnMs ?? REPLAY_TURN_MS, share: opts.replayShare ?? REPLAY_SHARE, windowMs: REPLAY_WINDOW_MS });
  const refusals = new RateLimitedLog(app.log as Logger, 10_000);
  const store = new StoreAnswers(app.log as Logger);
  const sessions = new Set<SseSession>();
  // Open SSE streams would keep `app.close()` waiting for ever: end them first.
  app.addHook('preClose', async () => {
    for (const s of [...sessions]) s.end();
  });

  app.get<{ Querystring: EventFilterQuery & { last_event_id?: number }; Headers: { 'last-event-id'?: string } }>(
    '/api/events/stream',
    {
      // Device ids and their problems, and a connection held open: token holders only.
      config: { protected: true },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...eventFilterProps,
            last_event_id: { type: 'integer', minimum: 0, description: 'resume after this log id, for clients that cannot send Last-Event-ID' },
          },
        },
        headers: {
          type: 'object',
          properties: { 'last-event-id': { type: 'string', pattern: '^[0-9]{1,15}$', description: 'resume after this log id (replayed from the log first)' } },
        },
        response: {
          200: { description: 'text/event-stream: `id:` log id, `data:` one event as in /api/events', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          400: errorSchema,
          401: errorSchema,
          429: { ...errorSchema, description: 'as many streams are open from this address as CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS allows' },
          503: { ...errorSchema, description: 'as many streams are open as CITYPIPE_HTTP_MAX_STREAMS allows' },
        },
      },
    },
    (req, reply) => {
      const address = clientKey(req);
      const slot = slots.take(address);
      if (!slot.ok) {
        app.countRefusal('streams');
        return refuse(reply, slot, slots, address, refusals);
      }
      const header = req.headers['last-event-id'];
      const resumeAfter = header !== undefined ? Number(header) : req.query.last_event_id;
      const filter = filterOf(req.query);
      // Subscribe before reading the log: an event committed meanwhile is in one or the other, and
      // ids tell duplicates apart.
      const sub = deps.hub.subscribe(filter);
      const stream = new PassThrough();
      const session = new SseSession(stream, sub, deps.events, store, pacer, opts, filter, resumeAfter, req, () => {
        sessions.delete(session);
        slot.release();
      });
      sessions.add(session);
      // The client went away: drop what is buffered for it.
      reply.raw.on('close', () => session.end(true));
      void session.run();
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('x-accel-buffering', 'no')
          // The connection ends with the stream: a kept-alive socket would hold up `app.close()` for
          // the keep-alive timeout after a stream it ended.
          .header('connection', 'close')
          .send(stream)
      );
    },
  );
}

function refuse(reply: FastifyReply, slot: { limit: 'total' | 'address'; open: number }, slots: StreamSlots, address: string, log: RateLimitedLog): FastifyReply {
  const perAddress = slot.limit === 'address';
  const message = perAddress
    ? `${slot.open} event streams are open from your address, as many as CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS (${slots.maxPerAddress}) allows; close one, or raise CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS on the service`
    : `the service has ${slot.open} event streams open, as many as CITYPIPE_HTTP_MAX_STREAMS (${slots.maxTotal}) allows; retry in ${REFUSED_RETRY_AFTER_S} s, or raise CITYPIPE_HTTP_MAX_STREAMS`;
  log.warn({ code: ErrorCodes.HTTP_STREAM_LIMIT.code, limit: perAddress ? 'per_address' : 'total', address: perAddress ? address : undefined }, `event stream refused: ${message}`);
  const status = perAddress ? 429 : 503;
  return reply
    .code(status)
    .header('retry-after', String(REFUSED_RETRY_AFTER_S))
    .send({ statusCode: status, code: ErrorCodes.HTTP_STREAM_LIMIT.code, error: perAddress ? 'Too Many Requests' : 'Service Unavailable', message });
}

/** One SSE client: replay from the log, then live events, with heartbeats and backpressure. */
class SseSession {
  private ended = false;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: PassThrough,
    private readonly sub: HubSubscription,
    private readonly events: EventAccess,
    private readonly store: StoreAnswers,
    private readonly pacer: ReplayPacer,
    private readonly opts: EventStreamOptions,
    private readonly filter: EventFilter,
    private lastId: number | undefined,
    private readonly req: FastifyRequest,
    private readonly onEnd: () => void,
  ) {}

  async run(): Promise<void> {
    this.heartbeat = setInterval(() => {
      // A comment line keeps proxies from timing out an idle stream; skipped while the client is behind.
      if (!this.ended && !this.stream.writableNeedDrain) this.stream.write(': heartbeat\n\n');
    }, this.opts.heartbeatMs ?? 15_000);
    try {
      await this.write(`retry: ${this.opts.retryMs ?? 3000}\n: connected\n\n`);
      if (this.lastId !== undefined) await this.replay(this.lastId);
      for (;;) {
        const e = await this.sub.next();
        if (e === undefined) break;
        if (this.lastId !== undefined && e.id <= this.lastId) continue;
        await this.send([e]);
      }
      // A client that does not read within OVERFLOW_GRACE_MS is cut off without the explanation; it
      // resumes from its last received id all the same.
      if (this.sub.ended === 'overflow') await this.write(': too far behind: disconnected; reconnect with Last-Event-ID to resume from the log\n\n', OVERFLOW_GRACE_MS);
    } catch (err) {
      // Logged where it was turned into this error (StoreAnswers).
      if (err instanceof StoreUnavailableError) await this.write(`: ${err.code}: the shared database did not answer the replay; reconnect with Last-Event-ID to resume from the log\n\n`, OVERFLOW_GRACE_MS);
      else this.req.log.error({ err, code: ErrorCodes.HTTP_INTERNAL.code }, 'event stream failed');
    } finally {
      this.end();
    }
  }

  /**
   * Ends the stream: gracefully (what is buffered still goes out) unless the client is gone or so
   * far behind that waiting for it would hold up a shutdown.
   */
  end(gone = false): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.sub.close();
    if (gone || this.stream.writableNeedDrain) this.stream.destroy();
    else this.stream.end();
    this.onEnd();
  }

  /**
   * The log after `afterId`, a page at a time: one bounded read, render and write (a pacer step, in
   * a later turn of the event loop), then the client's drain before the next page.
   */
  private async replay(afterId: number): Promise<void> {
    const limit = this.opts.replayPage ?? DEFAULT_REPLAY_PAGE;
    let cursor: number | undefined = afterId;
    while (cursor !== undefined && !this.ended) {
      const from: number = cursor;
      let page: Page | { pending: Promise<EventScan> } | undefined = await this.pacer.run(() => {
        if (this.ended) return undefined;
        const step = this.events.scan({ ...this.filter, afterId: from, limit });
        if (!isPromiseLike(step)) return this.writePage(step);
        const pending = this.store.read(step);
        // Awaited just below; marked handled so that a quick rejection is not reported as unhandled meanwhile.
        pending.catch(() => undefined);
        return { pending };
      });
      if (page !== undefined && 'pending' in page) {
        const step = await page.pending;
        page = await this.pacer.run(() => (this.ended ? undefined : this.writePage(step)));
      }
      if (page === undefined) break;
      cursor = page.next;
      if (page.behind) await this.drained();
    }
  }

  /** Writes a page of the replay; `behind` when the client has not taken what is buffered. */
  private writePage(step: EventScan): Page {
    const last = step.events.at(-1);
    if (last === undefined) return { next: step.next, behind: false };
    const behind = !this.stream.write(frames(step.events));
    this.lastId = last.id;
    return { next: step.next, behind };
  }

  private async send(events: readonly LoggedEvent[]): Promise<void> {
    if (this.ended || events.length === 0) return;
    await this.write(frames(events));
    this.lastId = events.at(-1)!.id;
  }

  /** Writes, then waits while the client is behind (its hub queue fills meanwhile, up to the cap). */
  private async write(chunk: string, maxWaitMs?: number): Promise<void> {
    if (this.ended) return;
    if (this.stream.write(chunk)) return;
    await this.drained(maxWaitMs);
  }

  /** Resolves once the client has taken what is buffered (or the stream closed, or `maxWaitMs` passed). */
  private drained(maxWaitMs?: number): Promise<void> {
    if (this.ended || !this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = maxWaitMs === undefined ? undefined : setTimeout(done, maxWaitMs);
      const stream = this.stream;
      function done(): void {
        clearTimeout(timer);
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      }
      stream.on('drain', done);
      stream.on('close', done);
    });
  }
}

/** One replay page written: where the next starts, and whether to wait for the client first. */
interface Page {
  readonly next: number | undefined;
  readonly behind: boolean;
}

/** SSE frames: `id:` the log id, `data:` the event as `/api/events` shows it. */
function frames(events: readonly LoggedEvent[]): string {
  let chunk = '';
  for (const e of events) chunk += `id: ${e.id}\ndata: ${JSON.stringify(toApiEvent(e))}\n\n`;
  return chunk;
}

/** The API view of a logged event. */
export function toApiEvent(e: LoggedEvent) {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    rule: e.rule,
    serviceCode: e.serviceCode ?? null,
    deviceId: e.deviceId,
    district: e.district,
    type: e.type,
    severity: e.severity,
    state: e.state,
    value: e.value ?? null,
    message: e.message,
    late: e.late,
    flapping: e.flapping ?? null,
    ticketId: e.ticketId ?? null,
    transition: e.transition ?? null,
  };
}
