/**
 * A small InfluxQL client over `/query` (answered by InfluxDB 1.x, by 2.x through DBRP mappings and
 * by 3.x): the demo uses it to show where the data is; dashboards use the same language.
 */
export interface InfluxqlTarget {
  url: string;
  api: 'v1' | 'v2';
  /** v1: `db` or `db/rp`; v2: a bucket mapped to a database of the same name. */
  bucket: string;
  /** v1: `user:password`; v2: an API token. Empty for none. */
  token: string;
  timeoutMs?: number;
}

/** One row: column name → value; `time` in epoch ms. */
export type Row = Record<string, unknown>;

interface QueryResponse {
  results?: { series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]; error?: string }[];
  error?: string;
}

/** Runs one InfluxQL statement; rows of every series, each with its series' tags and `_measurement`. */
export async function influxql(target: InfluxqlTarget, q: string): Promise<Row[]> {
  const [db, rp] = target.bucket.split('/');
  const params = new URLSearchParams({ db: db!, q, epoch: 'ms' });
  if (rp) params.set('rp', rp);
  const headers: Record<string, string> = {};
  if (target.token) {
    headers.authorization =
      target.api === 'v1' ? `Basic ${Buffer.from(target.token).toString('base64')}` : `Token ${target.token}`;
  }
  const res = await fetch(`${target.url}/query?${params.toString()}`, {
    headers,
    signal: AbortSignal.timeout(target.timeoutMs ?? 10_000),
  });
  const body = (await res.json().catch(() => ({}))) as QueryResponse;
  if (!res.ok || body.error) throw new Error(`InfluxQL query failed (HTTP ${res.status}): ${body.error ?? res.statusText}`);
  const rows: Row[] = [];
  for (const result of body.results ?? []) {
    if (result.error) throw new Error(`InfluxQL query failed: ${result.error}`);
    for (const s of result.series ?? []) {
      for (const values of s.values) {
        const row: Row = { _measurement: s.name, ...s.tags };
        s.columns.forEach((c, i) => (row[c] = values[i]));
        rows.push(row);
      }
    }
  }
  return rows;
}
