/**
 * The delivery outbox: ticket transitions waiting to reach the city's systems, in the ticket store's
 * own SQLite database. `enqueue` runs inside the ticket store's transaction, so a transition and its
 * deliveries commit together or not at all: no ticket change without its message, no message for a
 * change that was rolled back.
 *
 * One `delivery_messages` row per transition (the idempotency key and the ticket as it was), one
 * `delivery_queue` row per target that wants it. Rows are created for the targets configured at
 * enqueue time: a target added later only gets later messages.
 */
import type Database from 'better-sqlite3';
import { targetWants, type DeliveryTarget, type Open311Request, type RemoteRef, type TicketTransition, type TransitionKind } from './types.js';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One delivery of one message to one target, as stored. */
export interface DeliveryRecord {
  readonly messageId: number;
  readonly key: string;
  readonly target: string;
  readonly ticketId: string;
  readonly seq: number;
  readonly transition: TransitionKind;
  /** Epoch ms of the transition. */
  readonly at: number;
  readonly ticket: Open311Request;
  readonly state: DeliveryState;
  /** Attempts made so far. */
  readonly attempts: number;
  /** Epoch ms of the next attempt; null while an earlier message of the ticket is pending. */
  readonly nextAt: number | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly remoteId: string | null;
  /** Epoch ms when the row was enqueued. */
  readonly createdAt: number;
  /** Epoch ms when it was delivered or failed. */
  readonly doneAt: number | null;
}

/** Per target, for `/api/stats` and metrics. */
export interface TargetStats {
  readonly pending: number;
  /** Age of the oldest pending delivery in ms; 0 when nothing is pending. */
  readonly oldestPendingAgeMs: number;
  readonly failed: number;
}

export interface OutboxOptions {
  /** An open database, shared with the ticket store. */
  readonly db: Database.Database;
  /** Every target deliveries are made for; names must be unique. */
  readonly targets: readonly DeliveryTarget[];
  readonly now?: (() => number) | undefined;
}

interface QueueRow {
  message_id: number;
  idem_key: string;
  target: string;
  ticket_id: string;
  seq: number;
  transition: TransitionKind;
  occurred_at: number;
  ticket: string;
  state: DeliveryState;
  attempts: number;
  next_at: number;
  last_status: number | null;
  last_error: string | null;
  remote_id: string | null;
  created_at: number;
  done_at: number | null;
}

/**
 * `next_at` of a row waiting for an earlier message of its ticket. Only a ticket's first pending row
 * has a real due time, so the due-row scan touches heads only: with every head backing off and the
 * rows behind them all "due", it cost 22 ms per call at 15k pending rows and 258 ms at 150k, and
 * stays under 1 ms like this (outbox.bench.ts).
 */
const WAITING = Number.MAX_SAFE_INTEGER;

const SELECT_RECORD = `SELECT q.message_id, m.idem_key, q.target, q.ticket_id, q.seq, m.transition, m.occurred_at, m.ticket,
  q.state, q.attempts, q.next_at, q.last_status, q.last_error, q.remote_id, q.created_at, q.done_at
  FROM delivery_queue q JOIN delivery_messages m ON m.id = q.message_id`;

interface Statements {
  insertMessage: Database.Statement<[string, string, number, string, number, string, number]>;
  insertQueue: Database.Statement<[number, string, string, number, number, number]>;
  hasPending: Database.Statement<[string, string], { one: number }>;
  promoteNext: Database.Statement<[number, string, string, string]>;
  heads: Database.Statement<[string, number, number], QueueRow>;
  markDelivered: Database.Statement<[number, number | null, string | null, number, string]>;
  markRetry: Database.Statement<[number, number | null, string, number, string]>;
  markFailed: Database.Statement<[number, number | null, string, number, string]>;
  saveRemote: Database.Statement<[string, string, string, string, number]>;
  remote: Database.Statement<[string, string], { remote_id: string; kind: RemoteRef['kind'] }>;
}

/** The durable queue. `open()` before use; the database stays the caller's to close. */
export class Outbox {
  readonly targets: readonly DeliveryTarget[];
  private readonly db: Database.Database;
  private readonly now: () => number;
  private stmts: Statements | undefined;
  private enqueueTx: ((t: TicketTransition) => boolean) | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(opts: OutboxOptions) {
    this.db = opts.db;
    this.targets = opts.targets;
    this.now = opts.now ?? Date.now;
  }

  /** Creates the tables if needed and prepares statements. Idempotent. Throws for duplicate target names. */
  open(): void {
    if (this.stmts) return;
    const names = new Set<string>();
    for (const t of this.targets) {
      if (!t.name) throw new Error('delivery target without a name');
      if (names.has(t.name)) throw new Error(`delivery target name "${t.name}" is used twice`);
      names.add(t.name);
    }
    const db = this.db;
    db.exec(`CREATE TABLE IF NOT EXISTS delivery_messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      idem_key TEXT NOT NULL UNIQUE,
      ticket_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      transition TEXT NOT NULL,
      occurred_at INTEGER NOT NULL,
      ticket TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS delivery_queue (
      message_id INTEGER NOT NULL,
      target TEXT NOT NULL,
      ticket_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      next_at INTEGER NOT NULL,
      last_status INTEGER,
      last_error TEXT,
      remote_id TEXT,
      created_at INTEGER NOT NULL,
      done_at INTEGER,
      PRIMARY KEY (target, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS delivery_queue_ticket ON delivery_queue(target, state, ticket_id, seq);
    CREATE INDEX IF NOT EXISTS delivery_queue_due ON delivery_queue(target, state, next_at);
    CREATE INDEX IF NOT EXISTS delivery_queue_done ON delivery_queue(state, done_at);
    CREATE INDEX IF NOT EXISTS delivery_queue_message ON delivery_queue(message_id);
    CREATE TABLE IF NOT EXISTS delivery_remote_ids (
      ticket_id TEXT NOT NULL,
      target TEXT NOT NULL,
      remote_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      at INTEGER NOT NULL,
      PRIMARY KEY (ticket_id, target)
    ) WITHOUT ROWID;`);
    this.moveFormerNames();
    this.stmts = {
      insertMessage: db.prepare(
        `INSERT INTO delivery_messages (idem_key, ticket_id, seq, transition, occurred_at, ticket, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idem_key) DO NOTHING`,
      ),
      insertQueue: db.prepare(
        `INSERT INTO delivery_queue (message_id, target, ticket_id, seq, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      hasPending: db.prepare(`SELECT 1 AS one FROM delivery_queue WHERE target = ? AND ticket_id = ? AND state = 'pending' LIMIT 1`),
      promoteNext: db.prepare(
        `UPDATE delivery_queue SET next_at = ? WHERE target = ? AND next_at = ${WAITING} AND message_id = (
           SELECT message_id FROM delivery_queue WHERE target = ? AND ticket_id = ? AND state = 'pending' ORDER BY seq, message_id LIMIT 1)`,
      ),
      // The head of each (target, ticket) line: the pending row with no earlier pending row. Failed
      // rows are not pending, so they do not hold a ticket's later messages back.
      heads: db.prepare(
        `${SELECT_RECORD}
         WHERE q.target = ? AND q.state = 'pending' AND q.next_at <= ?
           AND NOT EXISTS (SELECT 1 FROM delivery_queue e
             WHERE e.target = q.target AND e.state = 'pending' AND e.ticket_id = q.ticket_id
               AND (e.seq < q.seq OR (e.seq = q.seq AND e.message_id < q.message_id)))
         ORDER BY q.next_at, q.message_id LIMIT ?`,
      ),
      markDelivered: db.prepare(
        `UPDATE delivery_queue SET state = 'delivered', attempts = attempts + 1, done_at = ?, last_status = ?, remote_id = ?, last_error = NULL
         WHERE message_id = ? AND target = ?`,
      ),
      markRetry: db.prepare(
        `UPDATE delivery_queue SET attempts = attempts + 1, next_at = ?, last_status = ?, last_error = ? WHERE message_id = ? AND target = ?`,
      ),
      markFailed: db.prepare(
        `UPDATE delivery_queue SET state = 'failed', attempts = attempts + 1, done_at = ?, last_status = ?, last_error = ?
         WHERE message_id = ? AND target = ?`,
      ),
      saveRemote: db.prepare(
        `INSERT INTO delivery_remote_ids (ticket_id, target, remote_id, kind, at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(ticket_id, target) DO UPDATE SET remote_id = excluded.remote_id, kind = excluded.kind, at = excluded.at`,
      ),
      remote: db.prepare('SELECT remote_id, kind FROM delivery_remote_ids WHERE ticket_id = ? AND target = ?'),
    };
    const s = this.stmts;
    // Heals lines whose head is marked waiting (e.g. rows deleted by hand): every first pending row
    // of a (target, ticket) gets a real due time.
    db.prepare(
      `UPDATE delivery_queue SET next_at = ? WHERE state = 'pending' AND next_at = ${WAITING}
         AND NOT EXISTS (SELECT 1 FROM delivery_queue e WHERE e.target = delivery_queue.target AND e.state = 'pending'
           AND e.ticket_id = delivery_queue.ticket_id AND (e.seq < delivery_queue.seq OR (e.seq = delivery_queue.seq AND e.message_id < delivery_queue.message_id)))`,
    ).run(this.now());
    // A function from db.transaction() opens a SAVEPOINT, not a BEGIN, when the caller is already in
    // a transaction: it joins it, and rolls back with it.
    this.enqueueTx = db.transaction((t: TicketTransition): boolean => {
      const ticketId = t.ticket.service_request_id;
      const wanting = this.targets.filter((target) => targetWants(target, t.transition));
      if (wanting.length === 0) return false;
      const now = this.now();
      const info = s.insertMessage.run(`${ticketId}:${t.seq}`, ticketId, t.seq, t.transition, t.at, JSON.stringify(t.ticket), now);
      // The same (ticket, seq) twice is the same message: the first one stands.
      if (info.changes === 0) return false;
      const messageId = Number(info.lastInsertRowid);
      for (const target of wanting) {
        const nextAt = s.hasPending.get(target.name, ticketId) ? WAITING : now;
        s.insertQueue.run(messageId, target.name, ticketId, t.seq, nextAt, now);
      }
      return true;
    });
  }

  /**
   * Records a transition for every target that wants it. Synchronous; call it inside the ticket
   * store's transaction, which it joins. Returns false when no target wants it or the same
   * `(ticket, seq)` was enqueued before.
   */
  enqueue(transition: TicketTransition): boolean {
    if (!Number.isInteger(transition.seq) || transition.seq < 1) throw new RangeError(`ticket transition seq must be a positive integer, got ${transition.seq}`);
    const added = this.requireTx()(transition);
    // Listeners run in a later turn, after the caller's transaction has committed (or rolled back).
    if (added) for (const l of this.listeners) setImmediate(l);
    return added;
  }

  /** Called (in a later turn) after each enqueue that added deliveries; returns an unsubscribe. */
  onEnqueue(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Pending rows of `target` that are due and first in their ticket's line, oldest due first. */
  dueHeads(target: string, now: number, limit: number): DeliveryRecord[] {
    return this.requireStmts().heads.all(target, now, limit).map(fromRow);
  }

  markDelivered(messageId: number, target: string, status: number | null, remote?: RemoteRef): void {
    const s = this.requireStmts();
    const now = this.now();
    this.db.transaction(() => {
      s.markDelivered.run(now, status, remote?.id ?? null, messageId, target);
      const ticketId = this.ticketIdOf(messageId);
      if (ticketId === undefined) return;
      if (remote) s.saveRemote.run(ticketId, target, remote.id, remote.kind, now);
      s.promoteNext.run(now, target, target, ticketId);
    })();
  }

  markRetry(messageId: number, target: string, nextAt: number, status: number | null, error: string): void {
    this.requireStmts().markRetry.run(nextAt, status, error, messageId, target);
  }

  markFailed(messageId: number, target: string, status: number | null, error: string): void {
    const s = this.requireStmts();
    const now = this.now();
    this.db.transaction(() => {
      s.markFailed.run(now, status, error, messageId, target);
      const ticketId = this.ticketIdOf(messageId);
      if (ticketId !== undefined) s.promoteNext.run(now, target, target, ticketId);
    })();
  }

  /** The receiver's id for a forwarded ticket (Open311 `service_request_id` or `token`), if any. */
  remoteIdOf(ticketId: string, target: string): string | undefined {
    return this.remoteRefOf(ticketId, target)?.id;
  }

  /** Like `remoteIdOf`, saying whether it is a `service_request_id` or a `token` to resolve later. */
  remoteRefOf(ticketId: string, target: string): RemoteRef | undefined {
    const row = this.requireStmts().remote.get(ticketId, target);
    return row ? { id: row.remote_id, kind: row.kind } : undefined;
  }

  /** Every delivery of a ticket, oldest first; for the API, the CLI and tests. */
  deliveriesOf(ticketId: string, target?: string): DeliveryRecord[] {
    this.requireStmts();
    const rows = target
      ? this.db.prepare(`${SELECT_RECORD} WHERE q.ticket_id = ? AND q.target = ? ORDER BY q.target, q.seq, q.message_id`).all(ticketId, target)
      : this.db.prepare(`${SELECT_RECORD} WHERE q.ticket_id = ? ORDER BY q.target, q.seq, q.message_id`).all(ticketId);
    return (rows as QueueRow[]).map(fromRow);
  }

  /** Failed deliveries, newest first. */
  failed(target?: string, limit = 100): DeliveryRecord[] {
    this.requireStmts();
    const rows = target
      ? this.db.prepare(`${SELECT_RECORD} WHERE q.state = 'failed' AND q.target = ? ORDER BY q.done_at DESC LIMIT ?`).all(target, limit)
      : this.db.prepare(`${SELECT_RECORD} WHERE q.state = 'failed' ORDER BY q.done_at DESC LIMIT ?`).all(limit);
    return (rows as QueueRow[]).map(fromRow);
  }

  /**
   * Puts failed deliveries back in the queue (e.g. after fixing a receiver that answered 401). A
   * requeued message goes before its ticket's later pending messages. Returns how many.
   */
  requeueFailed(target?: string): number {
    this.requireStmts();
    const now = this.now();
    const info = target
      ? this.db.prepare(`UPDATE delivery_queue SET state = 'pending', next_at = ?, done_at = NULL WHERE state = 'failed' AND target = ?`).run(now, target)
      : this.db.prepare(`UPDATE delivery_queue SET state = 'pending', next_at = ?, done_at = NULL WHERE state = 'failed'`).run(now);
    if (info.changes > 0) for (const l of this.listeners) setImmediate(l);
    return info.changes;
  }

  /** Per target that has rows or is configured. */
  /**
   * Per configured target. Read on every `/metrics` scrape (an open route), so it touches pending and
   * failed rows through the (target, state, next_at) index only, never the delivered rows kept for
   * days; the oldest pending row is the oldest line head (a ticket's first pending message).
   */
  stats(now: number = this.now()): Record<string, TargetStats> {
    this.requireStmts();
    const count = this.db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM delivery_queue WHERE target = ? AND state = ?');
    const oldest = this.db.prepare<[string, number], { at: number | null }>(
      `SELECT min(created_at) AS at FROM delivery_queue WHERE target = ? AND state = 'pending' AND next_at < ?`,
    );
    const out: Record<string, TargetStats> = {};
    for (const t of this.targets) {
      const at = oldest.get(t.name, WAITING)?.at ?? null;
      out[t.name] = {
        pending: count.get(t.name, 'pending')?.n ?? 0,
        oldestPendingAgeMs: at === null ? 0 : Math.max(0, now - at),
        failed: count.get(t.name, 'failed')?.n ?? 0,
      };
    }
    return out;
  }

  /**
   * Moves rows stored under a target's former names (e.g. a webhook keyed by its URL path before
   * the path was known to be a credential) to its current name, in one transaction. A row that
   * exists under both names keeps the current one.
   */
  private moveFormerNames(): void {
    const db = this.db;
    db.transaction(() => {
      for (const t of this.targets) {
        for (const former of t.formerNames ?? []) {
          if (former === t.name) continue;
          for (const table of ['delivery_queue', 'delivery_remote_ids']) {
            db.prepare(`UPDATE OR IGNORE ${table} SET target = ? WHERE target = ?`).run(t.name, former);
            db.prepare(`DELETE FROM ${table} WHERE target = ?`).run(former);
          }
        }
      }
    })();
  }

  /**
   * Deletes delivered rows done before `deliveredBefore` and failed rows done before `failedBefore`,
   * then messages no target still holds. Remote ids are kept: they map our tickets to the receiver's.
   */
  prune(deliveredBefore: number, failedBefore: number): number {
    this.requireStmts();
    return this.db.transaction(() => {
      const a = this.db.prepare(`DELETE FROM delivery_queue WHERE state = 'delivered' AND done_at < ?`).run(deliveredBefore).changes;
      const b = this.db.prepare(`DELETE FROM delivery_queue WHERE state = 'failed' AND done_at < ?`).run(failedBefore).changes;
      this.db.prepare(`DELETE FROM delivery_messages WHERE NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.message_id = delivery_messages.id)`).run();
      return a + b;
    })();
  }

  private ticketIdOf(messageId: number): string | undefined {
    const row = this.db.prepare('SELECT ticket_id FROM delivery_messages WHERE id = ?').get(messageId) as { ticket_id: string } | undefined;
    return row?.ticket_id;
  }

  private requireStmts(): Statements {
    if (!this.stmts) throw new Error('delivery outbox not opened; call open() first');
    return this.stmts;
  }

  private requireTx(): (t: TicketTransition) => boolean {
    this.requireStmts();
    return this.enqueueTx as (t: TicketTransition) => boolean;
  }
}

function fromRow(r: QueueRow): DeliveryRecord {
  return {
    messageId: r.message_id,
    key: r.idem_key,
    target: r.target,
    ticketId: r.ticket_id,
    seq: r.seq,
    transition: r.transition,
    at: r.occurred_at,
    ticket: JSON.parse(r.ticket) as Open311Request,
    state: r.state,
    attempts: r.attempts,
    nextAt: r.next_at === WAITING ? null : r.next_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    remoteId: r.remote_id,
    createdAt: r.created_at,
    doneAt: r.done_at,
  };
}
