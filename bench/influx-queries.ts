/**
 * What the bench asks InfluxDB: how many points a phase left behind, and which probe readings have
 * become queryable. Counting what InfluxDB returns, not what was sent, is the point of the bench.
 */
import { influxql } from '../src/query/influxql.js';
import { BENCH_DEVICE_TYPES, measurementOf } from './payloads.js';

const MEASUREMENTS = BENCH_DEVICE_TYPES.map((t) => `"${measurementOf(t)}"`).join(', ');

function target(url: string, db: string) {
  return { url, api: 'v1' as const, bucket: db, token: '', timeoutMs: 30_000 };
}

export async function createDatabase(url: string, db: string): Promise<void> {
  const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
  if (!res.ok) throw new Error(`CREATE DATABASE ${db} failed: HTTP ${res.status} ${await res.text()}`);
}

/** Points in `db` over all three measurements (`count(seq)`: every bench reading carries seq). */
export async function countPoints(url: string, db: string): Promise<number> {
  const rows = await influxql(target(url, db), `SELECT count(seq) FROM ${MEASUREMENTS}`);
  let total = 0;
  for (const r of rows) total += Number(r.count ?? 0);
  return total;
}

/**
 * Counts until two answers `settleMs` apart agree and reach `atLeast`, or `timeoutMs` passes;
 * returns the last count.
 */
export async function settledCount(url: string, db: string, atLeast: number, settleMs: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const n = await countPoints(url, db);
    if (n === last && n >= atLeast) return n;
    if (Date.now() >= deadline) return n;
    last = n;
    await new Promise((r) => setTimeout(r, settleMs));
  }
}

export interface ProbeRow {
  deviceId: string;
  seq: number;
  /** The point's time = the reading's `ts` = when the generator sent it. */
  timeMs: number;
}

/** Readings of the probe devices with a time after `afterMs`. */
export async function probeRows(url: string, db: string, deviceIds: readonly string[], afterMs: number): Promise<ProbeRow[]> {
  const who = deviceIds.map((id) => `"device_id" = '${id}'`).join(' OR ');
  const rows = await influxql(target(url, db), `SELECT seq FROM ${MEASUREMENTS} WHERE (${who}) AND time > ${Math.floor(afterMs)}ms GROUP BY device_id`);
  return rows.map((r) => ({ deviceId: String(r.device_id), seq: Number(r.seq), timeMs: Number(r.time) }));
}
