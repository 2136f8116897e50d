/**
 * The decode/validate stage: one MQTT telemetry payload in, valid readings and dead letters out.
 * Pure and synchronous; it neither logs nor counts (the wiring does, from the result).
 *
 * This runs for every reading, so the success path does only what a valid reading needs: one
 * `JSON.parse`, the device type's zod-free fast check (which builds the fields without `ts`) and a
 * timestamp check. zod runs only for readings the fast check declines, and its issues make the dead
 * letter; messages, value descriptions and re-serialised payloads are built only for readings that
 * fail (`reading-problems.ts` words them, `dead-letter-payload.ts` bounds what they keep).
 */
import type { DeviceTypeDefinition } from '../device-types/types.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import { deadLetterPayload, serialiseBounded } from './dead-letter-payload.js';
import { parseIsoTimestamp } from './iso-timestamp.js';
import { describe, problemsFromIssues, tsInvalid, tsProblem, type Problem } from './reading-problems.js';
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

// ---------------------------------------------------------------------------------------------
// One reading

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
