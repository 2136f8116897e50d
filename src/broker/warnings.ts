/**
 * What the broker logs about clients. A client can make the broker warn at will (bad credentials,
 * oversized packets, denied topics), so warnings are rate-limited per kind, limits are named by the
 * setting that raises them, and strings a client chose are bounded.
 */
import type { Logger } from '../observability/logger.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { GuardViolation } from './packet-guard.js';
import type { SessionCaps, SessionLimit } from './session-limits.js';

const LOG_EVERY_MS = 10_000;

/** Warnings that an attacker can trigger at will are logged at most once per 10 s per kind. */
export class BrokerWarnings {
  private readonly byKind = new Map<string, RateLimitedLog>();

  constructor(private readonly log: Logger) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    let log = this.byKind.get(kind);
    if (log === undefined) {
      log = new RateLimitedLog(this.log, LOG_EVERY_MS);
      this.byKind.set(kind, log);
    }
    log.warn(fields, message);
  }
}

/** What a session cap turned away, and the setting that raises it. */
export function describeSessionLimit(limit: SessionLimit, caps: SessionCaps): string {
  switch (limit) {
    case 'retained_telemetry':
      return 'retained flag on telemetry ignored: the reading is stored, but not kept as a retained message (its latest values are at /api/devices/{id})';
    case 'retained_too_large':
      return `retained message not kept: its payload is over CITYPIPE_MQTT_RETAINED_MAX_BYTES (${caps.retainedMaxBytes}); it was delivered to current subscribers only`;
    case 'retained_per_device':
      return `retained message not kept: the device already has ${caps.retainedPerDevice} retained topics (CITYPIPE_MQTT_RETAINED_PER_DEVICE)`;
    case 'retained_total':
      return `retained message not kept: retained messages hold CITYPIPE_MQTT_RETAINED_TOTAL_BYTES (${caps.retainedTotalBytes}) already`;
    case 'queue_full':
      return `message not queued for an offline session: it holds CITYPIPE_MQTT_MAX_QUEUED (${caps.maxQueued}) messages already`;
    case 'queue_total':
      return `message not queued for an offline session: offline queues hold CITYPIPE_MQTT_QUEUED_TOTAL_BYTES (${caps.queuedTotalBytes}) already`;
    case 'inflight_qos2':
      return `QoS 2 PUBLISH refused, connection closed: ${caps.maxInflightQos2} QoS 2 messages await PUBREL (CITYPIPE_MQTT_MAX_INFLIGHT_QOS2)`;
  }
}

/** Why the packet guard cut a connection, and the setting that raises the limit. */
export function describeViolation(v: GuardViolation, declared: number, maxPacket: number, maxConnect: number): string {
  switch (v) {
    case 'packet_too_large':
      return `a packet declared ${declared} bytes, over CITYPIPE_MQTT_MAX_PACKET_BYTES (${maxPacket})`;
    case 'connect_too_large':
      return `the first packet declared ${declared} bytes, over the ${maxConnect} a CONNECT may have`;
    case 'first_packet_not_connect':
      return 'the first packet was not a CONNECT';
    case 'malformed_length':
      return 'a packet length longer than 4 bytes';
  }
}

/** Client-supplied strings go into logs bounded: a 64 KiB client id must not become a 64 KiB line. */
export function truncate(s: string | undefined): string | undefined {
  return s === undefined || s.length <= 80 ? s : `${s.slice(0, 80)}…`;
}
