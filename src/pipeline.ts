/**
 * Wires the ingest stages for one message: topic → catalog (enrich) → decode/validate → line
 * protocol → writer, and every refusal → dead letters. The stages do not know each other; this is
 * the only module that calls them in order. Synchronous and allocation-light: it runs once per
 * PUBLISH inside the broker's authorizePublish.
 */
import { deviceType, deviceTypeNames } from './device-types/registry.js';
import type { DeviceRecord } from './catalog/types.js';
import type { DeadLetter, RawMessage } from './ingest/types.js';
import { parseStatusTopic, parseTelemetryTopic } from './ingest/topic.js';
import { ReceiveClock } from './ingest/receive-clock.js';
import { deadLetterPayload, validateTelemetry, type ValidateOptions } from './ingest/validate.js';
import { toLine } from './sink/influx/line-protocol.js';
import type { PendingPoint } from './sink/influx/types.js';
import type { DeadLetterReason } from './errors/catalog.js';
import { CitypipeError, ErrorCodes } from './errors/catalog.js';

/** Where readings go: the writer (or, later, a durable spool in front of it). */
export interface PointQueue {
  add(point: PendingPoint): void;
  isFull(): boolean;
}

export interface IngestPipelineDeps {
  catalog: { get(id: string): DeviceRecord | undefined };
  points: PointQueue;
  deadLetters: { add(d: DeadLetter): void };
  metrics: {
    countReceived(type: string | undefined, n: number): void;
    countDeadLettered(type: string | undefined, reason: DeadLetterReason): void;
  };
  validate: ValidateOptions;
}

export class IngestPipeline {
  private readonly deps: IngestPipelineDeps;
  private readonly clock = new ReceiveClock();

  constructor(deps: IngestPipelineDeps) {
    this.deps = deps;
  }

  /**
   * Takes one device PUBLISH under `city/`. Returns an Error when the message is refused before it
   * is accepted (the write buffer is full): the broker then sends no PUBACK and the device retries.
   */
  accept(msg: RawMessage): Error | undefined {
    const { deps } = this;
    const topic = parseTelemetryTopic(msg.topic);
    if (!topic) {
      if (parseStatusTopic(msg.topic)) return undefined; // online/offline presence, not a reading
      this.deadLetter(msg, 'invalid_topic', undefined, undefined, 'topic must be city/{type}/{deviceId}/telemetry');
      return undefined;
    }
    const def = deviceType(topic.type);
    if (!def) {
      this.deadLetter(msg, 'unknown_type', undefined, topic.deviceId, `unknown device type "${topic.type}" (known: ${deviceTypeNames.join(', ')})`);
      return undefined;
    }
    const device = deps.catalog.get(topic.deviceId);
    if (!device) {
      this.deadLetter(msg, 'unknown_device', def.name, topic.deviceId, `device "${topic.deviceId}" is not in the catalog; register it with \`npx citypipe devices add\``);
      return undefined;
    }
    if (device.type !== def.name) {
      this.deadLetter(msg, 'type_mismatch', def.name, topic.deviceId, `device "${topic.deviceId}" is a ${device.type} in the catalog, but published under city/${def.name}/`);
      return undefined;
    }
    if (deps.points.isFull()) {
      return new CitypipeError(ErrorCodes.BACKPRESSURE, 'write buffer full: InfluxDB is not keeping up or unreachable');
    }
    const { readings, deadLetters } = validateTelemetry(def, topic, msg, deps.validate);
    deps.metrics.countReceived(def.name, readings.length + deadLetters.length);
    for (const d of deadLetters) {
      deps.deadLetters.add(d);
      deps.metrics.countDeadLettered(def.name, d.reason);
    }
    let stamped = 0;
    for (const r of readings) if (r.stampedAtReceive) stamped++;
    if (stamped > 0) {
      let t = this.clock.reserve(topic.deviceId, msg.receivedAt, stamped);
      for (const r of readings) if (r.stampedAtReceive) r.timeMs = t++;
    }
    for (const r of readings) {
      deps.points.add({ line: toLine(def, r, device.district), type: def.name, deviceId: topic.deviceId, topic: msg.topic, receivedAt: msg.receivedAt });
    }
    return undefined;
  }

  private deadLetter(msg: RawMessage, reason: DeadLetterReason, type: string | undefined, deviceId: string | undefined, message: string): void {
    this.deps.metrics.countReceived(type, 1);
    this.deps.metrics.countDeadLettered(type, reason);
    this.deps.deadLetters.add({
      reason,
      path: '',
      message,
      topic: msg.topic,
      deviceId,
      type,
      index: undefined,
      payload: deadLetterPayload(msg.payload, this.deps.validate.maxDeadLetterPayloadBytes),
      receivedAt: msg.receivedAt,
    });
  }
}
