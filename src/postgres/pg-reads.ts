/**
 * Reads of the shared state for the HTTP API and the plan, one query each: the latest readings, what
 * is raised, the fill history of the bins, the latest collection plan.
 */
import type pg from 'pg';
import type { DeviceRecord } from '../catalog/types.js';
import type { CollectionPlan } from '../collection/plan.js';
import { FillHistory } from '../collection/fill-history.js';
import { fillFieldOf } from '../collection/containers.js';
import type { LatestReading } from '../devices/latest-readings.js';
import type { RuleStateRow } from '../dispatch/rule-state-store.js';
import type { RuleInput } from '../dispatch/types.js';

/** Latest readings of `ids` (every device heard from when undefined). */
export async function latestReadings(pool: pg.Pool, ids?: readonly string[]): Promise<Map<string, LatestReading>> {
  const r = ids
    ? await pool.query<{ latest: LatestReading }>('SELECT latest FROM cp_devices WHERE latest IS NOT NULL AND device_id = ANY($1::text[])', [ids])
    : await pool.query<{ latest: LatestReading }>('SELECT latest FROM cp_devices WHERE latest IS NOT NULL');
  return new Map(r.rows.map((x) => [x.latest.deviceId, x.latest]));
}

/** Rule-state rows that are raised, pending or held by the flapping guard. */
export async function activeRuleRows(pool: pg.Pool): Promise<RuleStateRow[]> {
  const r = await pool.query<{ state: RuleStateRow }>("SELECT state FROM cp_rule_state WHERE status <> 'ok'");
  return r.rows.map((x) => x.state);
}

/** The bins' fill samples since `sinceMs`, as a fill history the plan builder reads. Close it after use. */
export async function fillHistorySince(pool: pg.Pool, catalog: { get(id: string): DeviceRecord | undefined }, sinceMs: number): Promise<FillHistory> {
  const history = new FillHistory({ store: { file: ':memory:' }, minSpacingMs: 0 });
  history.open();
  const r = await pool.query<{ device_id: string; time_ms: string; level: number }>(
    'SELECT device_id, time_ms, level FROM collection_fill_samples WHERE time_ms >= $1 ORDER BY time_ms',
    [sinceMs],
  );
  const inputs: RuleInput[] = [];
  for (const row of r.rows) {
    const d = catalog.get(row.device_id);
    const field = d && fillFieldOf(d.type);
    if (!d || field === undefined) continue;
    inputs.push({ type: d.type, deviceId: d.id, district: d.district, timeMs: Number(row.time_ms), receivedAt: Number(row.time_ms), fields: { [field]: row.level } });
  }
  history.observe(inputs);
  return history;
}

/** The newest plan any worker made. */
export async function latestPlan(pool: pg.Pool): Promise<CollectionPlan | undefined> {
  const r = await pool.query<{ result: CollectionPlan }>("SELECT result FROM cp_job_runs WHERE job = 'collection-plan' AND result IS NOT NULL ORDER BY slot DESC LIMIT 1");
  return r.rows[0]?.result;
}

/** Keeps a plan as the newest (one made on request rather than by the schedule). */
export async function savePlan(pool: pg.Pool, plan: CollectionPlan, worker: string, nowMs: number): Promise<void> {
  await pool.query(
    `INSERT INTO cp_job_runs (job, slot, worker, at, result) VALUES ('collection-plan', $1, $2, $3, $4)
     ON CONFLICT (job, slot) DO UPDATE SET result = excluded.result`,
    [Math.floor(nowMs / 1000), worker, nowMs, JSON.stringify(plan)],
  );
}
