/**
 * What is wrong with a catalog file or record, in words that name the file, the record and the key
 * (`devices/bins.json[3] (bin-0004): location.lat: must be ≤ 90, got 95`), so that a city editing
 * the folder by hand can fix it from the message alone.
 */
import type { z } from 'zod';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { deviceRecordSchema } from './types.js';

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
