/**
 * Compiles resolved rules into closures over a reading's fields. Everything a rule needs from the
 * file, the overrides and the catalog (levels relative to `attributes.powerRating`, the lamp's
 * coordinates, a `for` taken from `attributes.maxStayMin`) is bound here once per device, so that evaluating a reading is a property read and a
 * comparison or two per rule.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import { NEVER, Problems, type CompiledCondition, type ConditionKind } from './conditions/kind.js';
import { conditionKinds } from './conditions/kinds.js';
import type { ResolvedRule, RuleBook } from './rule-book.js';
import { FOR_UNIT_MS, type ConditionSpec, type ForSpec } from './schema.js';

export { ABSENT, CLEAR, HOLD, RAISE, type CompiledCondition, type Fields, type Verdict } from './conditions/kind.js';

/** A rule evaluated on readings, bound to one device. */
export interface CompiledRule {
  readonly id: string;
  readonly rule: ResolvedRule;
  readonly condition: CompiledCondition;
  /** `while`: outside it the rule neither raises nor clears. */
  readonly gate: CompiledCondition | undefined;
  /** `for` in milliseconds, for this device (an attribute `for` is resolved here, once). */
  readonly forMs: number;
  /** For messages: the service name, else the rule id. */
  readonly label: string;
}

/** A `silent` rule, for the deadman sweep. */
export interface SilentRule {
  readonly id: string;
  readonly rule: ResolvedRule;
  readonly intervals: number;
  readonly label: string;
}

/** Everything one device is evaluated against. */
export interface DeviceRules {
  /** The catalog record these were compiled from; a new record (catalog reload) means recompile. */
  readonly record: DeviceRecord;
  readonly evaluated: readonly CompiledRule[];
  readonly silent: readonly SilentRule[];
}

/** True when compiling the condition needs the device (catalog attributes or coordinates). */
function needsDevice(c: ConditionSpec): boolean {
  const kind: ConditionKind = conditionKinds[c.kind];
  return kind.needsDevice(c, needsDevice);
}

/** Binds a condition to a device, by its kind (one compiler per kind, in `conditions/`). */
function compileCondition(c: ConditionSpec, device: DeviceRecord | undefined, path: string, problems: Problems): CompiledCondition {
  const kind: ConditionKind = conditionKinds[c.kind];
  return kind.compile(c, device, path, problems, compileCondition);
}

/**
 * `for` in milliseconds for a device: the constant, or its catalog attribute in the rule's unit (times
 * `times`); a missing, non-numeric or negative attribute takes `default`, else the rule does not evaluate.
 */
function forWindowMs(f: ForSpec, device: DeviceRecord | undefined, problems: Problems): number | undefined {
  if (typeof f === 'number') return f;
  const attr = device?.attributes[f.attribute];
  let n: number | undefined;
  if (typeof attr === 'number' && Number.isFinite(attr) && attr >= 0) n = attr * (f.times ?? 1);
  else n = f.default;
  if (n !== undefined) return Math.round(n * FOR_UNIT_MS[f.unit]);
  const what = attr === undefined ? 'missing' : typeof attr === 'number' ? `negative (${attr})` : `not a number (${JSON.stringify(attr)})`;
  problems.add(`for: attributes.${f.attribute} is ${what} and no default is given; the rule does not evaluate`);
  return undefined;
}

function compileRule(rule: ResolvedRule, device: DeviceRecord | undefined, problems: Problems): CompiledRule {
  const forMs = forWindowMs(rule.for, device, problems);
  return {
    id: rule.id,
    rule,
    condition: forMs === undefined ? NEVER : compileCondition(rule.condition, device, 'condition', problems),
    gate: rule.while ? compileCondition(rule.while, device, 'while', problems) : undefined,
    forMs: forMs ?? 0,
    label: rule.serviceName ?? rule.id,
  };
}

/**
 * Compiled rules per device, cached. Rules that do not depend on the device are compiled once per
 * resolved rule (that is, once per type and district, or per device override) and shared; rules that
 * read the catalog (attribute levels or `for`, the sun at the device's location) are compiled per device.
 */
export class CompiledRules {
  readonly book: RuleBook;
  private readonly onProblem: (deviceId: string, problem: string) => void;
  private readonly shared = new WeakMap<ResolvedRule, CompiledRule>();
  private readonly byDevice = new Map<string, DeviceRules>();

  constructor(book: RuleBook, opts: { onProblem?: (deviceId: string, problem: string) => void } = {}) {
    this.book = book;
    this.onProblem = opts.onProblem ?? (() => {});
  }

  /**
   * The rules of a device. One Map lookup when the catalog record is the one compiled from; a
   * changed record (a catalog reload) is compiled again. Problems (a missing `powerRating`, overrides
   * that do not combine) are reported through `onProblem` once per compile.
   */
  forDevice(record: DeviceRecord): DeviceRules {
    const hit = this.byDevice.get(record.id);
    if (hit && hit.record === record) return hit;
    const { rules, problems } = this.compile(record);
    for (const p of problems) this.onProblem(record.id, p);
    this.byDevice.set(record.id, rules);
    return rules;
  }

  /** Every problem compiling these devices would report; for a check at start-up or catalog reload. */
  check(records: Iterable<DeviceRecord>): string[] {
    const out: string[] = [];
    for (const r of records) out.push(...this.compile(r).problems);
    return out;
  }

  /** Forget a device (removed from the catalog). */
  forget(deviceId: string): void {
    this.byDevice.delete(deviceId);
  }

  private compile(record: DeviceRecord): { rules: DeviceRules; problems: string[] } {
    const resolved = this.book.resolve(record);
    const problems: string[] = [...resolved.problems];
    const evaluated: CompiledRule[] = [];
    const silent: SilentRule[] = [];
    for (const rule of resolved.rules) {
      const where = new Problems(`${this.book.file}: rule "${rule.id}" for device ${record.id}`);
      if (rule.condition.kind === 'silent') {
        silent.push({ id: rule.id, rule, intervals: rule.condition.intervals, label: rule.serviceName ?? rule.id });
        continue;
      }
      const perDevice = needsDevice(rule.condition) || (rule.while !== undefined && needsDevice(rule.while)) || typeof rule.for === 'object';
      let compiled = perDevice ? undefined : this.shared.get(rule);
      if (!compiled) {
        compiled = compileRule(rule, perDevice ? record : undefined, where);
        if (!perDevice) this.shared.set(rule, compiled);
      }
      evaluated.push(compiled);
      problems.push(...where.list);
    }
    return { rules: { record, evaluated, silent }, problems };
  }
}
