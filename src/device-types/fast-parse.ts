/**
 * The zod-free fast path of a device type's schema, generated once per type from the same field
 * blocks (`common/fields.ts`) as the zod schema. It checks a parsed JSON reading in place and builds
 * the reading's fields (without `ts`, in schema order: what the schema's output minus `ts` is), or
 * answers undefined when the schema might reject the reading. It never says why: the validator then
 * runs the zod schema, whose issues make the dead letter, so rejection messages come from one place.
 *
 * Why: zod's `safeParse` built a new output object per reading and the validator copied it again to
 * drop `ts`; with zod's checks that was 5–9 % of citypipe's CPU in the end-to-end bench
 * (docs/BENCHMARKS.md, "Where the time goes", fix 2). `fast-parse.test.ts` holds the two to the same
 * answer on every fixture and on mutated payloads.
 */
import { ISO_WITH_OFFSET, type FieldBlock, type FieldRule } from './common/fields.js';

/** The fields of an accepted reading, `ts` excluded, in schema order. */
export type FastFields = Record<string, number | string>;

/**
 * Checks one reading (a JSON object, not an array or null). Returns its fields, or undefined when
 * the zod schema must decide (it may still accept: a cross-field rule that threw, say).
 */
export type FastParse = (reading: Record<string, unknown>) => FastFields | undefined;

/** A definition's cross-field rule, called as zod's `superRefine` would call it. */
export type CrossFieldRule = (reading: never, ctx: never) => void;

interface Check {
  readonly key: string;
  readonly required: boolean;
  /** The key is also an Object.prototype member (`constructor`, …): read it only when own. */
  readonly inherited: boolean;
  readonly rule: FieldRule;
  /** For enums: membership without walking the list. */
  readonly values: ReadonlySet<string> | undefined;
}

function accepts(check: Check, v: unknown): boolean {
  const rule = check.rule;
  switch (rule.type) {
    case 'number':
      if (typeof v !== 'number') return false;
      if (rule.integer ? !Number.isSafeInteger(v) : !Number.isFinite(v)) return false;
      return (rule.min === undefined || v >= rule.min) && (rule.max === undefined || v <= rule.max);
    case 'enum':
      return typeof v === 'string' && check.values!.has(v);
    case 'timestamp':
      return typeof v === 'number' ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'string' && ISO_WITH_OFFSET.test(v);
  }
}

/** A refinement context that only notes whether the rule raised an issue. */
class IssueFlag {
  raised = false;
  constructor(readonly value: unknown) {}
  addIssue(): void {
    this.raised = true;
  }
}

/**
 * Builds the fast path for the blocks of one type (common blocks first, as the schema has them),
 * plus its cross-field rule if it has one.
 */
export function compileFastParse(blocks: Readonly<Record<string, FieldBlock>>, refine: CrossFieldRule | undefined): FastParse {
  const checks: Check[] = Object.entries(blocks).map(([key, b]) => ({
    key,
    required: b.required,
    inherited: key in Object.prototype,
    rule: b.rule,
    values: b.rule.type === 'enum' ? new Set(b.rule.values) : undefined,
  }));
  const n = checks.length;
  const rule = refine as ((reading: unknown, ctx: IssueFlag) => void) | undefined;

  return (reading) => {
    const fields: FastFields = {};
    let present = 0;
    for (let i = 0; i < n; i++) {
      const check = checks[i]!;
      const v = check.inherited && !Object.hasOwn(reading, check.key) ? undefined : reading[check.key];
      if (v === undefined) {
        if (check.required) return undefined;
        continue;
      }
      if (!accepts(check, v)) return undefined;
      present++;
      if (check.key !== 'ts') fields[check.key] = v as number | string;
    }
    // Strict: any key besides the declared ones (`__proto__` included: JSON.parse makes it an own
    // key) means an own key was not counted above.
    let keys = 0;
    for (const _key in reading) keys++;
    if (keys !== present) return undefined;
    if (rule !== undefined) {
      const ctx = new IssueFlag(reading);
      try {
        rule(reading, ctx);
      } catch {
        return undefined;
      }
      if (ctx.raised) return undefined;
    }
    return fields;
  };
}
