/**
 * The rule engine: runs each validated reading through its device's compiled rules and keeps, per
 * (device, rule), a small state machine:
 *
 *   ok ──condition──▶ pending ──still true after `for` (device time)──▶ raised ──clear level──▶ ok
 *        (`for` 0: straight to raised)   └─anything else: back to ok─┘
 *
 * Device time, not the wall clock, measures `for`: a batch a device uploads after an outage, or a
 * spool draining after one, then gives the same answer as the readings would have live. A reading
 * at or before the last one evaluated for a rule is not evaluated again (a replayed spool record,
 * an out-of-order upload), which makes replays idempotent.
 *
 * Per reading: one catalog lookup, one Map lookup, and per rule a comparison or two on closures
 * compiled for the device (see `evaluate.bench.ts`). The store is touched only for state changes,
 * once per batch.
 */
import type { Logger } from '../../observability/logger.js';
import { ErrorCodes } from '../../errors/catalog.js';
import type { RuleStateAccess, RuleStateRow, RuleStatus } from '../rule-state-store.js';
import type { DeviceLookup, RuleEvent, RuleInput } from '../types.js';
import { ABSENT, CLEAR, RAISE, type CompiledRule, type CompiledRules, type DeviceRules } from './compile.js';

/** The engine's collaborators: compiled rules, the catalog, the state store, a clock. */
export interface RuleEngineOptions {
  compiled: CompiledRules;
  catalog: DeviceLookup;
  store: Pick<RuleStateAccess, 'loadDevice' | 'save'>;
  /** Wall clock for lateness; tests pass a fake one. */
  now?: () => number;
  /** Readings older than this when evaluated are `late`; default: the rules file's `settings.lateAfter`. */
  lateAfterMs?: number;
  log?: Logger;
}

/** What the engine has seen; for metrics. */
export interface RuleEngineCounts {
  readings: number;
  /** Readings of devices no longer in the catalog (removed after the reading was stored). */
  unknownDevice: number;
  /** Readings whose type differs from the catalog's. */
  typeMismatch: number;
  /** Readings not evaluated by at least one rule because a later reading already was (replays, out-of-order uploads). */
  stale: number;
  events: number;
  /** State commits that failed; the changes are kept and written with the next batch. */
  commitFailures: number;
}

/** Mutable twin of a stored row. */
class State implements RuleStateRow {
  status: RuleStatus = 'ok';
  since = 0;
  lastAt = Number.NEGATIVE_INFINITY;
  value: number | string | null = null;
  flapping = false;
  flaps: number[] = [];

  constructor(
    readonly deviceId: string,
    readonly rule: string,
  ) {}

  static from(row: RuleStateRow): State {
    const s = new State(row.deviceId, row.rule);
    s.status = row.status;
    s.since = row.since;
    s.lastAt = row.lastAt;
    s.value = row.value;
    s.flapping = row.flapping;
    s.flaps = [...row.flaps];
    return s;
  }

  /** Raised as far as consumers are concerned. */
  get published(): boolean {
    return this.flapping || this.status === 'raised';
  }
}

interface DeviceSlot {
  readonly rules: DeviceRules;
  /** Aligned with `rules.evaluated`. */
  readonly states: State[];
  /** Every stored state of the device, by rule id (kept across recompiles). */
  readonly byRule: Map<string, State>;
}

/** Per-batch bookkeeping. */
interface Batch {
  readonly events: RuleEvent[];
  /** The `raised` event of a state emitted in this batch, so that its clear can mark it. */
  readonly openRaises: Map<State, RuleEvent>;
}

/** `900000` → `15 min`. */
export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000} h`;
  if (ms >= 60_000) return `${Math.round(ms / 6000) / 10} min`;
  return `${Math.round(ms / 100) / 10} s`;
}

/** Evaluates readings against their devices' compiled rules and keeps per-(device, rule) state. */
export class RuleEngine {
  readonly counts: RuleEngineCounts = { readings: 0, unknownDevice: 0, typeMismatch: 0, stale: 0, events: 0, commitFailures: 0 };
  private readonly opts: RuleEngineOptions;
  private readonly now: () => number;
  private readonly lateAfterMs: number;
  private readonly slots = new Map<string, DeviceSlot>();
  private readonly dirty = new Set<State>();

  constructor(opts: RuleEngineOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.lateAfterMs = opts.lateAfterMs ?? opts.compiled.book.settings.lateAfter;
  }

  /**
   * Evaluates readings in order, commits the state changes in one transaction, and returns the
   * events, in the order they happened. A failed commit is logged and retried with the next batch;
   * the events are returned all the same (the running process's state is the truth, the store its
   * copy for a restart).
   */
  evaluate(readings: readonly RuleInput[]): RuleEvent[] {
    const lateBefore = this.now() - this.lateAfterMs;
    const batch: Batch = { events: [], openRaises: new Map() };
    for (const input of readings) {
      this.counts.readings++;
      const slot = this.slot(input, batch);
      if (!slot) continue;
      const late = input.timeMs < lateBefore;
      const { evaluated } = slot.rules;
      let stale = false;
      for (let i = 0; i < evaluated.length; i++) {
        if (!this.step(evaluated[i]!, slot.states[i]!, input, late, batch)) stale = true;
      }
      if (stale) this.counts.stale++;
    }
    this.commit();
    this.counts.events += batch.events.length;
    return batch.events;
  }

  /** Forget a device's in-memory state (it left the catalog); its stored rows are the caller's to remove. */
  forget(deviceId: string): void {
    this.slots.delete(deviceId);
  }

  private commit(): void {
    if (this.dirty.size === 0) return;
    try {
      this.opts.store.save([...this.dirty]);
      this.dirty.clear();
    } catch (err) {
      this.counts.commitFailures++;
      this.opts.log?.error({ err, code: ErrorCodes.RULE_STATE_IO.code, states: this.dirty.size }, 'rule state not saved; retrying with the next batch');
    }
  }

  private slot(input: RuleInput, batch: Batch): DeviceSlot | undefined {
    const record = this.opts.catalog.get(input.deviceId);
    if (!record) {
      this.counts.unknownDevice++;
      return undefined;
    }
    if (record.type !== input.type) {
      this.counts.typeMismatch++;
      return undefined;
    }
    const slot = this.slots.get(input.deviceId);
    if (slot && slot.rules.record === record) return slot;
    const rules = this.opts.compiled.forDevice(record);
    const byRule = slot?.byRule ?? new Map(this.opts.store.loadDevice(input.deviceId).map((row) => [row.rule, State.from(row)]));
    const states = rules.evaluated.map((r) => {
      let s = byRule.get(r.id);
      if (!s) byRule.set(r.id, (s = new State(input.deviceId, r.id)));
      return s;
    });
    this.retireRulesThatNoLongerApply(rules, byRule, input, batch);
    const fresh: DeviceSlot = { rules, states, byRule };
    this.slots.set(input.deviceId, fresh);
    return fresh;
  }

  /**
   * A rule raised for this device that the rules file no longer applies to it (removed, disabled, or
   * an override turned it off) would otherwise stay raised, with its ticket open, forever.
   */
  private retireRulesThatNoLongerApply(rules: DeviceRules, byRule: Map<string, State>, input: RuleInput, batch: Batch): void {
    const applies = new Set([...rules.evaluated.map((r) => r.id), ...rules.silent.map((r) => r.id)]);
    for (const [id, s] of byRule) {
      if (applies.has(id)) continue;
      if (s.published || s.status === 'pending') {
        if (s.published) {
          batch.events.push({
            rule: id,
            deviceId: input.deviceId,
            district: input.district,
            type: input.type,
            severity: 'info',
            state: 'cleared',
            at: input.timeMs,
            message: `${id} cleared: the rule no longer applies to this device`,
            late: false,
          });
        }
        s.status = 'ok';
        s.flapping = false;
        s.flaps = [];
        s.since = input.timeMs;
        this.dirty.add(s);
      }
      byRule.delete(id);
    }
  }

  /** One rule, one reading. Returns false when the reading was too old to evaluate for this rule. */
  private step(rule: CompiledRule, s: State, input: RuleInput, late: boolean, batch: Batch): boolean {
    const t = input.timeMs;
    if (t <= s.lastAt) return false;
    const { fields } = input;
    const r = rule.rule;
    if (rule.gate) {
      const g = rule.gate.test(fields, t);
      if (g === ABSENT) return true;
      if (g !== RAISE) {
        // Outside `while` nothing is decided; a `for` timer must see the condition throughout, so it restarts.
        s.lastAt = t;
        if (s.status === 'pending') {
          s.status = 'ok';
          s.since = t;
          this.dirty.add(s);
        }
        return true;
      }
    }
    const v = rule.condition.test(fields, t);
    if (v === ABSENT) return true;
    s.lastAt = t;
    // Held by a guard the rules file no longer has: let go before anything else.
    if (s.flapping && !r.flapping) this.releaseFlapping(rule, s, input, late, batch);
    let transitioned = false;
    switch (s.status) {
      case 'ok':
        if (v === RAISE) {
          if (rule.forMs === 0) {
            this.transition(rule, s, 'raised', input, late, batch, t);
            transitioned = true;
          } else {
            s.status = 'pending';
            s.since = t;
            s.value = rule.condition.explain(fields, t).value ?? null;
            this.dirty.add(s);
          }
        }
        break;
      case 'pending':
        if (v === RAISE) {
          if (t - s.since >= rule.forMs) {
            this.transition(rule, s, 'raised', input, late, batch, s.since);
            transitioned = true;
          }
        } else {
          s.status = 'ok';
          s.since = t;
          this.dirty.add(s);
        }
        break;
      case 'raised':
        if (v === CLEAR) {
          this.transition(rule, s, 'ok', input, late, batch, t);
          transitioned = true;
        }
        break;
    }
    if (s.flapping && !transitioned && r.flapping) {
      const last = s.flaps[s.flaps.length - 1] ?? s.since;
      if (t - last >= r.flapping.windowMs) this.releaseFlapping(rule, s, input, late, batch);
    }
    return true;
  }

  private transition(rule: CompiledRule, s: State, to: 'raised' | 'ok', input: RuleInput, late: boolean, batch: Batch, conditionSince: number): void {
    const t = input.timeMs;
    const explained = rule.condition.explain(input.fields, t);
    s.status = to;
    s.since = t;
    s.value = explained.value ?? null;
    this.dirty.add(s);
    const guard = rule.rule.flapping;
    if (guard) {
      s.flaps.push(t);
      const from = t - guard.windowMs;
      let drop = 0;
      while (drop < s.flaps.length && s.flaps[drop]! <= from) drop++;
      if (drop) s.flaps.splice(0, drop);
      if (s.flapping) return; // held raised: the guard swallows the churn
      if (s.flaps.length > guard.maxTransitions) {
        // Entered on a clear, the rule was already raised (and ticketed): no new `since`.
        const enteredOnClear = to === 'ok';
        s.flapping = true;
        const w = formatDuration(guard.windowMs);
        this.emit(batch, s, rule, input, late, {
          state: 'raised',
          flapping: true,
          value: explained.value,
          message: `${rule.label}: flapping (${s.flaps.length} raises and clears within ${w}); held raised until stable for ${w}. Now: ${explained.text}`,
          since: enteredOnClear ? undefined : conditionSince,
        });
        return;
      }
    }
    if (to === 'raised') {
      const held = rule.forMs > 0 ? ` for ${formatDuration(t - conditionSince)}` : '';
      this.emit(batch, s, rule, input, late, {
        state: 'raised',
        value: explained.value,
        message: `${rule.label}: ${explained.text}${held}`,
        since: rule.forMs > 0 ? conditionSince : undefined,
      });
    } else {
      this.emit(batch, s, rule, input, late, { state: 'cleared', value: explained.value, message: `${rule.label} cleared: ${explained.text}` });
    }
  }

  private releaseFlapping(rule: CompiledRule, s: State, input: RuleInput, late: boolean, batch: Batch): void {
    s.flapping = false;
    s.flaps = [];
    this.dirty.add(s);
    const explained = rule.condition.explain(input.fields, input.timeMs);
    const guard = rule.rule.flapping;
    const why = guard ? `stable for ${formatDuration(guard.windowMs)}` : 'flapping guard turned off';
    const raised = s.status === 'raised';
    this.emit(batch, s, rule, input, late, {
      state: raised ? 'raised' : 'cleared',
      flapping: false,
      value: explained.value,
      message: `${rule.label}: ${why}, no longer flapping; ${raised ? 'still raised' : 'cleared'}. Now: ${explained.text}`,
    });
  }

  private emit(
    batch: Batch,
    s: State,
    rule: CompiledRule,
    input: RuleInput,
    late: boolean,
    e: { state: 'raised' | 'cleared'; message: string; value: number | string | undefined; flapping?: boolean; since?: number | undefined },
  ): void {
    const r = rule.rule;
    const event: { -readonly [K in keyof RuleEvent]: RuleEvent[K] } = {
      rule: r.id,
      deviceId: input.deviceId,
      district: input.district,
      type: input.type,
      severity: r.severity,
      state: e.state,
      at: input.timeMs,
      message: e.message,
      late,
    };
    if (r.ticket && r.serviceCode !== undefined) event.serviceCode = r.serviceCode;
    if (e.value !== undefined) event.value = e.value;
    if (e.since !== undefined) event.since = e.since;
    if (e.flapping !== undefined) event.flapping = e.flapping;
    batch.events.push(event);
    if (e.state === 'raised') {
      batch.openRaises.set(s, event);
    } else {
      const raise = batch.openRaises.get(s);
      if (raise) {
        raise.clearedAt = input.timeMs;
        batch.openRaises.delete(s);
      }
    }
  }
}
