/**
 * The latest reading of every device, for `GET /api/devices/{id}` and `GET /api/readings/latest`:
 * what an operator asks first ("what does bin 17 say now?") without a query to InfluxDB.
 *
 * Fed with stored readings in stored order (live, and after a restart the recovered ones). Kept in
 * memory, and saved to SQLite every few seconds (one upsert per changed device, one transaction) and
 * at close, so a restart still knows each device's last values. A crash loses at most the last few
 * seconds of "latest" (the readings themselves are in the spool and InfluxDB). A reading older than
 * the one held (a stored batch uploaded late) does not replace it.
 */
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
  private readonly byId = new Map<string, LatestReading>();
  private readonly upsert: Database.Statement;
  private readonly dirty = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  /** `file` is a SQLite path (':memory:' in tests). */
  constructor(file: string, saveEveryMs = 5000) {
    this.db = openPrivateDatabase(file);
    this.db.pragma('journal_mode = WAL');
    // Losing the last transaction in a power cut only means an older "latest" value until the device reports again.
    this.db.pragma('synchronous = NORMAL');
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
    this.timer = setInterval(() => this.save(), saveEveryMs);
    this.timer.unref();
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

  close(): void {
    clearInterval(this.timer);
    this.save();
    this.db.close();
  }
}
