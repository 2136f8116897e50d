/**
 * Compiles resolved rules into closures over a reading's fields. Everything a rule needs from the
 * file, the overrides and the catalog (levels relative to `attributes.powerRating`, the lamp's
 * coordinates) is bound here once per device, so that evaluating a reading is a property read and a
 * comparison or two per rule.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import { isSunUp, sunAltitude } from '../sun.js';
import type { ConditionSpec, Level } from './schema.js';
import type { ResolvedRule, RuleBook } from './rule-book.js';

/** The field is absent (or not of the rule's kind): the rule does not evaluate on this reading. */
export const ABSENT = 0;
/** The condition is over: a raised rule clears, a pending one is cancelled. */
export const CLEAR = 1;
/** Between the raise and the clear level (hysteresis): nothing changes. */
export const HOLD = 2;
/** The condition holds: the rule raises (after its `for` duration). */
export const RAISE = 3;
/** What one condition says about one reading. */
export type Verdict = typeof ABSENT | typeof CLEAR | typeof HOLD | typeof RAISE;

/** A reading's fields as validation outputs them (no `ts`). */
export type Fields = Readonly<Record<string, number | string>>;

/** A condition bound to one device. */
export interface CompiledCondition {
  /** The hot path: no allocation for field conditions. */
  test(fields: Fields, timeMs: number): Verdict;
  /** Called only to build an event: the deciding value and a line for humans. */
  explain(fields: Fields, timeMs: number): { value: number | string | undefined; text: string };
  /** Relative cost, so that `all`/`any` try cheap conditions first. */
  readonly cost: number;
}

/** A rule evaluated on readings, bound to one device. */
export interface CompiledRule {
  readonly id: string;
  readonly rule: ResolvedRule;
  readonly condition: CompiledCondition;
  /** `while`: outside it the rule neither raises nor clears. */
  readonly gate: CompiledCondition | undefined;
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

const fmt = (v: number | string): string => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v);

/** True when compiling the condition needs the device (catalog attributes or coordinates). */
function needsDevice(c: ConditionSpec): boolean {
  switch (c.kind) {
    case 'threshold':
      return [c.above, c.below, c.clear].some((l) => typeof l === 'object');
    case 'sunUp':
      return true;
    case 'all':
    case 'any':
      return c.of.some(needsDevice);
    default:
      return false;
  }
}

const NEVER: CompiledCondition = {
  test: () => ABSENT,
  explain: () => ({ value: undefined, text: 'not evaluated' }),
  cost: 0,
};

class Problems {
  readonly list: string[] = [];
  constructor(private readonly where: string) {}
  add(text: string): void {
    this.list.push(`${this.where}: ${text}`);
  }
}

function levelValue(l: Level, device: DeviceRecord | undefined, key: string, problems: Problems): number | undefined {
  if (typeof l === 'number') return l;
  const attr = device?.attributes[l.attribute];
  if (typeof attr === 'number' && Number.isFinite(attr)) return attr * (l.times ?? 1);
  if (l.default !== undefined) return l.default;
  problems.add(`${key}: attributes.${l.attribute} is ${attr === undefined ? 'missing' : `not a number (${JSON.stringify(attr)})`} and no default is given; the rule does not evaluate`);
  return undefined;
}

function compileCondition(c: ConditionSpec, device: DeviceRecord | undefined, path: string, problems: Problems): CompiledCondition {
  switch (c.kind) {
    case 'threshold': {
      const f = c.field;
      // `above`: raise at ≥ level, clear below `clear`; `below`: raise under level, clear at ≥ `clear`.
      const up = c.above !== undefined;
      const side = up ? 'above' : 'below';
      const raise = levelValue(up ? c.above! : c.below!, device, `${path}.${side}`, problems);
      let clear = c.clear === undefined ? raise : levelValue(c.clear, device, `${path}.clear`, problems);
      if (raise === undefined || clear === undefined) return NEVER;
      if (up ? clear > raise : clear < raise) {
        problems.add(`${path}.clear: ${clear} is ${side} the raise level ${raise} for this device; clearing at ${raise}`);
        clear = raise;
      }
      const r = raise;
      const cl = clear;
      const raises = up ? (v: number) => v >= r : (v: number) => v < r;
      const clears = up ? (v: number) => v < cl : (v: number) => v >= cl;
      const [raiseSign, clearSign] = up ? ['≥', '<'] : ['<', '≥'];
      return {
        cost: 1,
        test(fields) {
          const v = fields[f];
          if (typeof v !== 'number') return ABSENT;
          return raises(v) ? RAISE : clears(v) ? CLEAR : HOLD;
        },
        explain(fields) {
          const v = fields[f];
          if (typeof v !== 'number') return { value: undefined, text: `${f} absent` };
          return { value: v, text: raises(v) ? `${f} ${fmt(v)} ${raiseSign} ${fmt(r)}` : clears(v) ? `${f} ${fmt(v)} ${clearSign} ${fmt(cl)}` : `${f} ${fmt(v)}` };
        },
      };
    }
    case 'outside': {
      const { field: f, low, high } = c;
      const clearLow = c.clearLow ?? low;
      const clearHigh = c.clearHigh ?? high;
      return {
        cost: 1,
        test(fields) {
          const v = fields[f];
          if (typeof v !== 'number') return ABSENT;
          if (v < low || v > high) return RAISE;
          return v >= clearLow && v <= clearHigh ? CLEAR : HOLD;
        },
        explain(fields) {
          const v = fields[f];
          if (typeof v !== 'number') return { value: undefined, text: `${f} absent` };
          const inside = v >= low && v <= high;
          return { value: v, text: `${f} ${fmt(v)} ${inside ? 'within' : 'outside'} ${fmt(inside ? clearLow : low)}..${fmt(inside ? clearHigh : high)}` };
        },
      };
    }
    case 'enum': {
      const f = c.field;
      const values = c.in ?? c.notIn ?? [];
      const hit = c.in ? RAISE : CLEAR;
      const miss = c.in ? CLEAR : RAISE;
      return {
        cost: 1,
        test(fields) {
          const v = fields[f];
          if (typeof v !== 'string') return ABSENT;
          return values.includes(v) ? hit : miss;
        },
        explain(fields) {
          const v = fields[f];
          return typeof v === 'string' ? { value: v, text: `${f} = ${v}` } : { value: undefined, text: `${f} absent` };
        },
      };
    }
    case 'sunUp': {
      if (!device) return NEVER;
      const { lat, lon } = device.location;
      const min = c.altitude ?? 0;
      return {
        // Trigonometry for the ephemeris: try it after the field conditions.
        cost: 10,
        test: (_fields, timeMs) => (isSunUp(timeMs, lat, lon, min) ? RAISE : CLEAR),
        explain(_fields, timeMs) {
          const alt = sunAltitude(timeMs, lat, lon);
          return { value: Number(alt.toFixed(1)), text: `sun ${alt.toFixed(1)}° ${alt > min ? 'above' : 'not above'} ${fmt(min)}°` };
        },
      };
    }
    case 'all':
    case 'any': {
      // Verdicts combine order-independently (below), so the cheap conditions can go first and the
      // expensive ones are skipped when a cheap one already decides.
      const parts = c.of
        .map((sub, i) => compileCondition(sub, device, `${path}.of[${i}]`, problems))
        .sort((a, b) => a.cost - b.cost);
      const cost = parts.reduce((s, p) => s + p.cost, 0);
      const joiner = c.kind === 'all' ? ' and ' : ' or ';
      const explain = (fields: Fields, timeMs: number) => {
        const present = parts.map((p) => ({ p, e: p.explain(fields, timeMs), v: p.test(fields, timeMs) })).filter((x) => x.v !== ABSENT);
        const deciding = c.kind === 'any' ? present.filter((x) => x.v === RAISE) : present;
        const shown = deciding.length ? deciding : present;
        return { value: shown[0]?.e.value, text: shown.map((x) => x.e.text).join(joiner) || 'no field present' };
      };
      if (c.kind === 'all') {
        // CLEAR if any part clears; else ABSENT if any part cannot say; else HOLD if any holds; else RAISE.
        return {
          cost,
          explain,
          test(fields, timeMs) {
            let absent = false;
            let hold = false;
            for (const p of parts) {
              const v = p.test(fields, timeMs);
              if (v === CLEAR) return CLEAR;
              if (v === ABSENT) absent = true;
              else if (v === HOLD) hold = true;
            }
            return absent ? ABSENT : hold ? HOLD : RAISE;
          },
        };
      }
      // RAISE if any part raises; else, among the parts present, HOLD if any holds, else CLEAR; ABSENT if none is present.
      return {
        cost,
        explain,
        test(fields, timeMs) {
          let present = false;
          let hold = false;
          for (const p of parts) {
            const v = p.test(fields, timeMs);
            if (v === RAISE) return RAISE;
            if (v !== ABSENT) present = true;
            if (v === HOLD) hold = true;
          }
          return !present ? ABSENT : hold ? HOLD : CLEAR;
        },
      };
    }
    case 'silent':
      // Swept by the deadman, never evaluated on a reading.
      return NEVER;
  }
}

function compileRule(rule: ResolvedRule, device: DeviceRecord | undefined, problems: Problems): CompiledRule {
  return {
    id: rule.id,
    rule,
    condition: compileCondition(rule.condition, device, 'condition', problems),
    gate: rule.while ? compileCondition(rule.while, device, 'while', problems) : undefined,
    label: rule.serviceName ?? rule.id,
  };
}

/**
 * Compiled rules per device, cached. Rules that do not depend on the device are compiled once per
 * resolved rule (that is, once per type and district, or per device override) and shared; rules that
 * read the catalog (attribute levels, the sun at the device's location) are compiled per device.
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
      const perDevice = needsDevice(rule.condition) || (rule.while !== undefined && needsDevice(rule.while));
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
