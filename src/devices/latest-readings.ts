/**
 * The latest reading of every device, for `GET /api/devices/{id}` and `GET /api/readings/latest`:
 * what an operator asks first ("what does bin 17 say now?") without a query to InfluxDB.
 *
 * Fed with stored readings in stored order (live, and after a restart the recovered ones). Kept in
 * memory, and saved to SQLite by `save()` (one upsert per changed device, one transaction) and at
 * close. The service saves before it releases the spool records the readings came from
 * (wiring/device-state-gate.ts): after a crash, what was not saved is read again from the spool, so
 * "latest" is as durable as the readings. A reading older than the one held (a stored batch uploaded
 * late) does not replace it.
 */
import { existsSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { RuleInput } from '../dispatch/types.js';
import { openPrivateDatabase } from '../fs/private-files.js';

export interface LatestReading {
  readonly deviceId: string;
  readonly type: string;
  /** Device time of the reading, epoch ms. */
  readonly timeMs: number;
  /** When citypipe received it, epoch ms. */
  readonly receivedAt: number;
  readonly fields: Readonly<Record<string, number | string>>;
}

export class LatestReadings {
  private readonly db: Database.Database;
  /** The database was opened here (from a file) and is closed with this. */
  private readonly ownsDb: boolean;
  private readonly byId = new Map<string, LatestReading>();
  private readonly upsert: Database.Statement;
  private readonly dirty = new Set<string>();

  /**
   * `store`: an open database shared with the other device state (rule state, last-seen times), so
   * one transaction saves them all; or a SQLite path (':memory:' in tests).
   */
  constructor(store: Database.Database | string) {
    this.ownsDb = typeof store === 'string';
    if (typeof store === 'string') {
      this.db = openPrivateDatabase(store);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
    } else {
      this.db = store;
    }
    this.db.exec(`CREATE TABLE IF NOT EXISTS latest (
      device_id TEXT PRIMARY KEY, type TEXT NOT NULL, time_ms INTEGER NOT NULL, received_at INTEGER NOT NULL, fields TEXT NOT NULL)`);
    this.upsert = this.db.prepare(
      `INSERT INTO latest (device_id, type, time_ms, received_at, fields) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(device_id) DO UPDATE SET type = excluded.type, time_ms = excluded.time_ms, received_at = excluded.received_at, fields = excluded.fields
       WHERE excluded.time_ms >= latest.time_ms`,
    );
    for (const row of this.db.prepare('SELECT device_id, type, time_ms, received_at, fields FROM latest').all() as {
      device_id: string;
      type: string;
      time_ms: number;
      received_at: number;
      fields: string;
    }[]) {
      this.byId.set(row.device_id, { deviceId: row.device_id, type: row.type, timeMs: row.time_ms, receivedAt: row.received_at, fields: JSON.parse(row.fields) as Record<string, number | string> });
    }
  }

  /** Takes a batch of stored readings. */
  observe(batch: readonly RuleInput[]): void {
    for (const r of batch) {
      const held = this.byId.get(r.deviceId);
      if (held && held.timeMs > r.timeMs) continue;
      this.byId.set(r.deviceId, { deviceId: r.deviceId, type: r.type, timeMs: r.timeMs, receivedAt: r.receivedAt, fields: r.fields });
      this.dirty.add(r.deviceId);
    }
  }

  /** Saves what changed since the last save. */
  save(): void {
    if (this.dirty.size === 0) return;
    this.db.transaction(() => {
      for (const id of this.dirty) {
        const l = this.byId.get(id)!;
        this.upsert.run(l.deviceId, l.type, l.timeMs, l.receivedAt, JSON.stringify(l.fields));
      }
    })();
    this.dirty.clear();
  }

  get(deviceId: string): LatestReading | undefined {
    return this.byId.get(deviceId);
  }

  /** Saves what changed; closes the database if it was opened here. */
  close(): void {
    this.save();
    if (this.ownsDb) this.db.close();
  }

  /**
   * Takes the rows of an earlier version's own `latest.db` (newest wins) and deletes that file:
   * since this version the table lives with the rest of the device state.
   */
  importFrom(file: string): number {
    if (!existsSync(file)) return 0;
    const old = new Database(file, { readonly: true, fileMustExist: true });
    let n = 0;
    try {
      const rows = old.prepare('SELECT device_id, type, time_ms, received_at, fields FROM latest').all() as {
        device_id: string;
        type: string;
        time_ms: number;
        received_at: number;
        fields: string;
      }[];
      for (const row of rows) {
        const held = this.byId.get(row.device_id);
        if (held && held.timeMs >= row.time_ms) continue;
        this.byId.set(row.device_id, { deviceId: row.device_id, type: row.type, timeMs: row.time_ms, receivedAt: row.received_at, fields: JSON.parse(row.fields) as Record<string, number | string> });
        this.dirty.add(row.device_id);
        n++;
      }
    } finally {
      old.close();
    }
    this.save();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    return n;
  }
}
