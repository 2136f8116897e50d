/**
 * The dead-letter store: every reading that was not written, with why. Embedded SQLite (WAL) under
 * the data dir, so dead letters survive restarts and can be listed, filtered and replayed.
 *
 * Inserts are queued and committed in one transaction per flush: a flood of bad messages costs one
 * commit per spool read, not one per message.
 */
import Database from 'better-sqlite3';
import type { DeadLetter } from '../ingest/types.js';
import { ErrorCodes, type DeadLetterReason } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import { openPrivateDatabase } from '../fs/private-files.js';

/** A stored dead letter. */
export interface DeadLetterRecord extends DeadLetter {
  readonly id: number;
}

export interface DeadLetterQuery {
  reason?: DeadLetterReason | undefined;
  deviceId?: string | undefined;
  type?: string | undefined;
  /** Only records with an id below this (paging newest-first). */
  beforeId?: number | undefined;
  limit?: number | undefined;
}

export interface DeadLetterStoreOptions {
  /** SQLite file; ':memory:' for tests. */
  file: string;
  /** Oldest records beyond this count are trimmed. */
  maxRecords: number;
  log: Logger;
}

const FLUSH_EVERY_MS = 20;
const FLUSH_AT = 1000;

export class DeadLetterStore {
  private readonly opts: DeadLetterStoreOptions;
  private db: Database.Database | undefined;
  private queue: DeadLetter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private insertMany: ((rows: DeadLetter[]) => void) | undefined;
  private sinceTrim = 0;

  constructor(opts: DeadLetterStoreOptions) {
    this.opts = opts;
  }

  start(): void {
    const db = openPrivateDatabase(this.opts.file);
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk when it returns. A spool record that carries a dead letter is
    // released only after the commit, so this is what makes dead letters survive a power cut.
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      received_at INTEGER NOT NULL,
      reason TEXT NOT NULL,
      path TEXT NOT NULL,
      message TEXT NOT NULL,
      topic TEXT NOT NULL,
      device_id TEXT,
      type TEXT,
      batch_index INTEGER,
      payload TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters(reason, id);
    CREATE INDEX IF NOT EXISTS dead_letters_device ON dead_letters(device_id, id);
    CREATE INDEX IF NOT EXISTS dead_letters_type ON dead_letters(type, id);`);
    const insert = db.prepare(
      `INSERT INTO dead_letters (received_at, reason, path, message, topic, device_id, type, batch_index, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertMany = db.transaction((rows: DeadLetter[]) => {
      for (const d of rows) {
        insert.run(d.receivedAt, d.reason, d.path, d.message, d.topic, d.deviceId ?? null, d.type ?? null, d.index ?? null, d.payload);
      }
    });
    this.db = db;
  }

  /** Queues a dead letter; it is committed within a few milliseconds. */
  add(d: DeadLetter): void {
    this.queue.push(d);
    if (this.queue.length >= FLUSH_AT) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }

  /** Commits queued dead letters now; true when everything queued so far is committed. */
  flush(): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return true;
    if (!this.insertMany) return false;
    const rows = this.queue;
    this.queue = [];
    try {
      this.insertMany(rows);
    } catch (err) {
      // Keep them for the next attempt rather than lose them (disk full, locked file).
      this.queue = rows.concat(this.queue);
      this.opts.log.error({ err, code: ErrorCodes.DEAD_LETTER_STORE.code, count: rows.length }, 'cannot store dead letters; will retry');
      this.timer = setTimeout(() => this.flush(), 1000);
      return false;
    }
    this.sinceTrim += rows.length;
    if (this.sinceTrim >= 1000) this.trim();
    return true;
  }

  /** Newest first. */
  list(q: DeadLetterQuery = {}): { items: DeadLetterRecord[]; total: number } {
    this.flush();
    const db = this.requireDb();
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.reason) (where.push('reason = ?'), args.push(q.reason));
    if (q.deviceId) (where.push('device_id = ?'), args.push(q.deviceId));
    if (q.type) (where.push('type = ?'), args.push(q.type));
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (db.prepare(`SELECT count(*) AS n FROM dead_letters ${filter}`).get(...args) as { n: number }).n;
    const pageWhere = q.beforeId !== undefined ? (filter ? `${filter} AND id < ?` : 'WHERE id < ?') : filter;
    const pageArgs = q.beforeId !== undefined ? [...args, q.beforeId] : args;
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const rows = db
      .prepare(`SELECT * FROM dead_letters ${pageWhere} ORDER BY id DESC LIMIT ?`)
      .all(...pageArgs, limit) as DeadLetterRow[];
    return { items: rows.map(deadLetterFromRow), total };
  }

  /** Oldest first, for replay: records with an id above `afterId`. */
  oldest(q: { reason?: DeadLetterReason | undefined; afterId: number; limit: number }): DeadLetterRecord[] {
    this.flush();
    const db = this.requireDb();
    const rows = (
      q.reason
        ? db.prepare('SELECT * FROM dead_letters WHERE reason = ? AND id > ? ORDER BY id LIMIT ?').all(q.reason, q.afterId, q.limit)
        : db.prepare('SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?').all(q.afterId, q.limit)
    ) as DeadLetterRow[];
    return rows.map(deadLetterFromRow);
  }

  /** Deletes dead letters that were replayed (their new outcome is in the spool). */
  remove(ids: readonly number[]): void {
    const db = this.requireDb();
    const del = db.prepare('DELETE FROM dead_letters WHERE id = ?');
    db.transaction((list: readonly number[]) => {
      for (const id of list) del.run(id);
    })(ids);
  }

  /** Counts by reason, for /api/stats. */
  countByReason(): Record<string, number> {
    this.flush();
    const rows = this.requireDb().prepare('SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason').all() as { reason: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
  }

  stop(): void {
    this.flush();
    this.db?.close();
    this.db = undefined;
    this.insertMany = undefined;
  }

  private trim(): void {
    this.sinceTrim = 0;
    this.requireDb()
      .prepare('DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?')
      .run(this.opts.maxRecords);
  }

  private requireDb(): Database.Database {
    if (!this.db) throw new Error('dead-letter store not started');
    return this.db;
  }
}

/** A row as SQLite returns it; the PostgreSQL store converts to it. */
export interface DeadLetterRow {
  id: number;
  received_at: number;
  reason: DeadLetterReason;
  path: string;
  message: string;
  topic: string;
  device_id: string | null;
  type: string | null;
  batch_index: number | null;
  payload: string;
}

/** A stored row as a dead letter. */
export function deadLetterFromRow(r: DeadLetterRow): DeadLetterRecord {
  return {
    id: r.id,
    receivedAt: r.received_at,
    reason: r.reason,
    path: r.path,
    message: r.message,
    topic: r.topic,
    deviceId: r.device_id ?? undefined,
    type: r.type ?? undefined,
    index: r.batch_index ?? undefined,
    payload: r.payload,
  };
}
