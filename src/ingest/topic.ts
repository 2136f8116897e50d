/**
 * Parsers for the device topics of CONTRACT §1: `city/{type}/{deviceId}/telemetry` and
 * `city/{type}/{deviceId}/status`. They split the topic only; whether `{type}` names a registered
 * device type and whether the device is in the catalog is for the caller to decide, so that it can
 * dead-letter with `unknown_type` / `unknown_device` rather than `invalid_topic`.
 *
 * Every PUBLISH goes through here, so parsing is a single left-to-right scan with no regex and no
 * intermediate arrays (`split('/')` would allocate one per message).
 */
import type { TelemetryTopic } from './types.js';

/** The parts of a status topic `city/{type}/{deviceId}/status`. */
export type StatusTopic = TelemetryTopic;

/** The longest `{type}` or `{deviceId}` segment accepted. */
export const MAX_SEGMENT_LENGTH = 64;

const PREFIX = 'city/';
const TELEMETRY_SUFFIX = '/telemetry';
const STATUS_SUFFIX = '/status';

/**
 * `SEGMENT_CHAR[c] === 1` when char code `c` may appear in a segment: `[A-Za-z0-9_.-]`. `{type}` is
 * held to the same set as `{deviceId}` so that neither can smuggle MQTT wildcards, `/`, or
 * characters that would need escaping in line protocol or metric labels.
 */
const SEGMENT_CHAR = new Uint8Array(128);
for (const range of ['AZ', 'az', '09']) {
  for (let c = range.charCodeAt(0); c <= range.charCodeAt(1); c++) SEGMENT_CHAR[c] = 1;
}
for (const ch of '_.-') SEGMENT_CHAR[ch.charCodeAt(0)] = 1;

function isSegment(topic: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 1 || length > MAX_SEGMENT_LENGTH) return false;
  for (let i = start; i < end; i++) {
    // Codes ≥ 128 index past the table and read `undefined`, which fails the test.
    if (SEGMENT_CHAR[topic.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

function parseDeviceTopic(topic: string, suffix: string): TelemetryTopic | undefined {
  if (!topic.startsWith(PREFIX) || !topic.endsWith(suffix)) return undefined;
  const typeEnd = topic.indexOf('/', PREFIX.length);
  const idEnd = topic.length - suffix.length;
  // typeEnd === idEnd when the topic is `city/{type}/telemetry` (no device id).
  if (typeEnd < 0 || typeEnd >= idEnd) return undefined;
  // The segment check rejects any further '/', so a deeper topic cannot pass as this one.
  if (!isSegment(topic, PREFIX.length, typeEnd) || !isSegment(topic, typeEnd + 1, idEnd)) return undefined;
  return { type: topic.slice(PREFIX.length, typeEnd), deviceId: topic.slice(typeEnd + 1, idEnd) };
}

/**
 * Splits `city/{type}/{deviceId}/telemetry`. Both segments must match `[A-Za-z0-9_.-]{1,64}`.
 *
 * @returns the type and device id, or `undefined` when the topic has another shape (dead-letter it
 *   as `invalid_topic`).
 */
export function parseTelemetryTopic(topic: string): TelemetryTopic | undefined {
  return parseDeviceTopic(topic, TELEMETRY_SUFFIX);
}

/**
 * Splits `city/{type}/{deviceId}/status` (the retained `online` / `offline` topic a device also uses
 * as its Last Will). Same segment rules as {@link parseTelemetryTopic}.
 *
 * @returns the type and device id, or `undefined` when the topic has another shape.
 */
export function parseStatusTopic(topic: string): StatusTopic | undefined {
  return parseDeviceTopic(topic, STATUS_SUFFIX);
}
