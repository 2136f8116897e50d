/**
 * The Things Stack v3's `ApplicationUp` message (CONTRACT §7), as its webhook integration posts it
 * and its MQTT server publishes it on `v3/{application id}[@{tenant id}]/devices/{device id}/up`:
 * the Protocol Buffers JSON mapping of `messages.proto` (snake_case, zero values omitted, DevEUI in
 * upper-case hex). The fields read, and what they become, are in this folder's README.
 */
import { byteCount, describe, InvalidField, JsonFields, parseJsonObject, type JsonObject } from './json-fields.js';
import type { ParseResult, UplinkEvent } from './types.js';

/** The parts of an uplink topic of The Things Stack's MQTT server. */
export interface TtsTopic {
  readonly applicationId: string;
  /** `undefined` on an open-source deployment, whose topics carry no tenant. */
  readonly tenantId: string | undefined;
  readonly deviceId: string;
}

/** The Things Stack's identifier rule (`identifiers.proto`): lowercase letters, digits, single dashes, 3..36. */
const TTS_ID = /^[a-z0-9](?:-?[a-z0-9]){2,}$/;
const MAX_ID_LENGTH = 36;

function isTtsId(id: string): boolean {
  return id.length <= MAX_ID_LENGTH && TTS_ID.test(id);
}

/**
 * Splits `v3/{application id}@{tenant id}/devices/{device id}/up` (or `v3/{application id}/…` on an
 * open-source deployment).
 *
 * @returns the parts, or `undefined` for any other topic (other message kinds included).
 */
export function parseTtsTopic(topic: string): TtsTopic | undefined {
  const levels = topic.split('/');
  if (levels.length !== 5 || levels[0] !== 'v3' || levels[2] !== 'devices' || levels[4] !== 'up') return undefined;
  const [, uid = '', , deviceId = ''] = levels;
  const at = uid.indexOf('@');
  const applicationId = at < 0 ? uid : uid.slice(0, at);
  const tenantId = at < 0 ? undefined : uid.slice(at + 1);
  if (!isTtsId(applicationId) || (tenantId !== undefined && !isTtsId(tenantId)) || !isTtsId(deviceId)) return undefined;
  return { applicationId, tenantId, deviceId };
}

/**
 * A message from The Things Stack's MQTT server: the body must be about the topic's device
 * (`end_device_ids.device_id` and `end_device_ids.application_ids.application_id`).
 */
export function parseTtsPublish(topic: string, body: Buffer): ParseResult {
  const parts = parseTtsTopic(topic);
  if (parts === undefined) {
    return { ok: false, reason: 'invalid_topic', message: `topic: not v3/{application id}@{tenant id}/devices/{device id}/up, got ${describe(topic)}` };
  }
  const parsed = parseJsonObject(body);
  if (!parsed.ok) return parsed;
  return read(parsed.value, (msg) => {
    const ids = msg.requireObject('end_device_ids');
    const deviceId = ids.string('device_id');
    if (deviceId !== parts.deviceId) throw new InvalidField(ids.pathOf('device_id'), `${describe(deviceId)} is not the topic's "${parts.deviceId}"`);
    const appIds = ids.requireObject('application_ids');
    const applicationId = appIds.string('application_id');
    if (applicationId !== parts.applicationId) {
      throw new InvalidField(appIds.pathOf('application_id'), `${describe(applicationId)} is not the topic's "${parts.applicationId}"`);
    }
  });
}

/**
 * One `ApplicationUp` body (a webhook's request body, or an MQTT message).
 *
 * @returns `up`, or `ignored` for the other kinds of `ApplicationUp` (join-accept, downlink events,
 *   service data, a solved location, a normalized uplink); or why the body cannot be read. Never throws.
 */
export function parseTts(body: Buffer): ParseResult {
  const parsed = parseJsonObject(body);
  if (!parsed.ok) return parsed;
  return read(parsed.value, () => {});
}

function read(value: JsonObject, check: (msg: JsonFields) => void): ParseResult {
  const msg = JsonFields.of(value);
  try {
    check(msg);
    return { ok: true, event: readApplicationUp(msg) };
  } catch (err) {
    if (err instanceof InvalidField) return { ok: false, reason: 'invalid_uplink', message: err.message };
    throw err;
  }
}

/** The members of `ApplicationUp`'s `up` oneof other than `uplink_message`. */
const OTHER_MESSAGES = [
  'uplink_normalized',
  'join_accept',
  'downlink_ack',
  'downlink_nack',
  'downlink_sent',
  'downlink_failed',
  'downlink_queued',
  'downlink_queue_invalidated',
  'location_solved',
  'service_data',
] as const;

const UINT32_MAX = 0xffff_ffff;

function readApplicationUp(msg: JsonFields): UplinkEvent {
  const up = msg.object('uplink_message');
  if (up === undefined) {
    const other = OTHER_MESSAGES.find((key) => msg.has(key));
    if (other === undefined) throw new InvalidField('uplink_message', 'missing, and the message is no other kind of ApplicationUp either');
    return { kind: 'ignored', server: 'tts', devEui: msg.objectIfValid('end_device_ids')?.devEuiIfValid('dev_eui'), why: `${other} message` };
  }
  // A device registered without a DevEUI (possible for LoRaWAN 1.0 ABP) cannot be found in the catalog.
  const devEui = msg.requireObject('end_device_ids').requireDevEui('dev_eui');
  const receivedAtMs = receiveTime(msg, up);
  if (up.has('app_s_key')) {
    // Present only when the device skips payload crypto: frm_payload is then still encrypted.
    throw new InvalidField(up.pathOf('app_s_key'), 'present: frm_payload is still encrypted (the device skips payload crypto) and cannot be decoded here');
  }
  const fPort = up.unsigned('f_port', 255) ?? 0;
  const fCnt = up.unsigned('f_cnt', UINT32_MAX) ?? 0;
  const bytes = up.bytes('frm_payload');
  const decoded = up.object('decoded_payload')?.value;
  let rssi: number | undefined;
  for (const gateway of up.objects('rx_metadata')) {
    const r = gateway.number('rssi') ?? gateway.number('channel_rssi');
    if (r !== undefined && (rssi === undefined || r > rssi)) rssi = r;
  }
  const dedupKey = `${devEui}:${fCnt}:${receivedAtMs}`;
  if (fPort !== 0) return { kind: 'up', server: 'tts', devEui, fPort, bytes, decoded, receivedAtMs, fCnt, rssi, dedupKey };
  if (bytes !== undefined && bytes.length > 0) {
    throw new InvalidField(up.pathOf('f_port'), `0 or missing, but frm_payload carries ${byteCount(bytes)} (application data is on fPort 1..255)`);
  }
  // The Application Server decodes nothing on port 0 (MAC commands only), so a decoded payload
  // without its port is one a webhook's field filter cut down: the reading is in the decoded object.
  if (decoded !== undefined) return { kind: 'up', server: 'tts', devEui, fPort: undefined, bytes: undefined, decoded, receivedAtMs, fCnt, rssi, dedupKey };
  return { kind: 'ignored', server: 'tts', devEui, why: 'fPort 0: MAC commands only' };
}

/** 0001-01-01T00:00:00Z, Go's zero time, which a simulated uplink carries as `uplink_message.received_at`. */
const GO_ZERO_TIME_MS = -62_135_596_800_000;

/**
 * The Network Server's receive time (`uplink_message.received_at`, nearest to the radio), else the
 * Application Server's (`received_at`, a few ms later).
 */
function receiveTime(msg: JsonFields, up: JsonFields): number {
  const networkServer = up.time('received_at');
  if (networkServer !== undefined && networkServer > GO_ZERO_TIME_MS) return networkServer;
  const applicationServer = msg.time('received_at');
  if (applicationServer !== undefined) return applicationServer;
  return msg.missing('received_at');
}
