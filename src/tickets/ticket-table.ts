/**
 * The tickets table in the dispatch database: its schema (created if missing), its row, and the
 * statements the store prepares once at start. The partial UNIQUE index is what refuses a second
 * open ticket for one (device, rule) even if the store's own check were wrong.
 */
import type Database from 'better-sqlite3';
import type { RuleEvent } from '../dispatch/types.js';

export type Severity = RuleEvent['severity'];
export type TicketStatus = 'open' | 'closed';

/** Created if missing at every start (`IF NOT EXISTS`): a restart keeps every ticket. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS tickets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
  status_notes TEXT,
  service_code TEXT NOT NULL,
  service_name TEXT NOT NULL,
  description TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  closed_at INTEGER,
  closed_by TEXT,
  lat REAL,
  long REAL,
  address TEXT,
  device_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  district TEXT NOT NULL,
  severity TEXT,
  seq INTEGER NOT NULL,
  held INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS tickets_one_open ON tickets(device_id, rule) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS tickets_held ON tickets(device_id, rule) WHERE held = 1;
CREATE INDEX IF NOT EXISTS tickets_requested ON tickets(requested_at);
CREATE INDEX IF NOT EXISTS tickets_device ON tickets(device_id, requested_at);
`;

/** A row of `tickets` as better-sqlite3 returns it. */
export interface Row {
  id: number;
  status: TicketStatus;
  status_notes: string | null;
  service_code: string;
  service_name: string;
  description: string;
  requested_at: number;
  updated_at: number;
  closed_at: number | null;
  closed_by: string | null;
  lat: number | null;
  long: number | null;
  address: string | null;
  device_id: string;
  rule: string;
  district: string;
  severity: Severity | null;
  seq: number;
  held: number;
}

/** The statements the store runs on every event, prepared once. */
export interface Statements {
  byId: Database.Statement<[number], Row>;
  openFor: Database.Statement<[string, string], Row>;
  heldFor: Database.Statement<[string, string], { id: number }>;
  insert: Database.Statement<unknown[]>;
  update: Database.Statement<unknown[]>;
  close: Database.Statement<unknown[]>;
  release: Database.Statement<[string, string]>;
  allOpen: Database.Statement<[], Row>;
  allHeld: Database.Statement<[], { id: number; device_id: string; rule: string }>;
  releaseId: Database.Statement<[number]>;
}

/** Prepares the store's statements; the table must exist (`SCHEMA`). */
export function prepareStatements(db: Database.Database): Statements {
  return {
    byId: db.prepare('SELECT * FROM tickets WHERE id = ?'),
    openFor: db.prepare("SELECT * FROM tickets WHERE device_id = ? AND rule = ? AND status = 'open'"),
    heldFor: db.prepare('SELECT id FROM tickets WHERE device_id = ? AND rule = ? AND held = 1 LIMIT 1'),
    insert: db.prepare(
      `INSERT INTO tickets (status, status_notes, service_code, service_name, description, requested_at, updated_at,
         lat, long, address, device_id, rule, district, severity, seq)
       VALUES ('open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    ),
    update: db.prepare('UPDATE tickets SET status_notes = ?, severity = coalesce(?, severity), updated_at = ?, seq = seq + 1 WHERE id = ?'),
    close: db.prepare(
      "UPDATE tickets SET status = 'closed', status_notes = ?, updated_at = ?, closed_at = ?, closed_by = ?, held = ?, seq = seq + 1 WHERE id = ?",
    ),
    release: db.prepare('UPDATE tickets SET held = 0 WHERE device_id = ? AND rule = ? AND held = 1'),
    allOpen: db.prepare("SELECT * FROM tickets WHERE status = 'open' ORDER BY id"),
    allHeld: db.prepare('SELECT id, device_id, rule FROM tickets WHERE held = 1'),
    releaseId: db.prepare('UPDATE tickets SET held = 0 WHERE id = ?'),
  };
}

/** A service_request_id as a row id; undefined for anything but a positive decimal integer. */
export function rowId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}
