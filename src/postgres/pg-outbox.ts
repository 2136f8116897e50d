/**
 * The delivery outbox in PostgreSQL, shared by every worker: the model of src/delivery/outbox.ts (one
 * message per ticket transition, one queue row per target, a ticket's messages sent in order), with
 * claims. `dueHeads` takes the due line heads with `FOR UPDATE SKIP LOCKED` and marks them claimed by
 * this worker for a lease: another worker skips a row while it is locked and while its lease runs, so
 * a message goes out once. A worker that dies mid-send leaves its claim to expire; the row is then
 * sent again by whoever takes it, with the same idempotency key, as after a restart of one node.
 */
import type pg from 'pg';
import type { DeliveryRecord, TargetStats } from '../delivery/outbox.js';
import type { DeliveryQueue } from '../delivery/deliverer.js';
import { targetWants, type DeliveryTarget, type Open311Request, type RemoteRef, type TicketTransition, type TransitionKind } from '../delivery/types.js';
import { inTransaction, type Queryable } from './database.js';

/** Longer than any attempt (10 s request timeout by default) so a live worker's claim never lapses. */
const LEASE_MS = 120_000;

interface QueueRow {
  message_id: string;
  idem_key: string;
  target: string;
  ticket_id: string;
  seq: number;
  transition: TransitionKind;
  occurred_at: string;
  ticket: Open311Request;
  state: DeliveryRecord['state'];
  attempts: number;
  next_at: string;
  last_status: number | null;
  last_error: string | null;
  remote_id: string | null;
  created_at: string;
  done_at: string | null;
}

const SELECT_RECORD = `SELECT q.message_id, m.idem_key, q.target, q.ticket_id, q.seq, m.transition, m.occurred_at, m.ticket,
  q.state, q.attempts, q.next_at, q.last_status, q.last_error, q.remote_id, q.created_at, q.done_at
  FROM delivery_queue q JOIN delivery_messages m ON m.id = q.message_id`;

export class PgOutbox implements DeliveryQueue {
  readonly targets: readonly DeliveryTarget[];
  private readonly pool: pg.Pool;
  private readonly worker: string;
  private readonly now: () => number;
  private readonly listeners = new Set<() => void>();
  private statsNow: Record<string, TargetStats> = {};
  /** Claims made, numbered: a row is given back only under the claim that took it (see `release`). */
  private claims = 0;
  private readonly claimOf = new Map<string, string>();
  private statsReading = false;

  constructor(opts: { pool: pg.Pool; targets: readonly DeliveryTarget[]; worker: string; now?: () => number }) {
    this.pool = opts.pool;
    this.targets = opts.targets;
    this.worker = opts.worker;
    this.now = opts.now ?? Date.now;
  }

  open(): void {
    this.refreshStats();
  }

  /**
   * Gives back the rows this worker had claimed when it stopped or died: a worker starting under the
   * same name has nothing in flight, so they need not wait for their lease to end. One in flight at
   * a crash may have reached its receiver: it is sent again with the same idempotency key.
   */
  async reclaimOwn(): Promise<number> {
    const r = await this.pool.query("UPDATE delivery_queue SET claimed_by = NULL, claimed_until = NULL WHERE left(claimed_by, length($1)) = $1 AND state = 'pending'", [`${this.worker}#`]);
    return r.rowCount ?? 0;
  }

  /**
   * Records a transition for every target that wants it, inside the caller's transaction (the one
   * that changed the ticket). Returns false when no target wants it or it was enqueued before.
   */
  async enqueue(c: Queryable, t: TicketTransition): Promise<boolean> {
    const ticketId = t.ticket.service_request_id;
    const wanting = this.targets.filter((target) => targetWants(target, t.transition));
    if (wanting.length === 0) return false;
    const now = this.now();
    const r = await c.query<{ id: string }>(
      `INSERT INTO delivery_messages (idem_key, ticket_id, seq, transition, occurred_at, ticket, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING RETURNING id`,
      [`${ticketId}:${t.seq}`, ticketId, t.seq, t.transition, t.at, JSON.stringify(t.ticket), now],
    );
    const id = r.rows[0]?.id;
    if (id === undefined) return false;
    for (const target of wanting) {
      await c.query('INSERT INTO delivery_queue (message_id, target, ticket_id, seq, next_at, created_at) VALUES ($1, $2, $3, $4, $5, $5)', [id, target.name, ticketId, t.seq, now]);
    }
    return true;
  }

  /** Tells the local deliverer that messages were enqueued (after their transaction committed). */
  notify(): void {
    for (const l of this.listeners) setImmediate(l);
  }

  onEnqueue(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Claims the due heads of `target`'s ticket lines for this worker, oldest due first. */
  async dueHeads(target: string, now: number, limit: number): Promise<DeliveryRecord[]> {
    this.refreshStats();
    return inTransaction(this.pool, async (c) => {
      const picked = await c.query<{ message_id: string }>(
        `SELECT q.message_id FROM delivery_queue q
          WHERE q.target = $1 AND q.state = 'pending' AND q.next_at <= $2 AND (q.claimed_until IS NULL OR q.claimed_until < $2)
            AND NOT EXISTS (SELECT 1 FROM delivery_queue e
              WHERE e.target = q.target AND e.state = 'pending' AND e.ticket_id = q.ticket_id
                AND (e.seq < q.seq OR (e.seq = q.seq AND e.message_id < q.message_id)))
          ORDER BY q.next_at, q.message_id LIMIT $3
          FOR UPDATE OF q SKIP LOCKED`,
        [target, now, limit],
      );
      if (picked.rowCount === 0) return [];
      const ids = picked.rows.map((r) => r.message_id);
      const claim = `${this.worker}#${++this.claims}`;
      await c.query('UPDATE delivery_queue SET claimed_by = $1, claimed_until = $2 WHERE target = $3 AND message_id = ANY($4::bigint[])', [claim, now + LEASE_MS, target, ids]);
      for (const id of ids) this.claimOf.set(`${target}\0${id}`, claim);
      const rows = await c.query<QueueRow>(`${SELECT_RECORD} WHERE q.target = $1 AND q.message_id = ANY($2::bigint[]) ORDER BY q.next_at, q.message_id`, [target, ids]);
      return rows.rows.map(fromRow);
    });
  }

  /**
   * Gives back a row `dueHeads` returned that the deliverer does not send now. Only under the claim
   * that took it: a release that arrives after this worker claimed the row again (and is sending it)
   * must not free it for another worker.
   */
  async release(messageId: number, target: string): Promise<void> {
    const key = `${target}\0${messageId}`;
    const claim = this.claimOf.get(key);
    if (claim === undefined) return;
    this.claimOf.delete(key);
    await this.pool.query('UPDATE delivery_queue SET claimed_by = NULL, claimed_until = NULL WHERE message_id = $1 AND target = $2 AND claimed_by = $3', [messageId, target, claim]);
  }

  async markDelivered(messageId: number, target: string, status: number | null, remote?: RemoteRef): Promise<void> {
    this.claimOf.delete(`${target}\0${messageId}`);
    const now = this.now();
    await inTransaction(this.pool, async (c) => {
      const r = await c.query<{ ticket_id: string }>(
        `UPDATE delivery_queue SET state = 'delivered', attempts = attempts + 1, done_at = $1, last_status = $2, remote_id = $3, last_error = NULL,
           claimed_by = NULL, claimed_until = NULL WHERE message_id = $4 AND target = $5 RETURNING ticket_id`,
        [now, status, remote?.id ?? null, messageId, target],
      );
      const ticketId = r.rows[0]?.ticket_id;
      if (remote && ticketId !== undefined) {
        await c.query(
          `INSERT INTO delivery_remote_ids (ticket_id, target, remote_id, kind, at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (ticket_id, target) DO UPDATE SET remote_id = excluded.remote_id, kind = excluded.kind, at = excluded.at`,
          [ticketId, target, remote.id, remote.kind, now],
        );
      }
    });
    // The ticket's next message is due now.
    this.notify();
  }

  async markRetry(messageId: number, target: string, nextAt: number, status: number | null, error: string): Promise<void> {
    this.claimOf.delete(`${target}\0${messageId}`);
    await this.pool.query(
      'UPDATE delivery_queue SET attempts = attempts + 1, next_at = $1, last_status = $2, last_error = $3, claimed_by = NULL, claimed_until = NULL WHERE message_id = $4 AND target = $5',
      [nextAt, status, error, messageId, target],
    );
  }

  async markFailed(messageId: number, target: string, status: number | null, error: string): Promise<void> {
    this.claimOf.delete(`${target}\0${messageId}`);
    await this.pool.query(
      `UPDATE delivery_queue SET state = 'failed', attempts = attempts + 1, done_at = $1, last_status = $2, last_error = $3,
         claimed_by = NULL, claimed_until = NULL WHERE message_id = $4 AND target = $5`,
      [this.now(), status, error, messageId, target],
    );
    this.notify();
  }

  async remoteRefOf(ticketId: string, target: string): Promise<RemoteRef | undefined> {
    const r = await this.pool.query<{ remote_id: string; kind: RemoteRef['kind'] }>('SELECT remote_id, kind FROM delivery_remote_ids WHERE ticket_id = $1 AND target = $2', [ticketId, target]);
    const row = r.rows[0];
    return row ? { id: row.remote_id, kind: row.kind } : undefined;
  }

  /** Every delivery of a ticket, oldest first. */
  async deliveriesOf(ticketId: string, target?: string): Promise<DeliveryRecord[]> {
    const r = target
      ? await this.pool.query<QueueRow>(`${SELECT_RECORD} WHERE q.ticket_id = $1 AND q.target = $2 ORDER BY q.target, q.seq, q.message_id`, [ticketId, target])
      : await this.pool.query<QueueRow>(`${SELECT_RECORD} WHERE q.ticket_id = $1 ORDER BY q.target, q.seq, q.message_id`, [ticketId]);
    return r.rows.map(fromRow);
  }

  /**
   * Per configured target, as last read (metrics and `/api/stats` read it synchronously); read
   * again in the background at most once at a time.
   */
  stats(): Record<string, TargetStats> {
    this.refreshStats();
    return this.statsNow;
  }

  async prune(deliveredBefore: number, failedBefore: number): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      const a = await c.query("DELETE FROM delivery_queue WHERE state = 'delivered' AND done_at < $1", [deliveredBefore]);
      const b = await c.query("DELETE FROM delivery_queue WHERE state = 'failed' AND done_at < $1", [failedBefore]);
      await c.query('DELETE FROM delivery_messages m WHERE NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.message_id = m.id)');
      return (a.rowCount ?? 0) + (b.rowCount ?? 0);
    });
  }

  private refreshStats(): void {
    if (this.statsReading) return;
    this.statsReading = true;
    const now = this.now();
    this.pool
      .query<{ target: string; pending: string; failed: string; oldest: string | null }>(
        `SELECT target, count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed,
           min(created_at) FILTER (WHERE state = 'pending') AS oldest
         FROM delivery_queue WHERE state <> 'delivered' GROUP BY target`,
      )
      .then((r) => {
        const out: Record<string, TargetStats> = {};
        for (const t of this.targets) out[t.name] = { pending: 0, oldestPendingAgeMs: 0, failed: 0 };
        for (const row of r.rows) {
          if (!(row.target in out)) continue;
          out[row.target] = { pending: Number(row.pending), failed: Number(row.failed), oldestPendingAgeMs: row.oldest === null ? 0 : Math.max(0, now - Number(row.oldest)) };
        }
        this.statsNow = out;
      })
      .catch(() => undefined)
      .finally(() => (this.statsReading = false));
  }
}

function fromRow(r: QueueRow): DeliveryRecord {
  return {
    messageId: Number(r.message_id),
    key: r.idem_key,
    target: r.target,
    ticketId: r.ticket_id,
    seq: r.seq,
    transition: r.transition,
    at: Number(r.occurred_at),
    ticket: r.ticket,
    state: r.state,
    attempts: r.attempts,
    nextAt: Number(r.next_at),
    lastStatus: r.last_status,
    lastError: r.last_error,
    remoteId: r.remote_id,
    createdAt: Number(r.created_at),
    doneAt: r.done_at === null ? null : Number(r.done_at),
  };
}
