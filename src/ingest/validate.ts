/**
 * The decode/validate stage: one MQTT telemetry payload in, valid readings and dead letters out.
 * Pure and synchronous; it neither logs nor counts (the wiring does, from the result).
 *
 * This runs for every reading, so the success path does only what a valid reading needs: one
 * `JSON.parse`, the device type's zod-free fast check (which builds the fields without `ts`) and a
 * timestamp check. zod runs only for readings the fast check declines, and its issues make the dead
 * letter; messages, value descriptions and re-serialised payloads are built only for readings that
 * fail.
 */
import type { z } from 'zod';
import { commonFields } from '../device-types/common/fields.js';
import type { DeviceTypeDefinition } from '../device-types/types.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import type { DeadLetter, RawMessage, TelemetryTopic, ValidReading } from './types.js';

/** Limits for one payload. All are required: the configuration stage owns the defaults. */
export interface ValidateOptions {
  /** Payloads larger than this many bytes are dead-lettered whole (`payload_too_large`). */
  readonly maxPayloadBytes: number;
  /** Most readings in one batch (CONTRACT §1: 1000); more is `batch_too_large`. */
  readonly maxBatch: number;
  /** Oldest accepted `ts`, in ms before the receive time (CONTRACT §2: 7 days); older is `ts_too_old`. */
  readonly maxAgeMs: number;
  /** Latest accepted `ts`, in ms after the receive time (CONTRACT §2: 5 minutes); later is `ts_in_future`. */
  readonly maxFutureMs: number;
  /** A dead letter's `payload` is cut to this many UTF-8 bytes, marker included (e.g. 4096). */
  readonly maxDeadLetterPayloadBytes: number;
}

/**
 * What became of one payload. Every reading of the payload is in exactly one of the two lists; a
 * payload that cannot be read as readings at all (too large, not JSON, empty or oversized batch) is
 * exactly one dead letter with `index` undefined.
 */
export interface ValidationResult {
  readonly readings: ValidReading[];
  readonly deadLetters: DeadLetter[];
}

/** Ends a dead letter's `payload` that was cut to `maxDeadLetterPayloadBytes`. */
export const TRUNCATION_MARKER = '…[truncated]';

/**
 * Decodes and validates one telemetry payload against a device type's strict schema and the
 * timestamp window.
 *
 * The payload is one reading (a JSON object) or a batch (a JSON array of them); each element of a
 * batch is judged on its own. Nothing here throws on bad input, however malformed or deeply nested.
 *
 * Dead-letter `path` is the dotted path of the field the first problem is about (`fillingLevel`,
 * `ts`; for an unknown key, the first unknown key's name), `''` when it is about the whole reading
 * or message. The `message` names every problem the reading has, in the order zod found them, with a
 * `ts` window problem first.
 *
 * @param def the device type the topic names.
 * @param topic the parsed topic; its device id and type are copied into every record.
 * @param msg the message as the broker received it; `receivedAt` anchors the `ts` window and is the
 *   time of readings without `ts`.
 */
export function validateTelemetry(
  def: DeviceTypeDefinition,
  topic: TelemetryTopic,
  msg: RawMessage,
  opts: ValidateOptions,
): ValidationResult {
  const out: ValidationResult = { readings: [], deadLetters: [] };

  if (msg.payload.length > opts.maxPayloadBytes) {
    const message = `payload is ${msg.payload.length} bytes; at most ${opts.maxPayloadBytes} bytes are accepted (send smaller batches)`;
    out.deadLetters.push(deadLetter(topic, msg, 'payload_too_large', '', message, undefined, deadLetterPayload(msg.payload, opts.maxDeadLetterPayloadBytes)));
    return out;
  }

  let body: unknown;
  try {
    body = JSON.parse(msg.payload.toString('utf8'));
  } catch (err) {
    const why = msg.payload.length === 0 ? 'payload is empty' : `payload is not valid JSON: ${(err as Error).message}`;
    out.deadLetters.push(deadLetter(topic, msg, 'invalid_json', '', why, undefined, deadLetterPayload(msg.payload, opts.maxDeadLetterPayloadBytes)));
    return out;
  }

  if (!Array.isArray(body)) {
    validateReading(def, topic, msg, opts, out, body, undefined);
    return out;
  }
  if (body.length === 0) {
    const message = 'batch is empty: send one reading as a JSON object, or a JSON array of at least one';
    out.deadLetters.push(deadLetter(topic, msg, 'empty_batch', '', message, undefined, deadLetterPayload(msg.payload, opts.maxDeadLetterPayloadBytes)));
    return out;
  }
  if (body.length > opts.maxBatch) {
    const message = `batch has ${body.length} readings; at most ${opts.maxBatch} per message are accepted`;
    out.deadLetters.push(deadLetter(topic, msg, 'batch_too_large', '', message, undefined, deadLetterPayload(msg.payload, opts.maxDeadLetterPayloadBytes)));
    return out;
  }
  for (let i = 0; i < body.length; i++) validateReading(def, topic, msg, opts, out, body[i], i);
  return out;
}

/**
 * Parses `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or `±HH[:]MM` to epoch ms, checking
 * that the date exists (`Date.parse` rolls 2026-02-30 over to March 2 and accepts hour 24). Digits
 * of the fraction beyond milliseconds are dropped.
 *
 * @returns epoch ms, or `NaN` when the string is not such a timestamp.
 */
export function parseIsoTimestamp(s: string): number {
  const len = s.length;
  if (len < 17 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':') return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  let second = 0;
  let ms = 0;
  let i = 16;
  if (s[i] === ':') {
    second = digits(s, i + 1, 2);
    i += 3;
    if (s[i] === '.') {
      const start = ++i;
      while (i < len && isDigit(s.charCodeAt(i))) i++;
      if (i === start || i - start > 9) return NaN;
      ms = digits((s.slice(start, Math.min(i, start + 3)) + '00').slice(0, 3), 0, 3);
    }
  }
  let offsetMinutes = 0;
  const sign = s[i];
  if (sign === 'Z') {
    if (i + 1 !== len) return NaN;
  } else if (sign === '+' || sign === '-') {
    const offsetHours = digits(s, i + 1, 2);
    let j = i + 3;
    if (s[j] === ':') j++;
    const offsetMins = digits(s, j, 2);
    if (j + 2 !== len || !(offsetHours <= 23 && offsetMins <= 59)) return NaN;
    offsetMinutes = (sign === '+' ? 1 : -1) * (offsetHours * 60 + offsetMins);
  } else {
    return NaN;
  }
  // Written as negated conjunctions so that NaN (a non-digit) fails every one of them.
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month))) return NaN;
  if (!(hour <= 23 && minute <= 59 && second <= 59 && year >= 0)) return NaN;
  let utc: number;
  if (year >= 100) {
    utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  } else {
    // Date.UTC reads years 0..99 as 1900..1999.
    const d = new Date(0);
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, ms);
    utc = d.getTime();
  }
  return utc - offsetMinutes * 60_000;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The decimal number in `s[start, start + n)`, or NaN if any of those characters is not a digit. */
function digits(s: string, start: number, n: number): number {
  if (start + n > s.length) return NaN;
  let v = 0;
  for (let i = start; i < start + n; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return NaN;
    v = v * 10 + (c - 48);
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// ---------------------------------------------------------------------------------------------
// One reading

/** One thing wrong with a reading, before the reading's problems are folded into a dead letter. */
interface Problem {
  readonly reason: DeadLetterReason;
  readonly path: string;
  readonly message: string;
}

function validateReading(
  def: DeviceTypeDefinition,
  topic: TelemetryTopic,
  msg: RawMessage,
  opts: ValidateOptions,
  out: ValidationResult,
  value: unknown,
  index: number | undefined,
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const problem: Problem = {
      reason: 'not_an_object',
      path: '',
      message: `a reading must be a JSON object, got ${describe(value)}`,
    };
    out.deadLetters.push(fromProblems(topic, msg, opts, [problem], value, index));
    return;
  }

  const reading = value as Record<string, unknown>;
  // The fast path (generated from the same field blocks) decides valid readings without zod; zod
  // runs only when it declines, so that every dead letter still comes from zod's issues.
  const fast = def.fastParse(reading);
  if (fast !== undefined) {
    accept(def, topic, msg, opts, out, value, index, reading.ts as string | number | undefined, fast);
    return;
  }

  let parsed: ReturnType<DeviceTypeDefinition['schema']['safeParse']>;
  try {
    parsed = def.schema.safeParse(value);
  } catch (err) {
    // Only a definition's own cross-field rule can throw; it must cost one reading, not the message.
    const problem: Problem = {
      reason: 'invalid_value',
      path: '',
      message: `a ${def.name} rule failed on this reading: ${(err as Error)?.message ?? String(err)}`,
    };
    out.deadLetters.push(fromProblems(topic, msg, opts, [problem], value, index));
    return;
  }

  if (!parsed.success) {
    const problems = problemsFromIssues(def, reading, parsed.error.issues, msg.receivedAt, opts);
    out.deadLetters.push(fromProblems(topic, msg, opts, problems, value, index));
    return;
  }

  // The fast path declined, yet zod accepts (it can only be a cross-field rule that threw there
  // and not here): the same reading as the fast path would have made.
  const { ts, ...fields } = parsed.data as Record<string, number | string>;
  accept(def, topic, msg, opts, out, value, index, ts, fields);
}

/** A reading the schema accepted: its `ts` window is checked, then it is a ValidReading. */
function accept(
  def: DeviceTypeDefinition,
  topic: TelemetryTopic,
  msg: RawMessage,
  opts: ValidateOptions,
  out: ValidationResult,
  value: unknown,
  index: number | undefined,
  ts: string | number | undefined,
  fields: Record<string, number | string>,
): void {
  let timeMs = msg.receivedAt;
  if (ts !== undefined) {
    timeMs = typeof ts === 'number' ? ts : parseIsoTimestamp(ts);
    // Negated so that NaN (an unparsable ISO string) falls into the failure branch too.
    if (!(timeMs >= msg.receivedAt - opts.maxAgeMs && timeMs <= msg.receivedAt + opts.maxFutureMs)) {
      const problem = tsProblem(ts, msg.receivedAt, opts) ?? tsInvalid(ts);
      out.deadLetters.push(fromProblems(topic, msg, opts, [problem], value, index));
      return;
    }
  }
  out.readings.push({ type: def.name, deviceId: topic.deviceId, timeMs, fields, index, stampedAtReceive: ts === undefined });
}

function fromProblems(
  topic: TelemetryTopic,
  msg: RawMessage,
  opts: ValidateOptions,
  problems: readonly Problem[],
  value: unknown,
  index: number | undefined,
): DeadLetter {
  const first = problems[0] ?? { reason: 'invalid_value', path: '', message: 'the reading was rejected' };
  const message = problems.length <= 1 ? first.message : problems.map((p) => p.message).join('; ');
  // A single reading's dead letter keeps the bytes the device sent; a batch element has no bytes of
  // its own once parsed, so it is written back out.
  const payload =
    index === undefined ? deadLetterPayload(msg.payload, opts.maxDeadLetterPayloadBytes) : serialiseBounded(value, opts.maxDeadLetterPayloadBytes);
  return deadLetter(topic, msg, first.reason, first.path, message, index, payload);
}

function deadLetter(
  topic: TelemetryTopic,
  msg: RawMessage,
  reason: DeadLetterReason,
  path: string,
  message: string,
  index: number | undefined,
  payload: string,
): DeadLetter {
  return {
    reason,
    path,
    message,
    topic: msg.topic,
    deviceId: topic.deviceId,
    type: topic.type,
    index,
    payload,
    receivedAt: msg.receivedAt,
  };
}

// ---------------------------------------------------------------------------------------------
// From zod issues to reasons and messages (failure path only)

type Issue = z.core.$ZodIssue;

function problemsFromIssues(
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
function tsProblem(ts: unknown, receivedAt: number, opts: ValidateOptions): Problem | undefined {
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

function tsInvalid(ts: unknown): Problem {
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
function describe(value: unknown): string {
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

// ---------------------------------------------------------------------------------------------
// Dead-letter payloads: bounded in bytes, cut on a character boundary

const MARKER_BYTES = Buffer.byteLength(TRUNCATION_MARKER);

/** A raw payload as dead-letter text: at most `max` UTF-8 bytes, marker included. */
export function deadLetterPayload(payload: Buffer, max: number): string {
  if (payload.length <= max) {
    const text = payload.toString('utf8');
    // Invalid UTF-8 decodes to U+FFFD, which is longer than the byte it replaces.
    return Buffer.byteLength(text) <= max ? text : truncateUtf8(text, max);
  }
  return truncateUtf8(payload.toString('utf8', 0, max), max, true);
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes including the marker, never inside a character. */
function truncateUtf8(text: string, maxBytes: number, alreadyCut = false): string {
  const bytes = Buffer.from(text, 'utf8');
  if (!alreadyCut && bytes.length <= maxBytes) return text;
  // When even the marker does not fit, keep what fits: the limit is the promise.
  const marker = maxBytes >= MARKER_BYTES ? TRUNCATION_MARKER : '';
  let cut = Math.min(bytes.length, maxBytes - Buffer.byteLength(marker));
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut) + marker;
}

/** Literal JSON text on the serialiser's work stack, as opposed to a value still to be written. */
class Literal {
  constructor(readonly text: string) {}
}
const COMMA = new Literal(',');
const CLOSE_ARRAY = new Literal(']');
const CLOSE_OBJECT = new Literal('}');

/**
 * `JSON.stringify` for dead-letter payloads. It keeps an explicit stack, because `JSON.stringify`
 * recurses and throws a RangeError on a batch element nested 10,000 deep, and it stops once the
 * output passes `maxBytes`, so a huge element costs no more than the limit. Non-finite numbers are
 * written as `1e400` / `-1e400` (JSON.stringify would write `null`), so the payload shows what the
 * device sent and replays the same way.
 */
function serialiseBounded(value: unknown, maxBytes: number): string {
  let text = '';
  const stack: unknown[] = [value];
  // UTF-8 needs at least one byte per UTF-16 unit, so past maxBytes units the cut is certain.
  while (stack.length > 0 && text.length <= maxBytes) {
    const v = stack.pop();
    if (v instanceof Literal) {
      text += v.text;
    } else if (Array.isArray(v)) {
      text += '[';
      stack.push(CLOSE_ARRAY);
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push(COMMA);
      }
    } else if (typeof v === 'object' && v !== null) {
      text += '{';
      stack.push(CLOSE_OBJECT);
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        stack.push((v as Record<string, unknown>)[key]);
        stack.push(new Literal(`${JSON.stringify(key)}:`));
        if (i > 0) stack.push(COMMA);
      }
    } else if (typeof v === 'number') {
      text += Number.isFinite(v) ? String(v) : v > 0 ? '1e400' : '-1e400';
    } else {
      // Strings, booleans and null: what JSON.parse can have produced.
      text += JSON.stringify(v) ?? 'null';
    }
  }
  return stack.length > 0 ? truncateUtf8(text, maxBytes, true) : truncateUtf8(text, maxBytes);
}
