/**
 * Reading tickets for the API, device health and metrics: the queries whose shape depends on the
 * request, prepared per call (the store's fixed statements are in ticket-table.ts).
 */
import type Database from 'better-sqlite3';
import { toTicket, type Ticket } from './open311-view.js';
import { rowId, type Row, type TicketStatus } from './ticket-table.js';

export interface TicketQuery {
  status?: TicketStatus | undefined;
  serviceCodes?: readonly string[] | undefined;
  /** Epoch ms: `requested_datetime` at or after. */
  start?: number | undefined;
  /** Epoch ms: `requested_datetime` at or before. */
  end?: number | undefined;
  ids?: readonly string[] | undefined;
  deviceId?: string | undefined;
  rule?: string | undefined;
  /** 1..10000, default 1000. */
  limit?: number | undefined;
  offset?: number | undefined;
}

/** Tickets matching `q`, newest request first. */
export function listTickets(db: Database.Database, q: TicketQuery): Ticket[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.ids !== undefined) {
    const ids = q.ids.map(rowId).filter((n): n is number => n !== undefined);
    if (ids.length === 0) return [];
    where.push(`id IN (${ids.map(() => '?').join(',')})`);
    args.push(...ids);
  }
  if (q.status) (where.push('status = ?'), args.push(q.status));
  if (q.serviceCodes !== undefined) {
    if (q.serviceCodes.length === 0) return [];
    where.push(`service_code IN (${q.serviceCodes.map(() => '?').join(',')})`);
    args.push(...q.serviceCodes);
  }
  if (q.start !== undefined) (where.push('requested_at >= ?'), args.push(q.start));
  if (q.end !== undefined) (where.push('requested_at <= ?'), args.push(q.end));
  if (q.deviceId !== undefined) (where.push('device_id = ?'), args.push(q.deviceId));
  if (q.rule !== undefined) (where.push('rule = ?'), args.push(q.rule));
  const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 1), 10_000);
  const offset = Math.max(Math.trunc(q.offset ?? 0), 0);
  const sql = `SELECT * FROM tickets ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY requested_at DESC, id DESC LIMIT ? OFFSET ?`;
  return (db.prepare(sql).all(...args, limit, offset) as Row[]).map(toTicket);
}

/** The ids of every open ticket, by device. */
export function openTicketIdsByDevice(db: Database.Database): Map<string, string[]> {
  const out = new Map<string, string[]>();
  // No ORDER BY: with it SQLite reads every ticket ever kept in id order instead of the open ones
  // through their partial index; a device has a handful of open tickets to sort.
  const byDevice = new Map<string, number[]>();
  for (const row of db.prepare("SELECT id, device_id FROM tickets WHERE status = 'open'").all() as { id: number; device_id: string }[]) {
    const list = byDevice.get(row.device_id);
    if (list) list.push(row.id);
    else byDevice.set(row.device_id, [row.id]);
  }
  for (const [device, ids] of byDevice) out.set(device, ids.sort((a, b) => a - b).map(String));
  return out;
}

/** Open tickets per `service_code`. */
export function countOpenByService(db: Database.Database): Record<string, number> {
  const rows = db.prepare("SELECT service_code, count(*) AS n FROM tickets WHERE status = 'open' GROUP BY service_code").all() as {
    service_code: string;
    n: number;
  }[];
  return Object.fromEntries(rows.map((r) => [r.service_code, r.n]));
}
