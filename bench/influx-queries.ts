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

/** Readings of the probe devices with a time after `afterMs` (at most `limit` per device, oldest first). */
export async function probeRows(url: string, db: string, deviceIds: readonly string[], afterMs: number, limit?: number): Promise<ProbeRow[]> {
  const who = deviceIds.map((id) => `"device_id" = '${id}'`).join(' OR ');
  const rows = await influxql(
    target(url, db),
    `SELECT seq FROM ${MEASUREMENTS} WHERE (${who}) AND time > ${Math.floor(afterMs)}ms GROUP BY device_id${limit ? ` LIMIT ${limit}` : ''}`,
  );
  return rows.map((r) => ({ deviceId: String(r.device_id), seq: Number(r.seq), timeMs: Number(r.time) }));
}

/** Per device: points, distinct seqs, lowest and highest seq. */
export interface SeqStats {
  points: number;
  distinct: number;
  min: number;
  max: number;
}

/**
 * What InfluxDB holds of each device in `db`, by seq: a device whose readings are all there exactly
 * once has points = distinct = max − min + 1 and the seqs it sent as min and max.
 */
export async function seqStatsByDevice(url: string, db: string): Promise<Map<string, SeqStats>> {
  const out = new Map<string, SeqStats>();
  const get = (id: string) => {
    let s = out.get(id);
    if (!s) out.set(id, (s = { points: 0, distinct: 0, min: Number.NaN, max: Number.NaN }));
    return s;
  };
  const rows = await influxql(target(url, db), `SELECT count(seq) AS n, min(seq) AS lo, max(seq) AS hi FROM ${MEASUREMENTS} GROUP BY device_id`);
  for (const r of rows) {
    const s = get(String(r.device_id));
    s.points += Number(r.n ?? 0);
    s.min = Number(r.lo);
    s.max = Number(r.hi);
  }
  const distinct = await influxql(target(url, db), `SELECT count(distinct(seq)) AS d FROM ${MEASUREMENTS} GROUP BY device_id`);
  for (const r of distinct) get(String(r.device_id)).distinct += Number(r.d ?? 0);
  return out;
}
