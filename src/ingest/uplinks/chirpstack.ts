/**
 * ChirpStack v4's integration events (CONTRACT §7), as its MQTT integration publishes them on
 * `application/{applicationId}/device/{devEui}/event/{event}` and its HTTP integration posts them
 * with `?event={event}`: the Protocol Buffers JSON mapping of `integration.proto` (camelCase, zero
 * values omitted, enums by name). The fields read, and what they become, are in this folder's README.
 */
import { byteCount, describe, InvalidField, JsonFields, parseJsonObject } from './json-fields.js';
import type { ParseResult, UplinkEvent } from './types.js';

/** The parts of ChirpStack's default `event_topic`. */
export interface ChirpstackTopic {
  readonly applicationId: string;
  /** 16 lowercase hex digits. */
  readonly devEui: string;
  /** `up`, `status`, `log`, `join`, `ack`, `txack`, `location`, `integration`. */
  readonly eventType: string;
}

const HEX16 = /^[0-9a-fA-F]{16}$/;
const MAX_LEVEL_LENGTH = 64;

function isLevel(level: string): boolean {
  return level !== '' && level.length <= MAX_LEVEL_LENGTH && !level.includes('+') && !level.includes('#');
}

/**
 * Splits `application/{applicationId}/device/{devEui}/event/{eventType}`.
 *
 * @returns the parts, or `undefined` when the topic has another shape or the DevEUI is not 16 hex digits.
 */
export function parseChirpstackTopic(topic: string): ChirpstackTopic | undefined {
  const levels = topic.split('/');
  if (levels.length !== 6 || levels[0] !== 'application' || levels[2] !== 'device' || levels[4] !== 'event') return undefined;
  const [, applicationId = '', , devEui = '', , eventType = ''] = levels;
  if (!isLevel(applicationId) || !HEX16.test(devEui) || !isLevel(eventType)) return undefined;
  return { applicationId, devEui: devEui.toLowerCase(), eventType };
}

/**
 * An event published on ChirpStack's MQTT integration: its topic gives the event type, and the
 * topic's DevEUI must be the body's (`deviceInfo.devEui`).
 */
export function parseChirpstackPublish(topic: string, body: Buffer): ParseResult {
  const parts = parseChirpstackTopic(topic);
  if (parts === undefined) {
    return { ok: false, reason: 'invalid_topic', message: `topic: not application/{applicationId}/device/{devEui}/event/{event}, got ${describe(topic)}` };
  }
  const result = parseChirpstack(parts.eventType, body);
  if (result.ok && result.event.devEui !== undefined && result.event.devEui !== parts.devEui) {
    return { ok: false, reason: 'invalid_uplink', message: `deviceInfo.devEui: ${result.event.devEui} is not the topic's ${parts.devEui}` };
  }
  return result;
}

/** Events that carry no reading; anything else unknown is ignored too (ChirpStack may add event types). */
const IGNORED_EVENTS = new Set(['join', 'ack', 'txack', 'location', 'integration']);

/**
 * One ChirpStack event body.
 *
 * @param eventType the topic's last level, or the HTTP integration's `event` query parameter.
 * @returns `up`, `status`, `codec-error` (a `log` event with code `UPLINK_CODEC`) or `ignored`; or
 *   why the body cannot be read. Never throws.
 */
export function parseChirpstack(eventType: string, body: Buffer): ParseResult {
  const parsed = parseJsonObject(body);
  if (!parsed.ok) return parsed;
  const msg = JsonFields.of(parsed.value);
  try {
    return { ok: true, event: readEvent(eventType, msg) };
  } catch (err) {
    if (err instanceof InvalidField) return { ok: false, reason: 'invalid_uplink', message: err.message };
    throw err;
  }
}

function readEvent(eventType: string, msg: JsonFields): UplinkEvent {
  switch (eventType) {
    case 'up':
      return readUp(msg);
    case 'status':
      return readStatus(msg);
    case 'log':
      return readLog(msg);
    default:
      return ignored(msg, IGNORED_EVENTS.has(eventType) ? `${eventType} event` : `unknown event type ${describe(eventType)}`);
  }
}

const UINT32_MAX = 0xffff_ffff;

function readUp(msg: JsonFields): UplinkEvent {
  const devEui = msg.requireObject('deviceInfo').requireDevEui('devEui');
  const receivedAtMs = msg.requireTime('time');
  if (msg.has('joinServerContext')) {
    // ChirpStack then holds no AppSKey and passes `data` on still encrypted; decoding it would read noise.
    throw new InvalidField('joinServerContext', 'present: the payload is encrypted end to end (the join server keeps the AppSKey) and cannot be decoded here');
  }
  const fPort = msg.unsigned('fPort', 255) ?? 0;
  const fCnt = msg.unsigned('fCnt', UINT32_MAX) ?? 0;
  const bytes = msg.bytes('data');
  const decoded = msg.object('object')?.value;
  let rssi: number | undefined;
  for (const gateway of msg.objects('rxInfo')) {
    const r = gateway.number('rssi');
    if (r !== undefined && (rssi === undefined || r > rssi)) rssi = r;
  }
  const deduplicationId = msg.string('deduplicationId');
  if (fPort === 0) {
    // Port 0 carries MAC commands only, which ChirpStack does not pass on as `data`. Its codec may
    // still have produced an `object` from the empty payload; that is no reading either.
    if (bytes !== undefined && bytes.length > 0) throw new InvalidField('fPort', `0 or missing, but data carries ${byteCount(bytes)} (application data is on fPort 1..255)`);
    return { kind: 'ignored', server: 'chirpstack', devEui, why: 'fPort 0: MAC commands only' };
  }
  return {
    kind: 'up',
    server: 'chirpstack',
    devEui,
    fPort,
    bytes,
    decoded,
    receivedAtMs,
    fCnt,
    rssi,
    dedupKey: deduplicationId !== undefined && deduplicationId !== '' ? deduplicationId : `${devEui}:${fCnt}:${receivedAtMs}`,
  };
}

function readStatus(msg: JsonFields): UplinkEvent {
  const devEui = msg.requireObject('deviceInfo').requireDevEui('devEui');
  const receivedAtMs = msg.requireTime('time');
  const externalPower = msg.boolean('externalPowerSource') ?? false;
  const unavailable = msg.boolean('batteryLevelUnavailable') ?? false;
  const level = msg.number('batteryLevel');
  if (level !== undefined && !(level >= 0 && level <= 100)) throw new InvalidField('batteryLevel', `must be a percentage 0..100, got ${level}`);
  // ChirpStack writes 0 (so omits the level) when the device is on mains or cannot measure.
  const batteryPercent = externalPower || unavailable ? undefined : level;
  return { kind: 'status', server: 'chirpstack', devEui, receivedAtMs, batteryPercent, externalPower };
}

/** `LogCode` of `integration.proto`, by number (the JSON mapping may write an enum either way). */
const LOG_CODES = [
  'UNKNOWN',
  'DOWNLINK_PAYLOAD_SIZE',
  'UPLINK_CODEC',
  'DOWNLINK_CODEC',
  'OTAA',
  'UPLINK_F_CNT_RESET',
  'UPLINK_MIC',
  'UPLINK_F_CNT_RETRANSMISSION',
  'DOWNLINK_GATEWAY',
  'RELAY_NEW_END_DEVICE',
  'F_CNT_DOWN',
  'EXPIRED',
] as const;

function logCode(msg: JsonFields): string {
  const code = msg.get('code');
  if (code === undefined) return 'UNKNOWN';
  if (typeof code === 'string' && code !== '') return code;
  if (typeof code === 'number' && Number.isInteger(code) && code >= 0) return LOG_CODES[code] ?? String(code);
  throw new InvalidField('code', `must be a LogCode name or number, got ${describe(code)}`);
}

function readLog(msg: JsonFields): UplinkEvent {
  const code = logCode(msg);
  if (code !== 'UPLINK_CODEC') return ignored(msg, `log event ${code.length > 40 ? `${code.slice(0, 40)}…` : code}`);
  const devEui = msg.requireObject('deviceInfo').requireDevEui('devEui');
  const receivedAtMs = msg.requireTime('time');
  const description = msg.string('description') ?? '';
  const deduplicationId = msg.object('context')?.string('deduplication_id');
  return { kind: 'codec-error', server: 'chirpstack', devEui, receivedAtMs, description, deduplicationId };
}

function ignored(msg: JsonFields, why: string): UplinkEvent {
  return { kind: 'ignored', server: 'chirpstack', devEui: msg.objectIfValid('deviceInfo')?.devEuiIfValid('devEui'), why };
}
