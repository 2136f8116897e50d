/**
 * What every condition kind provides (`ConditionKind`), and what their compilers share: the verdicts
 * a compiled condition returns, numeric levels bound to a device, and the list of problems a compile
 * reports. One file per kind in this folder; `kinds.ts` lists them.
 */
import type { z } from 'zod';
import type { DeviceRecord } from '../../../catalog/types.js';
import type { ConditionSpec, Level } from '../schema.js';

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

/** The conditions of one kind, e.g. `ConditionOf<'threshold'>`. */
export type ConditionOf<K extends ConditionSpec['kind']> = ConditionSpec & { readonly kind: K };

/** Compiles a condition nested in another (`all`, `any`). */
export type CompileCondition = (c: ConditionSpec, device: DeviceRecord | undefined, path: string, problems: Problems) => CompiledCondition;

/** One kind of condition: its part of the rules file's schema and its compiler. */
export interface ConditionKind<K extends ConditionSpec['kind'] = ConditionSpec['kind']> {
  /** Its zod schema; `sub` is the schema of a condition nested in it (`all`, `any`). */
  schema(sub: () => z.ZodType<ConditionSpec>): z.core.$ZodTypeDiscriminable & z.ZodType<ConditionOf<K>>;
  /** False for `silent`: swept by the deadman, so not allowed in `while` or inside `all`/`any`. */
  readonly onReadings: boolean;
  /** True when compiling the condition needs the device (catalog attributes or coordinates). */
  needsDevice(c: ConditionOf<K>, needsDevice: (c: ConditionSpec) => boolean): boolean;
  /** Binds the condition to a device; `device` is undefined when `needsDevice` said no. */
  compile(c: ConditionOf<K>, device: DeviceRecord | undefined, path: string, problems: Problems, compileCondition: CompileCondition): CompiledCondition;
}

export const fmt = (v: number | string): string => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v);

export const NEVER: CompiledCondition = {
  test: () => ABSENT,
  explain: () => ({ value: undefined, text: 'not evaluated' }),
  cost: 0,
};

export class Problems {
  readonly list: string[] = [];
  constructor(private readonly where: string) {}
  add(text: string): void {
    this.list.push(`${this.where}: ${text}`);
  }
}

export function levelValue(l: Level, device: DeviceRecord | undefined, key: string, problems: Problems): number | undefined {
  if (typeof l === 'number') return l;
  const attr = device?.attributes[l.attribute];
  if (typeof attr === 'number' && Number.isFinite(attr)) return attr * (l.times ?? 1);
  if (l.default !== undefined) return l.default;
  problems.add(`${key}: attributes.${l.attribute} is ${attr === undefined ? 'missing' : `not a number (${JSON.stringify(attr)})`} and no default is given; the rule does not evaluate`);
  return undefined;
}
