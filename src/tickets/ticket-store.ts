/**
 * Tickets: Open311 GeoReport v2 service requests (CONTRACT §5) opened and closed by rule events.
 *
 * One SQLite file (`<dataDir>/dispatch.db`, WAL, `synchronous = FULL`) that other dispatch stages
 * share: the event log and the delivery outbox keep their tables in it, so a ticket change, its log
 * row and its outgoing notifications commit in one transaction or not at all. better-sqlite3 nests a
 * transaction called inside another as a savepoint, so `apply` can run inside a caller's transaction.
 *
 * Policy (from `RuleEvent` in src/dispatch/types.ts):
 * - `raised` with a `serviceCode` opens a ticket, unless the event is `late` and carries `clearedAt`
 *   (the backlog already shows the condition over).
 * - A further `raised` for an open ticket (a flapping notice, the end of flapping while still raised)
 *   updates it.
 * - `cleared` closes the open ticket of its (device, rule), whether or not the event carries a
 *   service code (a rule turned event-only while raised must not leave its ticket open forever).
 * - At most one open ticket per (device, rule): the code checks, and a partial UNIQUE index refuses.
 * - A ticket closed by hand while its condition is still raised is *held*: no new ticket is opened
 *   for that (device, rule), neither by a flapping notice nor by `reconcile` at start, until the rule
 *   clears. The next raise after that clear opens a new ticket.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DeviceRecord } from '../catalog/types.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import type { ActiveAlert, RuleEvent } from '../dispatch/types.js';
import { openPrivateDatabase } from '../fs/private-files.js';
import { iso, toOpen311, toTicket, type Open311Request, type Ticket } from './open311-view.js';
import { countOpenByService, listTickets, openTicketIdsByDevice, type TicketQuery } from './ticket-queries.js';
import { clearedNotes, openedNotes, raisedAgainNotes } from './ticket-notes.js';
import { prepareStatements, rowId, SCHEMA, type Row, type Severity, type Statements } from './ticket-table.js';

export type TransitionKind = 'opened' | 'updated' | 'closed';

/** One ticket change, handed to `onTransition` inside the transaction that makes it. */
export interface TicketTransition {
  readonly ticket: Open311Request;
  readonly transition: TransitionKind;
  /** Per ticket 1, 2, 3, …; with the ticket id an idempotency key for notifications. */
  readonly seq: number;
  /** Epoch ms (citypipe's clock) of the change. */
  readonly at: number;
  readonly district: string;
  readonly severity: Severity | null;
  /** What made the change. */
  readonly cause: 'event' | 'reconcile' | 'manual';
}

/** A rule event and what it did to tickets. */
export interface AppliedEvent {
  readonly event: RuleEvent;
  /** The ticket it opened, updated or closed; undefined when it touched none. */
  readonly ticketId: string | undefined;
  readonly transition: TransitionKind | undefined;
}

/** The catalog, as tickets need it (location and address). */
export interface TicketDeviceLookup {
  get(id: string): DeviceRecord | undefined;
}

/** The Open311 service a rule files under; undefined for an event-only (or unknown) rule. */
export type ServiceLookup = (rule: string) => ServiceDefinition | undefined;

export type CloseResult =
  | { readonly ok: true; readonly ticket: Ticket }
  | { readonly ok: false; readonly reason: 'not_found'; readonly message: string }
  | { readonly ok: false; readonly reason: 'already_closed'; readonly message: string; readonly ticket: Ticket };

export interface ReconcileResult {
  readonly opened: readonly Ticket[];
  readonly closed: readonly Ticket[];
  /** Holds released because their rule is no longer raised. */
  readonly released: number;
}

/** Where the tickets live: a data dir (`<dataDir>/dispatch.db`), a file, or a database already open. */
export type TicketStoreSource = { readonly dataDir: string } | { readonly file: string } | { readonly db: Database.Database };

export type TicketStoreOptions = TicketStoreSource & {
  /**
   * Called inside the transaction for each ticket change (the delivery outbox enqueues here). If it
   * throws, the whole `apply`/`reconcile`/`close` rolls back and the error propagates.
   */
  onTransition?: ((t: TicketTransition) => void) | undefined;
  /** The clock for `updated_datetime` and transitions; default `Date.now`. */
  now?: (() => number) | undefined;
};

/** The default file under the data dir. */
export const DISPATCH_DB_FILE = 'dispatch.db';

/**
 * Opens (creating it and its directory) a dispatch database with the pragmas every stage in it
 * relies on. `':memory:'` works for tests.
 */
export function openDispatchDb(file: string): Database.Database {
  const db = openPrivateDatabase(file);
  db.pragma('journal_mode = WAL');
  // FULL: a ticket (and the notifications committed with it) is on disk when the commit returns.
  db.pragma('synchronous = FULL');
  // A CLI command reading the file while the service writes waits briefly instead of failing.
  db.pragma('busy_timeout = 5000');
  return db;
}

/** A lookup from rule id to its service, built from the rules' service list. */
export function serviceLookup(services: readonly ServiceDefinition[]): ServiceLookup {
  const byRule = new Map<string, ServiceDefinition>();
  for (const s of services) for (const r of s.rules) byRule.set(r, s);
  return (rule) => byRule.get(rule);
}

interface NewTicket {
  serviceCode: string;
  serviceName: string;
  description: string;
  requestedAt: number;
  deviceId: string;
  rule: string;
  district: string;
  severity: Severity | null;
  notes: string | null;
}

export class TicketStore {
  private readonly opts: TicketStoreOptions;
  private readonly now: () => number;
  private database: Database.Database | undefined;
  private owned = false;
  private st: Statements | undefined;

  constructor(opts: TicketStoreOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Opens the file (unless given a database) and creates the table; idempotent. */
  start(): void {
    if (this.database) return;
    let db: Database.Database;
    if ('db' in this.opts) db = this.opts.db;
    else {
      db = openDispatchDb('file' in this.opts ? this.opts.file : path.join(this.opts.dataDir, DISPATCH_DB_FILE));
      this.owned = true;
    }
    db.exec(SCHEMA);
    this.st = prepareStatements(db);
    this.database = db;
  }

  /** Closes the file if this store opened it; a shared database is left to its owner. */
  stop(): void {
    if (this.owned) this.database?.close();
    this.database = undefined;
    this.st = undefined;
    this.owned = false;
  }

  /** The database, for stages that share it (event log, outbox). */
  get db(): Database.Database {
    if (!this.database) throw new Error('ticket store not started: call start() first');
    return this.database;
  }

  /**
   * Applies a batch of rule events in one transaction (a savepoint inside the caller's, if any), in
   * order. Returns each event with the ticket it touched.
   */
  apply(events: readonly RuleEvent[], devices: TicketDeviceLookup, services: ServiceLookup): AppliedEvent[] {
    const st = this.statements();
    return this.db.transaction(() => events.map((e) => this.applyOne(st, e, devices, services)))();
  }

  /**
   * Repairs tickets at start after a crash between the rules' state commit and the ticket commit:
   * opens a ticket for each active alert that files under a service and has none (unless held), and
   * closes open tickets whose (device, rule) is no longer raised or no longer files tickets. Releases
   * holds whose rule is no longer raised.
   */
  reconcile(
    activeAlerts: readonly ActiveAlert[],
    devices: TicketDeviceLookup,
    services: ServiceLookup,
    opts: { severityOf?: ((deviceId: string, rule: string) => Severity | undefined) | undefined } = {},
  ): ReconcileResult {
    const st = this.statements();
    return this.db.transaction((): ReconcileResult => {
      const now = this.now();
      const active = new Map<string, ActiveAlert>();
      for (const a of activeAlerts) active.set(key(a.deviceId, a.rule), a);
      const opened: Ticket[] = [];
      const closed: Ticket[] = [];
      let released = 0;

      for (const row of st.allOpen.all()) {
        const alert = active.get(key(row.device_id, row.rule));
        let why: string | undefined;
        if (!alert) why = `Closed at start-up: rule ${row.rule} is no longer raised for ${row.device_id} (its clear came while tickets were not updated)`;
        else if (!services(row.rule)) why = `Closed at start-up: rule ${row.rule} no longer files tickets`;
        if (why) closed.push(this.closeRow(st, row, why, 'reconcile', false, now, 'reconcile'));
      }
      for (const h of st.allHeld.all()) {
        if (active.has(key(h.device_id, h.rule))) continue;
        st.releaseId.run(h.id);
        released++;
      }
      for (const a of activeAlerts) {
        const svc = services(a.rule);
        if (!svc) continue;
        if (st.openFor.get(a.deviceId, a.rule) || st.heldFor.get(a.deviceId, a.rule)) continue;
        const device = devices.get(a.deviceId);
        const value = a.value === undefined ? '' : ` (value ${String(a.value)})`;
        const ticket = this.insert(
          st,
          {
            serviceCode: svc.serviceCode,
            serviceName: svc.serviceName,
            description: `${svc.serviceName}: rule ${a.rule} raised since ${iso(a.since)}${value}`,
            requestedAt: a.since,
            deviceId: a.deviceId,
            rule: a.rule,
            district: device?.district ?? '',
            severity: opts.severityOf?.(a.deviceId, a.rule) ?? null,
            notes: 'Opened at start-up: the rule was raised but had no ticket',
          },
          device,
          now,
          'reconcile',
        );
        opened.push(ticket);
      }
      return { opened, closed, released };
    })();
  }

  /**
   * Closes a ticket by hand (an operator, the API). If its condition is still raised, the ticket is
   * held: no new ticket opens for its (device, rule) until the rule clears and raises again.
   */
  close(id: string, notes: string | undefined, by: string): CloseResult {
    const st = this.statements();
    return this.db.transaction((): CloseResult => {
      const n = rowId(id);
      const row = n === undefined ? undefined : st.byId.get(n);
      if (!row) return { ok: false, reason: 'not_found', message: `no ticket with service_request_id "${id}"` };
      if (row.status === 'closed') {
        return { ok: false, reason: 'already_closed', message: `ticket ${id} is already closed (${row.status_notes ?? 'no notes'})`, ticket: toTicket(row) };
      }
      const text = notes?.trim() ? notes.trim() : `Closed by ${by}`;
      return { ok: true, ticket: this.closeRow(st, row, text, by, true, this.now(), 'manual') };
    })();
  }

  get(id: string): Ticket | undefined {
    const n = rowId(id);
    if (n === undefined) return undefined;
    const row = this.statements().byId.get(n);
    return row ? toTicket(row) : undefined;
  }

  /** The open ticket of a (device, rule), if any. */
  openFor(deviceId: string, rule: string): Ticket | undefined {
    const row = this.statements().openFor.get(deviceId, rule);
    return row ? toTicket(row) : undefined;
  }

  /** Newest request first. */
  list(q: TicketQuery = {}): Ticket[] {
    return listTickets(this.db, q);
  }

  /** The ids of every open ticket, by device (for device health and the map). */
  openByDevice(): Map<string, string[]> {
    return openTicketIdsByDevice(this.db);
  }

  /** Open tickets per `service_code` (for metrics and the dashboard). */
  countOpenByService(): Record<string, number> {
    return countOpenByService(this.db);
  }

  private applyOne(st: Statements, e: RuleEvent, devices: TicketDeviceLookup, services: ServiceLookup): AppliedEvent {
    const none: AppliedEvent = { event: e, ticketId: undefined, transition: undefined };
    if (e.state === 'cleared') {
      st.release.run(e.deviceId, e.rule);
      const open = st.openFor.get(e.deviceId, e.rule);
      if (!open) return none;
      const t = this.closeRow(st, open, clearedNotes(e), 'rule', false, this.now(), 'event');
      return { event: e, ticketId: t.service_request_id, transition: 'closed' };
    }
    if (e.serviceCode === undefined) return none;
    // The backlog shows it raised and cleared already; its `cleared` follows in this batch.
    if (e.late && e.clearedAt !== undefined) return none;
    const now = this.now();
    const open = st.openFor.get(e.deviceId, e.rule);
    if (open) {
      const notes = raisedAgainNotes(e);
      st.update.run(notes, e.severity, now, open.id);
      const row = st.byId.get(open.id)!;
      this.emit(row, 'updated', now, 'event');
      return { event: e, ticketId: String(open.id), transition: 'updated' };
    }
    if (st.heldFor.get(e.deviceId, e.rule)) return none;
    const svc = services(e.rule);
    const device = devices.get(e.deviceId);
    const t = this.insert(
      st,
      {
        serviceCode: e.serviceCode,
        serviceName: svc?.serviceName ?? e.serviceCode,
        description: e.message,
        requestedAt: e.at,
        deviceId: e.deviceId,
        rule: e.rule,
        district: e.district,
        severity: e.severity,
        notes: openedNotes(e),
      },
      device,
      now,
      'event',
    );
    return { event: e, ticketId: t.service_request_id, transition: 'opened' };
  }

  private insert(st: Statements, t: NewTicket, device: DeviceRecord | undefined, now: number, cause: TicketTransition['cause']): Ticket {
    const info = st.insert.run(
      t.notes,
      t.serviceCode,
      t.serviceName,
      t.description,
      t.requestedAt,
      now,
      device?.location.lat ?? null,
      device?.location.lon ?? null,
      device?.address ?? null,
      t.deviceId,
      t.rule,
      t.district,
      t.severity,
    );
    const row = st.byId.get(Number(info.lastInsertRowid))!;
    return this.emit(row, 'opened', now, cause);
  }

  private closeRow(st: Statements, row: Row, notes: string, by: string, held: boolean, now: number, cause: TicketTransition['cause']): Ticket {
    st.close.run(notes, now, now, by, held ? 1 : 0, row.id);
    return this.emit(st.byId.get(row.id)!, 'closed', now, cause);
  }

  private emit(row: Row, transition: TransitionKind, at: number, cause: TicketTransition['cause']): Ticket {
    const ticket = toTicket(row);
    this.opts.onTransition?.({ ticket: toOpen311(ticket), transition, seq: row.seq, at, district: row.district, severity: row.severity, cause });
    return ticket;
  }

  private statements(): Statements {
    if (!this.st) throw new Error('ticket store not started: call start() first');
    return this.st;
  }
}

function key(deviceId: string, rule: string): string {
  return `${deviceId}\0${rule}`;
}
