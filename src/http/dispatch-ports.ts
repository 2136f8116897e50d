/**
 * What the dispatch HTTP API reads and changes of stored state, as interfaces with two kinds of
 * implementation: the single node's SQLite stores (`TicketStore`, `EventLog`, `LatestReadings`,
 * `CollectionPlanner`), which answer synchronously and are passed as they are, and a cluster's
 * PostgreSQL stores (CONTRACT §8), which answer with promises. Routes `await` every answer, so
 * either works; a promise that rejects becomes a 503 (`StoreAnswers`, store-unavailable.ts).
 *
 * Each method is one read or change per request, never one per device: a route that lists the fleet
 * asks for the fleet's state once. A promise must settle: an implementation bounds its waits (pool
 * and statement timeouts), since a route awaits what it is given.
 */
import type { CollectionPlan } from '../collection/plan.js';
import type { LatestReading } from '../devices/latest-readings.js';
import type { ActiveAlert } from '../dispatch/types.js';
import type { EventQuery, EventScan } from '../events/event-log.js';
import type { ZoneCounts } from '../parking/zones.js';
import type { Ticket } from '../tickets/open311-view.js';
import type { TicketQuery } from '../tickets/ticket-queries.js';
import type { CloseResult } from '../tickets/ticket-store.js';

/** A value now (SQLite, memory) or later (PostgreSQL). */
export type Awaitable<T> = T | Promise<T>;

/** Tickets, as Open311 and `PATCH /api/tickets/:id` use them. `TicketStore` is one. */
export interface TicketAccess {
  /** Tickets matching `q`, newest request first, at most `q.limit` (1..10000, default 1000). */
  list(q: TicketQuery): Awaitable<Ticket[]>;
  /** One ticket by its `service_request_id`. */
  get(id: string): Awaitable<Ticket | undefined>;
  /**
   * Closes an open ticket by hand (`by`: who, e.g. `api`; `notes`: why, default "Closed by {by}"),
   * with its ticket message queued for delivery in the same commit; says why it could not. A
   * rejection is answered 503 and the client retries: a close that did commit then answers 409.
   */
  close(id: string, notes: string | undefined, by: string): Awaitable<CloseResult>;
}

/** The rule-event log, as `/api/events` and the event stream's replay read it. `EventLog` is one. */
export interface EventAccess {
  /**
   * One bounded step through the log after `q.afterId`: matching events oldest first (at most
   * `q.limit`), looking at no more than `window` log ids (default `SCAN_WINDOW`); `next` is where
   * the next step starts, undefined at the end of the log.
   */
  scan(q: EventQuery, window?: number): Awaitable<EventScan>;
}

/** Latest readings by device id. `LatestReadings` is one, and so is a `Map<string, LatestReading>`. */
export interface LatestLookup {
  get(deviceId: string): LatestReading | undefined;
}

/**
 * What the device routes read besides the catalog, each once per request. The single node passes
 * `latest: () => latestReadings` and its in-memory maps.
 */
export interface DeviceStateAccess {
  /**
   * The latest readings: of `deviceIds` when given (one device's page), else of every device. An
   * answer may hold more devices than asked for.
   */
  latest(deviceIds?: readonly string[]): Awaitable<LatestLookup>;
  /** Raised alerts, by device id. */
  alerts(): Awaitable<ReadonlyMap<string, readonly ActiveAlert[]>>;
  /** The `service_request_id`s of open tickets, by device id. */
  openTickets(): Awaitable<ReadonlyMap<string, readonly string[]>>;
}

/** The collection plan, as `GET /api/collection-plan` reads it. `CollectionPlanner` is one. */
export interface PlanAccess {
  /** The latest plan made, if any. */
  latest(): Awaitable<CollectionPlan | undefined>;
  /** Makes a plan now (a pass over every bin's fill history) and keeps it as the latest. */
  generate(): Awaitable<CollectionPlan>;
}

/** Parking zones, as `GET /api/parking/zones` reads them. */
export interface ZoneAccess {
  /** Every zone's counts now. */
  zones(): Awaitable<ZoneCounts[]>;
}
