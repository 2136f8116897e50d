/**
 * Wires the dispatch half of citypipe: stored readings → rules → events → tickets → delivery, plus
 * the event log and stream, the latest readings, the collection plan and citypipe's own points in
 * InfluxDB. The stages do not know each other; this module connects them, as ingest.ts does for
 * the ingest half. It owns neither routes nor metrics: `httpDeps()` is what the HTTP layer reads,
 * and the counts go to the service's Metrics.
 *
 * Order of one batch of rule events (RulesStage calls `onEvents` after committing rule state):
 *   one SQLite transaction in dispatch.db: tickets.apply → outbox rows (onTransition) → event log
 *   then, outside it: the event stream (SSE), MQTT `city/events/{type}/{deviceId}`, the deliverer.
 * InfluxDB gets the events from the log (SideWriter), so an InfluxDB outage delays the annotations
 * and nothing else. After a crash between the rule-state commit and the ticket commit, start-up
 * reconciles tickets against the raised alerts.
 */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Config } from '../config/config.js';
import type { DeviceRecord } from '../catalog/types.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import { RulesStage, defaultRulesFile } from '../dispatch/rules-stage.js';
import type { ActiveAlert, RuleEvent, RuleInput } from '../dispatch/types.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import { TicketStore, openDispatchDb, serviceLookup } from '../tickets/ticket-store.js';
import { EventLog, toLine as eventLine } from '../events/event-log.js';
import { EventHub, type EventFilter, type HubSubscription } from '../events/event-hub.js';
import { Outbox } from '../delivery/outbox.js';
import { Deliverer, type BackoffOptions, type DeliveryQueue } from '../delivery/deliverer.js';
import { LatestReadings } from '../devices/latest-readings.js';
import { FillHistory } from '../collection/fill-history.js';
import { CollectionPlanner } from '../collection/planner.js';
import { planLines, type CollectionPlan } from '../collection/plan.js';
import { toApiEvent } from '../http/dispatch-routes.js';
import type { DispatchApiDeps } from '../http/dispatch-api.js';
import { deviceState } from '../devices/device-state.js';
import type { DispatchCounters, DispatchGauges } from '../observability/metrics.js';
import { deviceStateLines, selfStatsLines, type DeviceMapEntry, type SelfStatsSnapshot } from '../observability/self-stats.js';
import { RulesTap } from './rules-tap.js';
import { ParkingZones } from '../parking/zones.js';
import { deviceTypes } from '../device-types/registry.js';
import { SideWriter, type SideSource } from './side-writer.js';

/** How often events go to InfluxDB; self-monitoring and device states are written every STATS_EVERY_MS. */
const SIDE_WRITE_MS = 1000;
const STATS_EVERY_MS = 10_000;
const EVENTS_PER_WRITE = 5000;

export interface Catalog {
  get(id: string): DeviceRecord | undefined;
  all(): readonly DeviceRecord[];
}

export interface DispatchWiringOptions {
  config: Config;
  /** The catalog now (it is replaced when the folder changes). */
  catalog: () => Catalog;
  log: Logger;
  /** Rule events, ticket transitions and deliveries are counted here (observability/metrics.ts). */
  metrics: DispatchCounters;
  /** Publishes on the embedded broker. */
  publish(topic: string, payload: string): Promise<void>;
  /** Writes lines to InfluxDB (the service's sink). */
  writeLines(lines: readonly string[]): Promise<void>;
  /** The service's part of the self-monitoring snapshot. */
  selfStats(): Omit<SelfStatsSnapshot, 'openTicketsByService'>;
  /** Wall clock for lateness, the deadman sweep and the plan; tests pass a fake one. */
  now?: () => number;
  /** Shorter delivery retries, for tests. */
  deliveryBackoff?: BackoffOptions;
}

/** A deliverer whose outcomes are counted in the dispatch metrics (either dispatch wiring's). */
export function countedDeliverer(outbox: DeliveryQueue, log: Logger, metrics: DispatchCounters, backoff: BackoffOptions | undefined): Deliverer {
  return new Deliverer({
    outbox,
    log: log.child({ stage: 'delivery' }),
    ...(backoff ? { backoff } : {}),
    onDelivered: (e) => metrics.countDelivery(e.target, 'delivered'),
    onRetry: (e) => metrics.countDelivery(e.target, 'retry'),
    onFailed: (e) => metrics.countDelivery(e.target, 'failed'),
  });
}

export class DispatchWiring implements DispatchGauges {
  private readonly opts: DispatchWiringOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private db: Database.Database | undefined;
  private parts:
    | {
        rules: RulesStage;
        tickets: TicketStore;
        events: EventLog;
        hub: EventHub;
        outbox: Outbox;
        deliverer: Deliverer;
        latest: LatestReadings;
        fills: FillHistory;
        planner: CollectionPlanner;
        zones: ParkingZones;
        side: SideWriter;
        tap: RulesTap;
        services: (rule: string) => ServiceDefinition | undefined;
      }
    | undefined;
  private planToWrite: CollectionPlan | undefined;
  private lastStatsAt = 0;

  constructor(opts: DispatchWiringOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** Opens the stores, loads the rules (throws naming a bad rules file), reconciles tickets, starts the schedules. */
  start(): void {
    const { config } = this.opts;
    const log = this.log;
    const catalog = () => this.opts.catalog();
    const db = openDispatchDb(path.join(config.dataDir, 'dispatch.db'));
    this.db = db;
    // Delivery runs on the wall clock: retries are about real time, whatever clock the rules use.
    const outbox = new Outbox({ db, targets: config.dispatch.deliveryTargets });
    outbox.open();
    const tickets = new TicketStore({ db, onTransition: (t) => void outbox.enqueue(t), now: this.now });
    tickets.start();
    const events = new EventLog({ db, maxRows: config.dispatch.eventsMax });
    events.start();
    const hub = new EventHub();
    const fills = new FillHistory({ store: { database: db } });
    fills.open();

    const rules = new RulesStage({
      rulesFile: config.dispatch.rulesFile ?? defaultRulesFile,
      stateFile: path.join(config.dataDir, 'rule-state.db'),
      catalog: { get: (id) => catalog().get(id), all: () => catalog().all() },
      onEvents: (batch) => this.onEvents(batch),
      log: log.child({ stage: 'rules' }),
      now: this.now,
    });
    rules.start();
    for (const problem of rules.check(catalog().all())) log.warn({ code: ErrorCodes.RULES_DEVICE.code }, problem);
    // Each device's latest reading lives with its rule state and last-seen time: one transaction
    // saves them all (persistDeviceState).
    const latest = new LatestReadings(rules.database);
    const imported = latest.importFrom(path.join(config.dataDir, 'latest.db'));
    if (imported > 0) log.info({ devices: imported }, 'latest readings moved from latest.db into rule-state.db');
    const services = serviceLookup(rules.services());

    const deliverer = countedDeliverer(outbox, log, this.opts.metrics, this.opts.deliveryBackoff);

    const planner = new CollectionPlanner({
      devices: () => catalog().all(),
      history: fills,
      thresholdOf: (_id, device) => rules.roleThresholdAbove('collection', device),
      schedule: config.dispatch.collectionPlanCron,
      now: this.now,
      onPlan: (plan) => {
        this.planToWrite = plan;
      },
      log: log.child({ stage: 'collection' }),
    });

    const zones = new ParkingZones({
      devices: () => catalog().all(),
      latestFields: (id) => latest.get(id)?.fields,
      offlineDevices: () => new Set(rules.activeAlerts().filter((a) => a.role === 'offline').map((a) => a.deviceId)),
      now: this.now,
    });
    const bayTypes = new Set(deviceTypes.filter((d) => d.occupancy !== undefined).map((d) => d.name as string));
    const touchZones = (batch: readonly RuleInput[]) => {
      for (const r of batch) if (bayTypes.has(r.type)) return zones.touch();
    };

    const tap = new RulesTap({
      consumers: [(b) => rules.evaluate(b), (b) => latest.observe(b), (b) => fills.observe(b), touchZones],
      log: log.child({ stage: 'dispatch' }),
    });

    const side = new SideWriter({ write: (lines) => this.opts.writeLines(lines), sources: this.sideSources(), intervalMs: SIDE_WRITE_MS, log: log.child({ stage: 'side-writer' }) });
    this.parts = { rules, tickets, events, hub, outbox, deliverer, latest, fills, planner, zones, side, tap, services };

    // Tickets follow the rule state, also after a crash between the two commits.
    const fixed = tickets.reconcile(rules.activeAlerts(), catalog(), services);
    if (fixed.opened.length || fixed.closed.length) {
      log.info({ opened: fixed.opened.length, closed: fixed.closed.length }, 'tickets reconciled with the rule state at start');
    }
    deliverer.start();
    planner.start();
    side.start();
  }

  /** Stops the schedules and delivery, evaluates what is queued, writes what it can, closes the stores. */
  async stop(timeoutMs = 5000): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    parts.tap.flush();
    await parts.planner.stop();
    await parts.deliverer.stop(timeoutMs);
    await parts.side.tick().catch(() => undefined);
    await parts.side.stop();
    // Latest readings share the rule-state database: saved before the rules stage closes it.
    parts.latest.close();
    await parts.rules.stop();
    parts.hub.close();
    this.parts = undefined;
    parts.fills.close();
    parts.events.stop();
    parts.tickets.stop();
    this.db?.close();
  }

  /**
   * Evaluates every stored reading queued so far and saves the device state they changed (last-seen
   * times, latest readings) in one transaction; throws when it cannot. The service calls it before
   * it releases spool records (device-state-gate.ts).
   */
  persistDeviceState(): void {
    const { tap, rules, latest } = this.started();
    tap.flush();
    rules.database.transaction(() => {
      rules.persistLastSeen();
      latest.save();
    })();
  }

  /** Live rule events, as logged (ticket transitions included): what the SSE stream serves. */
  subscribeEvents(filter: EventFilter = {}): HubSubscription {
    return this.started().hub.subscribe(filter);
  }

  /** The catalog changed: the deadman watches new devices from now and forgets removed ones. */
  catalogChanged(): void {
    this.parts?.rules.catalogChanged();
    this.parts?.zones.touch();
  }

  /** Where the ingest side hands stored readings (live and recovered). */
  get tap(): RulesTap {
    return this.started().tap;
  }

  /** Runs the deadman sweep now (node-cron runs it every minute). */
  sweep(nowMs: number = this.now()): void {
    this.started().rules.sweep(nowMs);
  }

  /** The collection plan now (the schedule makes one daily). */
  generatePlan(nowMs: number = this.now()): CollectionPlan {
    return this.started().planner.generate(nowMs);
  }

  /**
   * Writes pending events and the plan to InfluxDB now, and with `stats` a self-monitoring snapshot
   * and the device states too (tests; the schedule writes events every second, stats every 10 s).
   */
  async flushToInflux(opts: { stats?: boolean } = {}): Promise<void> {
    const { side } = this.started();
    await side.tick();
    if (opts.stats) {
      this.lastStatsAt = 0;
      await side.tick();
    }
  }

  openTicketsByService(): Record<string, number> {
    const { rules, tickets } = this.started();
    const open = tickets.countOpenByService();
    const out: Record<string, number> = {};
    for (const s of rules.services()) out[s.serviceCode] = open[s.serviceCode] ?? 0;
    return { ...out, ...open };
  }

  /** Between start() and stop(). */
  get running(): boolean {
    return this.parts !== undefined;
  }

  /** Ticket messages waiting for delivery, by target. */
  deliveryPending(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.started().deliverer.stats()).map(([target, s]) => [target, s.pending]));
  }

  /** What the HTTP layer reads and changes of dispatch: Open311, tickets, events, devices, the collection plan. */
  httpDeps(): DispatchApiDeps {
    const { tickets, events, hub, rules, latest, planner, zones } = this.started();
    const { maxStreams, maxStreamsPerAddress } = this.opts.config.http;
    return {
      dispatch: { tickets, events, hub, services: () => rules.services(), now: this.now, stream: { maxStreams, maxStreamsPerAddress } },
      devices: {
        devices: () => this.opts.catalog().all(),
        latest: () => latest,
        alerts: () => this.alertsByDevice(),
        openTickets: () => tickets.openByDevice(),
      },
      collection: { planner, now: this.now },
      parking: { zones: () => zones.all() },
    };
  }

  private alertsByDevice(): Map<string, ActiveAlert[]> {
    const out = new Map<string, ActiveAlert[]>();
    for (const a of this.started().rules.activeAlerts()) {
      const list = out.get(a.deviceId) ?? [];
      list.push(a);
      out.set(a.deviceId, list);
    }
    return out;
  }

  private onEvents(batch: readonly RuleEvent[]): void {
    const parts = this.parts;
    if (!parts || !this.db) return;
    const { tickets, events, hub } = parts;
    const logged = this.db.transaction(() => events.append(tickets.apply(batch, this.opts.catalog(), parts.services)))();
    for (const e of logged) {
      this.opts.metrics.countRuleEvent(e.rule, e.state);
      if (e.transition) this.opts.metrics.countTicketTransition(e.transition);
    }
    hub.publish(logged);
    // A bay going offline or coming back changes its zone's unknown count.
    if (logged.length > 0) parts.zones.touch();
    for (const e of logged) {
      this.opts.publish(`city/events/${e.type}/${e.deviceId}`, JSON.stringify(toApiEvent(e))).catch((err: unknown) => {
        this.log.warn({ err, deviceId: e.deviceId, rule: e.rule }, 'could not publish a rule event on MQTT');
      });
    }
  }

  private sideSources(): SideSource[] {
    const events: SideSource = {
      name: 'events',
      take: () => {
        const rows = this.started().events.unwrittenForInflux(EVENTS_PER_WRITE);
        if (rows.length === 0) return undefined;
        return { lines: rows.map((e) => eventLine(e)), written: () => this.started().events.markWritten(rows.map((e) => e.id)) };
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
    let statsTaken = false;
    const stats: SideSource = {
      name: 'self-monitoring',
      take: () => {
        // One snapshot per STATS_EVERY_MS; a failed write drops it (the next one is fresher).
        const now = Date.now();
        if (statsTaken || now - this.lastStatsAt < STATS_EVERY_MS) {
          statsTaken = false;
          return undefined;
        }
        this.lastStatsAt = now;
        statsTaken = true;
        const snapshot: SelfStatsSnapshot = { ...this.opts.selfStats(), openTicketsByService: this.openTicketsByService() };
        return { lines: [...selfStatsLines(snapshot, now), ...deviceStateLines(this.deviceMap(), now)] };
      },
    };
    const zones: SideSource = { name: 'parking zones', take: () => this.started().zones.takeLines() };
    return [events, plan, zones, stats];
  }

  private deviceMap(): DeviceMapEntry[] {
    const alerts = this.alertsByDevice();
    const open = this.started().tickets.openByDevice();
    const out: DeviceMapEntry[] = [];
    for (const d of this.opts.catalog().all()) {
      const state = deviceState(alerts.get(d.id), this.started().latest.get(d.id));
      // The map shows devices that reported at least once; "unknown" ones have no state to draw.
      if (state === 'unknown') continue;
      out.push({ deviceId: d.id, type: d.type, district: d.district, lat: d.location.lat, lon: d.location.lon, state, openTickets: open.get(d.id)?.length ?? 0 });
    }
    return out;
  }

  private started(): NonNullable<DispatchWiring['parts']> {
    if (!this.parts) throw new Error('dispatch is not started');
    return this.parts;
  }
}
