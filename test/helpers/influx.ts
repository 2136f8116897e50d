/**
 * Reading back what tests wrote to the run's real InfluxDB 1.x (InfluxQL over HTTP). Each test file
 * writes to its own database (`uniqueDbName`) so files running in parallel cannot see each other.
 */
import { randomBytes } from 'node:crypto';

/** One result row: column name → value; `time` is epoch ms. */
export type InfluxRow = Record<string, number | string | boolean | null>;

interface QueryResponse {
  error?: string;
  results?: { statement_id: number; error?: string; series?: { name: string; columns: string[]; values: unknown[][] }[] }[];
}

async function post(url: string, params: Record<string, string>): Promise<QueryResponse> {
  const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams(params) });
  const body = (await res.json()) as QueryResponse;
  const error = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!res.ok || error) throw new Error(`InfluxQL ${params.q} failed (${res.status}): ${error ?? JSON.stringify(body)}`);
  return body;
}

/** Runs one InfluxQL statement in `db` and returns the rows of all its series, `time` in epoch ms. */
export async function influxQuery(url: string, db: string, influxql: string): Promise<InfluxRow[]> {
  const body = await post(url, { q: influxql, db, epoch: 'ms' });
  const rows: InfluxRow[] = [];
  for (const series of body.results?.[0]?.series ?? []) {
    for (const values of series.values) {
      const row: InfluxRow = {};
      series.columns.forEach((col, i) => (row[col] = values[i] as InfluxRow[string]));
      rows.push(row);
    }
  }
  return rows;
}

/** `CREATE DATABASE` (idempotent in InfluxDB 1.x). */
export async function createDatabase(url: string, db: string): Promise<void> {
  await post(url, { q: `CREATE DATABASE "${db}"` });
}

/** A database name no other test file uses: `prefix_<random hex>`. */
export function uniqueDbName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/**
 * `rows` when every row has a value for each of `fields`, else undefined (for `waitFor`): influxd
 * makes a point's fields visible one by one, and a query during the write, on a loaded machine, has
 * seen a row with one of them still null. citypipe writes a reading as one line; wait for all of it.
 */
export function wholeRows(rows: InfluxRow[], fields: Iterable<string>): InfluxRow[] | undefined {
  if (rows.length === 0) return undefined;
  const keys = [...fields];
  return rows.every((row) => keys.every((k) => row[k] !== null && row[k] !== undefined)) ? rows : undefined;
}
