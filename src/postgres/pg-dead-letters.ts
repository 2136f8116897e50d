/**
 * Dead letters shared by every worker. A worker stores each one in its own SQLite store first, as a
 * single node does (the drain releases a spool record only once its dead letters are committed
 * there), and moves them here in the background: inserted with a key naming their origin, then
 * deleted locally. A move cut short by a crash is repeated, and the key makes the repeat add
 * nothing. The API lists, counts and replays from here, so any worker answers for all of them.
 */
import type pg from 'pg';
import { deadLetterFromRow, type DeadLetterQuery, type DeadLetterRecord, type DeadLetterRow, type DeadLetterStore } from '../deadletter/store.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import { ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';

const MOVE_EVERY_MS = 1000;
const PAGE = 500;

/** A row as pg returns it (bigint as string). */
type Row = Omit<DeadLetterRow, 'id' | 'received_at'> & { id: string; received_at: string };

export class PgDeadLetters {
  private readonly pool: pg.Pool;
  private readonly local: DeadLetterStore;
  private readonly worker: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private moving: Promise<void> | undefined;
  private counts: Record<string, number> = {};
  private failing = false;

  constructor(opts: { pool: pg.Pool; local: DeadLetterStore; worker: string; log: Logger }) {
    this.pool = opts.pool;
    this.local = opts.local;
    this.worker = opts.worker;
    this.log = opts.log;
  }

  start(): void {
    this.timer = setInterval(() => void this.move(), MOVE_EVERY_MS);
    this.timer.unref();
    void this.move();
  }

  /** Moves what is left, then stops. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.move();
  }

  /** Moves the worker's local dead letters to the shared table, oldest first. */
  move(): Promise<void> {
    this.moving ??= this.moveAll().finally(() => (this.moving = undefined));
    return this.moving;
  }

  private async moveAll(): Promise<void> {
    try {
      for (;;) {
        const page = this.local.oldest({ afterId: 0, limit: PAGE });
        if (page.length === 0) break;
        const cols = ['origin', 'worker', 'received_at', 'reason', 'path', 'message', 'topic', 'device_id', 'type', 'batch_index', 'payload'];
        const values: unknown[] = [];
        const tuples = page.map((d) => {
          const base = values.length;
          values.push(`${this.worker}:${d.id}:${d.receivedAt}`, this.worker, d.receivedAt, d.reason, d.path, d.message, d.topic, d.deviceId ?? null, d.type ?? null, d.index ?? null, d.payload);
          return `(${cols.map((_, i) => `$${base + i + 1}`).join(', ')})`;
        });
        await this.pool.query(`INSERT INTO dead_letters (${cols.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (origin) DO NOTHING`, values);
        this.local.remove(page.map((d) => d.id));
        if (page.length < PAGE) break;
      }
      if (this.failing) this.log.info('dead letters move to PostgreSQL again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.error({ err, code: ErrorCodes.DATABASE_UNREACHABLE.code }, 'cannot move dead letters to PostgreSQL; they stay in this worker\'s store until it can');
      this.failing = true;
    }
  }

  /** Newest first (deadletter/store.ts `list`). */
  async list(q: DeadLetterQuery = {}): Promise<{ items: DeadLetterRecord[]; total: number }> {
    await this.move();
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (q.reason) where.push(`reason = ${arg(q.reason)}`);
    if (q.deviceId) where.push(`device_id = ${arg(q.deviceId)}`);
    if (q.type) where.push(`type = ${arg(q.type)}`);
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = Number((await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM dead_letters ${filter}`, args)).rows[0]!.n);
    if (q.beforeId !== undefined) where.push(`id < ${arg(q.beforeId)}`);
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const rows = await this.pool.query<Row>(`SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${arg(limit)}`, args);
    return { items: rows.rows.map(fromRow), total };
  }

  /** Oldest first, for replay. */
  async oldest(q: { reason?: DeadLetterReason | undefined; afterId: number; limit: number }): Promise<DeadLetterRecord[]> {
    await this.move();
    const r = q.reason
      ? await this.pool.query<Row>('SELECT * FROM dead_letters WHERE reason = $1 AND id > $2 ORDER BY id LIMIT $3', [q.reason, q.afterId, q.limit])
      : await this.pool.query<Row>('SELECT * FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2', [q.afterId, q.limit]);
    return r.rows.map(fromRow);
  }

  async remove(ids: readonly number[]): Promise<void> {
    if (ids.length) await this.pool.query('DELETE FROM dead_letters WHERE id = ANY($1::bigint[])', [ids]);
  }

  /**
   * Counts by reason over every worker, as last read, plus this worker's not yet moved (read by
   * `/api/stats` synchronously; refreshed in the background).
   */
  countByReason(): Record<string, number> {
    this.pool.query<{ reason: string; n: string }>('SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason').then(
      (r) => (this.counts = Object.fromEntries(r.rows.map((x) => [x.reason, Number(x.n)]))),
      () => undefined,
    );
    const out = { ...this.counts };
    for (const [reason, n] of Object.entries(this.local.countByReason())) out[reason] = (out[reason] ?? 0) + n;
    return out;
  }
}

function fromRow(r: Row): DeadLetterRecord {
  return deadLetterFromRow({ ...r, id: Number(r.id), received_at: Number(r.received_at) });
}
