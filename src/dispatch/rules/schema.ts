/**
 * The rules file: its zod schema and the checks zod cannot make alone (a field that the device type
 * does not have, an enum value it never sends). Everything here runs once, when the file is loaded;
 * nothing on the per-reading path parses or validates.
 *
 * The format is described for users in `src/dispatch/README.md`.
 */
import { z } from 'zod';
import { commonFields, type FieldBlock } from '../../device-types/common/fields.js';
import { deviceTypes } from '../../device-types/registry.js';
import type { DeviceTypeDefinition } from '../../device-types/types.js';
import { conditionKinds } from './conditions/kinds.js';
import { finite } from './conditions/schema-blocks.js';
import { durationMs } from './duration.js';

/** A numeric level: a constant, or a multiple of one of the device's catalog `attributes`. */
export type Level = number | { readonly attribute: string; readonly times?: number | undefined; readonly default?: number | undefined };

/**
 * A condition on a reading. Thresholds and ranges carry their own clear level (hysteresis); `all` and
 * `any` combine conditions; `silent` is not evaluated on readings but by the deadman sweep.
 */
export type ConditionSpec =
  | {
      readonly kind: 'threshold';
      readonly field: string;
      /** Raises at value ≥ above. */
      readonly above?: Level | undefined;
      /** Raises at value < below. */
      readonly below?: Level | undefined;
      /** Hysteresis: with `above` clears at value < clear; with `below` clears at value ≥ clear. Default: the raise level. */
      readonly clear?: Level | undefined;
    }
  | {
      readonly kind: 'outside';
      readonly field: string;
      /** Raises at value < low or value > high. */
      readonly low: number;
      readonly high: number;
      /** Hysteresis: clears once clearLow ≤ value ≤ clearHigh. Default: low and high. */
      readonly clearLow?: number | undefined;
      readonly clearHigh?: number | undefined;
    }
  | { readonly kind: 'enum'; readonly field: string; readonly in?: readonly string[] | undefined; readonly notIn?: readonly string[] | undefined }
  | {
      readonly kind: 'sunUp';
      /** Sun altitude in degrees above which the sun counts as up. Default 0 (the horizon). */
      readonly altitude?: number | undefined;
    }
  | { readonly kind: 'all' | 'any'; readonly of: readonly ConditionSpec[] }
  | {
      readonly kind: 'silent';
      /** Silent for this many `reportingIntervalS` of the device. */
      readonly intervals: number;
    };

type Option = z.core.$ZodTypeDiscriminable & z.ZodType<ConditionSpec>;
/** Each kind's schema, in the order of `conditionKinds`; `all` and `any` nest reading conditions. */
const kinds: { onReadings: boolean; schema: Option }[] = Object.values(conditionKinds).map((k) => ({ onReadings: k.onReadings, schema: k.schema(() => readingCondition) }));

/** A condition evaluated on readings: everything but `silent`. */
const readingCondition: z.ZodType<ConditionSpec> = z.discriminatedUnion('kind', kinds.filter((k) => k.onReadings).map((k) => k.schema) as [Option, ...Option[]]);

const conditionSchema: z.ZodType<ConditionSpec> = z.discriminatedUnion('kind', kinds.map((k) => k.schema) as [Option, ...Option[]]);

const duration = z.union([z.string(), finite]).transform((v, ctx) => {
  const ms = durationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be an ISO 8601 duration (PT15M, PT1H, P1D) or a number of seconds ≥ 0, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

/** Units a `for` taken from a catalog attribute may be counted in. */
export const FOR_UNIT_MS = { seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;

/**
 * A rule's `for`, after parsing: milliseconds, or one of the device's catalog `attributes` counted in
 * `unit` (times `times`), with a `default` in the same unit for devices without it. Like a {@link Level}
 * from an attribute, it is resolved once per device when its rules are compiled.
 */
export type ForSpec = number | { readonly attribute: string; readonly unit: keyof typeof FOR_UNIT_MS; readonly times?: number | undefined; readonly default?: number | undefined };

const nonNegative = finite.refine((v) => v >= 0, 'must be ≥ 0');

const forSchema: z.ZodType<ForSpec, unknown> = z.union([
  duration,
  z.strictObject({
    attribute: z.string().min(1),
    unit: z.enum(Object.keys(FOR_UNIT_MS) as [keyof typeof FOR_UNIT_MS, ...(keyof typeof FOR_UNIT_MS)[]]),
    times: nonNegative.optional(),
    default: nonNegative.optional(),
  }),
]);

const flappingSchema = z.union([
  z.literal(false),
  z.strictObject({
    /** More raises + clears than this within `window` and the rule holds raised. */
    maxTransitions: z.number().int().min(1),
    window: duration,
  }),
]);

const RULE_ID = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$/;

/**
 * What a rule does for citypipe besides raising events. Code that needs a particular rule (the
 * collection plan, the device map) finds it by its role, never by its id, so a city may rename it.
 * A singular role is played by one rule at most.
 */
export const RULE_ROLES = {
  /** Its `above` level is what the collection plan predicts each bin reaches. */
  collection: { singular: true },
  /** A device it is raised for is offline (device map, `/api/devices`), not merely in alert. */
  offline: { singular: false },
} as const satisfies Record<string, { singular: boolean }>;

export type RuleRole = keyof typeof RULE_ROLES;

export const ruleRoles = Object.keys(RULE_ROLES) as [RuleRole, ...RuleRole[]];

const ruleKeys = {
  description: z.string().optional(),
  enabled: z.boolean().default(true),
  condition: conditionSchema,
  /** A gate: outside it the rule neither raises nor clears (a pending `for` timer restarts). */
  while: readingCondition.optional(),
  /** How long the condition must hold before the rule raises: a duration, or a catalog attribute (`ForSpec`). */
  for: forSchema.default(0),
  severity: z.enum(['info', 'warning', 'urgent']),
  ticket: z.boolean(),
  serviceCode: z.string().min(1).max(64).optional(),
  serviceName: z.string().min(1).optional(),
  /**
   * Whether residents see this rule's open tickets (the open-data outage map and the status page,
   * CONTRACT §9); default true. One rule of a service code saying false makes the whole code private.
   */
  public: z.boolean().optional(),
  flapping: flappingSchema.optional(),
};

/**
 * The schemas of a rule and of an override for a set of device types: a rule names one of them (or
 * `*`) and uses only its fields. Built once per set; the shipped registry's set is built at import.
 */
function buildSchemas(types: readonly DeviceTypeDefinition[]) {
  const names = types.map((t) => t.name as string) as [string, ...string[]];
  const byName: ReadonlyMap<string, DeviceTypeDefinition> = new Map(types.map((t) => [t.name, t]));
  const rule = z
    .strictObject({
      id: z.string().max(64).regex(RULE_ID, 'must be lowercase words separated by dots, e.g. waste.collect'),
      deviceType: z.enum(['*', ...names]),
      role: z.enum(ruleRoles).optional(),
      ...ruleKeys,
    })
    .superRefine((r, ctx) => {
      if (r.role === 'collection' && (r.condition.kind !== 'threshold' || r.condition.above === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['role'], message: 'a "collection" rule needs a threshold condition with `above` (the level the plan predicts)' });
      }
      if (r.role === 'offline' && r.condition.kind !== 'silent') ctx.addIssue({ code: 'custom', path: ['role'], message: 'an "offline" rule needs a `silent` condition' });
      if (r.ticket && r.serviceCode === undefined) ctx.addIssue({ code: 'custom', path: ['serviceCode'], message: 'is required when ticket is true (the Open311 service_code)' });
      if (r.ticket && r.serviceName === undefined) ctx.addIssue({ code: 'custom', path: ['serviceName'], message: 'is required when ticket is true (the Open311 service_name)' });
      if (r.condition.kind === 'silent') {
        if (r.for !== 0) ctx.addIssue({ code: 'custom', path: ['for'], message: 'does not apply to a `silent` condition (its length is `intervals`)' });
        if (r.while !== undefined) ctx.addIssue({ code: 'custom', path: ['while'], message: 'does not apply to a `silent` condition' });
      }
      checkFields(byName, r.deviceType, r.condition, ['condition'], ctx);
      if (r.while) checkFields(byName, r.deviceType, r.while, ['while'], ctx);
    });
  /** One override: a `match` and, per rule id, a merge patch of that rule. */
  const override = z.strictObject({
    description: z.string().optional(),
    match: z
      .strictObject({
        type: z.enum(names).optional(),
        district: z.string().min(1).optional(),
        deviceId: z.string().min(1).optional(),
      })
      .refine((m) => m.type !== undefined || m.district !== undefined || m.deviceId !== undefined, 'give at least one of type, district, deviceId'),
    /** Rule id → a JSON merge patch (RFC 7396) of that rule: objects merge, `null` removes a key. */
    rules: z.record(z.string(), z.record(z.string(), z.unknown())),
  });
  return { rule, override };
}

export type RuleFileSchemas = ReturnType<typeof buildSchemas>;

const shipped = buildSchemas(deviceTypes);
const built = new WeakMap<readonly DeviceTypeDefinition[], RuleFileSchemas>();

/** The rule and override schemas for these device types (default: the registry's). */
export function ruleFileSchemas(types?: readonly DeviceTypeDefinition[]): RuleFileSchemas {
  if (types === undefined || types === deviceTypes) return shipped;
  let s = built.get(types);
  if (!s) built.set(types, (s = buildSchemas(types)));
  return s;
}

/** One rule of the file (see the README for every key), for the registry's device types. */
export const ruleSchema = shipped.rule;

/** One override of the file, for the registry's device types. */
export const overrideSchema = shipped.override;

/** One rule as written in the file, after zod (durations in ms, defaults filled). */
export type RuleSpec = z.output<typeof ruleSchema>;

/** The file's `settings`: defaults for every rule. */
export const settingsSchema = z.strictObject({
  /** Readings older than this when evaluated are `late`. */
  lateAfter: duration.default(10 * 60_000),
  /** The flapping guard for rules that do not set their own. */
  flapping: flappingSchema.default({ maxTransitions: 6, window: 3_600_000 }),
});

export type OverrideSpec = z.output<typeof overrideSchema>;

/**
 * The file's outline. Settings, rules and overrides are parsed one by one (in `rule-book.ts`), so
 * that an error names its rule or override and one bad part does not hide the problems of the rest.
 */
export const rulesFileSchema = z.strictObject({
  description: z.string().optional(),
  settings: z.unknown().default({}),
  rules: z.array(z.unknown()),
  overrides: z.array(z.unknown()).default([]),
});

export type RulesSettings = z.output<typeof settingsSchema>;

/** Keys an override may patch: everything but the rule's identity (`id`, `deviceType`, `role`). */
export const PATCHABLE_KEYS: ReadonlySet<string> = new Set(Object.keys(ruleKeys));

/** The kind of a field of a device type (`*`: the common fields), or undefined if it has none such. */
function fieldBlock(types: ReadonlyMap<string, DeviceTypeDefinition>, type: string, field: string): FieldBlock | undefined {
  if (field === 'ts') return undefined;
  const common = (commonFields as Record<string, FieldBlock>)[field];
  if (common) return common;
  if (type === '*') return undefined;
  return (types.get(type)?.fields as Record<string, FieldBlock> | undefined)?.[field];
}

function enumOptions(block: FieldBlock): readonly string[] | undefined {
  const options = (block.schema as { options?: unknown }).options;
  return Array.isArray(options) ? (options as string[]) : undefined;
}

function knownFields(types: ReadonlyMap<string, DeviceTypeDefinition>, type: string): string {
  const own = type === '*' ? [] : Object.keys(types.get(type)?.fields ?? {});
  return [...own, ...Object.keys(commonFields).filter((k) => k !== 'ts')].join(', ');
}

/** A rule on a field its device type does not have would silently never fire: refuse it at load. */
function checkFields(types: ReadonlyMap<string, DeviceTypeDefinition>, type: string, c: ConditionSpec, path: (string | number)[], ctx: z.RefinementCtx): void {
  switch (c.kind) {
    case 'all':
    case 'any':
      c.of.forEach((sub, i) => checkFields(types, type, sub, [...path, 'of', i], ctx));
      return;
    case 'sunUp':
    case 'silent':
      return;
    default: {
      const block = fieldBlock(types, type, c.field);
      const where = type === '*' ? 'every device type (a `*` rule may use only the common fields)' : type;
      if (!block) {
        ctx.addIssue({ code: 'custom', path: [...path, 'field'], message: `${where} has no field "${c.field}" (known: ${knownFields(types, type)})` });
        return;
      }
      const options = enumOptions(block);
      if (c.kind === 'enum') {
        if (!options) {
          ctx.addIssue({ code: 'custom', path: [...path, 'field'], message: `"${c.field}" is not an enum field; use a threshold` });
          return;
        }
        const key = c.in ? 'in' : 'notIn';
        (c.in ?? c.notIn ?? []).forEach((v, i) => {
          if (!options.includes(v)) ctx.addIssue({ code: 'custom', path: [...path, key, i], message: `"${v}" is not a value of ${c.field} (${options.join(', ')})` });
        });
      } else if (block.kind === 'string') {
        ctx.addIssue({ code: 'custom', path: [...path, 'field'], message: `"${c.field}" is a string field; use an enum condition` });
      }
    }
  }
}
