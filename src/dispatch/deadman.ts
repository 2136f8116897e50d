/**
 * The deadman: a device that has sent nothing for `intervals` × its `reportingIntervalS` (3 × by
 * default, rule `device.offline`) is raised offline; its next reading clears it.
 *
 * Every device in the catalog is watched, whether it has ever reported or not: one that never does
 * (a sensor installed but never joined) is raised "never reported" once it has been silent that
 * long since it was first watched. Silence is measured on the wall clock against the time readings
 * were *received*, not their device time: a device uploading an old batch is back, whatever its
 * timestamps say. It is counted from no earlier than this process's start (or, for a device added
 * to the catalog while running, from when it was added), so that citypipe's own downtime does not
 * raise the whole fleet offline at the first sweep after a restart.
 *
 * Last-seen times are as durable as the readings they come from: `persist()` writes them, and the
 * service releases a spool record only after the last-seen times of its readings were persisted
 * (wiring/device-state-gate.ts), so after a crash they come back from the store or from the spool.
 *
 * `sweep(nowMs)` does the work and is what tests drive with a fake clock; `start()` runs it on a
 * timer set to the next moment a device can go over its limit (at least every minute, at most
 * every second), so an alarm is raised on time, not up to a sweep period late.
 */
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import type { CompiledRules, SilentRule } from './rules/compile.js';
import { formatDuration } from './rules/evaluate.js';
import type { RuleStateAccess, RuleStateRow } from './rule-state-store.js';
import type { DeviceList, EventSink, RuleEvent, RuleInput } from './types.js';

/** What the sweep needs: the compiled rules (for `silent` rules), the catalog, the store, a sink. */
export interface DeadmanOptions {
  compiled: CompiledRules;
  catalog: DeviceList;
  store: RuleStateAccess;
  /** Where the scheduled sweeps deliver their events (after their state is committed). */
  onEvents: EventSink;
  /** Wall clock; tests pass a fake one. */
  now?: () => number;
  log?: Logger;
}

interface Watch {
  /** Last receive time (wall clock, epoch ms); undefined while the device has never reported. */
  lastSeen: number | undefined;
  /** When this process started watching it: its start, or when the device joined the catalog. */
  since: number;
  /** `silent` rules raised for this device: rule id → when. */
  offline: Map<string, number> | undefined;
}

/** The longest a scheduled sweep waits, whatever the deadlines: catalog edits are noticed by then. */
const MAX_SWEEP_WAIT_MS = 60_000;
/** The shortest: a burst of deadlines is swept together. */
const MIN_SWEEP_WAIT_MS = 1000;

/** Raises `silent` rules (`device.offline`) for devices that stopped or never started reporting; clears them on their next reading. */
export class DeadmanSweep {
  private readonly opts: DeadmanOptions;
  private readonly now: () => number;
  private readonly watching = new Map<string, Watch>();
  /** Devices whose last-seen changed since the last persist. */
  private readonly dirtySeen = new Set<string>();
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(opts: DeadmanOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Loads last-seen times and raised offline states, watches the catalog, and sweeps on time. */
  start(): void {
    const now = this.load();
    this.running = true;
    this.schedule(now);
  }

  /**
   * Loads last-seen times and raised offline states and watches the catalog, without a schedule: a
   * worker sharing state through PostgreSQL builds one per transaction and calls `observe` or `sweep`.
   */
  load(): number {
    const now = this.now();
    this.startedAt = now;
    const lastSeen = this.opts.store.loadLastSeen();
    const watchedSince = this.opts.store.loadWatchedSince?.();
    for (const record of this.opts.catalog.all()) this.watching.set(record.id, { lastSeen: lastSeen.get(record.id), since: watchedSince?.get(record.id) ?? now, offline: undefined });
    const silentIds = new Set(this.opts.compiled.book.rules.filter((r) => r.condition.kind === 'silent').map((r) => r.id));
    for (const row of this.opts.store.listActive()) {
      const w = this.watching.get(row.deviceId);
      if (!w || !silentIds.has(row.rule)) continue;
      (w.offline ??= new Map()).set(row.rule, row.since);
    }
    return now;
  }

  /** Stops the schedule and saves last-seen times. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.persist();
  }

  /**
   * The catalog changed: a device added is watched from `nowMs`, one removed is forgotten. The
   * next sweep is brought forward if the new device's deadline comes first.
   */
  catalogChanged(nowMs: number = this.now()): void {
    this.syncCatalog(nowMs);
    if (this.running) this.schedule(nowMs);
  }

  /**
   * Notes that these devices were heard from; clears any offline state among them. Call it for every
   * evaluated batch. Returns the `cleared` events (their state already committed).
   */
  observe(readings: readonly RuleInput[]): RuleEvent[] {
    let events: RuleEvent[] | undefined;
    let rows: RuleStateRow[] | undefined;
    for (const r of readings) {
      let w = this.watching.get(r.deviceId);
      if (!w) this.watching.set(r.deviceId, (w = { lastSeen: r.receivedAt, since: r.receivedAt, offline: undefined }));
      else if (w.lastSeen === undefined || r.receivedAt > w.lastSeen) w.lastSeen = r.receivedAt;
      this.dirtySeen.add(r.deviceId);
      if (!w.offline) continue;
      const rules = this.silentRules(r.deviceId);
      for (const [id, since] of w.offline) {
        const rule = rules?.find((x) => x.id === id);
        (rows ??= []).push({ deviceId: r.deviceId, rule: id, status: 'ok', since: r.receivedAt, lastAt: r.receivedAt, value: null, flapping: false, flaps: [] });
        const event: RuleEvent = {
          rule: id,
          deviceId: r.deviceId,
          district: r.district,
          type: r.type,
          severity: rule?.rule.severity ?? 'warning',
          state: 'cleared',
          at: r.receivedAt,
          value: Math.round((r.receivedAt - since) / 1000),
          message: `${rule?.label ?? id} cleared: a reading arrived after ${formatDuration(r.receivedAt - since)} offline`,
          late: false,
          ...(rule?.rule.ticket && rule.rule.serviceCode !== undefined ? { serviceCode: rule.rule.serviceCode } : {}),
        };
        (events ??= []).push(event);
      }
      w.offline = undefined;
    }
    if (rows) this.opts.store.save(rows);
    return events ?? [];
  }

  /**
   * Raises every catalog device silent for longer than its rule allows at `nowMs` (wall clock),
   * commits, saves last-seen times, and returns the `raised` events.
   */
  sweep(nowMs: number): RuleEvent[] {
    this.syncCatalog(nowMs);
    const events: RuleEvent[] = [];
    const rows: RuleStateRow[] = [];
    for (const [id, w] of this.watching) {
      const record = this.opts.catalog.get(id);
      if (!record) continue;
      const from = w.lastSeen === undefined ? w.since : Math.max(w.lastSeen, w.since);
      const silentFor = nowMs - from;
      for (const rule of this.opts.compiled.forDevice(record).silent) {
        if (w.offline?.has(rule.id)) continue;
        const limitMs = rule.intervals * record.reportingIntervalS * 1000;
        if (silentFor < limitMs) continue;
        (w.offline ??= new Map()).set(rule.id, nowMs);
        rows.push({ deviceId: id, rule: rule.id, status: 'raised', since: nowMs, lastAt: nowMs, value: Math.round(silentFor / 1000), flapping: false, flaps: [] });
        const limit = `limit ${rule.intervals} × ${formatDuration(record.reportingIntervalS * 1000)}`;
        const event: RuleEvent = {
          rule: rule.id,
          deviceId: id,
          district: record.district,
          type: record.type,
          severity: rule.rule.severity,
          state: 'raised',
          at: nowMs,
          since: w.lastSeen ?? w.since,
          value: Math.round(silentFor / 1000),
          message:
            w.lastSeen === undefined
              ? `${rule.label}: never reported (watched for ${formatDuration(silentFor)}; ${limit})`
              : `${rule.label}: no reading for ${formatDuration(silentFor)} (${limit})`,
          late: false,
          ...(rule.rule.ticket && rule.rule.serviceCode !== undefined ? { serviceCode: rule.rule.serviceCode } : {}),
        };
        events.push(event);
      }
    }
    this.opts.store.save(rows);
    this.persist();
    return events;
  }

  /** Writes the last-seen times that changed since the last call, in one transaction. */
  persist(): void {
    if (this.dirtySeen.size === 0) return;
    const entries: [string, number][] = [];
    for (const id of this.dirtySeen) {
      const at = this.watching.get(id)?.lastSeen;
      if (at !== undefined) entries.push([id, at]);
    }
    this.opts.store.saveLastSeen(entries);
    this.dirtySeen.clear();
  }

  /** Devices watched now: those in the catalog as of the last sweep or change. */
  get watchedDevices(): number {
    return this.watching.size;
  }

  /** When the next device goes over its limit if nothing is heard (Infinity when none can). */
  nextDeadline(): number {
    let next = Infinity;
    for (const [id, w] of this.watching) {
      const record = this.opts.catalog.get(id);
      if (!record) continue;
      const from = w.lastSeen === undefined ? w.since : Math.max(w.lastSeen, w.since);
      for (const rule of this.opts.compiled.forDevice(record).silent) {
        if (w.offline?.has(rule.id)) continue;
        next = Math.min(next, from + rule.intervals * record.reportingIntervalS * 1000);
      }
    }
    return next;
  }

  /** Watches devices new in the catalog from `nowMs`, forgets those that left it. */
  private syncCatalog(nowMs: number): void {
    const seen = new Set<string>();
    for (const record of this.opts.catalog.all()) {
      seen.add(record.id);
      if (!this.watching.has(record.id)) this.watching.set(record.id, { lastSeen: undefined, since: Math.max(nowMs, this.startedAt), offline: undefined });
    }
    for (const id of this.watching.keys()) {
      if (seen.has(id)) continue;
      this.watching.delete(id);
      this.dirtySeen.delete(id);
    }
  }

  private silentRules(deviceId: string): readonly SilentRule[] | undefined {
    const record = this.opts.catalog.get(deviceId);
    return record && this.opts.compiled.forDevice(record).silent;
  }

  /** Sets the timer to the next deadline, between MIN_SWEEP_WAIT_MS and MAX_SWEEP_WAIT_MS away. */
  private schedule(nowMs: number): void {
    const wait = Math.min(MAX_SWEEP_WAIT_MS, Math.max(MIN_SWEEP_WAIT_MS, this.nextDeadline() - nowMs));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.scheduledSweep(), wait);
    this.timer.unref();
  }

  private scheduledSweep(): void {
    this.timer = undefined;
    if (!this.running) return;
    let events: RuleEvent[] = [];
    try {
      events = this.sweep(this.now());
    } catch (err) {
      this.opts.log?.error({ err, code: ErrorCodes.RULE_STATE_IO.code }, 'deadman sweep failed; trying again at the next one');
    }
    if (this.running) this.schedule(this.now());
    if (events.length === 0) return;
    try {
      this.opts.onEvents(events);
    } catch (err) {
      this.opts.log?.error({ err, code: ErrorCodes.EVENT_SINK.code, events: events.length }, 'event consumer failed on deadman events');
    }
  }
}
