/**
 * The durable log of rule events: one row per event, in the dispatch database beside the tickets, so
 * an event, the ticket change it made and its notifications commit together (`append` inside
 * `TicketStore.apply`'s caller transaction). It feeds `GET /api/events`, the SSE stream's replay
 * (`Last-Event-ID`), and the InfluxDB `events` measurement (CONTRACT §4) through
 * `unwrittenForInflux` / `markWritten`.
 *
 * The log is bounded: beyond `maxRows` the oldest rows are deleted, written to InfluxDB or not (an
 * InfluxDB outage longer than the log holds loses the oldest annotations, never the tickets).
 */
import type Database from 'better-sqlite3';
import type { RuleEvent } from '../dispatch/types.js';
import { escapeTag, quoteString } from '../sink/influx/line-protocol.js';
import type { AppliedEvent, TransitionKind } from '../tickets/ticket-store.js';

/** A logged rule event. */
export interface LoggedEvent {
  /** Log id: increasing, the SSE `id:`. */
  readonly id: number;
  /** Epoch ms: the event's `at` (device time of the deciding reading). */
  readonly at: number;
  readonly rule: string;
  readonly serviceCode: string | undefined;
  readonly deviceId: string;
  readonly district: string;
  /** Device type. */
  readonly type: string;
  readonly severity: RuleEvent['severity'];
  readonly state: RuleEvent['state'];
  /** Kept as it came: a number or an enum string. */
  readonly value: number | string | undefined;
  readonly message: string;
  readonly late: boolean;
  readonly flapping: boolean | undefined;
  readonly ticketId: string | undefined;
  /** What the event did to its ticket. */
  readonly transition: TransitionKind | undefined;
  readonly influxWritten: boolean;
}

export interface EventQuery {
  deviceId?: string | undefined;
  rule?: string | undefined;
  /** Device type. */
  type?: string | undefined;
  state?: RuleEvent['state'] | undefined;
  /** Epoch ms: `at` at or after. */
  since?: number | undefined;
  /** Epoch ms: `at` before. */
  until?: number | undefined;
  /** Only events with a log id above this (paging, oldest first). */
  afterId?: number | undefined;
  /** Only events with a log id at or below this. */
  atOrBeforeId?: number | undefined;
  /** 1..1000, default 100. */
  limit?: number | undefined;
}

/** One bounded step through the log: `EventLog.scan`. */
export interface EventScan {
  /** Matching events, oldest first, at most `limit`. */
  readonly events: LoggedEvent[];
  /** Where the next step starts (its `afterId`); undefined once the scan has reached the end of the log. */
  readonly next: number | undefined;
}

/** Log ids one `scan` step looks at, at most: with a filter few events match, a step stays this cheap. */
export const SCAN_WINDOW = 5000;

export interface EventLogOptions {
  /** The dispatch database, or anything holding it once started (the `TicketStore`). */
  db: Database.Database | { readonly db: Database.Database };
  /** Rows kept; the oldest beyond this are deleted. Default 100 000. */
  maxRows?: number | undefined;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rule_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  rule TEXT NOT NULL,
  service_code TEXT,
  device_id TEXT NOT NULL,
  district TEXT NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  state TEXT NOT NULL,
  value,
  message TEXT NOT NULL,
  late INTEGER NOT NULL,
  flapping INTEGER,
  ticket_id TEXT,
  transition TEXT,
  influx_written INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rule_events_device ON rule_events(device_id, id);
CREATE INDEX IF NOT EXISTS rule_events_rule ON rule_events(rule, id);
CREATE INDEX IF NOT EXISTS rule_events_unwritten ON rule_events(id) WHERE influx_written = 0;
`;
// `value` has no declared type on purpose: SQLite then keeps each value's own type, so 0.85 comes
// back a number and "burning" a string.

/** A row of the log as SQLite returns it (booleans as 0/1); the PostgreSQL log converts to it. */
export interface EventRow {
  id: number;
  at: number;
  rule: string;
  service_code: string | null;
  device_id: string;
  district: string;
  type: string;
  severity: RuleEvent['severity'];
  state: RuleEvent['state'];
  value: number | string | null;
  message: string;
  late: number;
  flapping: number | null;
  ticket_id: string | null;
  transition: TransitionKind | null;
  influx_written: number;
}

export class EventLog {
  private readonly opts: EventLogOptions;
  private readonly maxRows: number;
  private database: Database.Database | undefined;
  private insertStmt: Database.Statement<unknown[]> | undefined;
  private pruneStmt: Database.Statement<[number]> | undefined;

  constructor(opts: EventLogOptions) {
    this.opts = opts;
    this.maxRows = opts.maxRows ?? 100_000;
    if (!(Number.isInteger(this.maxRows) && this.maxRows >= 1)) throw new Error(`event log maxRows must be a positive integer, got ${String(opts.maxRows)}`);
  }

  /** Creates the table (the database must be open: start the ticket store first). */
  start(): void {
    const src = this.opts.db;
    const db = 'prepare' in src ? src : src.db;
    db.exec(SCHEMA);
    this.insertStmt = db.prepare(
      `INSERT INTO rule_events (at, rule, service_code, device_id, district, type, severity, state, value, message, late, flapping, ticket_id, transition)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.pruneStmt = db.prepare('DELETE FROM rule_events WHERE id <= ?');
    this.database = db;
  }

  /** Leaves the database open: it belongs to whoever opened it. */
  stop(): void {
    this.database = undefined;
    this.insertStmt = undefined;
    this.pruneStmt = undefined;
  }

  /**
   * Logs events with what they did to tickets, in one transaction (a savepoint inside the caller's,
   * so the ticket change and its log rows commit together). Returns them with their log ids, for
   * the SSE hub. Prunes beyond `maxRows`.
   */
  append(applied: readonly AppliedEvent[]): LoggedEvent[] {
    const db = this.db();
    const insert = this.insertStmt!;
    return db.transaction((): LoggedEvent[] => {
      const out: LoggedEvent[] = [];
      for (const a of applied) {
        const e = a.event;
        const info = insert.run(
          e.at,
          e.rule,
          e.serviceCode ?? null,
          e.deviceId,
          e.district,
          e.type,
          e.severity,
          e.state,
          e.value ?? null,
          e.message,
          e.late ? 1 : 0,
          e.flapping === undefined ? null : e.flapping ? 1 : 0,
          a.ticketId ?? null,
          a.transition ?? null,
        );
        out.push({
          id: Number(info.lastInsertRowid),
          at: e.at,
          rule: e.rule,
          serviceCode: e.serviceCode,
          deviceId: e.deviceId,
          district: e.district,
          type: e.type,
          severity: e.severity,
          state: e.state,
          value: e.value,
          message: e.message,
          late: e.late,
          flapping: e.flapping,
          ticketId: a.ticketId,
          transition: a.transition,
          influxWritten: false,
        });
      }
      const last = out.at(-1);
      if (last && last.id > this.maxRows) this.pruneStmt!.run(last.id - this.maxRows);
      return out;
    })();
  }

  /** Oldest first. */
  list(q: EventQuery = {}): LoggedEvent[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.afterId !== undefined) (where.push('id > ?'), args.push(q.afterId));
    if (q.atOrBeforeId !== undefined) (where.push('id <= ?'), args.push(q.atOrBeforeId));
    if (q.deviceId !== undefined) (where.push('device_id = ?'), args.push(q.deviceId));
    if (q.rule !== undefined) (where.push('rule = ?'), args.push(q.rule));
    if (q.type !== undefined) (where.push('type = ?'), args.push(q.type));
    if (q.state !== undefined) (where.push('state = ?'), args.push(q.state));
    if (q.since !== undefined) (where.push('at >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('at < ?'), args.push(q.until));
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    const sql = `SELECT * FROM rule_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    return (this.db().prepare(sql).all(...args, limit) as EventRow[]).map(eventFromRow);
  }

  /**
   * Like `list`, but the work is bounded whatever the filter matches: it looks at no more than
   * `window` log ids after `afterId` (from the oldest kept row), and returns with `next` set when
   * there is more log to look at. A filter that matches one event in 100 000 costs a page of
   * `window` rows per step, never a scan of the whole table.
   */
  scan(q: EventQuery, window: number = SCAN_WINDOW): EventScan {
    const from = Math.max(q.afterId ?? 0, this.firstId() - 1);
    const to = from + Math.max(1, Math.trunc(window));
    const events = this.list({ ...q, afterId: from, atOrBeforeId: to });
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    if (events.length === limit) return { events, next: events.at(-1)!.id };
    return { events, next: to < this.lastId() ? to : undefined };
  }

  /**
   * The highest log id so far (0 when empty). `ORDER BY id … LIMIT 1` reads one row of the rowid
   * b-tree; an aggregate such as `coalesce(max(id), 0)` is not optimised and reads every row (4.5 ms
   * at 100 000 rows, per call).
   */
  lastId(): number {
    return (this.db().prepare('SELECT id FROM rule_events ORDER BY id DESC LIMIT 1').get() as { id: number } | undefined)?.id ?? 0;
  }

  /** The lowest log id kept (0 when empty): one row read, as in `lastId`. */
  firstId(): number {
    return (this.db().prepare('SELECT id FROM rule_events ORDER BY id LIMIT 1').get() as { id: number } | undefined)?.id ?? 0;
  }

  /** Events not yet in InfluxDB, oldest first. */
  unwrittenForInflux(limit: number): LoggedEvent[] {
    const rows = this.db().prepare('SELECT * FROM rule_events WHERE influx_written = 0 ORDER BY id LIMIT ?').all(Math.max(1, Math.trunc(limit))) as EventRow[];
    return rows.map(eventFromRow);
  }

  /** Marks events as written to InfluxDB (ids of pruned rows are ignored). */
  markWritten(ids: readonly number[]): void {
    const db = this.db();
    const mark = db.prepare('UPDATE rule_events SET influx_written = 1 WHERE id = ?');
    db.transaction((list: readonly number[]) => {
      for (const id of list) mark.run(id);
    })(ids);
  }

  /** Deletes the oldest rows beyond `maxRows`; returns how many. `append` does this on its own. */
  prune(): number {
    const last = this.lastId();
    if (last <= this.maxRows) return 0;
    return this.pruneStmt!.run(last - this.maxRows).changes;
  }

  private db(): Database.Database {
    if (!this.database) throw new Error('event log not started: call start() after the ticket store has started');
    return this.database;
  }
}

// Line breaks cannot stand in a line-protocol line; messages are one line anyway, this makes sure.
const LINE_BREAKS = /[\r\n]+/g;

/**
 * One point of the InfluxDB `events` measurement (CONTRACT §4), ms precision:
 * `events,device_id=…,district=…,rule=…,severity=…,state=… message="…",ticket_id="…",value="…" <at>`.
 *
 * `value` is always a **string** field: a rule's value is a number for a threshold (`0.85`) and an
 * enum string for a status rule (`"burning"`), and an InfluxDB field keeps the type it was first
 * written with, so a mixed field would have its later points refused. Dashboards that need the
 * number read the reading's own measurement. `ticket_id` is a string (Open311 ids are strings); both
 * are left out when absent.
 */
export function toLine(e: Pick<LoggedEvent, 'at' | 'rule' | 'deviceId' | 'district' | 'severity' | 'state' | 'value' | 'message' | 'ticketId'>): string {
  let fields = `message=${quoteString(e.message.replace(LINE_BREAKS, ' '))}`;
  if (e.ticketId !== undefined) fields += `,ticket_id=${quoteString(e.ticketId)}`;
  if (e.value !== undefined) fields += `,value=${quoteString(String(e.value))}`;
  // Tags in key order, as InfluxDB stores them.
  // An empty tag value is refused by InfluxDB; a device without a district (reconciled, uncatalogued) has none.
  const district = e.district === '' ? '' : `,district=${escapeTag(e.district)}`;
  return `events,device_id=${escapeTag(e.deviceId)}${district},rule=${escapeTag(e.rule)},severity=${e.severity},state=${e.state} ${fields} ${e.at}`;
}

/** A stored row as a logged event. */
export function eventFromRow(r: EventRow): LoggedEvent {
  return {
    id: r.id,
    at: r.at,
    rule: r.rule,
    serviceCode: r.service_code ?? undefined,
    deviceId: r.device_id,
    district: r.district,
    type: r.type,
    severity: r.severity,
    state: r.state,
    value: r.value ?? undefined,
    message: r.message,
    late: r.late === 1,
    flapping: r.flapping === null ? undefined : r.flapping === 1,
    ticketId: r.ticket_id ?? undefined,
    transition: r.transition ?? undefined,
    influxWritten: r.influx_written === 1,
  };
}
