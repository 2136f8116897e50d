/**
 * Device state in PostgreSQL: the `cp_devices` row each device's evaluation locks, its rule state,
 * last-seen time, latest reading and fill samples. A transaction locks the rows of the devices it
 * is about to change (`lockDevices`, always in id order, so two transactions never wait on each
 * other in a circle), loads their state into a {@link LoadedRuleState} for the unchanged rules engine
 * and deadman sweep, and writes back what they saved, before it commits.
 */
import type { RuleInput } from '../dispatch/types.js';
import type { RuleStateAccess, RuleStateRow } from '../dispatch/rule-state-store.js';
import type { Queryable } from './database.js';

/** Rule state of the locked devices as the engine reads it; what the engine saves is kept for `rows`. */
export class LoadedRuleState implements RuleStateAccess {
  private readonly byDevice = new Map<string, RuleStateRow[]>();
  private readonly lastSeen: Map<string, number>;
  private readonly watchedSince: Map<string, number>;
  private readonly saved = new Map<string, RuleStateRow>();

  constructor(rows: readonly RuleStateRow[], lastSeen: Map<string, number>, watchedSince: Map<string, number>) {
    for (const r of rows) {
      const list = this.byDevice.get(r.deviceId);
      if (list) list.push(r);
      else this.byDevice.set(r.deviceId, [r]);
    }
    this.lastSeen = lastSeen;
    this.watchedSince = watchedSince;
  }

  loadDevice(deviceId: string): RuleStateRow[] {
    return this.byDevice.get(deviceId) ?? [];
  }

  listActive(): RuleStateRow[] {
    return [...this.byDevice.values()].flat().filter((r) => r.status !== 'ok' || r.flapping);
  }

  save(rows: readonly RuleStateRow[]): void {
    // The engine hands its live objects: copy what they are now.
    for (const r of rows) this.saved.set(`${r.deviceId}\0${r.rule}`, { deviceId: r.deviceId, rule: r.rule, status: r.status, since: r.since, lastAt: r.lastAt, value: r.value, flapping: r.flapping, flaps: [...r.flaps] });
  }

  loadLastSeen(): Map<string, number> {
    return this.lastSeen;
  }

  /** Last-seen times are written by the batch itself (`saveSeen`), from the readings. */
  saveLastSeen(): void {}

  loadWatchedSince(): Map<string, number> {
    return this.watchedSince;
  }

  /** Rows saved so far, last write of each (device, rule) only. */
  rows(): RuleStateRow[] {
    return [...this.saved.values()];
  }
}

/**
 * Makes sure each device has its row (watched from `now` if new), locks the rows in id order, and
 * loads the devices' rule state. Returns what `LoadedRuleState` needs.
 */
export async function lockDevices(c: Queryable, ids: readonly string[], now: number): Promise<LoadedRuleState> {
  const sorted = [...new Set(ids)].sort();
  await c.query('INSERT INTO cp_devices (device_id, watched_since) SELECT unnest($1::text[]), $2 ON CONFLICT (device_id) DO NOTHING', [sorted, now]);
  const locked = await c.query<{ device_id: string; last_seen: string | null; watched_since: string }>(
    'SELECT device_id, last_seen, watched_since FROM cp_devices WHERE device_id = ANY($1::text[]) ORDER BY device_id FOR UPDATE',
    [sorted],
  );
  const lastSeen = new Map<string, number>();
  const watchedSince = new Map<string, number>();
  for (const r of locked.rows) {
    if (r.last_seen !== null) lastSeen.set(r.device_id, Number(r.last_seen));
    watchedSince.set(r.device_id, Number(r.watched_since));
  }
  const rows = await c.query<{ state: RuleStateRow }>('SELECT state FROM cp_rule_state WHERE device_id = ANY($1::text[])', [sorted]);
  return new LoadedRuleState(
    rows.rows.map((r) => r.state),
    lastSeen,
    watchedSince,
  );
}

/** Upserts rule-state rows. */
export async function saveRuleRows(c: Queryable, rows: readonly RuleStateRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO cp_rule_state (device_id, rule, status, state)
     SELECT d, r, s, st FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS t(d, r, s, st)
     ON CONFLICT (device_id, rule) DO UPDATE SET status = excluded.status, state = excluded.state`,
    [rows.map((r) => r.deviceId), rows.map((r) => r.rule), rows.map((r) => (r.flapping ? 'raised' : r.status)), rows.map((r) => JSON.stringify(r))],
  );
}

/** Last-seen times and latest readings of a batch (newest wins), and bin fill samples. */
export async function saveSeen(c: Queryable, batch: readonly RuleInput[], fillFieldOf: (type: string) => string | undefined): Promise<void> {
  const latest = new Map<string, RuleInput>();
  const seen = new Map<string, number>();
  const fills: { id: string; t: number; level: number }[] = [];
  for (const r of batch) {
    const held = latest.get(r.deviceId);
    if (!held || r.timeMs >= held.timeMs) latest.set(r.deviceId, r);
    seen.set(r.deviceId, Math.max(seen.get(r.deviceId) ?? 0, r.receivedAt));
    const field = fillFieldOf(r.type);
    const level = field === undefined ? undefined : r.fields[field];
    if (typeof level === 'number' && Number.isFinite(level) && Number.isFinite(r.timeMs)) fills.push({ id: r.deviceId, t: r.timeMs, level });
  }
  const ids = [...latest.keys()];
  await c.query(
    `UPDATE cp_devices d SET
       last_seen = greatest(coalesce(d.last_seen, 0), t.seen),
       latest = CASE WHEN d.latest IS NULL OR (d.latest->>'timeMs')::bigint <= (t.latest->>'timeMs')::bigint THEN t.latest ELSE d.latest END
     FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS t(id, seen, latest)
     WHERE d.device_id = t.id`,
    [
      ids,
      ids.map((id) => seen.get(id)!),
      ids.map((id) => {
        const r = latest.get(id)!;
        return JSON.stringify({ deviceId: r.deviceId, type: r.type, timeMs: r.timeMs, receivedAt: r.receivedAt, fields: r.fields });
      }),
    ],
  );
  if (fills.length > 0) {
    await c.query(
      `INSERT INTO collection_fill_samples (device_id, time_ms, level) SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[])
       ON CONFLICT (device_id, time_ms) DO NOTHING`,
      [fills.map((f) => f.id), fills.map((f) => f.t), fills.map((f) => f.level)],
    );
  }
}
