/**
 * The live event stream of a worker follows the shared log, so a client on any worker sees every
 * worker's events: LISTEN on the channel `append` notifies, and a poll in case a notification is
 * missed (a dropped connection). Events go to the hub in log order, each once.
 */
import type pg from 'pg';
import type { EventHub } from '../events/event-hub.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import { EVENTS_CHANNEL, type PgEventLog } from './pg-events.js';

const POLL_MS = 1000;
const PAGE = 1000;

export class PgEventFeed {
  private readonly pool: pg.Pool;
  private readonly events: PgEventLog;
  private readonly hub: EventHub;
  private readonly log: Logger;
  private client: pg.PoolClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private from = 0;
  private reading: Promise<void> | undefined;
  private again = false;

  constructor(opts: { pool: pg.Pool; events: PgEventLog; hub: EventHub; log: Logger }) {
    this.pool = opts.pool;
    this.events = opts.events;
    this.hub = opts.hub;
    this.log = opts.log;
  }

  /** Starts at the end of the log: a client resuming from an id reads the log itself. */
  async start(): Promise<void> {
    this.from = await this.events.lastId();
    const client = await this.pool.connect();
    this.client = client;
    client.on('notification', () => this.poll());
    client.on('error', () => undefined);
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Reads what was logged since the last look into the hub. */
  poll(): void {
    if (!this.client) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.read().finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        this.poll();
      }
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const client = this.client;
    this.client = undefined;
    await this.reading;
    client?.release(true);
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        const got = await this.events.list({ afterId: this.from, limit: PAGE });
        if (got.length === 0) return;
        this.from = got.at(-1)!.id;
        this.hub.publish(got);
        if (got.length < PAGE) return;
      }
    } catch (err) {
      this.log.warn({ err, code: ErrorCodes.DATABASE_UNREACHABLE.code }, 'cannot read the shared event log for the live stream; trying again');
    }
  }
}
