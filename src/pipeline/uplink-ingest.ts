/**
 * The ingest of network-server messages (CONTRACT §7), for one message: parse the server's JSON
 * (ChirpStack v4 events, The Things Stack `ApplicationUp`) → the device by DevEUI → its model's codec
 * on the raw bytes → the type's reading (a bin's fill from distance) → the same validation, line
 * protocol and dead letters as a device's own telemetry. The Outcome goes to the same spool, and the
 * server is acknowledged (PUBACK, HTTP 2xx) only once it is durable.
 *
 * What arrives where:
 * - `application/{app}/device/{devEui}/event/{event}`: ChirpStack's MQTT integration (a network-server account);
 * - `http/chirpstack/{event}`: ChirpStack's HTTP integration (`POST /api/uplinks/chirpstack?event=…`);
 * - `http/tts/up` and `v3/{app}@{tenant}/devices/{id}/up`: The Things Stack's webhook and MQTT server.
 *
 * State kept here, all bounded: the dedup keys of recent uplinks (an uplink delivered twice is
 * stored once; after a restart a re-delivery is written again as the same point, which InfluxDB
 * keeps once) and the last battery level a ChirpStack `status` event gave per device (written with
 * that device's next reading; a reading needs its type's required fields, a status has none).
 */
import type { DeviceRecord } from '../catalog/types.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import { lorawanModel } from '../device-types/registry.js';
import type { Measured } from '../device-types/lorawan.js';
import type { DeadLetter, RawMessage } from '../ingest/types.js';
import type { Outcome } from '../ingest/outcome.js';
import { deadLetterPayload } from '../ingest/dead-letter-payload.js';
import { validateTelemetry, type ValidateOptions } from '../ingest/validate.js';
import { parseChirpstack, parseChirpstackPublish } from '../ingest/uplinks/chirpstack.js';
import { parseTts, parseTtsPublish } from '../ingest/uplinks/tts.js';
import type { ParseResult, UplinkEvent } from '../ingest/uplinks/types.js';
import { toLine } from '../sink/influx/line-protocol.js';

/** Topic prefixes of the HTTP routes' messages (their dead letters keep them, so a replay finds the parser). */
export const HTTP_CHIRPSTACK_PREFIX = 'http/chirpstack/';
export const HTTP_TTS_TOPIC = 'http/tts/up';
const CHIRPSTACK_PREFIX = 'application/';
const TTS_MQTT_PREFIX = 'v3/';

/** Uplinks remembered for deduplication: a server re-delivers within seconds to minutes, not after this many others. */
const DEDUP_KEYS = 100_000;

/** True for a topic this module takes (the caller routes by it). */
export function isUplinkTopic(topic: string): boolean {
  return topic.startsWith(CHIRPSTACK_PREFIX) || topic.startsWith(HTTP_CHIRPSTACK_PREFIX) || topic === HTTP_TTS_TOPIC || topic.startsWith(TTS_MQTT_PREFIX);
}

export interface UplinkDeps {
  catalog: { byDevEui(devEui: string): DeviceRecord | undefined };
  validate: ValidateOptions;
}

/** What the uplink path has counted (metrics). */
export interface UplinkCounts {
  /** Uplinks delivered again (same deduplication key) and not stored again. */
  duplicates: number;
  /** Messages that carry no reading: joins, acks, status events, info packets. */
  ignored: number;
}

export class UplinkIngest {
  readonly counts: UplinkCounts = { duplicates: 0, ignored: 0 };
  private readonly deps: UplinkDeps;
  /** Dedup key → true, oldest first (a Map keeps insertion order). */
  private readonly seen = new Map<string, true>();
  /** The dedup key of an outcome not yet durable: forgotten if its append fails, so a retry is stored. */
  private readonly pendingKeys = new WeakMap<Outcome, string>();
  /** DevEUI → battery percent from the last status event. */
  private readonly battery = new Map<string, number>();

  constructor(deps: UplinkDeps) {
    this.deps = deps;
  }

  /** The Outcome of one network-server message; undefined when it carries no reading. */
  decide(msg: RawMessage): Outcome | undefined {
    const parsed = this.parse(msg);
    if (!parsed.ok) return this.refuse(msg, parsed.reason, undefined, parsed.message);
    const event = parsed.event;
    switch (event.kind) {
      case 'ignored':
        this.counts.ignored++;
        return undefined;
      case 'status': {
        const device = this.deps.catalog.byDevEui(event.devEui);
        if (device !== undefined && event.batteryPercent !== undefined) {
          this.battery.delete(event.devEui);
          this.battery.set(event.devEui, event.batteryPercent);
          if (this.battery.size > DEDUP_KEYS) this.battery.delete(this.battery.keys().next().value!);
        }
        this.counts.ignored++;
        return undefined;
      }
      case 'codec-error': {
        const device = this.deps.catalog.byDevEui(event.devEui);
        return this.refuse(msg, 'decode_failed', device, `${event.server === 'chirpstack' ? 'ChirpStack' : 'the network server'}'s codec failed for DevEUI ${event.devEui}: ${event.description}`);
      }
      case 'up':
        return this.uplink(msg, event);
    }
  }

  /** The append of `outcome` failed: its uplink was not stored, so a re-delivery must not count as a duplicate. */
  failed(outcome: Outcome): void {
    const key = this.pendingKeys.get(outcome);
    if (key !== undefined) this.seen.delete(key);
  }

  private parse(msg: RawMessage): ParseResult {
    const topic = msg.topic;
    if (topic.startsWith(CHIRPSTACK_PREFIX)) return parseChirpstackPublish(topic, msg.payload);
    if (topic.startsWith(HTTP_CHIRPSTACK_PREFIX)) return parseChirpstack(topic.slice(HTTP_CHIRPSTACK_PREFIX.length), msg.payload);
    if (topic.startsWith(TTS_MQTT_PREFIX)) return parseTtsPublish(topic, msg.payload);
    return parseTts(msg.payload);
  }

  private uplink(msg: RawMessage, up: Extract<UplinkEvent, { kind: 'up' }>): Outcome | undefined {
    const device = this.deps.catalog.byDevEui(up.devEui);
    if (device === undefined) {
      return this.refuse(msg, 'unknown_device', undefined, `DevEUI ${up.devEui} is not in the catalog; register it with \`npx citypipe devices add --id … --type … --dev-eui ${up.devEui} --model …\``);
    }
    const registered = device.lorawan === undefined ? undefined : lorawanModel(device.lorawan.model);
    if (registered === undefined) {
      return this.refuse(msg, 'decode_failed', device, `device "${device.id}": its catalog model ${JSON.stringify(device.lorawan?.model)} is not a known LoRaWAN model`);
    }
    if (this.seen.has(up.dedupKey)) {
      // Stored once. It still goes through the spool, empty: the spool completes appends in order,
      // so this copy is acknowledged only once the first one is on disk.
      this.counts.duplicates++;
      return { topic: msg.topic, receivedAt: msg.receivedAt, type: device.type, deviceId: device.id, lines: [], deadLetters: [], readings: [], district: device.district };
    }
    const { model, type } = registered;
    const where = `${model.name}, fPort ${up.fPort ?? 'none'}`;
    let measured: Measured;
    let batteryPercent: number | undefined;
    if (up.bytes !== undefined && up.bytes.length > 0) {
      const decoded = model.decode(up.bytes, up.fPort ?? 0);
      if (!decoded.ok) return this.refuse(msg, 'decode_failed', device, `device "${device.id}" (${model.name}): ${decoded.reason}`);
      measured = decoded.fields;
      batteryPercent = decoded.batteryPercent;
    } else if (up.decoded !== undefined) {
      // No bytes: the server's own decoded object, taken as the type's fields (validated below).
      measured = up.decoded as Measured;
    } else {
      this.counts.ignored++;
      return undefined;
    }
    if (Object.keys(measured).length === 0) {
      // A packet without a reading (device info, heartbeat): its battery waits for the next reading.
      if (batteryPercent !== undefined) this.battery.set(up.devEui, batteryPercent);
      this.counts.ignored++;
      return undefined;
    }
    const completed = type.lorawan?.complete ? type.lorawan.complete(measured, device) : { ok: true as const, fields: measured };
    if (!completed.ok) return this.refuse(msg, completed.reason, device, `device "${device.id}" (${where}): ${completed.message}`, completed.path);
    const battery = batteryPercent ?? this.battery.get(up.devEui);
    const reading: Record<string, unknown> = { ts: up.receivedAtMs };
    reading['seq'] = up.fCnt;
    if (battery !== undefined) reading['batteryLevel'] = Math.round(Math.min(100, Math.max(0, battery)) * 10) / 1000;
    if (up.rssi !== undefined && up.rssi <= 0 && up.rssi >= -150) reading['rssi'] = up.rssi;
    for (const k in completed.fields) reading[k] = completed.fields[k];

    const def = type.definition;
    const asTelemetry: RawMessage = { ...msg, topic: `city/${def.name}/${device.id}/telemetry`, payload: Buffer.from(JSON.stringify(reading)) };
    const validated = validateTelemetry(def, { type: def.name, deviceId: device.id }, asTelemetry, this.deps.validate);
    // Dead letters keep the whole uplink, as the server sent it, and its topic (a replay parses it again).
    const deadLetters: DeadLetter[] = validated.deadLetters.map((d) => ({
      ...d,
      message: `${d.message} (decoded from ${where})`,
      topic: msg.topic,
      payload: deadLetterPayload(msg.payload, this.deps.validate.maxDeadLetterPayloadBytes),
    }));
    const lines = validated.readings.map((r) => toLine(def, r, device.district));
    if (validated.readings.length > 0) {
      this.remember(up.dedupKey);
      if (batteryPercent === undefined) this.battery.delete(up.devEui);
    }
    const outcome: Outcome = {
      topic: msg.topic,
      receivedAt: msg.receivedAt,
      type: def.name,
      deviceId: device.id,
      lines,
      deadLetters,
      readings: validated.readings,
      district: device.district,
    };
    if (validated.readings.length > 0) this.pendingKeys.set(outcome, up.dedupKey);
    return outcome;
  }

  private remember(key: string): void {
    this.seen.set(key, true);
    if (this.seen.size > DEDUP_KEYS) this.seen.delete(this.seen.keys().next().value!);
  }

  private refuse(msg: RawMessage, reason: DeadLetterReason, device: DeviceRecord | undefined, message: string, path = ''): Outcome {
    return {
      topic: msg.topic,
      receivedAt: msg.receivedAt,
      type: device?.type ?? '',
      deviceId: device?.id ?? '',
      lines: [],
      deadLetters: [
        {
          reason,
          path,
          message,
          topic: msg.topic,
          deviceId: device?.id,
          type: device?.type,
          index: undefined,
          payload: deadLetterPayload(msg.payload, this.deps.validate.maxDeadLetterPayloadBytes),
          receivedAt: msg.receivedAt,
        },
      ],
    };
  }
}
