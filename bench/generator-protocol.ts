/**
 * What the bench harness and its load-generator processes say to each other: one JSON object per
 * line, requests on the generator's stdin, replies on its stdout.
 */
import type { DeviceTypeName } from '../src/device-types/registry.js';

/** A catalog device as the bench uses it. */
export interface BenchDevice {
  id: string;
  type: DeviceTypeName;
  district: string;
  /** Plaintext secret; absent = the device connects with its username only (anonymous to citypipe). */
  password?: string;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** Opens one MQTT connection per device, `parallel` handshakes at a time. */
export interface ConnectRequest {
  cmd: 'connect';
  endpoint: Endpoint;
  devices: BenchDevice[];
  /** MQTT keep alive; the generator pings at half of it while no publishing runs. 0 = none. */
  keepaliveS: number;
  /** Last Will `offline` and a retained `online` on the status topic, as CONTRACT §1 asks of devices. */
  presence: boolean;
  parallel: number;
  /** Per connection, until CONNACK. */
  timeoutMs: number;
}

export interface ConnectResult {
  connected: number;
  failed: number;
  /** Failures by error code. */
  errors: Record<string, number>;
  startAt: number;
  endAt: number;
}

/**
 * Every connection publishes `perConnection` readings as fast as the broker takes them: QoS 0
 * until TCP pushes back, QoS 1 with at most `window` unacknowledged PUBLISHes per connection. Stops
 * at `perConnection` or after `maxMs`, whichever comes first.
 */
export interface PublishMaxRequest {
  cmd: 'publish-max';
  qos: 0 | 1;
  /** Readings per connection. */
  perConnection: number;
  /**
   * Readings per PUBLISH. Absent: each PUBLISH is one reading (a JSON object). Given: each is a batch
   * (a JSON array) of this many, like a device uploading its buffer; a connection's last one carries
   * what is left, so a connection sends ⌈perConnection ÷ batch⌉ PUBLISHes.
   */
  batch?: number;
  window: number;
  maxMs: number;
  /** How long to wait for outstanding PUBACKs / PINGRESPs after sending ends. */
  drainMs: number;
  /**
   * After the last publish, send PINGREQ on every connection and wait for PINGRESP: a broker answers
   * packets of one connection in order, so that is when it has read every QoS 0 message.
   */
  barrier: boolean;
}

export interface PublishResult {
  /** PUBLISHes written and (QoS 1) acknowledged. */
  sent: number;
  acked: number;
  /** Readings in those PUBLISHes (the same as `sent` and `acked` when each carries one). */
  readingsSent: number;
  readingsAcked: number;
  firstSendAt: number;
  lastSendAt: number;
  /** Last PUBACK (QoS 1), 0 if none. */
  lastAckAt: number;
  /** Last PINGRESP of the barrier, 0 if no barrier or it did not complete. */
  barrierAt: number;
  /** Connections that closed while publishing. */
  connectionsLost: number;
  /** The phase hit `maxMs` or `drainMs`. */
  timedOut: boolean;
}

/**
 * All connections together publish `ratePerS` readings per second for `durationMs`, round robin,
 * each reading stamped with its send time. A connection with `window` unacknowledged QoS 1 messages
 * is skipped; if all are, the generator falls behind and says so.
 */
export interface PublishRateRequest {
  cmd: 'publish-rate';
  qos: 0 | 1;
  ratePerS: number;
  durationMs: number;
  window: number;
  drainMs: number;
  /** Devices whose first and last seq of this phase the result reports. */
  probeIds: string[];
  /**
   * Keep publishing until a `stop-rate` request (or `durationMs`, as a bound), for phases whose
   * length depends on what the service does (the drain after an outage).
   */
  untilStopped?: boolean;
  /** Report every device's seqs (`deviceSeqs`) and the PUBACK delay per second (`ackDelays`). */
  detailed?: boolean;
}

/** PUBACK delays of the QoS 1 readings sent in one second: how long the publishers waited. */
export interface AckDelaySecond {
  /** Start of the second (ms since the epoch) in which the readings were sent. */
  at: number;
  count: number;
  meanMs: number;
  maxMs: number;
}

export interface RateResult extends PublishResult {
  /** Largest backlog of due-but-unsent messages seen, in messages. */
  maxBehind: number;
  /** Per probe device: the seqs this phase used, [first, last]. */
  probeSeqs: Record<string, [number, number]>;
  /** With `detailed`: every device's seqs of this phase, [first, last] (none sent: last = first − 1). */
  deviceSeqs?: Record<string, [number, number]>;
  /** With `detailed` and QoS 1: PUBACK delays by second of sending. */
  ackDelays?: AckDelaySecond[];
}

/** Ends a running `publish-rate` with `untilStopped` (it then waits for its PUBACKs and answers). */
export interface StopRateRequest {
  cmd: 'stop-rate';
}

/** Resets every connection (TCP RST, like a device losing its network): the broker sees them vanish. */
export interface DropRequest {
  cmd: 'drop';
}

/**
 * Every device reconnects at once and uploads one batch of `batch` buffered readings (QoS 1); a
 * device whose attempt fails retries after a random pause, as devices do, until `timeoutMs`.
 */
export interface BurstRequest {
  cmd: 'burst';
  endpoint: Endpoint;
  batch: number;
  keepaliveS: number;
  /** Whole burst. */
  timeoutMs: number;
  /** One attempt, until CONNACK; then the device gives up on it, pauses and tries again. */
  attemptTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface BurstResult {
  devices: number;
  /** Devices whose batch was acknowledged. */
  delivered: number;
  failed: number;
  retries: number;
  errors: Record<string, number>;
  startAt: number;
  /** When the last device had its first CONNACK; 0 if some never got one. */
  allConnectedAt: number;
  allAckedAt: number;
}

/** Line protocol straight into InfluxDB 1.x `/write`, `batch` lines per request. */
export interface InfluxWriteRequest {
  cmd: 'influx-write';
  url: string;
  db: string;
  devices: BenchDevice[];
  points: number;
  batch: number;
  concurrency: number;
  maxMs: number;
}

export interface InfluxWriteResult {
  points: number;
  requests: number;
  failures: number;
  firstAt: number;
  lastAt: number;
  lastError?: string;
}

/** Clean DISCONNECT on every connection, then close them. */
export interface DisconnectRequest {
  cmd: 'disconnect';
}

export type GeneratorRequest =
  | ConnectRequest
  | PublishMaxRequest
  | PublishRateRequest
  | DropRequest
  | BurstRequest
  | InfluxWriteRequest
  | DisconnectRequest
  | StopRateRequest;

export interface GeneratorResults {
  connect: ConnectResult;
  'publish-max': PublishResult;
  'publish-rate': RateResult;
  drop: { dropped: number };
  burst: BurstResult;
  'influx-write': InfluxWriteResult;
  disconnect: { closed: number };
  'stop-rate': { stopped: boolean };
}

/** One line from harness to generator. */
export interface RequestEnvelope {
  id: number;
  request: GeneratorRequest;
}

/** One line from generator to harness. */
export type ReplyEnvelope = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
