/**
 * Reusable field blocks. A device type is declared from these (the way zigbee-herdsman-converters
 * declares devices from `battery()`, `temperature()`), so its zod schema and its line-protocol
 * mapping come from one declaration and cannot drift apart.
 */
import { z } from 'zod';

/** How a field is written in line protocol: float `1.5`, integer `3i`, string `"ok"`. */
export type FieldKind = 'float' | 'integer' | 'string';

export interface FieldBlock<S extends z.ZodType = z.ZodType, R extends boolean = boolean> {
  readonly schema: S;
  readonly kind: FieldKind;
  readonly required: R;
  /** One line for READMEs and `--help`: unit and range. */
  readonly doc: string;
}

function block<S extends z.ZodType>(schema: S, kind: FieldKind, doc: string): FieldBlock<S, false> {
  return { schema, kind, required: false, doc };
}

/** Marks a block as required in the reading. */
export function required<S extends z.ZodType>(b: FieldBlock<S, boolean>): FieldBlock<S, true> {
  return { ...b, required: true };
}

/** A ratio 0..1 (not percent). */
export const ratio = (doc = 'ratio 0..1') => block(z.number().min(0).max(1), 'float', doc);

/** A finite float within [min, max]; either bound may be open. */
export const float = (doc: string, min?: number, max?: number) => {
  let s = z.number();
  if (min !== undefined) s = s.min(min);
  if (max !== undefined) s = s.max(max);
  return block(s, 'float', doc);
};

/** A non-negative integer (counters, counts). */
export const count = (doc: string) => block(z.number().int().min(0), 'integer', doc);

/** A string out of a fixed set, written as a string field. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T, doc?: string) =>
  block(z.enum(values), 'string', doc ?? values.join(' | '));

/** ISO 8601 with an explicit offset (`Z` or `±hh:mm`), as the contract requires. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Fields every reading may carry. `ts` is not written as a field: it becomes the point's timestamp
 * (the window check needs the receive time, so it happens in the validator, not here).
 */
export const commonFields = {
  ts: block(
    z.union([z.string().regex(ISO_WITH_OFFSET), z.number().int().min(0)]),
    'integer',
    'ISO 8601 with offset, or epoch milliseconds; absent = receive time',
  ),
  seq: count("the device's monotonic message counter"),
  batteryLevel: ratio('battery 0..1'),
  rssi: float('signal strength, dBm -150..0', -150, 0),
} as const;
