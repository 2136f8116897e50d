/**
 * Tickets in PostgreSQL: the policy of src/tickets/ticket-store.ts (read its header), run inside the
 * caller's transaction, which holds the row locks of the events' devices. Two workers cannot open a
 * second ticket for one (device, rule): the device lock serialises them, and the partial unique index
 * `tickets_one_open` refuses it if anything else tried.
 */
import type pg from 'pg';
import type { RuleEvent } from '../dispatch/types.js';
import type { AppliedEvent, CloseResult, ServiceLookup, TicketDeviceLookup, TicketTransition, TransitionKind } from '../tickets/ticket-store.js';
import { toOpen311, toTicket, type Ticket } from '../tickets/open311-view.js';
import { rowId, type Row } from '../tickets/ticket-table.js';
import { clearedNotes, openedNotes, raisedAgainNotes } from '../tickets/ticket-notes.js';
import type { TicketQuery } from '../tickets/ticket-queries.js';
import type { Queryable } from './database.js';

type PgRow = Omit<Row, 'id' | 'held' | 'requested_at' | 'updated_at' | 'closed_at'> & {
  id: string;
  held: boolean;
  requested_at: string;
  updated_at: string;
  closed_at: string | null;
};

function fromPg(r: PgRow): Row {
  return {
    ...r,
    id: Number(r.id),
    held: r.held ? 1 : 0,
    requested_at: Number(r.requested_at),
    updated_at: Number(r.updated_at),
    closed_at: r.closed_at === null ? null : Number(r.closed_at),
  };
}

/** Transitions made in one transaction, for the outbox (enqueued in the same transaction). */
export type TransitionSink = (t: TicketTransition) => void;

async function one(c: Queryable, sql: string, args: unknown[]): Promise<Row | undefined> {
  const r = await c.query<PgRow>(sql, args);
  return r.rows[0] ? fromPg(r.rows[0]) : undefined;
}

const OPEN_FOR = "SELECT * FROM tickets WHERE device_id = $1 AND rule = $2 AND status = 'open'";

export class PgTickets {
  private readonly pool: pg.Pool;
  private readonly now: () => number;

  constructor(pool: pg.Pool, now: () => number = Date.now) {
    this.pool = pool;
    this.now = now;
  }

  /** Applies events in order inside the caller's transaction; `emit` gets each transition. */
  async apply(c: Queryable, events: readonly RuleEvent[], devices: TicketDeviceLookup, services: ServiceLookup, emit: TransitionSink): Promise<AppliedEvent[]> {
    const out: AppliedEvent[] = [];
    for (const e of events) out.push(await this.applyOne(c, e, devices, services, emit));
    return out;
  }

  private async applyOne(c: Queryable, e: RuleEvent, devices: TicketDeviceLookup, services: ServiceLookup, emit: TransitionSink): Promise<AppliedEvent> {
    const none: AppliedEvent = { event: e, ticketId: undefined, transition: undefined };
    const now = this.now();
    if (e.state === 'cleared') {
      await c.query('UPDATE tickets SET held = false WHERE device_id = $1 AND rule = $2 AND held', [e.deviceId, e.rule]);
      const open = await one(c, OPEN_FOR, [e.deviceId, e.rule]);
      if (!open) return none;
      const t = await this.closeRow(c, open, clearedNotes(e), 'rule', false, now, 'event', emit);
      return { event: e, ticketId: t.service_request_id, transition: 'closed' };
    }
    if (e.serviceCode === undefined) return none;
    if (e.late && e.clearedAt !== undefined) return none;
    const open = await one(c, OPEN_FOR, [e.deviceId, e.rule]);
    if (open) {
      const notes = raisedAgainNotes(e);
      const row = (await one(c, 'UPDATE tickets SET status_notes = $1, severity = coalesce($2, severity), updated_at = $3, seq = seq + 1 WHERE id = $4 RETURNING *', [
        notes,
        e.severity,
        now,
        open.id,
      ]))!;
      this.emit(row, 'updated', now, 'event', emit);
      return { event: e, ticketId: String(open.id), transition: 'updated' };
    }
    const held = await c.query('SELECT 1 FROM tickets WHERE device_id = $1 AND rule = $2 AND held LIMIT 1', [e.deviceId, e.rule]);
    if (held.rowCount) return none;
    const svc = services(e.rule);
    const device = devices.get(e.deviceId);
    const row = (await one(
      c,
      `INSERT INTO tickets (status, status_notes, service_code, service_name, description, requested_at, updated_at,
         lat, long, address, device_id, rule, district, severity, seq)
       VALUES ('open', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1) RETURNING *`,
      [
        openedNotes(e),
        e.serviceCode,
        svc?.serviceName ?? e.serviceCode,
        e.message,
        e.at,
        now,
        device?.location.lat ?? null,
        device?.location.lon ?? null,
        device?.address ?? null,
        e.deviceId,
        e.rule,
        e.district,
        e.severity,
      ],
    ))!;
    const t = this.emit(row, 'opened', now, 'event', emit);
    return { event: e, ticketId: t.service_request_id, transition: 'opened' };
  }

  private async closeRow(c: Queryable, row: Row, notes: string, by: string, held: boolean, now: number, cause: TicketTransition['cause'], emit: TransitionSink): Promise<Ticket> {
    const closed = (await one(
      c,
      "UPDATE tickets SET status = 'closed', status_notes = $1, updated_at = $2, closed_at = $2, closed_by = $3, held = $4, seq = seq + 1 WHERE id = $5 RETURNING *",
      [notes, now, by, held, row.id],
    ))!;
    return this.emit(closed, 'closed', now, cause, emit);
  }

  private emit(row: Row, transition: TransitionKind, at: number, cause: TicketTransition['cause'], emit: TransitionSink): Ticket {
    const ticket = toTicket(row);
    emit({ ticket: toOpen311(ticket), transition, seq: row.seq, at, district: row.district, severity: row.severity, cause });
    return ticket;
  }

  /**
   * Closes a ticket by hand, in the caller's transaction; held while its condition may still be
   * raised (ticket-store.ts). Locks the device's row first, as a batch evaluating the device would.
   */
  async close(c: Queryable, id: string, notes: string | undefined, by: string, emit: TransitionSink): Promise<CloseResult> {
    const n = rowId(id);
    const missing: CloseResult = { ok: false, reason: 'not_found', message: `no ticket with service_request_id "${id}"` };
    if (n === undefined) return missing;
    const first = await one(c, 'SELECT * FROM tickets WHERE id = $1', [n]);
    if (!first) return missing;
    await c.query('SELECT 1 FROM cp_devices WHERE device_id = $1 FOR UPDATE', [first.device_id]);
    const row = (await one(c, 'SELECT * FROM tickets WHERE id = $1', [n]))!;
    if (row.status === 'closed') {
      return { ok: false, reason: 'already_closed', message: `ticket ${id} is already closed (${row.status_notes ?? 'no notes'})`, ticket: toTicket(row) };
    }
    const text = notes?.trim() ? notes.trim() : `Closed by ${by}`;
    return { ok: true, ticket: await this.closeRow(c, row, text, by, true, this.now(), 'manual', emit) };
  }

  async get(id: string): Promise<Ticket | undefined> {
    const n = rowId(id);
    if (n === undefined) return undefined;
    const row = await one(this.pool, 'SELECT * FROM tickets WHERE id = $1', [n]);
    return row ? toTicket(row) : undefined;
  }

  /** Tickets matching `q`, newest request first (ticket-queries.ts). */
  async list(q: TicketQuery = {}): Promise<Ticket[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (q.ids !== undefined) {
      const ids = q.ids.map(rowId).filter((n): n is number => n !== undefined);
      if (ids.length === 0) return [];
      where.push(`id = ANY(${arg(ids)}::bigint[])`);
    }
    if (q.status) where.push(`status = ${arg(q.status)}`);
    if (q.serviceCodes !== undefined) {
      if (q.serviceCodes.length === 0) return [];
      where.push(`service_code = ANY(${arg(q.serviceCodes)}::text[])`);
    }
    if (q.start !== undefined) where.push(`requested_at >= ${arg(q.start)}`);
    if (q.end !== undefined) where.push(`requested_at <= ${arg(q.end)}`);
    if (q.deviceId !== undefined) where.push(`device_id = ${arg(q.deviceId)}`);
    if (q.rule !== undefined) where.push(`rule = ${arg(q.rule)}`);
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 1), 10_000);
    const offset = Math.max(Math.trunc(q.offset ?? 0), 0);
    const sql = `SELECT * FROM tickets ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY requested_at DESC, id DESC LIMIT ${arg(limit)} OFFSET ${arg(offset)}`;
    const r = await this.pool.query<PgRow>(sql, args);
    return r.rows.map((x) => toTicket(fromPg(x)));
  }

  /** The ids of every open ticket, by device. */
  async openByDevice(): Promise<Map<string, string[]>> {
    const r = await this.pool.query<{ id: string; device_id: string }>("SELECT id, device_id FROM tickets WHERE status = 'open' ORDER BY id");
    const out = new Map<string, string[]>();
    for (const row of r.rows) {
      const list = out.get(row.device_id);
      if (list) list.push(row.id);
      else out.set(row.device_id, [row.id]);
    }
    return out;
  }

  /** Open tickets per `service_code`. */
  async countOpenByService(): Promise<Record<string, number>> {
    const r = await this.pool.query<{ service_code: string; n: string }>("SELECT service_code, count(*) AS n FROM tickets WHERE status = 'open' GROUP BY service_code");
    return Object.fromEntries(r.rows.map((x) => [x.service_code, Number(x.n)]));
  }
}
