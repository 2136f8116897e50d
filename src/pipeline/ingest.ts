/**
 * The ingest half of the pipeline, for one message: topic → catalog (enrich) → decode/validate →
 * line protocol, and every refusal → a dead letter. A network server's message goes to
 * uplink-ingest.ts, which ends in the same validation and the same Outcome. The stages do not know each other; this module
 * calls them in order and returns the message's Outcome, which the caller stores durably before the
 * device is acknowledged. Synchronous and allocation-light: it runs once per PUBLISH.
 */
import { deviceType, deviceTypeNames } from '../device-types/registry.js';
import type { DeviceRecord } from '../catalog/types.js';
import type { DeadLetter, RawMessage, ValidReading } from '../ingest/types.js';
import { parseStatusTopic, parseTelemetryTopic } from '../ingest/topic.js';
import { ReceiveClock, RECEIVE_STAMP_WINDOW_MS } from '../ingest/receive-clock.js';
import { deadLetterPayload } from '../ingest/dead-letter-payload.js';
import { validateTelemetry, type ValidateOptions } from '../ingest/validate.js';
import type { Outcome } from '../ingest/outcome.js';
import { toLine } from '../sink/influx/line-protocol.js';
import { isUplinkTopic, UplinkIngest } from './uplink-ingest.js';
import type { DeadLetterReason } from '../errors/catalog.js';

export interface IngestDeps {
  catalog: { get(id: string): DeviceRecord | undefined; byDevEui(devEui: string): DeviceRecord | undefined };
  validate: ValidateOptions;
}

const NO_DEAD_LETTERS: readonly DeadLetter[] = [];

export class IngestPipeline {
  private readonly deps: IngestDeps;
  private readonly clock = new ReceiveClock();
  /** Network-server messages (CONTRACT §7): ChirpStack and The Things Stack uplinks. */
  readonly uplinks: UplinkIngest;

  constructor(deps: IngestDeps) {
    this.deps = deps;
    this.uplinks = new UplinkIngest(deps);
  }

  /**
   * Decides what a device PUBLISH under `city/` becomes. Undefined for messages that carry no
   * reading (presence on `…/status`). A replay of old dead letters passes its own `clock`, so their
   * original receive times are not pushed after the live ones.
   */
  decide(msg: RawMessage, clock: ReceiveClock = this.clock): Outcome | undefined {
    const topic = parseTelemetryTopic(msg.topic);
    if (!topic) {
      if (parseStatusTopic(msg.topic)) return undefined;
      if (isUplinkTopic(msg.topic)) return this.uplinks.decide(msg);
      return this.refuse(msg, 'invalid_topic', undefined, undefined, 'topic must be city/{type}/{deviceId}/telemetry');
    }
    const def = deviceType(topic.type);
    if (!def) {
      return this.refuse(msg, 'unknown_type', undefined, topic.deviceId, `unknown device type "${topic.type}" (known: ${deviceTypeNames.join(', ')})`);
    }
    const device = this.deps.catalog.get(topic.deviceId);
    if (!device) {
      return this.refuse(msg, 'unknown_device', def.name, topic.deviceId, `device "${topic.deviceId}" is not in the catalog; register it with \`npx citypipe devices add\``);
    }
    if (device.type !== def.name) {
      return this.refuse(msg, 'type_mismatch', def.name, topic.deviceId, `device "${topic.deviceId}" is a ${device.type} in the catalog, but published under city/${def.name}/`);
    }
    const validated = validateTelemetry(def, topic, msg, this.deps.validate);
    let { readings, deadLetters } = validated;
    let stamped = 0;
    for (const r of readings) if (r.stampedAtReceive) stamped++;
    if (stamped > 0) {
      const { first, granted } = clock.reserve(topic.deviceId, msg.receivedAt, stamped);
      let t = first;
      let left = granted;
      for (const r of readings) if (r.stampedAtReceive && left-- > 0) r.timeMs = t++;
      if (granted < stamped) ({ readings, deadLetters } = this.withoutUnstamped(readings, deadLetters, msg, topic.deviceId, def.name, granted));
    }
    const lines = new Array<string>(readings.length);
    for (let i = 0; i < readings.length; i++) lines[i] = toLine(def, readings[i]!, device.district);
    return {
      topic: msg.topic,
      receivedAt: msg.receivedAt,
      type: def.name,
      deviceId: topic.deviceId,
      lines,
      deadLetters: deadLetters.length ? deadLetters : NO_DEAD_LETTERS,
      readings,
      district: device.district,
    };
  }

  /**
   * Moves the readings without `ts` past the first `granted` to dead letters: their device sent more
   * than the receive clock can stamp apart within a second (receive-clock.ts).
   */
  private withoutUnstamped(
    readings: ValidReading[],
    deadLetters: DeadLetter[],
    msg: RawMessage,
    deviceId: string,
    type: string,
    granted: number,
  ): { readings: ValidReading[]; deadLetters: DeadLetter[] } {
    const kept: ValidReading[] = [];
    const refused = [...deadLetters];
    let left = granted;
    for (const r of readings) {
      if (!r.stampedAtReceive || left-- > 0) {
        kept.push(r);
        continue;
      }
      refused.push({
        reason: 'ts_required',
        path: 'ts',
        message: `ts: required here: device "${deviceId}" sent more than ${RECEIVE_STAMP_WINDOW_MS} readings without ts within a second, and citypipe stamps readings without ts with distinct milliseconds no later than ${RECEIVE_STAMP_WINDOW_MS} ms after receipt; send ts with each reading of a backlog`,
        topic: msg.topic,
        deviceId,
        type,
        index: r.index,
        payload: deadLetterPayload(Buffer.from(JSON.stringify(r.fields)), this.deps.validate.maxDeadLetterPayloadBytes),
        receivedAt: msg.receivedAt,
      });
    }
    return { readings: kept, deadLetters: refused };
  }

  private refuse(msg: RawMessage, reason: DeadLetterReason, type: string | undefined, deviceId: string | undefined, message: string): Outcome {
    return {
      topic: msg.topic,
      receivedAt: msg.receivedAt,
      type: type ?? '',
      deviceId: deviceId ?? '',
      lines: [],
      deadLetters: [
        {
          reason,
          path: '',
          message,
          topic: msg.topic,
          deviceId,
          type,
          index: undefined,
          payload: deadLetterPayload(msg.payload, this.deps.validate.maxDeadLetterPayloadBytes),
          receivedAt: msg.receivedAt,
        },
      ],
    };
  }
}
