/**
 * What is wrong with a reading, in words an integrator can act on: zod issues and `ts` window
 * misses become a dead-letter reason, the path of the field and a message. Failure path only: nothing
 * here runs for a valid reading.
 */
import type { z } from 'zod';
import { commonFields } from '../device-types/common/fields.js';
import type { DeviceTypeDefinition } from '../device-types/types.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import { parseIsoTimestamp } from './iso-timestamp.js';
import type { ValidateOptions } from './validate.js';

/** One thing wrong with a reading, before the reading's problems are folded into a dead letter. */
export interface Problem {
  readonly reason: DeadLetterReason;
  readonly path: string;
  readonly message: string;
}

type Issue = z.core.$ZodIssue;

/** A rejected reading's problems from zod's issues, with a `ts` window problem first. */
export function problemsFromIssues(
  def: DeviceTypeDefinition,
  reading: Record<string, unknown>,
  issues: readonly Issue[],
  receivedAt: number,
  opts: ValidateOptions,
): Problem[] {
  const problems: Problem[] = [];
  let tsHasIssue = false;
  for (const issue of issues) {
    if (issue.path[0] === 'ts') {
      // A union (ISO string | epoch ms) yields several issues for one bad ts; it is one problem.
      if (tsHasIssue) continue;
      tsHasIssue = true;
      problems.push(tsProblem(reading.ts, receivedAt, opts) ?? tsInvalid(reading.ts));
      continue;
    }
    problems.push(problemFromIssue(def, reading, issue));
  }
  // The schema accepted ts but other fields failed: still say if ts is outside the window, first,
  // because ts is the first field of every reading.
  if (!tsHasIssue && reading.ts !== undefined) {
    const p = tsProblem(reading.ts, receivedAt, opts);
    if (p !== undefined) problems.unshift(p);
  }
  return problems;
}

function problemFromIssue(def: DeviceTypeDefinition, reading: Record<string, unknown>, issue: Issue): Problem {
  const path = issue.path.map(String).join('.');
  const name = path === '' ? 'reading' : path;
  const present = hasPath(reading, issue.path);
  const value = present ? valueAt(reading, issue.path) : undefined;

  // An absent required field is reported by the check for its kind (invalid_type for a number,
  // invalid_value for an enum); what the integrator needs to hear is that it is missing.
  if (!present && path !== '' && issue.code !== 'custom') {
    const doc = fieldDoc(def, path);
    return { reason: 'missing_field', path, message: `${name}: required field is missing${doc ? ` — ${doc}` : ''}` };
  }
  switch (issue.code) {
    case 'invalid_type': {
      if (typeof value === 'number' && !Number.isFinite(value)) return notFinite(path, value);
      const expected = issue.expected === 'int' ? 'an integer' : article(issue.expected);
      const hint = value === null ? ' (leave the key out instead of sending null)' : '';
      return { reason: 'wrong_type', path, message: `${name}: expected ${expected}, got ${describe(value)}${hint}` };
    }
    case 'too_big':
    case 'too_small': {
      if (typeof value === 'number' && !Number.isFinite(value)) return notFinite(path, value);
      const big = issue.code === 'too_big';
      const limit = big ? issue.maximum : issue.minimum;
      const op = big ? (issue.inclusive ? '≤' : '<') : issue.inclusive ? '≥' : '>';
      const hint = big && limit === 1 ? ' (a ratio, not percent)' : '';
      return {
        reason: 'out_of_range',
        path,
        message: `${name}: must be ${op} ${String(limit)}${hint}, got ${describe(value)}`,
      };
    }
    case 'invalid_value': {
      const allowed = issue.values.map(String).join(' | ');
      if (typeof value !== 'string') {
        return { reason: 'wrong_type', path, message: `${name}: expected one of the strings ${allowed}, got ${describe(value)}` };
      }
      return { reason: 'invalid_enum', path, message: `${name}: must be one of ${allowed}, got ${describe(value)}` };
    }
    case 'unrecognized_keys': {
      const keys = issue.keys;
      const shown = keys.slice(0, MAX_KEYS_LISTED).map((k) => quote(k));
      const more = keys.length > MAX_KEYS_LISTED ? ` and ${keys.length - MAX_KEYS_LISTED} more` : '';
      const noun = keys.length === 1 ? 'unknown key' : 'unknown keys';
      return {
        reason: 'unknown_key',
        path: keys[0] ?? path,
        message: `${noun} ${shown.join(', ')}${more} (allowed: ${allowedKeys(def)})`,
      };
    }
    default:
      // `custom` (a definition's cross-field rule, whose message is written for integrators) and
      // any check a future field kind brings.
      return { reason: 'invalid_value', path, message: `${name}: ${issue.message}` };
  }
}

function notFinite(path: string, value: number): Problem {
  return {
    reason: 'not_finite',
    path,
    message: `${path}: must be a finite number, got ${String(value)} (a JSON number too large for a double, such as 1e400)`,
  };
}

/**
 * What is wrong with a `ts` value, or undefined when it is inside the window. Numbers are judged by
 * where they would land: one that fits the window once multiplied by 1000 was sent in seconds.
 */
export function tsProblem(ts: unknown, receivedAt: number, opts: ValidateOptions): Problem | undefined {
  let t: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return notFinite('ts', ts);
    t = ts;
  } else if (typeof ts === 'string') {
    t = parseIsoTimestamp(ts);
    if (Number.isNaN(t)) return tsInvalid(ts);
  } else {
    return tsInvalid(ts);
  }
  const oldest = receivedAt - opts.maxAgeMs;
  const latest = receivedAt + opts.maxFutureMs;
  const inWindow = (x: number) => x >= oldest && x <= latest;
  if (typeof ts === 'number' && !inWindow(t) && inWindow(t * 1000)) {
    return { reason: 'ts_in_seconds', path: 'ts', message: `ts: ${ts} looks like epoch seconds; send epoch milliseconds` };
  }
  if (t > latest) {
    const unit = typeof ts === 'number' ? (inWindow(t / 1000) ? 'microseconds' : inWindow(t / 1e6) ? 'nanoseconds' : '') : '';
    const hint = unit ? ` (it looks like epoch ${unit}; send epoch milliseconds)` : ' (is the device clock set?)';
    return {
      reason: 'ts_in_future',
      path: 'ts',
      message: `ts: ${showTs(ts, t)} is ${duration(t - receivedAt)} after the receive time; at most ${duration(opts.maxFutureMs)} ahead is accepted${hint}`,
    };
  }
  if (t < oldest) {
    return {
      reason: 'ts_too_old',
      path: 'ts',
      message: `ts: ${showTs(ts, t)} is ${duration(receivedAt - t)} before the receive time; readings older than ${duration(opts.maxAgeMs)} are not accepted`,
    };
  }
  if (typeof ts === 'number' && !Number.isSafeInteger(ts)) {
    return { reason: 'ts_invalid', path: 'ts', message: `ts: epoch milliseconds must be a whole number, got ${ts}` };
  }
  return undefined;
}

/** A `ts` that is neither ISO 8601 with an offset nor epoch milliseconds. */
export function tsInvalid(ts: unknown): Problem {
  return {
    reason: 'ts_invalid',
    path: 'ts',
    message: `ts: expected ISO 8601 with an offset (2026-06-01T12:00:00Z) or epoch milliseconds, got ${describe(ts)}`,
  };
}

const MAX_ISO_YEAR_9999 = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function showTs(ts: string | number, t: number): string {
  if (typeof ts === 'string') return quote(ts);
  // Past year 9999 the ISO form (+058385-…) only adds noise.
  return t >= 0 && t <= MAX_ISO_YEAR_9999 ? `${ts} (${new Date(t).toISOString()})` : String(ts);
}

function duration(ms: number): string {
  const a = Math.abs(ms);
  const round = (x: number) => String(Math.round(x * 10) / 10);
  if (a < 1000) return `${a} ms`;
  if (a < 120_000) return `${round(a / 1000)} s`;
  if (a < 7_200_000) return `${round(a / 60_000)} min`;
  if (a < 172_800_000) return `${round(a / 3_600_000)} h`;
  if (a < 63_115_200_000) return `${round(a / 86_400_000)} days`;
  if (a < 31_557_600_000_000) return `${round(a / 31_557_600_000)} years`;
  return 'over 1000 years';
}

const MAX_KEYS_LISTED = 10;
const MAX_STRING_SHOWN = 40;

/** A value as an integrator would name it: `the string "12"`, `an array`, `5`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `the string ${quote(value)}`;
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function quote(s: string): string {
  return JSON.stringify(s.length > MAX_STRING_SHOWN ? `${s.slice(0, MAX_STRING_SHOWN)}…` : s);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function hasPath(obj: unknown, path: readonly PropertyKey[]): boolean {
  let cur = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, key)) return false;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return true;
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const key of path) cur = (cur as Record<PropertyKey, unknown>)[key];
  return cur;
}

function fieldDoc(def: DeviceTypeDefinition, key: string): string | undefined {
  if (Object.hasOwn(def.fields, key)) return def.fields[key]?.doc;
  if (Object.hasOwn(commonFields, key)) return commonFields[key as keyof typeof commonFields].doc;
  return undefined;
}

const allowedKeysCache = new WeakMap<DeviceTypeDefinition, string>();

/** The type's own fields first (what the integrator is most likely after), then the common ones. */
function allowedKeys(def: DeviceTypeDefinition): string {
  let list = allowedKeysCache.get(def);
  if (list === undefined) {
    list = [...new Set([...Object.keys(def.fields), ...Object.keys(commonFields)])].join(', ');
    allowedKeysCache.set(def, list);
  }
  return list;
}
