/**
 * Per-(device, rule) state that survives restarts: a `for` timer keeps running and a raised rule
 * stays raised, so a restart neither resets a timer nor raises (and tickets) again. Embedded SQLite
 * under the data dir.
 *
 * The engine writes only state changes, one transaction per evaluated batch; most readings change
 * nothing and cost no write. Last-seen times for the deadman are written when the service persists
 * device state, before it releases the spool records they came from (wiring/device-state-gate.ts).
 */
import Database from 'better-sqlite3';
import { openPrivateDatabase } from '../fs/private-files.js';

/** The state of one rule for one device. */
export type RuleStatus = 'ok' | 'pending' | 'raised';

/** One stored (device, rule) row. */
export interface RuleStateRow {
  readonly deviceId: string;
  readonly rule: string;
  /** The rule's own state; a flapping rule is held raised whatever this says. */
  readonly status: RuleStatus;
  /** Device ms when `status` began (for `pending`: when the `for` timer started). */
  readonly since: number;
  /** Device ms of the reading that last changed this row; readings at or before it are not evaluated again. */
  readonly lastAt: number;
  readonly value: number | string | null;
  /** Held raised by the flapping guard. */
  readonly flapping: boolean;
  /** Device ms of recent raises and clears, for the flapping guard. */
  readonly flaps: readonly number[];
}

/**
 * What the rules engine and the deadman sweep read and write of rule state: the SQLite store, or
 * (with more than one worker) rows a PostgreSQL transaction loaded under the devices' row locks.
 */
export interface RuleStateAccess {
  loadDevice(deviceId: string): RuleStateRow[];
  listActive(): RuleStateRow[];
  save(rows: readonly RuleStateRow[]): void;
  loadLastSeen(): Map<string, number>;
  saveLastSeen(entries: readonly (readonly [string, number])[]): void;
  /** When each device began to be watched, where that outlives the process (shared state). */
  loadWatchedSince?(): Map<string, number>;
}

/** Where the store keeps its data. */
export interface RuleStateStoreOptions {
  /** SQLite file; ':memory:' for tests. */
  file: string;
}

interface DbRow {
  device_id: string;
  rule: string;
  status: RuleStatus;
  since: number;
  last_at: number;
  value: number | string | null;
  flapping: number;
  flaps: string;
}

const toRow = (r: DbRow): RuleStateRow => ({
  deviceId: r.device_id,
  rule: r.rule,
  status: r.status,
  since: r.since,
  lastAt: r.last_at,
  value: r.value,
  flapping: r.flapping === 1,
  flaps: JSON.parse(r.flaps) as number[],
});

/** SQLite store of per-(device, rule) state and per-device last-seen times. `open()` before use. */
export class RuleStateStore {
  private readonly opts: RuleStateStoreOptions;
  private db: Database.Database | undefined;
  private stmts:
    | {
        loadDevice: Database.Statement<[string], DbRow>;
        active: Database.Statement<[], DbRow>;
        rules: Database.Statement<[], { rule: string }>;
        lastSeen: Database.Statement<[], { device_id: string; received_at: number }>;
        saveMany: (rows: readonly RuleStateRow[]) => void;
        removeRules: (rules: readonly string[]) => void;
        saveSeen: (entries: readonly (readonly [string, number])[]) => void;
        removeDevice: (deviceId: string) => void;
      }
    | undefined;

  constructor(opts: RuleStateStoreOptions) {
    this.opts = opts;
  }

  open(): void {
    const db = openPrivateDatabase(this.opts.file);
    db.pragma('journal_mode = WAL');
    // FULL: a committed state change is on disk, so a power cut cannot bring back a `for` timer
    // that had already fired (and raise a second time).
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS rule_state (
      device_id TEXT NOT NULL,
      rule TEXT NOT NULL,
      status TEXT NOT NULL,
      since INTEGER NOT NULL,
      last_at INTEGER NOT NULL,
      value ANY,
      flapping INTEGER NOT NULL DEFAULT 0,
      flaps TEXT NOT NULL DEFAULT '[]',
      PRIMARY KEY (device_id, rule)
    ) WITHOUT ROWID, STRICT;
    CREATE TABLE IF NOT EXISTS last_seen (
      device_id TEXT PRIMARY KEY,
      received_at INTEGER NOT NULL
    ) WITHOUT ROWID, STRICT;`);
    const upsert = db.prepare<[string, string, string, number, number, number | string | null, number, string]>(
      `INSERT INTO rule_state (device_id, rule, status, since, last_at, value, flapping, flaps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, rule) DO UPDATE SET status = excluded.status, since = excluded.since, last_at = excluded.last_at,
         value = excluded.value, flapping = excluded.flapping, flaps = excluded.flaps`,
    );
    const removeRule = db.prepare<[string]>('DELETE FROM rule_state WHERE rule = ?');
    const upsertSeen = db.prepare<[string, number]>(
      `INSERT INTO last_seen (device_id, received_at) VALUES (?, ?)
       ON CONFLICT (device_id) DO UPDATE SET received_at = max(received_at, excluded.received_at)`,
    );
    const removeStates = db.prepare<[string]>('DELETE FROM rule_state WHERE device_id = ?');
    const removeSeen = db.prepare<[string]>('DELETE FROM last_seen WHERE device_id = ?');
    this.stmts = {
      loadDevice: db.prepare<[string], DbRow>('SELECT * FROM rule_state WHERE device_id = ?'),
      active: db.prepare<[], DbRow>("SELECT * FROM rule_state WHERE status = 'raised' OR flapping = 1 ORDER BY device_id, rule"),
      rules: db.prepare<[], { rule: string }>('SELECT DISTINCT rule FROM rule_state'),
      lastSeen: db.prepare<[], { device_id: string; received_at: number }>('SELECT device_id, received_at FROM last_seen'),
      saveMany: db.transaction((rows: readonly RuleStateRow[]) => {
        for (const r of rows) upsert.run(r.deviceId, r.rule, r.status, r.since, r.lastAt, r.value, r.flapping ? 1 : 0, JSON.stringify(r.flaps));
      }),
      removeRules: db.transaction((rules: readonly string[]) => {
        for (const r of rules) removeRule.run(r);
      }),
      saveSeen: db.transaction((entries: readonly (readonly [string, number])[]) => {
        for (const [id, at] of entries) upsertSeen.run(id, at);
      }),
      removeDevice: db.transaction((deviceId: string) => {
        removeStates.run(deviceId);
        removeSeen.run(deviceId);
      }),
    };
    this.db = db;
  }

  /** The open database, for other device state kept beside the rule state (one transaction for all). */
  get database(): Database.Database {
    if (!this.db) throw new Error('rule state store is not open');
    return this.db;
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.stmts = undefined;
  }

  private get s(): NonNullable<RuleStateStore['stmts']> {
    if (!this.stmts) throw new Error('rule state store is not open');
    return this.stmts;
  }

  /** Every stored rule state of one device. */
  loadDevice(deviceId: string): RuleStateRow[] {
    return this.s.loadDevice.all(deviceId).map(toRow);
  }

  /** Every (device, rule) that is raised or held raised by the flapping guard. */
  listActive(): RuleStateRow[] {
    return this.s.active.all().map(toRow);
  }

  /** Rule ids that have state (to find rules since removed from the rules file). */
  listRuleIds(): string[] {
    return this.s.rules.all().map((r) => r.rule);
  }

  /** Writes these rows in one transaction. */
  save(rows: readonly RuleStateRow[]): void {
    if (rows.length) this.s.saveMany(rows);
  }

  /** Deletes the state of these rules for every device, in one transaction. */
  removeRules(rules: readonly string[]): void {
    if (rules.length) this.s.removeRules(rules);
  }

  /** Last receive time per device. */
  loadLastSeen(): Map<string, number> {
    return new Map(this.s.lastSeen.all().map((r) => [r.device_id, r.received_at]));
  }

  /** Records receive times (never moving one backwards), in one transaction. */
  saveLastSeen(entries: readonly (readonly [string, number])[]): void {
    if (entries.length) this.s.saveSeen(entries);
  }

  /** Forgets a device entirely (it left the catalog). */
  removeDevice(deviceId: string): void {
    this.s.removeDevice(deviceId);
  }
}
