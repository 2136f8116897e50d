/**
 * The records that flow between ingest stages. Stages share these types, never each other's code.
 */
import type { DeadLetterReason } from '../errors/catalog.js';

/** An MQTT PUBLISH as the broker received it. `receivedAt` is fixed here and never recomputed. */
export interface RawMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Epoch ms when the broker took the message; the timestamp of readings that carry no `ts`. */
  readonly receivedAt: number;
  readonly clientId: string;
  /** MQTT username the client authenticated with, if any. */
  readonly username: string | undefined;
}

/** The parts of a telemetry topic `city/{type}/{deviceId}/telemetry`. */
export interface TelemetryTopic {
  readonly type: string;
  readonly deviceId: string;
}

/** A reading that passed validation: the schema's output plus its resolved timestamp. */
export interface ValidReading {
  /** Device type name (topic segment). */
  readonly type: string;
  readonly deviceId: string;
  /**
   * Epoch ms: the device's `ts`, or the receive time when it sent none. For the latter the pipeline
   * may move it forward by a few ms so that readings of one device never share a timestamp (in
   * InfluxDB a point is measurement + tags + time: two readings in one ms would overwrite each other).
   */
  timeMs: number;
  /** True when the device sent no `ts` and `timeMs` is the receive time. */
  readonly stampedAtReceive: boolean;
  /** The reading's fields without `ts`, in schema order. */
  readonly fields: Readonly<Record<string, number | string>>;
  /** Position in a batch payload; undefined for a single reading. */
  readonly index: number | undefined;
}

/** A reading (or a whole message) that will not be written, and why. */
export interface DeadLetter {
  readonly reason: DeadLetterReason;
  /** Dotted path of the offending field inside the reading (`fillingLevel`, `ts`), '' for the whole reading. */
  readonly path: string;
  /** Human-readable: names the field and the rule, e.g. `fillingLevel: must be ≤ 1, got 5`. */
  readonly message: string;
  readonly topic: string;
  /** Device id from the topic when it could be read. */
  readonly deviceId: string | undefined;
  /** Device type from the topic when it could be read. */
  readonly type: string | undefined;
  /** Position in a batch payload; undefined for a single reading or a whole-message failure. */
  readonly index: number | undefined;
  /** The offending payload (the element, for a batch), truncated to a bounded size. */
  readonly payload: string;
  readonly receivedAt: number;
}
