/**
 * The rule-event log in PostgreSQL, shared by every worker (the model is src/events/event-log.ts).
 *
 * Log ids must grow in commit order: the event stream resumes "after id N", and an id taken by one
 * worker but committed after a higher id of another would be skipped. So `append` takes a
 * transaction-scoped advisory lock first: batches that log events commit one after another (batches
 * without events, nearly all of them, never take it).
 */
import type pg from 'pg';
import type { AppliedEvent } from '../tickets/ticket-store.js';
import { eventFromRow, SCAN_WINDOW, type EventQuery, type EventRow, type EventScan, type LoggedEvent } from '../events/event-log.js';
import { LOCKS, type Queryable } from './database.js';

/** A row as pg returns it: bigint as string, booleans as booleans, `value` from jsonb. */
type Row = Omit<EventRow, 'id' | 'at' | 'late' | 'flapping' | 'influx_written'> & { id: string; at: string; late: boolean; flapping: boolean | null; influx_written: boolean };

/** The channel workers are told on that events were logged (LISTEN/NOTIFY). */
export const EVENTS_CHANNEL = 'citypipe_events';

export class PgEventLog {
  private readonly pool: pg.Pool;
  private readonly maxRows: number;

  constructor(pool: pg.Pool, maxRows: number) {
    this.pool = pool;
    this.maxRows = maxRows;
  }

  /** Logs events inside the caller's transaction (the one that changed their tickets). */
  async append(c: Queryable, applied: readonly AppliedEvent[]): Promise<LoggedEvent[]> {
    if (applied.length === 0) return [];
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.events]);
    const cols = 14;
    const values: unknown[] = [];
    const tuples: string[] = [];
    const now = Date.now();
    for (const a of applied) {
      const e = a.event;
      const base = values.length;
      tuples.push(`(${Array.from({ length: cols }, (_, i) => `$${base + i + 1}`).join(', ')}, ${now})`);
      values.push(
        e.at,
        e.rule,
        e.serviceCode ?? null,
        e.deviceId,
        e.district,
        e.type,
        e.severity,
        e.state,
        e.value === undefined ? null : JSON.stringify(e.value),
        e.message,
        e.late,
        e.flapping ?? null,
        a.ticketId ?? null,
        a.transition ?? null,
      );
    }
    const r = await c.query<Row>(
      `INSERT INTO events (at, rule, service_code, device_id, district, type, severity, state, value, message, late, flapping, ticket_id, transition, logged_at)
       VALUES ${tuples.join(', ')} RETURNING *`,
      values,
    );
    await c.query(`SELECT pg_notify('${EVENTS_CHANNEL}', '')`);
    const out = r.rows.map(fromRow).sort((a, b) => a.id - b.id);
    // Pruned once every 100 log ids (whenever this batch's ids cross a multiple of 100), not per append.
    const first = out[0]!.id;
    const last = out.at(-1)!.id;
    if (last > this.maxRows && Math.floor(last / 100) > Math.floor((first - 1) / 100)) await c.query('DELETE FROM events WHERE id <= $1', [last - this.maxRows]);
    return out;
  }

  /** Oldest first. */
  async list(q: EventQuery = {}): Promise<LoggedEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (q.afterId !== undefined) where.push(`id > ${arg(q.afterId)}`);
    if (q.atOrBeforeId !== undefined) where.push(`id <= ${arg(q.atOrBeforeId)}`);
    if (q.deviceId !== undefined) where.push(`device_id = ${arg(q.deviceId)}`);
    if (q.rule !== undefined) where.push(`rule = ${arg(q.rule)}`);
    if (q.type !== undefined) where.push(`type = ${arg(q.type)}`);
    if (q.state !== undefined) where.push(`state = ${arg(q.state)}`);
    if (q.since !== undefined) where.push(`at >= ${arg(q.since)}`);
    if (q.until !== undefined) where.push(`at < ${arg(q.until)}`);
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    const r = await this.pool.query<Row>(`SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${arg(limit)}`, args);
    return r.rows.map(fromRow);
  }

  /** A bounded step through the log (event-log.ts `scan`). */
  async scan(q: EventQuery, window: number = SCAN_WINDOW): Promise<EventScan> {
    const bounds = await this.pool.query<{ first: string | null; last: string | null }>('SELECT min(id) AS first, max(id) AS last FROM events');
    const first = Number(bounds.rows[0]?.first ?? 0);
    const last = Number(bounds.rows[0]?.last ?? 0);
    const from = Math.max(q.afterId ?? 0, first - 1);
    const to = from + Math.max(1, Math.trunc(window));
    const events = await this.list({ ...q, afterId: from, atOrBeforeId: to });
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    if (events.length === limit) return { events, next: events.at(-1)!.id };
    return { events, next: to < last ? to : undefined };
  }

  async lastId(): Promise<number> {
    const r = await this.pool.query<{ id: string }>('SELECT id FROM events ORDER BY id DESC LIMIT 1');
    return Number(r.rows[0]?.id ?? 0);
  }

  /** Events not yet in InfluxDB and logged before `loggedBefore`, oldest first. */
  async unwrittenForInflux(limit: number, loggedBefore: number): Promise<LoggedEvent[]> {
    const r = await this.pool.query<Row>('SELECT * FROM events WHERE NOT influx_written AND logged_at < $1 ORDER BY id LIMIT $2', [loggedBefore, Math.max(1, Math.trunc(limit))]);
    return r.rows.map(fromRow);
  }

  async markWritten(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('UPDATE events SET influx_written = true WHERE id = ANY($1::bigint[])', [ids]);
  }
}

function fromRow(r: Row): LoggedEvent {
  const flapping = r.flapping === null ? null : r.flapping ? 1 : 0;
  return eventFromRow({ ...r, id: Number(r.id), at: Number(r.at), late: r.late ? 1 : 0, flapping, influx_written: r.influx_written ? 1 : 0 });
}
