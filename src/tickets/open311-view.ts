/**
 * Tickets as Open311 GeoReport v2 service requests (CONTRACT §5): what the API serves, and the
 * stored ticket (a request plus what citypipe keeps beside it) made from a table row.
 */
import type { Row, Severity, TicketStatus } from './ticket-table.js';

/** A GeoReport v2 service request as the API serves it, plus `device_id` and `rule`. */
export interface Open311Request {
  /** Decimal string, e.g. `"1042"`. */
  readonly service_request_id: string;
  readonly status: TicketStatus;
  readonly status_notes: string | null;
  readonly service_code: string;
  readonly service_name: string;
  readonly description: string;
  /** ISO 8601 (UTC): when the condition was raised (device time of the deciding reading). */
  readonly requested_datetime: string;
  /** ISO 8601 (UTC): when the ticket last changed (citypipe's clock). */
  readonly updated_datetime: string;
  /** From the catalog; null when the device is no longer catalogued. */
  readonly lat: number | null;
  readonly long: number | null;
  readonly address: string | null;
  readonly device_id: string;
  readonly rule: string;
}

/** A stored ticket: the Open311 request and what citypipe keeps beside it. */
export interface Ticket extends Open311Request {
  readonly district: string;
  /** Null for a ticket opened by `reconcile` without a `severityOf`. */
  readonly severity: Severity | null;
  /** Transitions so far: 1 after opening. */
  readonly seq: number;
  /** `rule` (cleared), `reconcile`, or who closed it by hand; null while open. */
  readonly closed_by: string | null;
  /** Closed by hand while its condition may still be raised: no new ticket until the rule clears. */
  readonly held: boolean;
}

/** The GeoReport v2 view of a ticket (drops what citypipe keeps internally). */
export function toOpen311(t: Open311Request): Open311Request {
  return {
    service_request_id: t.service_request_id,
    status: t.status,
    status_notes: t.status_notes,
    service_code: t.service_code,
    service_name: t.service_name,
    description: t.description,
    requested_datetime: t.requested_datetime,
    updated_datetime: t.updated_datetime,
    lat: t.lat,
    long: t.long,
    address: t.address,
    device_id: t.device_id,
    rule: t.rule,
  };
}

/** A row as the stored ticket: times as ISO 8601 (UTC), the id as a decimal string. */
export function toTicket(r: Row): Ticket {
  return {
    service_request_id: String(r.id),
    status: r.status,
    status_notes: r.status_notes,
    service_code: r.service_code,
    service_name: r.service_name,
    description: r.description,
    requested_datetime: iso(r.requested_at),
    updated_datetime: iso(r.updated_at),
    lat: r.lat,
    long: r.long,
    address: r.address,
    device_id: r.device_id,
    rule: r.rule,
    district: r.district,
    severity: r.severity,
    seq: r.seq,
    closed_by: r.closed_by,
    held: r.held === 1,
  };
}

/** Epoch ms as ISO 8601 (UTC), as Open311 datetimes are written. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
