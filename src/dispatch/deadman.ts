/**
 * The deadman sweep: a device that has sent nothing for `intervals` × its `reportingIntervalS`
 * (3 × by default, rule `device.offline`) is raised offline; its next reading clears it.
 *
 * Silence is measured on the wall clock against the time readings were *received*, not their device
 * time: a device uploading an old batch is back, whatever its timestamps say. Silence is also
 * counted from no earlier than this process's start, so that citypipe's own downtime does not
 * raise the whole fleet offline at the first sweep after a restart.
 *
 * `sweep(nowMs)` does the work and is what tests drive with a fake clock; `start()` runs it every
 * minute with node-cron.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { stopCronTask } from '../process/cron-task.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import type { CompiledRules, SilentRule } from './rules/compile.js';
import { formatDuration } from './rules/evaluate.js';
import type { RuleStateRow, RuleStateStore } from './rule-state-store.js';
import type { DeviceLookup, EventSink, RuleEvent, RuleInput } from './types.js';

/** What the sweep needs: the compiled rules (for `silent` rules), the catalog, the store, a sink. */
export interface DeadmanOptions {
  compiled: CompiledRules;
  catalog: DeviceLookup;
  store: RuleStateStore;
  /** Where the scheduled sweeps deliver their events (after their state is committed). */
  onEvents: EventSink;
  /** Wall clock; tests pass a fake one. */
  now?: () => number;
  /** node-cron expression of the sweep; every minute by default. */
  schedule?: string;
  log?: Logger;
}

interface Watch {
  /** Last receive time (wall clock, epoch ms). */
  lastSeen: number;
  /** `silent` rules raised for this device: rule id → when. */
  offline: Map<string, number> | undefined;
}

const EVERY_MINUTE = '* * * * *';

/** Raises `silent` rules (`device.offline`) for devices that stopped reporting; clears them on their next reading. */
export class DeadmanSweep {
  private readonly opts: DeadmanOptions;
  private readonly now: () => number;
  private readonly watching = new Map<string, Watch>();
  /** Devices whose last-seen changed since the last flush. */
  private readonly dirtySeen = new Set<string>();
  private watchingSince = 0;
  private task: ScheduledTask | undefined;

  constructor(opts: DeadmanOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Loads last-seen times and raised offline states, then sweeps on the schedule. */
  start(): void {
    this.watchingSince = this.now();
    for (const [id, at] of this.opts.store.loadLastSeen()) {
      const w = this.watching.get(id);
      if (!w) this.watching.set(id, { lastSeen: at, offline: undefined });
      else if (at > w.lastSeen) w.lastSeen = at;
    }
    const silentIds = new Set(this.opts.compiled.book.rules.filter((r) => r.condition.kind === 'silent').map((r) => r.id));
    for (const row of this.opts.store.listActive()) {
      if (!silentIds.has(row.rule)) continue;
      const w = this.watching.get(row.deviceId) ?? { lastSeen: row.since, offline: undefined };
      (w.offline ??= new Map()).set(row.rule, row.since);
      this.watching.set(row.deviceId, w);
    }
    this.task = cron.schedule(this.opts.schedule ?? EVERY_MINUTE, () => this.scheduledSweep(), { name: 'citypipe-deadman', noOverlap: true });
  }

  /** Stops the schedule and saves last-seen times. */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    await stopCronTask(task);
    this.flushSeen();
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
      if (!w) this.watching.set(r.deviceId, (w = { lastSeen: r.receivedAt, offline: undefined }));
      else if (r.receivedAt > w.lastSeen) w.lastSeen = r.receivedAt;
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
   * Raises every watched device silent for longer than its rule allows at `nowMs` (wall clock),
   * commits, saves last-seen times, and returns the `raised` events. Devices that left the catalog
   * are no longer watched.
   */
  sweep(nowMs: number): RuleEvent[] {
    const events: RuleEvent[] = [];
    const rows: RuleStateRow[] = [];
    for (const [id, w] of this.watching) {
      const record = this.opts.catalog.get(id);
      if (!record) {
        this.watching.delete(id);
        this.dirtySeen.delete(id);
        continue;
      }
      const silentFor = nowMs - Math.max(w.lastSeen, this.watchingSince);
      for (const rule of this.opts.compiled.forDevice(record).silent) {
        if (w.offline?.has(rule.id)) continue;
        const limitMs = rule.intervals * record.reportingIntervalS * 1000;
        if (silentFor < limitMs) continue;
        (w.offline ??= new Map()).set(rule.id, nowMs);
        rows.push({ deviceId: id, rule: rule.id, status: 'raised', since: nowMs, lastAt: nowMs, value: Math.round(silentFor / 1000), flapping: false, flaps: [] });
        const event: RuleEvent = {
          rule: rule.id,
          deviceId: id,
          district: record.district,
          type: record.type,
          severity: rule.rule.severity,
          state: 'raised',
          at: nowMs,
          since: w.lastSeen,
          value: Math.round(silentFor / 1000),
          message: `${rule.label}: no reading for ${formatDuration(silentFor)} (limit ${rule.intervals} × ${formatDuration(record.reportingIntervalS * 1000)})`,
          late: false,
          ...(rule.rule.ticket && rule.rule.serviceCode !== undefined ? { serviceCode: rule.rule.serviceCode } : {}),
        };
        events.push(event);
      }
    }
    this.opts.store.save(rows);
    this.flushSeen();
    return events;
  }

  /** Devices watched now (seen at least once, still in the catalog as of the last sweep). */
  get watchedDevices(): number {
    return this.watching.size;
  }

  private silentRules(deviceId: string): readonly SilentRule[] | undefined {
    const record = this.opts.catalog.get(deviceId);
    return record && this.opts.compiled.forDevice(record).silent;
  }

  /** Last-seen times are written once a sweep, not per reading: losing a minute of them in a crash is harmless (silence counts from start). */
  private flushSeen(): void {
    if (this.dirtySeen.size === 0) return;
    const entries: [string, number][] = [];
    for (const id of this.dirtySeen) {
      const w = this.watching.get(id);
      if (w) entries.push([id, w.lastSeen]);
    }
    this.opts.store.saveLastSeen(entries);
    this.dirtySeen.clear();
  }

  private scheduledSweep(): void {
    let events: RuleEvent[];
    try {
      events = this.sweep(this.now());
    } catch (err) {
      this.opts.log?.error({ err, code: ErrorCodes.RULE_STATE_IO.code }, 'deadman sweep failed; trying again at the next one');
      return;
    }
    if (events.length === 0) return;
    try {
      this.opts.onEvents(events);
    } catch (err) {
      this.opts.log?.error({ err, code: ErrorCodes.EVENT_SINK.code, events: events.length }, 'event consumer failed on deadman events');
    }
  }
}
