/**
 * The rule book: a validated rules file, and the rules that apply to one device once the overrides
 * for its type, district and id are merged in. Loading validates everything a file alone can get
 * wrong (naming the file, the rule and the key), so that a bad file stops start-up instead of
 * surfacing as a rule that never fires.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ErrorCodes } from '../../errors/catalog.js';
import { PATCHABLE_KEYS, RULE_ROLES, ruleFileSchemas, ruleRoles, rulesFileSchema, settingsSchema, type ConditionSpec, type ForSpec, type OverrideSpec, type RuleRole, type RuleSpec, type RuleFileSchemas, type RulesSettings } from './schema.js';
import type { DeviceTypeDefinition } from '../../device-types/types.js';

/** The flapping guard of one rule: more than `maxTransitions` raises + clears within `windowMs` holds it raised. */
export interface FlapGuard {
  readonly maxTransitions: number;
  readonly windowMs: number;
}

/** One rule as it applies to a device: overrides merged, defaults resolved. */
export interface ResolvedRule {
  readonly id: string;
  readonly deviceType: string;
  readonly description: string | undefined;
  readonly condition: ConditionSpec;
  readonly while: ConditionSpec | undefined;
  /** `for`: milliseconds, or a catalog attribute resolved per device when the rule is compiled (`CompiledRule.forMs`). */
  readonly for: ForSpec;
  readonly severity: 'info' | 'warning' | 'urgent';
  readonly ticket: boolean;
  readonly serviceCode: string | undefined;
  readonly serviceName: string | undefined;
  readonly flapping: FlapGuard | undefined;
}

/** An Open311 service a ticket rule files requests under (`GET /open311/v2/services.json`). */
export interface ServiceDefinition {
  readonly serviceCode: string;
  readonly serviceName: string;
  readonly description: string | undefined;
  /** Rule ids that file under this code. */
  readonly rules: readonly string[];
  /** Residents see its open tickets (CONTRACT §9): no rule filing under it says `"public": false`. */
  readonly public: boolean;
}

/** What an override is matched on. */
export interface DeviceKey {
  readonly id: string;
  readonly type: string;
  readonly district: string;
}

/** How a rules file is read. */
export interface RuleBookOptions {
  /**
   * Rule id → role, for a file written before rules declared roles: a role no rule of the file
   * claims goes to the rule with this id (the shipped default rule that plays it), if the file has one.
   */
  readonly rolesById?: ReadonlyMap<string, RuleRole>;
  /** The device types rules may name; default: the registry's. */
  readonly types?: readonly DeviceTypeDefinition[];
}

/** Stable code of a rules file that cannot be used (see the error catalog's `CP_ERR_…` codes). */
export const RULES_INVALID = ErrorCodes.RULES_INVALID.code;

/**
 * A rules file that cannot be used. `problems` has one line per problem, each naming the file, the
 * rule (or override) and the key: `rules/default.json: rule "waste.collect" (rules[0]): condition.above: must be a number, got "0.8"`.
 */
export class RulesFileError extends Error {
  readonly code = RULES_INVALID;
  readonly retryable = false;
  readonly file: string;
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[]) {
    super(`rules file ${file} is invalid:\n  ${problems.join('\n  ')}`);
    this.name = 'RulesFileError';
    this.file = file;
    this.problems = problems;
  }
}

interface Override extends OverrideSpec {
  readonly index: number;
  readonly label: string;
  readonly specificity: number;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A validated rules file; resolves the rules of a device with its overrides merged in. */
export class RuleBook {
  /** The file the rules came from, for messages. */
  readonly file: string;
  readonly settings: RulesSettings;
  /** Every rule of the file, in file order, before overrides. */
  readonly rules: readonly RuleSpec[];
  private readonly raw: ReadonlyMap<string, Json>;
  /** Least specific first, so that merging in order lets the most specific win. */
  private readonly overrides: readonly Override[];
  private readonly devicesWithOverrides: ReadonlySet<string>;
  private readonly serviceList: readonly ServiceDefinition[];
  /** Rule id → the role it plays. */
  private readonly roles: ReadonlyMap<string, RuleRole>;
  private readonly ruleSchema: RuleFileSchemas['rule'];
  private readonly resolved = new Map<string, { rules: readonly ResolvedRule[]; problems: readonly string[] }>();

  private constructor(file: string, settings: RulesSettings, rules: RuleSpec[], raw: Map<string, Json>, overrides: Override[], services: ServiceDefinition[], roles: Map<string, RuleRole>, ruleSchema: RuleFileSchemas['rule']) {
    this.file = file;
    this.ruleSchema = ruleSchema;
    this.settings = settings;
    this.rules = rules;
    this.raw = raw;
    this.overrides = overrides;
    this.devicesWithOverrides = new Set(overrides.flatMap((o) => (o.match.deviceId === undefined ? [] : [o.match.deviceId])));
    this.serviceList = services;
    this.roles = roles;
  }

  /** Reads and validates a rules file. Throws {@link RulesFileError} listing every problem. */
  static load(file: string, options: RuleBookOptions = {}): RuleBook {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new RulesFileError(file, [`${file}: cannot be read: ${(err as Error).message}`]);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new RulesFileError(file, [`${file}: is not valid JSON: ${(err as Error).message}`]);
    }
    return RuleBook.parse(value, file, options);
  }

  /** Validates a parsed rules file; `file` names it in errors. Throws {@link RulesFileError}. */
  static parse(value: unknown, file = '(memory)', options: RuleBookOptions = {}): RuleBook {
    const { rule: ruleSchema, override: overrideSchema } = ruleFileSchemas(options.types);
    const top = rulesFileSchema.safeParse(value);
    if (!top.success) throw new RulesFileError(file, describeIssues(top.error, value).map((p) => `${file}: ${p}`));
    const problems: string[] = [];
    const settings = settingsSchema.safeParse(top.data.settings);
    if (!settings.success) for (const p of describeIssues(settings.error, top.data.settings)) problems.push(`${file}: settings.${p}`);
    const overrideSpecs: OverrideSpec[] = [];
    top.data.overrides.forEach((element, index) => {
      const parsed = overrideSchema.safeParse(element);
      if (parsed.success) overrideSpecs.push(parsed.data);
      else for (const p of describeIssues(parsed.error, element)) problems.push(`${file}: overrides[${index}]: ${p}`);
    });
    const rules: RuleSpec[] = [];
    const raw = new Map<string, Json>();
    const invalidIds = new Set<string>();
    const fileIndex = new Map<string, number>();
    top.data.rules.forEach((element, i) => {
      const id = isObject(element) && typeof element.id === 'string' ? element.id : undefined;
      const label = `${file}: ${id === undefined ? `rules[${i}]` : `rule "${id}" (rules[${i}])`}`;
      const parsed = ruleSchema.safeParse(element);
      if (!parsed.success) {
        for (const p of describeIssues(parsed.error, element)) problems.push(`${label}: ${p}`);
        if (id !== undefined) invalidIds.add(id);
        return;
      }
      if (raw.has(parsed.data.id)) {
        problems.push(`${label}: id: "${parsed.data.id}" is defined twice`);
        return;
      }
      raw.set(parsed.data.id, element as Json);
      rules.push(parsed.data);
      fileIndex.set(parsed.data.id, i);
    });
    const roles = assignRoles(rules, options.rolesById, (r) => `rule "${r.id}" (rules[${fileIndex.get(r.id)}])`, file, problems);

    const services = new Map<string, { name: string; description: string | undefined; rules: string[]; public: boolean }>();
    const addService = (r: RuleSpec) => {
      if (!r.ticket || r.serviceCode === undefined) return;
      const s = services.get(r.serviceCode) ?? { name: r.serviceName ?? r.id, description: r.description, rules: [], public: true };
      if (!s.rules.includes(r.id)) s.rules.push(r.id);
      // Private wins: a city that hides one rule's tickets must not see them shown under a sibling rule.
      if (r.public === false) s.public = false;
      services.set(r.serviceCode, s);
    };
    for (const r of rules) addService(r);

    const overrides: Override[] = overrideSpecs.map((o, index) => ({
      ...o,
      index,
      label: `overrides[${index}] (${Object.entries(o.match)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')})`,
      specificity: (o.match.deviceId !== undefined ? 4 : 0) + (o.match.district !== undefined ? 2 : 0) + (o.match.type !== undefined ? 1 : 0),
    }));
    for (const o of overrides) {
      for (const [id, patch] of Object.entries(o.rules)) {
        const label = `${file}: ${o.label} rule "${id}"`;
        const base = rules.find((r) => r.id === id);
        if (!base) {
          // A rule that failed its own validation is reported once, above.
          if (!invalidIds.has(id)) problems.push(`${label}: no rule has this id (known: ${rules.map((r) => r.id).join(', ')})`);
          continue;
        }
        const fixed = Object.keys(patch).filter((k) => !PATCHABLE_KEYS.has(k));
        if (fixed.length) {
          problems.push(`${label}: ${fixed.join(', ')}: cannot be overridden (patchable: ${[...PATCHABLE_KEYS].join(', ')})`);
          continue;
        }
        if (o.match.type !== undefined && base.deviceType !== '*' && base.deviceType !== o.match.type) {
          problems.push(`${label}: match.type: the rule is for ${base.deviceType}, so this override never applies`);
          continue;
        }
        const merged = mergePatch(raw.get(id), patch);
        const parsed = ruleSchema.safeParse(merged);
        if (!parsed.success) {
          for (const p of describeIssues(parsed.error, merged)) problems.push(`${label}: ${p}`);
          continue;
        }
        addService(parsed.data);
      }
    }
    if (problems.length || !settings.success) throw new RulesFileError(file, problems);
    // Stable sort: among equally specific overrides, the later one in the file wins.
    overrides.sort((a, b) => a.specificity - b.specificity || a.index - b.index);
    const serviceList = [...services].map(([serviceCode, s]) => ({ serviceCode, serviceName: s.name, description: s.description, rules: s.rules, public: s.public }));
    return new RuleBook(file, settings.data, rules, raw, overrides, serviceList, roles, ruleSchema);
  }

  /** Open311 services of the ticket rules, overrides included (for `services.json`). */
  services(): readonly ServiceDefinition[] {
    return this.serviceList;
  }

  /** The role a rule plays (`role` in the file), or undefined. */
  roleOf(ruleId: string): RuleRole | undefined {
    return this.roles.get(ruleId);
  }

  /** The rule that plays a singular role, or undefined when none does. */
  ruleWithRole(role: RuleRole): RuleSpec | undefined {
    return this.rules.find((r) => this.roles.get(r.id) === role);
  }

  /** True when an override names this device id: its rules are resolved for it alone. */
  hasDeviceOverride(deviceId: string): boolean {
    return this.devicesWithOverrides.has(deviceId);
  }

  /**
   * The enabled rules for a device, most specific override winning (device > district > type).
   * Cached per (type, district), or per device when an override names it. A combination of
   * overrides that is invalid together (a district's `above` under a device's `clear`) drops the most
   * specific layers until the rule is valid again, and says so in `problems`.
   */
  resolve(device: DeviceKey): { readonly rules: readonly ResolvedRule[]; readonly problems: readonly string[] } {
    const key = this.devicesWithOverrides.has(device.id) ? `d\0${device.id}\0${device.type}\0${device.district}` : `g\0${device.type}\0${device.district}`;
    let hit = this.resolved.get(key);
    if (!hit) {
      hit = this.resolveUncached(device);
      this.resolved.set(key, hit);
    }
    return hit;
  }

  /**
   * The level at which a device's `above` threshold rule raises, its overrides merged: what the
   * collection planner predicts a bin's reading will reach. Undefined when the rule is off for the
   * device or is not an `above` threshold. An attribute level reads `device.attributes` as the rules
   * stage does (`times`, else `default`).
   */
  thresholdAbove(device: DeviceKey & { readonly attributes?: Readonly<Record<string, unknown>> }, ruleId: string): number | undefined {
    const rule = this.resolve(device).rules.find((r) => r.id === ruleId);
    if (rule?.condition.kind !== 'threshold' || rule.condition.above === undefined) return undefined;
    const above = rule.condition.above;
    if (typeof above === 'number') return above;
    const attr = device.attributes?.[above.attribute];
    if (typeof attr === 'number' && Number.isFinite(attr)) return attr * (above.times ?? 1);
    return above.default;
  }

  private resolveUncached(device: DeviceKey): { rules: ResolvedRule[]; problems: string[] } {
    const applicable = this.overrides.filter(
      (o) =>
        (o.match.type === undefined || o.match.type === device.type) &&
        (o.match.district === undefined || o.match.district === device.district) &&
        (o.match.deviceId === undefined || o.match.deviceId === device.id),
    );
    const rules: ResolvedRule[] = [];
    const problems: string[] = [];
    for (const base of this.rules) {
      if (base.deviceType !== '*' && base.deviceType !== device.type) continue;
      const layers = applicable.filter((o) => o.rules[base.id] !== undefined);
      let spec = base;
      for (let n = layers.length; n > 0; n--) {
        const merged = layers.slice(0, n).reduce<unknown>((acc, o) => mergePatch(acc, o.rules[base.id]), this.raw.get(base.id));
        const parsed = this.ruleSchema.safeParse(merged);
        if (parsed.success) {
          spec = parsed.data;
          break;
        }
        problems.push(
          `${this.file}: rule "${base.id}" for device ${device.id}: ${layers[n - 1]!.label} does not combine with the overrides before it (${describeIssues(parsed.error, merged).join('; ')}); it is ignored for this device`,
        );
      }
      if (!spec.enabled) continue;
      rules.push(this.finish(spec));
    }
    return { rules, problems };
  }

  private finish(spec: RuleSpec): ResolvedRule {
    const flap = spec.flapping ?? this.settings.flapping;
    return {
      id: spec.id,
      deviceType: spec.deviceType,
      description: spec.description,
      condition: spec.condition,
      while: spec.while,
      for: spec.for,
      severity: spec.severity,
      ticket: spec.ticket,
      serviceCode: spec.serviceCode,
      serviceName: spec.serviceName,
      flapping: flap === false ? undefined : { maxTransitions: flap.maxTransitions, windowMs: flap.window },
    };
  }
}

/**
 * The role of each rule: what the file declares, and for a role no rule declares, the rule whose id
 * `rolesById` gives it (a file copied from the defaults before roles existed). A singular role
 * claimed twice is a problem naming both rules.
 */
function assignRoles(
  rules: readonly RuleSpec[],
  rolesById: ReadonlyMap<string, RuleRole> | undefined,
  label: (r: RuleSpec) => string,
  file: string,
  problems: string[],
): Map<string, RuleRole> {
  const roles = new Map<string, RuleRole>();
  for (const role of ruleRoles) {
    let claimed = rules.filter((r) => r.role === role);
    if (claimed.length === 0 && rolesById) claimed = rules.filter((r) => r.role === undefined && rolesById.get(r.id) === role);
    if (RULE_ROLES[role].singular && claimed.length > 1) {
      const [first, ...others] = claimed.map(label);
      for (const other of others) problems.push(`${file}: ${other}: role: "${role}" is already played by ${first}; only one rule may play it`);
      continue;
    }
    for (const r of claimed) roles.set(r.id, role);
  }
  return roles;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const article = (type: string): string => `${/^[aeio]/.test(type) ? 'an' : 'a'} ${type}`;

/** One line per zod issue: `condition.above: must be a number, got "0.8"`. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const key = formatPath(issue.path);
    const at = (text: string) => (key === '' ? text : `${key}: ${text}`);
    const value = valueAt(input, issue.path);
    const got = value === undefined ? '' : `, got ${show(value)}`;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join('; ');
      case 'invalid_type':
        return at(value === undefined ? `is required (${article(issue.expected)})` : `must be ${article(issue.expected)}${got}`);
      case 'invalid_value':
        return at(`must be ${issue.values.length === 1 ? show(issue.values[0]) : `one of ${issue.values.map((v) => String(v)).join(', ')}`}${got}`);
      case 'too_small':
        return at(issue.origin === 'array' ? `must have at least ${String(issue.minimum)} item(s)` : `must be ${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}${got}`);
      case 'too_big':
        return at(issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : `must be ${issue.inclusive ? '≤' : '<'} ${String(issue.maximum)}${got}`);
      case 'invalid_union': {
        if ('discriminator' in issue && Array.isArray((issue as { options?: unknown }).options)) {
          return at(`must be one of ${(issue as { options: unknown[] }).options.map(String).join(', ')}${got}`);
        }
        // A branch that failed inside (not on the value's own type) is the one the author meant.
        const deep = issue.errors.find((branch) => branch.some((sub) => sub.path.length > 0 || sub.code === 'custom'));
        if (deep) return describeIssues({ issues: deep.map((sub) => ({ ...sub, path: [...issue.path, ...sub.path] })) } as z.ZodError, input).join('; ');
        if (value === undefined) return at('is required');
        const expected = new Set<string>();
        for (const branch of issue.errors) {
          for (const sub of branch) {
            if (sub.code === 'invalid_type') expected.add(article(sub.expected));
            else if (sub.code === 'invalid_value') for (const v of sub.values) expected.add(show(v));
          }
        }
        return at(`must be ${[...expected].join(' or ')}${got}`);
      }
      default:
        return at(issue.message);
    }
  });
}
