/**
 * Wires the dispatch half for a worker among several (CONTRACT §8): stored readings → rules → events
 * → tickets → delivery, with the state every worker shares in PostgreSQL. The stages are the single
 * node's (the rules engine, the deadman sweep, the ticket policy, the deliverer, the plan builder);
 * what changes is where their state lives and who may act:
 *
 * - A batch of stored readings is one transaction: the rows of its devices are locked (FOR UPDATE,
 *   in id order), their rule state loaded into the engine, evaluated, and the new state, the
 *   tickets, the outbox rows and the event log committed together. Another worker holding a reading
 *   of the same device waits for the lock and then sees this state. Batches queued meanwhile commit
 *   as one (group commit).
 * - The deadman sweep runs on the worker that holds a transaction-scoped advisory lock; it raises a
 *   device only after locking its row and seeing it still silent.
 * - The collection plan runs on the worker whose claim of the schedule's slot wins (`cp_job_runs`).
 * - Deliveries are claimed row by row (`SKIP LOCKED` and a lease, pg-outbox.ts).
 * - The live event stream of every worker follows the shared log (LISTEN/NOTIFY, and a poll).
 *
 * The spool releases a record only once the batch with its readings has committed
 * (`persistDeviceState`), so a worker killed before that evaluates them again from its spool.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import type { DeviceRecord } from '../catalog/types.js';
import type { Logger } from '../observability/logger.js';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { defaultRulesFile, loadRuleBook } from '../dispatch/rules-stage.js';
import { CompiledRules } from '../dispatch/rules/compile.js';
import { RuleEngine } from '../dispatch/rules/evaluate.js';
import type { RuleBook, ServiceDefinition } from '../dispatch/rules/rule-book.js';
import { DeadmanSweep } from '../dispatch/deadman.js';
import type { RuleStateAccess, RuleStateRow } from '../dispatch/rule-state-store.js';
import type { RuleEvent, RuleInput } from '../dispatch/types.js';
import { serviceLookup, type TicketTransition } from '../tickets/ticket-store.js';
import { EventHub, type EventFilter, type HubSubscription } from '../events/event-hub.js';
import { toLine as eventLine, type LoggedEvent } from '../events/event-log.js';
import { Deliverer, type BackoffOptions } from '../delivery/deliverer.js';
import { fillFieldOf } from '../collection/containers.js';
import { buildPlan, DEFAULT_HORIZON_MS, planLines, type CollectionPlan } from '../collection/plan.js';
import { stopCronTask } from '../process/cron-task.js';
import type { DispatchCounters, DispatchGauges } from '../observability/metrics.js';
import { toApiEvent } from '../http/dispatch-routes.js';
import { openDatabase, inTransaction, describeDatabase, LOCKS, type Queryable } from '../postgres/database.js';
import { lockDevices, saveRuleRows, saveSeen, LoadedRuleState } from '../postgres/pg-device-state.js';
import { fillHistorySince } from '../postgres/pg-reads.js';
import { PgTickets } from '../postgres/pg-tickets.js';
import { PgOutbox } from '../postgres/pg-outbox.js';
import { PgEventLog } from '../postgres/pg-events.js';
import { PgEventFeed } from '../postgres/pg-event-feed.js';
import { RulesTap } from './rules-tap.js';
import { clusterHttpDeps } from './cluster-http.js';
import type { DispatchApiDeps } from '../http/dispatch-api.js';
import { SideWriter, type SideSource } from './side-writer.js';
import { countedDeliverer, type Catalog } from './dispatch.js';

/** Readings per transaction at most (batches queued meanwhile are merged up to this). */
const MAX_READINGS_PER_TX = 5000;
/**
 * How often each worker tries the deadman sweep (the advisory lock lets one at a time do it): a
 * quarter of the shortest silence limit in the catalog, within these bounds, so an offline device is
 * raised within a quarter of its limit of being due.
 */
const SWEEP_MIN_MS = 1000;
const SWEEP_MAX_MS = 15_000;
/** Events a dead worker logged but did not write to InfluxDB are picked up after this long. */
const ORPHAN_EVENTS_AFTER_MS = 60_000;
const SIDE_WRITE_MS = 1000;
const RETRY_MAX_MS = 10_000;
/** How long the drain waits for a batch's commit before it keeps the records and asks again later. */
const COMMIT_WAIT_MS = 10_000;
/** The fill history the plan reads (the single node keeps 48 h too: collection/fill-history.ts). */
const FILL_HISTORY_MS = 48 * 3600_000;

export interface ClusterDispatchOptions {
  config: Config;
  /** The PostgreSQL URL (`CITYPIPE_DATABASE_URL`). */
  databaseUrl: string;
  /** This worker's name (`CITYPIPE_WORKER_ID`): claims and job runs carry it. */
  workerId: string;
  catalog: () => Catalog;
  log: Logger;
  metrics: DispatchCounters;
  publish(topic: string, payload: string): Promise<void>;
  writeLines(lines: readonly string[]): Promise<void>;
  now?: () => number;
  deliveryBackoff?: BackoffOptions;
  /** false: no deadman timer and no plan schedule (tests call `sweep` and `scheduledPlan`). */
  schedules?: boolean;
}

interface Parts {
  pool: pg.Pool;
  book: RuleBook;
  compiled: CompiledRules;
  engine: RuleEngine;
  tickets: PgTickets;
  outbox: PgOutbox;
  events: PgEventLog;
  hub: EventHub;
  deliverer: Deliverer;
  tap: RulesTap;
  side: SideWriter;
  services: (rule: string) => ServiceDefinition | undefined;
  feed: PgEventFeed;
}

export class ClusterDispatch implements DispatchGauges {
  /** Batches committed, and attempts PostgreSQL refused (retried): a deadlock or conflict shows here. */
  readonly counts = { batches: 0, failedAttempts: 0 };
  private readonly opts: ClusterDispatchOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private parts: Parts | undefined;
  /** The store the engine reads: the rows the current transaction loaded. */
  private current: RuleStateAccess | undefined;
  private queue: RuleInput[][] = [];
  private enqueued = 0;
  private committed = 0;
  private waiters: { upTo: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private pumping: Promise<void> | undefined;
  private wakePump: (() => void) | undefined;
  private stopping = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private planTask: ScheduledTask | undefined;
  private toWrite: LoggedEvent[] = [];
  private planToWrite: CollectionPlan | undefined;
  private openByService: Record<string, number> = {};
  private pending: Record<string, number> = {};

  constructor(opts: ClusterDispatchOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** Connects and migrates (throws naming the database and the fix), loads the rules, starts the schedules. */
  async start(): Promise<void> {
    const { config, log } = this.opts;
    const book = loadRuleBook(config.dispatch.rulesFile ?? defaultRulesFile);
    const compiled = new CompiledRules(book, {
      onProblem: (deviceId, problem) => log.warn({ deviceId, code: ErrorCodes.RULES_DEVICE.code }, problem),
    });
    for (const problem of compiled.check(this.opts.catalog().all())) log.warn({ code: ErrorCodes.RULES_DEVICE.code }, problem);
    const { pool, version } = await openDatabase(this.opts.databaseUrl, { applicationName: `citypipe ${this.opts.workerId}` });
    log.info({ database: describeDatabase(this.opts.databaseUrl), schema: version, worker: this.opts.workerId }, 'dispatch state in PostgreSQL');
    const store = {
      loadDevice: (id: string) => this.current?.loadDevice(id) ?? [],
      save: (rows: readonly RuleStateRow[]) => this.current?.save(rows),
    };
    const engine = new RuleEngine({ compiled, catalog: { get: (id) => this.opts.catalog().get(id) }, store, now: this.now, log: log.child({ stage: 'rules' }) });
    const tickets = new PgTickets(pool, this.now);
    const outbox = new PgOutbox({ pool, targets: config.dispatch.deliveryTargets, worker: this.opts.workerId });
    const events = new PgEventLog(pool, config.dispatch.eventsMax);
    const hub = new EventHub();
    const deliverer = countedDeliverer(outbox, log, this.opts.metrics, this.opts.deliveryBackoff);
    const tap = new RulesTap({ consumers: [(b) => this.take(b)], log: log.child({ stage: 'dispatch' }) });
    const side = new SideWriter({ write: (lines) => this.opts.writeLines(lines), sources: this.sideSources(), intervalMs: SIDE_WRITE_MS, log: log.child({ stage: 'side-writer' }) });
    const feed = new PgEventFeed({ pool, events, hub, log });
    this.parts = { pool, book, compiled, engine, tickets, outbox, events, hub, deliverer, tap, side, services: serviceLookup(book.services()), feed };
    await feed.start();
    const reclaimed = await outbox.reclaimOwn();
    if (reclaimed > 0) log.info({ deliveries: reclaimed, worker: this.opts.workerId }, 'deliveries this worker had claimed before it stopped are pending again');
    deliverer.start();
    side.start();
    this.refreshGauges();
    if (this.opts.schedules === false) return;
    this.scheduleSweep();
    // The slot is the time the schedule meant, not when this worker's timer fired: workers whose
    // timers fire either side of a second still claim the same slot.
    this.planTask = cron.schedule(config.dispatch.collectionPlanCron, (ctx) => void this.scheduledPlan(this.now(), ctx.date.getTime()), { name: 'citypipe-collection-plan', noOverlap: true });
  }

  /** Evaluates what is queued, commits it (until `timeoutMs`), stops the schedules and delivery. */
  async stop(timeoutMs = 5000): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    parts.tap.flush();
    const deadline = Date.now() + timeoutMs;
    // Commit what is queued while there is time; a database that does not answer keeps it queued,
    // and the spool keeps its readings for the next start.
    while ((this.queue.length > 0 || this.pumping) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.stopping = true;
    this.wakePump?.();
    clearTimeout(this.sweepTimer);
    await stopCronTask(this.planTask);
    await parts.deliverer.stop(timeoutMs);
    await parts.side.tick().catch(() => undefined);
    await parts.side.stop();
    await parts.feed.stop();
    parts.hub.close();
    await this.pumping;
    this.parts = undefined;
    // Whoever still waits for a commit keeps its spool records: they are evaluated again next start.
    for (const w of this.waiters) w.reject(new CitypipeError(ErrorCodes.DATABASE_UNREACHABLE, 'dispatch stopped before these readings were committed to PostgreSQL'));
    this.waiters = [];
    await parts.pool.end();
  }

  /** The shared database's pool (the dead letters move there too). */
  get database(): pg.Pool {
    return this.started().pool;
  }

  /** Where the ingest side hands stored readings. */
  get tap(): RulesTap {
    return this.started().tap;
  }

  get running(): boolean {
    return this.parts !== undefined;
  }

  /**
   * Resolves once every reading handed over so far is committed in PostgreSQL: the drain releases
   * spool records only then.
   */
  persistDeviceState(): Promise<void> {
    this.parts?.tap.flush();
    const upTo = this.enqueued;
    if (this.committed >= upTo) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // PostgreSQL away: the drain keeps the records (their readings are evaluated again from the
      // spool after a restart) and asks again, and a stop does not wait for it forever.
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CitypipeError(ErrorCodes.DATABASE_UNREACHABLE, `dispatch has not committed ${upTo - this.committed} batches of stored readings to PostgreSQL within ${COMMIT_WAIT_MS / 1000} s`));
      }, COMMIT_WAIT_MS);
      const waiter = {
        upTo,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  subscribeEvents(filter: EventFilter = {}): HubSubscription {
    return this.started().hub.subscribe(filter);
  }

  /**
   * The catalog changed. Nothing to do here: the engine recompiles a device's rules when its record
   * changes, each batch and sweep reads the catalog it is given, and the sweep watches a new device
   * from the moment its row is made.
   */
  catalogChanged(): void {}

  openTicketsByService(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.parts?.book.services() ?? []) out[s.serviceCode] = 0;
    return { ...out, ...this.openByService };
  }

  deliveryPending(): Record<string, number> {
    return this.pending;
  }

  /** Tries the deadman sweep now: it runs only on the worker holding the lock. Returns its events. */
  async sweep(nowMs: number = this.now()): Promise<RuleEvent[]> {
    const parts = this.started();
    const catalog = this.opts.catalog();
    const done = await inTransaction(parts.pool, async (c) => {
      const got = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [LOCKS.deadman]);
      if (!got.rows[0]?.ok) return undefined;
      const ids = catalog.all().map((d) => d.id);
      await c.query('INSERT INTO cp_devices (device_id, watched_since) SELECT unnest($1::text[]), $2 ON CONFLICT (device_id) DO NOTHING', [ids, nowMs]);
      // A first look without locks finds who is over the limit ...
      const seen = await c.query<{ device_id: string; last_seen: string | null; watched_since: string }>('SELECT device_id, last_seen, watched_since FROM cp_devices');
      const active = await c.query<{ state: RuleStateRow }>("SELECT state FROM cp_rule_state WHERE status <> 'ok'");
      const lastSeen = new Map<string, number>();
      const watched = new Map<string, number>();
      for (const r of seen.rows) {
        if (r.last_seen !== null) lastSeen.set(r.device_id, Number(r.last_seen));
        watched.set(r.device_id, Number(r.watched_since));
      }
      const first = this.deadman(catalog, new LoadedRuleState(active.rows.map((r) => r.state), lastSeen, watched), nowMs).sweep(nowMs);
      if (first.length === 0) return { events: [] as RuleEvent[], logged: [] as LoggedEvent[], transitions: 0 };
      // ... and the decision is taken again under their row locks: a reading may have come meanwhile.
      const candidates = [...new Set(first.map((e) => e.deviceId))];
      const state = await lockDevices(c, candidates, nowMs);
      const only = candidates.map((id) => catalog.get(id)).filter((d): d is DeviceRecord => d !== undefined);
      const raised = this.deadman({ get: (id) => catalog.get(id), all: () => only }, state, nowMs).sweep(nowMs);
      await saveRuleRows(c, state.rows());
      const { logged, transitions } = await this.record(c, raised);
      return { events: raised, logged, transitions };
    });
    if (!done) return [];
    this.afterCommit(done.logged, done.transitions);
    if (done.events.length) this.log.info({ raised: done.events.length, worker: this.opts.workerId }, 'deadman sweep raised offline devices');
    return done.events;
  }

  /** Makes the collection plan now (tests, the CLI); the schedule runs it on one worker per slot. */
  async generatePlan(nowMs: number = this.now()): Promise<CollectionPlan> {
    const parts = this.started();
    const catalog = this.opts.catalog();
    const history = await fillHistorySince(parts.pool, catalog, nowMs - FILL_HISTORY_MS);
    try {
      const collection = parts.book.ruleWithRole('collection');
      const plan = buildPlan({
        now: nowMs,
        horizonMs: DEFAULT_HORIZON_MS,
        bins: catalog.all(),
        history,
        thresholdOf: (_id, device) => (collection ? parts.book.thresholdAbove(device, collection.id) : undefined),
      });
      this.planToWrite = plan;
      return plan;
    } finally {
      history.close();
    }
  }

  /** The schedule's run for the time `slotMs`: only the worker whose claim of the slot wins makes the plan. */
  async scheduledPlan(nowMs: number = this.now(), slotMs: number = nowMs): Promise<boolean> {
    const parts = this.parts;
    if (!parts || this.stopping) return false;
    try {
      const slot = Math.floor(slotMs / 1000);
      const won = await parts.pool.query('INSERT INTO cp_job_runs (job, slot, worker, at) VALUES ($1, $2, $3, $4) ON CONFLICT (job, slot) DO NOTHING', [
        'collection-plan',
        slot,
        this.opts.workerId,
        nowMs,
      ]);
      if (won.rowCount !== 1) return false;
      const plan = await this.generatePlan(nowMs);
      await parts.pool.query("UPDATE cp_job_runs SET result = $1 WHERE job = 'collection-plan' AND slot = $2", [JSON.stringify(plan), slot]);
      this.log.info({ planned: plan.summary.planned, districts: plan.districts.length, worker: this.opts.workerId, slot }, 'collection plan generated');
      return true;
    } catch (err) {
      this.log.error({ err, code: ErrorCodes.COLLECTION_PLAN.code }, 'collection plan failed; the previous plan stays');
      return false;
    }
  }

  /** Writes pending events and the plan to InfluxDB now. */
  async flushToInflux(): Promise<void> {
    await this.started().side.tick();
  }

  /** What the HTTP layer reads and changes of dispatch (cluster-http.ts). */
  httpDeps(): DispatchApiDeps {
    const parts = this.started();
    const { maxStreams, maxStreamsPerAddress } = this.opts.config.http;
    return clusterHttpDeps({
      ...parts,
      catalog: this.opts.catalog,
      workerId: this.opts.workerId,
      now: this.now,
      stream: { maxStreams, maxStreamsPerAddress },
      generatePlan: (nowMs) => this.generatePlan(nowMs),
    });
  }

  // ------------------------------------------------------------------------------------------
  // The batch path

  /** Takes a batch of stored readings (the rules tap calls it); `persistDeviceState` says when it is committed. */
  evaluate(batch: readonly RuleInput[]): void {
    this.take(batch);
  }

  private take(batch: readonly RuleInput[]): void {
    if (batch.length === 0) return;
    this.queue.push(batch as RuleInput[]);
    this.enqueued++;
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
  }

  private async pump(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0 && this.parts && !this.stopping) {
      let n = 0;
      let readings = 0;
      while (n < this.queue.length && (n === 0 || readings + this.queue[n]!.length <= MAX_READINGS_PER_TX)) readings += this.queue[n++]!.length;
      const batch = this.queue.slice(0, n).flat();
      try {
        await this.commitBatch(batch);
        this.counts.batches++;
        failures = 0;
      } catch (err) {
        failures++;
        this.counts.failedAttempts++;
        this.log.error({ err, code: ErrorCodes.DISPATCH.code, readings: batch.length, failures }, 'dispatch could not commit a batch in PostgreSQL; retrying (the readings are stored either way)');
        await new Promise<void>((r) => {
          const timer = setTimeout(r, Math.min(RETRY_MAX_MS, 100 * 2 ** Math.min(failures, 7)));
          // A stop does not wait out the back-off.
          this.wakePump = () => {
            clearTimeout(timer);
            r();
          };
        });
        this.wakePump = undefined;
        continue;
      }
      this.queue.splice(0, n);
      this.committed += n;
      const ready = this.waiters.filter((w) => w.upTo <= this.committed);
      this.waiters = this.waiters.filter((w) => w.upTo > this.committed);
      for (const w of ready) w.resolve();
    }
  }

  private async commitBatch(batch: readonly RuleInput[]): Promise<void> {
    const parts = this.started();
    const catalog = this.opts.catalog();
    const known = batch.filter((r) => catalog.get(r.deviceId) !== undefined);
    const ids = [...new Set(known.map((r) => r.deviceId))];
    if (ids.length === 0) return;
    const now = this.now();
    const { logged, transitions } = await inTransaction(parts.pool, async (c) => {
      const state = await lockDevices(c, ids, now);
      this.current = state;
      try {
        for (const id of ids) parts.engine.forget(id);
        const records = ids.map((id) => catalog.get(id)!);
        const back = this.deadman({ get: (id) => catalog.get(id), all: () => records }, state, now).observe(known);
        const events = parts.engine.evaluate(known);
        await saveRuleRows(c, state.rows());
        await saveSeen(c, known, fillFieldOf);
        return await this.record(c, [...back, ...events]);
      } finally {
        this.current = undefined;
      }
    });
    this.afterCommit(logged, transitions);
  }

  /** Tickets, outbox rows and log rows of `events`, in the caller's transaction. */
  private async record(c: Queryable, events: readonly RuleEvent[]): Promise<{ logged: LoggedEvent[]; transitions: number }> {
    if (events.length === 0) return { logged: [], transitions: 0 };
    const parts = this.started();
    const made: TicketTransition[] = [];
    const applied = await parts.tickets.apply(c, events, this.opts.catalog(), parts.services, (t) => made.push(t));
    let queued = 0;
    for (const t of made) if (await parts.outbox.enqueue(c, t)) queued++;
    const logged = await parts.events.append(c, applied);
    return { logged, transitions: queued };
  }

  /** After a commit: counts, MQTT, the deliverer, InfluxDB. The live stream follows the log. */
  private afterCommit(logged: readonly LoggedEvent[], queued: number): void {
    if (queued > 0) this.parts?.outbox.notify();
    for (const e of logged) {
      this.opts.metrics.countRuleEvent(e.rule, e.state);
      if (e.transition) this.opts.metrics.countTicketTransition(e.transition);
      this.opts.publish(`city/events/${e.type}/${e.deviceId}`, JSON.stringify(toApiEvent(e))).catch((err: unknown) => {
        this.log.warn({ err, deviceId: e.deviceId, rule: e.rule }, 'could not publish a rule event on MQTT');
      });
    }
    if (logged.length) {
      this.toWrite.push(...logged);
      this.parts?.feed.poll();
    }
  }

  private deadman(catalog: { get(id: string): DeviceRecord | undefined; all(): readonly DeviceRecord[] }, store: RuleStateAccess, nowMs: number): DeadmanSweep {
    const d = new DeadmanSweep({ compiled: this.started().compiled, catalog, store, now: () => nowMs, onEvents: () => undefined });
    d.load();
    return d;
  }

  // ------------------------------------------------------------------------------------------
  // Schedules

  private scheduleSweep(): void {
    let shortest = Infinity;
    const parts = this.parts;
    if (parts) {
      for (const d of this.opts.catalog().all()) {
        for (const rule of parts.compiled.forDevice(d).silent) shortest = Math.min(shortest, rule.intervals * d.reportingIntervalS * 1000);
      }
    }
    const wait = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, shortest / 4));
    this.sweepTimer = setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => this.log.error({ err, code: ErrorCodes.RULE_STATE_IO.code }, 'deadman sweep failed; trying again at the next one'))
        .finally(() => {
          this.refreshGauges();
          if (!this.stopping && this.parts) this.scheduleSweep();
        });
    }, wait);
    this.sweepTimer.unref();
  }

  private refreshGauges(): void {
    const parts = this.parts;
    if (!parts) return;
    parts.tickets.countOpenByService().then((r) => (this.openByService = r), () => undefined);
    this.pending = Object.fromEntries(Object.entries(parts.deliverer.stats()).map(([target, s]) => [target, s.pending]));
  }

  private sideSources(): SideSource[] {
    let orphansAt = 0;
    const events: SideSource = {
      name: 'events',
      take: () => {
        const parts = this.parts;
        if (!parts) return undefined;
        // Events a stopped or killed worker left unwritten: looked for now and then, by whoever
        // looks first (a second write of the same point changes nothing in InfluxDB).
        if (Date.now() - orphansAt > ORPHAN_EVENTS_AFTER_MS) {
          orphansAt = Date.now();
          parts.events.unwrittenForInflux(5000, Date.now() - ORPHAN_EVENTS_AFTER_MS).then((rows) => this.toWrite.push(...rows), () => undefined);
        }
        if (this.toWrite.length === 0) return undefined;
        const rows = this.toWrite;
        this.toWrite = [];
        return {
          lines: rows.map((e) => eventLine(e)),
          written: () => void parts.events.markWritten(rows.map((e) => e.id)).catch(() => undefined),
        };
      },
    };
    const plan: SideSource = {
      name: 'collection plan',
      take: () => {
        const p = this.planToWrite;
        if (!p) return undefined;
        return { lines: planLines(p), written: () => this.planToWrite === p && (this.planToWrite = undefined) };
      },
    };
    return [events, plan];
  }

  private started(): Parts {
    if (!this.parts) throw new Error('dispatch is not started');
    return this.parts;
  }
}
