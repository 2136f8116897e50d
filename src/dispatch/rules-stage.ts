/**
 * The rules stage, as the service wires it: validated readings in (after they are durably stored),
 * rule events out. It owns the rule book, the compiled rules, the state store, the engine and the
 * deadman sweep; it knows nothing of tickets, Open311 or MQTT, which consume its events.
 */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { DeviceRecord } from '../catalog/types.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import { packageRoot } from '../paths.js';
import { DeadmanSweep } from './deadman.js';
import { CompiledRules } from './rules/compile.js';
import { RuleEngine, type RuleEngineCounts } from './rules/evaluate.js';
import { RuleBook, type ServiceDefinition } from './rules/rule-book.js';
import type { RuleRole } from './rules/schema.js';
import { RuleStateStore } from './rule-state-store.js';
import type { ActiveAlert, DeviceList, EventSink, RuleEvent, RuleInput } from './types.js';

/** The rules shipped with citypipe (CONTRACT §5), generated from the registry (default-rules.ts). */
export const defaultRulesFile = path.join(packageRoot, 'rules', 'default.json');

/**
 * The roles of the shipped rules, by id: a city file copied from the defaults before rules declared
 * roles keeps its collection plan and offline devices (RuleBookOptions.rolesById).
 */
function shippedRoles(): Map<string, RuleRole> {
  const book = RuleBook.load(defaultRulesFile);
  const roles = new Map<string, RuleRole>();
  for (const r of book.rules) {
    const role = book.roleOf(r.id);
    if (role) roles.set(r.id, role);
  }
  return roles;
}

/**
 * Loads and validates a rules file (throws a `RulesFileError` naming the file, rule and key). A city
 * file copied from the defaults before rules declared roles keeps the shipped rules' roles.
 */
export function loadRuleBook(rulesFile: string): RuleBook {
  return RuleBook.load(rulesFile, path.resolve(rulesFile) === defaultRulesFile ? {} : { rolesById: shippedRoles() });
}

/** Everything the stage needs from the service: files, the catalog, where events go, a logger. */
export interface RulesStageOptions {
  /** The rules file; {@link defaultRulesFile} unless the city has its own. */
  rulesFile: string;
  /** SQLite file of rule state, e.g. `<dataDir>/rule-state.db`; ':memory:' in tests. */
  stateFile: string;
  catalog: DeviceList;
  /** Receives each batch's events after their state is committed. */
  onEvents: EventSink;
  log: Logger;
  /** Wall clock (lateness, deadman); tests pass a fake one. */
  now?: () => number;
  /** Overrides the rules file's `settings.lateAfter`. */
  lateAfterMs?: number;
}

/** The rules stage: `start()`, `evaluate(batch)` for every stored batch, `stop()`. */
export class RulesStage {
  private readonly opts: RulesStageOptions;
  private parts: { book: RuleBook; compiled: CompiledRules; store: RuleStateStore; engine: RuleEngine; deadman: DeadmanSweep } | undefined;

  constructor(opts: RulesStageOptions) {
    this.opts = opts;
  }

  /**
   * Loads and validates the rules file (throws a `RulesFileError`, code `CP_ERR_RULES_INVALID`,
   * naming the file, rule and key), opens the state store and starts the deadman sweep.
   */
  start(): void {
    const { opts } = this;
    const log = opts.log;
    const book = loadRuleBook(opts.rulesFile);
    const compiled = new CompiledRules(book, {
      onProblem: (deviceId, problem) => log.warn({ deviceId, code: ErrorCodes.RULES_DEVICE.code }, problem),
    });
    const store = new RuleStateStore({ file: opts.stateFile });
    store.open();
    const now = opts.now ?? Date.now;
    const engine = new RuleEngine({ compiled, catalog: opts.catalog, store, now, log, ...(opts.lateAfterMs === undefined ? {} : { lateAfterMs: opts.lateAfterMs }) });
    const deadman = new DeadmanSweep({
      compiled,
      catalog: opts.catalog,
      store,
      now,
      log,
      onEvents: (events) => this.deliver(events),
    });
    deadman.start();
    this.parts = { book, compiled, store, engine, deadman };
  }

  /** Stops the sweep, saves last-seen times and closes the store. */
  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = undefined;
    if (!parts) return;
    await parts.deadman.stop();
    parts.store.close();
  }

  /**
   * Evaluates a batch of stored readings (in the order they were stored) and delivers the events.
   * Call it with batches as large as the caller reads them: a late raise whose clear is in the same
   * batch is marked with `clearedAt`, so that no ticket is opened for it.
   */
  evaluate(readings: readonly RuleInput[]): void {
    const { engine, deadman } = this.started();
    const back = deadman.observe(readings);
    let events: RuleEvent[];
    try {
      events = engine.evaluate(readings);
    } catch (err) {
      // The offline clears are committed: deliver them before the caller sees the failure.
      if (back.length) this.deliver(back);
      throw err;
    }
    if (back.length) events.unshift(...back);
    if (events.length) this.deliver(events);
  }

  /** Runs the deadman sweep now (its timer does this when the next device is due). */
  sweep(nowMs: number): void {
    const events = this.started().deadman.sweep(nowMs);
    if (events.length) this.deliver(events);
  }

  /** The catalog changed: the deadman watches new devices from now and forgets removed ones. */
  catalogChanged(): void {
    this.started().deadman.catalogChanged();
  }

  /** Writes the last-seen times of the readings evaluated so far (RuleStateStore, one transaction). */
  persistLastSeen(): void {
    this.started().deadman.persist();
  }

  /** The rule-state database, for other device state saved in the same transactions. */
  get database(): Database.Database {
    return this.started().store.database;
  }

  /** What is raised now, from the store: for a ticket consumer reconciling after a restart. */
  activeAlerts(): ActiveAlert[] {
    const { store, book } = this.started();
    return store
      .listActive()
      .map((r) => {
        const role = book.roleOf(r.rule);
        return { deviceId: r.deviceId, rule: r.rule, since: r.since, value: r.value ?? undefined, flapping: r.flapping, ...(role ? { role } : {}) };
      });
  }

  /** Open311 services of the ticket rules. */
  services(): readonly ServiceDefinition[] {
    return this.started().book.services();
  }

  /** The level at which a device's `above` threshold rule raises, overrides merged (RuleBook.thresholdAbove). */
  thresholdAbove(device: DeviceRecord, ruleId: string): number | undefined {
    return this.started().book.thresholdAbove(device, ruleId);
  }

  /**
   * The `above` level of the rule playing `role` (e.g. `collection`) for a device, overrides merged;
   * undefined when no rule plays it, or it is off for the device.
   */
  roleThresholdAbove(role: RuleRole, device: DeviceRecord): number | undefined {
    const { book } = this.started();
    const rule = book.ruleWithRole(role);
    return rule && book.thresholdAbove(device, rule.id);
  }

  /** Problems the rules have with these devices (a missing `powerRating`, overrides that do not combine). */
  check(records: Iterable<DeviceRecord>): string[] {
    return this.started().compiled.check(records);
  }

  /** Engine counters, for metrics. */
  get counts(): Readonly<RuleEngineCounts> {
    return this.started().engine.counts;
  }

  private started(): NonNullable<RulesStage['parts']> {
    if (!this.parts) throw new Error('rules stage is not started');
    return this.parts;
  }

  /** A faulty consumer must not take the stage down (its state is already committed). */
  private deliver(events: readonly RuleEvent[]): void {
    try {
      this.opts.onEvents(events);
    } catch (err) {
      this.opts.log.error({ err, code: ErrorCodes.EVENT_SINK.code, events: events.length, deviceId: events[0]?.deviceId }, 'event consumer failed');
    }
  }
}
