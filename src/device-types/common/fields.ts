/**
 * Reusable field blocks. A device type is declared from these (the way zigbee-herdsman-converters
 * declares devices from `battery()`, `temperature()`), so its zod schema, its zod-free fast check
 * (`../fast-parse.ts`) and its line-protocol mapping come from one declaration and cannot drift
 * apart. Each block builds its zod schema and its {@link FieldRule} from the same arguments, side by
 * side; `fast-parse.test.ts` checks that the two agree on every fixture and on mutated payloads.
 */
import { z } from 'zod';

/** How a field is written in line protocol: float `1.5`, integer `3i`, string `"ok"`. */
export type FieldKind = 'float' | 'integer' | 'string';

/**
 * What a block's zod schema accepts, in a form a plain function can check without zod:
 * - `number`: a finite number (a safe integer when `integer`) within the inclusive bounds;
 * - `enum`: one of the strings;
 * - `timestamp`: an ISO 8601 string matching {@link ISO_WITH_OFFSET}, or a safe integer ≥ 0.
 */
export type FieldRule =
  | { readonly type: 'number'; readonly integer: boolean; readonly min: number | undefined; readonly max: number | undefined }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'timestamp' };

export interface FieldBlock<S extends z.ZodType = z.ZodType, R extends boolean = boolean> {
  readonly schema: S;
  /** The same constraints as `schema`, for the fast path. */
  readonly rule: FieldRule;
  readonly kind: FieldKind;
  readonly required: R;
  /** One line for READMEs and `--help`: unit and range. */
  readonly doc: string;
}

function block<S extends z.ZodType>(schema: S, rule: FieldRule, kind: FieldKind, doc: string): FieldBlock<S, false> {
  return { schema, rule, kind, required: false, doc };
}

/** Marks a block as required in the reading. */
export function required<S extends z.ZodType>(b: FieldBlock<S, boolean>): FieldBlock<S, true> {
  return { ...b, required: true };
}

/** A finite number, optionally an integer, within inclusive bounds: the schema and the rule together. */
function number(integer: boolean, min: number | undefined, max: number | undefined) {
  let s = integer ? z.number().int() : z.number();
  if (min !== undefined) s = s.min(min);
  if (max !== undefined) s = s.max(max);
  return { schema: s, rule: { type: 'number', integer, min, max } as const };
}

/** A ratio 0..1 (not percent). */
export const ratio = (doc = 'ratio 0..1') => {
  const n = number(false, 0, 1);
  return block(n.schema, n.rule, 'float', doc);
};

/** A finite float within [min, max]; either bound may be open. */
export const float = (doc: string, min?: number, max?: number) => {
  const n = number(false, min, max);
  return block(n.schema, n.rule, 'float', doc);
};

/** A non-negative integer (counters, counts). */
export const count = (doc: string) => {
  const n = number(true, 0, undefined);
  return block(n.schema, n.rule, 'integer', doc);
};

/** A string out of a fixed set, written as a string field. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T, doc?: string) =>
  block(z.enum(values), { type: 'enum', values }, 'string', doc ?? values.join(' | '));

/** ISO 8601 with an explicit offset (`Z` or `±hh:mm`), as the contract requires. */
export const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Fields every reading may carry. `ts` is not written as a field: it becomes the point's timestamp
 * (the window check needs the receive time, so it happens in the validator, not here).
 */
export const commonFields = {
  ts: block(
    z.union([z.string().regex(ISO_WITH_OFFSET), z.number().int().min(0)]),
    { type: 'timestamp' },
    'integer',
    'ISO 8601 with offset, or epoch milliseconds; absent = receive time',
  ),
  seq: count("the device's monotonic message counter"),
  batteryLevel: ratio('battery 0..1'),
  rssi: float('signal strength, dBm -150..0', -150, 0),
} as const;
