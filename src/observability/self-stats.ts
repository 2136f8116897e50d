/**
 * citypipe's own health and the map of its devices, as InfluxDB line protocol, so that the Grafana
 * boards (grafana/dashboards/) can show them with the same InfluxQL datasource as the readings.
 *
 * Two measurements (docs/OPERATORS.md lists every field):
 * - `citypipe`: one line per `scope` every snapshot (the service writes one every 10 s):
 *   `pipeline` (totals since start and gauges), `device_type` (totals by `type`),
 *   `dead_letters` (held in the dead-letter store, by `reason`), `tickets` (open Open311 requests, by
 *   `service_code`). Totals are counters since the process started: boards use
 *   `non_negative_derivative`, which also hides the drop to 0 at a restart.
 * - `device_state`: one line per catalog device (tags `device_id`, `type`, `district`) with its
 *   position and state, for the geomap.
 *
 * Pure functions: the service owns the timer and the write; these only format.
 */
import { escapeTag, quoteString } from '../sink/influx/line-protocol.js';

/** Write requests to InfluxDB in one snapshot window (since the previous snapshot). */
export interface WriteWindowStats {
  /** Write requests that finished in the window. */
  requests: number;
  /** Of those, the ones that failed. */
  failed: number;
  /** Lines in the requests that succeeded. */
  lines: number;
  /** Mean and longest request duration in the window; absent when there was no request. */
  meanDurationMs?: number;
  maxDurationMs?: number;
}

/** Counters of one device type since start. */
export interface TypeTotals {
  received: number;
  written: number;
  deadLettered: number;
}

/**
 * What the service knows about itself at one moment. Totals count since the process started (as in
 * `/api/stats`); everything else is the value now.
 */
export interface SelfStatsSnapshot {
  /** `/api/stats` totals: readings received (recovered included), written, dead-lettered, refused publishes. */
  received: number;
  recovered: number;
  written: number;
  deadLettered: number;
  refused: number;
  /** Readings accepted but not yet written or dead-lettered. */
  pending: number;
  /** Bytes of not-yet-written readings in the spool. */
  spoolBytes: number;
  /** Age of the oldest pending reading, seconds (0 when none). */
  oldestPendingAgeS: number;
  /** Totals by device type name. */
  byType: Readonly<Record<string, TypeTotals>>;
  /** Dead letters held in the dead-letter store, by reason (`DeadLetterStore.countByReason()`). */
  deadLettersByReason: Readonly<Record<string, number>>;
  /** InfluxDB write requests since the previous snapshot ({@link WriteWindow.take}). */
  writes: WriteWindowStats;
  /** The most recent write request, if any since start. */
  lastWrite?: { durationMs: number; lines: number; ok: boolean };
  /**
   * Open Open311 requests by `service_code`. List every service the rule book offers, with 0 where
   * none is open: a service missing from a snapshot would keep showing its last count on the board.
   */
  openTicketsByService: Readonly<Record<string, number>>;
  /**
   * Distinct catalog devices with an authenticated MQTT connection right now (a device connected
   * twice counts once; lab-mode anonymous clients count none, whatever devices they publish for).
   */
  connectedDevices: number;
  /** Open MQTT connections right now (devices, operator accounts, lab-mode anonymous clients). */
  mqttConnections: number;
}

/**
 * Accumulates InfluxDB write requests between two snapshots; feed it from the writer's `onBatch`
 * and call `take()` when writing a snapshot. Mean and max per window, not a last value, so that a slow
 * write between two snapshots is not missed.
 */
export class WriteWindow {
  private requests = 0;
  private failed = 0;
  private lines = 0;
  private durationSum = 0;
  private durationMax = 0;

  observe(durationMs: number, lines: number, ok: boolean): void {
    this.requests++;
    this.durationSum += durationMs;
    if (durationMs > this.durationMax) this.durationMax = durationMs;
    if (ok) this.lines += lines;
    else this.failed++;
  }

  /** The window so far; starts a new one. */
  take(): WriteWindowStats {
    const out: WriteWindowStats = { requests: this.requests, failed: this.failed, lines: this.lines };
    if (this.requests > 0) {
      out.meanDurationMs = this.durationSum / this.requests;
      out.maxDurationMs = this.durationMax;
    }
    this.requests = this.failed = this.lines = this.durationSum = this.durationMax = 0;
    return out;
  }
}

/** Measurement of citypipe's self-monitoring lines. */
export const SELF_STATS_MEASUREMENT = 'citypipe';
/** Measurement of the devices' map positions and states. */
export const DEVICE_STATE_MEASUREMENT = 'device_state';

/** Integer field: line protocol needs the `i` suffix and a whole number. */
function int(n: number): string {
  return `${Math.max(0, Math.round(finite(n)))}i`;
}

/** Float field; NaN and ±Infinity cannot be written, so they become 0. */
function float(n: number): string {
  const v = finite(n);
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

function finite(n: number): number {
  return Number.isFinite(n) ? n : 0;
}

function fieldList(fields: Record<string, string | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (out !== '') out += ',';
    out += `${escapeTag(k)}=${v}`;
  }
  return out;
}

/**
 * The `citypipe` lines of one snapshot, all stamped `timeMs` (epoch ms, like every citypipe write).
 * Tag `scope` tells the line kinds apart:
 * - `pipeline`: received, recovered, written, dead_lettered, refused (integer totals), pending,
 *   spool_bytes (integers), oldest_pending_age_s (float), connected_devices, mqtt_connections,
 *   write_requests, write_failures, write_lines (integers, this window), write_latency_mean_ms,
 *   write_latency_max_ms (floats, only when the window had a request), last_write_ms,
 *   last_write_lines (only once a write happened);
 * - `device_type` (tag `type`): received, written, dead_lettered;
 * - `dead_letters` (tag `reason`): count;
 * - `tickets` (tag `service_code`): open.
 */
export function selfStatsLines(snapshot: SelfStatsSnapshot, timeMs: number): string[] {
  const ts = Math.round(timeMs);
  const m = SELF_STATS_MEASUREMENT;
  const w = snapshot.writes;
  const lines = [
    `${m},scope=pipeline ${fieldList({
      received: int(snapshot.received),
      recovered: int(snapshot.recovered),
      written: int(snapshot.written),
      dead_lettered: int(snapshot.deadLettered),
      refused: int(snapshot.refused),
      pending: int(snapshot.pending),
      spool_bytes: int(snapshot.spoolBytes),
      oldest_pending_age_s: float(snapshot.oldestPendingAgeS),
      connected_devices: int(snapshot.connectedDevices),
      mqtt_connections: int(snapshot.mqttConnections),
      write_requests: int(w.requests),
      write_failures: int(w.failed),
      write_lines: int(w.lines),
      write_latency_mean_ms: w.meanDurationMs === undefined ? undefined : float(w.meanDurationMs),
      write_latency_max_ms: w.maxDurationMs === undefined ? undefined : float(w.maxDurationMs),
      last_write_ms: snapshot.lastWrite ? float(snapshot.lastWrite.durationMs) : undefined,
      last_write_lines: snapshot.lastWrite ? int(snapshot.lastWrite.lines) : undefined,
    })} ${ts}`,
  ];
  for (const [type, t] of Object.entries(snapshot.byType)) {
    lines.push(`${m},scope=device_type,type=${escapeTag(type)} received=${int(t.received)},written=${int(t.written)},dead_lettered=${int(t.deadLettered)} ${ts}`);
  }
  for (const [reason, n] of Object.entries(snapshot.deadLettersByReason)) {
    lines.push(`${m},reason=${escapeTag(reason)},scope=dead_letters count=${int(n)} ${ts}`);
  }
  for (const [code, n] of Object.entries(snapshot.openTicketsByService)) {
    lines.push(`${m},scope=tickets,service_code=${escapeTag(code)} open=${int(n)} ${ts}`);
  }
  return lines;
}

/** A device's state on the map: `offline` wins over `alert` (a raised event), which wins over `ok`. */
export type DeviceMapState = 'ok' | 'alert' | 'offline';

/** `state_code` of each state: thresholds on the geomap colour by it (0 green, 1 red, 2 grey). */
export const DEVICE_STATE_CODES: Readonly<Record<DeviceMapState, number>> = Object.freeze({ ok: 0, alert: 1, offline: 2 });

/** One catalog device as the geomap shows it. */
export interface DeviceMapEntry {
  deviceId: string;
  /** Device type name, as the registry has it. */
  type: string;
  district: string;
  lat: number;
  lon: number;
  state: DeviceMapState;
  /** Open Open311 requests for this device. */
  openTickets: number;
}

/**
 * The `device_state` lines, one per device, all stamped `timeMs`: tags device_id, type, district;
 * fields lat, lon (floats), state (string), state_code (0 ok, 1 alert, 2 offline), open_tickets.
 */
export function deviceStateLines(devices: readonly DeviceMapEntry[], timeMs: number): string[] {
  const ts = Math.round(timeMs);
  return devices.map(
    (d) =>
      `${DEVICE_STATE_MEASUREMENT},device_id=${escapeTag(d.deviceId)},district=${escapeTag(d.district)},type=${escapeTag(d.type)} ` +
      `lat=${float(d.lat)},lon=${float(d.lon)},state=${quoteString(d.state)},state_code=${DEVICE_STATE_CODES[d.state]}i,open_tickets=${int(d.openTickets)} ${ts}`,
  );
}
