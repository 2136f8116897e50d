/**
 * What is wrong with a catalog file or record, in words that name the file, the record and the key
 * (`devices/bins.json[3] (bin-0004): location.lat: must be ≤ 90, got 95`), so that a city editing
 * the folder by hand can fix it from the message alone.
 */
import type { z } from 'zod';
import { lorawanModel, lorawanModels } from '../device-types/registry.js';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { deviceRecordSchema, type DeviceRecord } from './types.js';

/** Lines of an invalid-catalog error beyond which the rest are only counted. */
const MAX_REPORTED_PROBLEMS = 50;

/** One thing wrong with the folder; a folder whose only problems are duplicate ids is CATALOG_DUPLICATE. */
export interface Problem {
  readonly duplicate: boolean;
  readonly text: string;
}

/** The error for a folder or a set of records with problems: the first 50 listed, the rest counted. */
export function catalogError(title: string, problems: readonly Problem[]): CitypipeError {
  const onlyDuplicates = problems.every((p) => p.duplicate);
  const shown = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => `  ${p.text}`);
  if (problems.length > MAX_REPORTED_PROBLEMS) shown.push(`  … and ${problems.length - MAX_REPORTED_PROBLEMS} more`);
  const head =
    problems.length === 1
      ? (problems[0] as Problem).text
      : `${title} (${problems.length} problems):\n${shown.join('\n')}`;
  return new CitypipeError(onlyDuplicates ? ErrorCodes.CATALOG_DUPLICATE : ErrorCodes.CATALOG_INVALID, head);
}

/** ` (bin-0004)` after a record's place, when the record has an id to show. */
export function idLabel(element: unknown): string {
  if (!isObject(element)) return '';
  const id = element['id'];
  return typeof id === 'string' && id.length > 0 ? ` (${id.length > 64 ? id.slice(0, 64) + '…' : id})` : '';
}

/**
 * The LoRaWAN models a catalog accepts in `lorawan.model`: the registry's ({@link registeredModels}),
 * or another list where a test or an embedding needs one.
 */
export interface ModelRegistry {
  /** The device type whose readings the model yields, or undefined for a model citypipe does not know. */
  typeOf(model: string): string | undefined;
  /** The models of a type, for messages (`known: milesight-em400-udl, dragino-ldds75`). */
  modelsOf(type: string): readonly string[];
}

/** The models of the device-type registry (`src/device-types/<type>/models/`). */
export const registeredModels: ModelRegistry = {
  typeOf: (model) => lorawanModel(model)?.type.definition.name,
  modelsOf: (type) => lorawanModels.filter((m) => m.type.definition.name === type).map((m) => m.model.name),
};

/** A registry of the given models, each with the name of its device type. */
export function modelRegistryOf(models: readonly { readonly name: string; readonly type: string }[]): ModelRegistry {
  const typeByModel = new Map(models.map((m) => [m.name, m.type]));
  return {
    typeOf: (model) => typeByModel.get(model),
    modelsOf: (type) => models.filter((m) => m.type === type).map((m) => m.name),
  };
}

/**
 * What is wrong with a schema-valid record's LoRaWAN side (`lorawan.model: …`): a model citypipe has no
 * codec for, a model of another type, or an MQTT secret on a device that reaches citypipe only through
 * its network server. Empty for a record without `lorawan`.
 */
export function lorawanProblems(record: DeviceRecord, models: ModelRegistry): string[] {
  if (record.lorawan === undefined) return [];
  const problems: string[] = [];
  const { model } = record.lorawan;
  const modelType = models.typeOf(model);
  const known = models.modelsOf(record.type);
  const knownText = known.length > 0 ? `models of ${record.type}: ${known.join(', ')}` : `citypipe has no LoRaWAN model of ${record.type} yet`;
  if (modelType === undefined) problems.push(`lorawan.model: unknown LoRaWAN model ${JSON.stringify(model)}; ${knownText}`);
  else if (modelType !== record.type) problems.push(`lorawan.model: ${model} is a model of ${modelType}, not of ${record.type}; ${knownText}`);
  if (record.secretHash !== undefined) {
    problems.push(
      'secretHash: a LoRaWAN device has no MQTT secret (its uplinks come through the network server and are matched by DevEUI); remove secretHash, or lorawan if the device connects over MQTT itself',
    );
  }
  return problems;
}

/**
 * One catalog element checked as a record: the schema, then {@link lorawanProblems}. Problems carry the
 * key but not the place (`location.lat: must be ≤ 90, got 95`); callers prefix where the element is.
 */
export function checkRecord(element: unknown, models: ModelRegistry): { ok: true; record: DeviceRecord } | { ok: false; problems: string[] } {
  const parsed = deviceRecordSchema.safeParse(element);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((issue) => describeIssue(issue, element)) };
  const problems = lorawanProblems(parsed.data, models);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, record: parsed.data };
}

type Issue = z.core.$ZodIssue;

/** `location.lat: must be ≤ 90, got 95`: the key, the rule, and what was there. */
export function describeIssue(issue: Issue, element: unknown): string {
  const key = issue.path.map(String).join('.');
  const value = valueAt(element, issue.path);
  const got = `, got ${show(value)}`;
  const at = (text: string) => (key === '' ? text : `${key}: ${text}`);
  switch (issue.code) {
    case 'too_big':
      if (issue.origin === 'string') return at(`must be at most ${String(issue.maximum)} characters`);
      return at(`must be ${issue.inclusive ? '≤' : '<'} ${String(issue.maximum)}${got}`);
    case 'too_small':
      if (issue.origin === 'string') return at(Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`);
      return at(`must be ${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}${got}`);
    case 'invalid_type':
      if (value === undefined) return at(`is required (${expectedName(issue.expected)})`);
      return at(`must be ${expectedName(issue.expected)}${got}`);
    case 'invalid_value':
      return at(`must be one of ${issue.values.map((v) => String(v)).join(', ')}${got}`);
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => (key === '' ? k : `${key}.${k}`));
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}${key === '' ? ` (known: ${Object.keys(deviceRecordSchema.shape).join(', ')})` : ''}`;
    }
    case 'invalid_union': {
      const expected = new Set<string>();
      for (const branch of issue.errors) for (const sub of branch) if (sub.code === 'invalid_type') expected.add(expectedName(sub.expected));
      return at(expected.size > 0 ? `must be ${orList([...expected])}${got}` : `${issue.message}${got}`);
    }
    case 'invalid_format':
      return at(`${issue.message}${got}`);
    default:
      return at(issue.message);
  }
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function expectedName(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return `a ${expected}`;
  }
}

function valueAt(element: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = element;
  for (const k of p) {
    if (!isObject(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/** `null`, `an array`, `an object`, `a string`: what a file held instead of an array. */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
