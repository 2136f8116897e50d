/**
 * Prometheus counters for what the security limits refused, registered on the service's registry.
 * Labels are closed sets chosen by citypipe (never client-supplied strings), so an attacker cannot
 * grow the series count.
 */
import client from 'prom-client';
import type { BrokerSecurityEvents } from '../broker/broker.js';
import type { HttpRefusal } from '../http/security.js';

/** What the HTTP layer reports. */
export interface HttpSecurityEvents {
  refused(reason: HttpRefusal): void;
}

/** The security counters of one service instance, and the hooks that feed them. */
export class SecurityMetrics {
  /** Hooks for the broker. */
  readonly broker: BrokerSecurityEvents;
  /** Hooks for the HTTP API. */
  readonly http: HttpSecurityEvents;

  constructor(registry: client.Registry) {
    const registers = [registry];
    const refused = new client.Counter({
      name: 'citypipe_mqtt_connections_refused_total',
      help: 'MQTT connections closed before or at CONNECT, by reason (ip_rate, max_connections, packet_too_large, connect_too_large, first_packet_not_connect, malformed_length, connect_timeout, tls_handshake, anonymous, bad_credentials, not_authorized, certificate, client_id, keepalive, will_topic, internal); packet_too_large also counts connections cut later.',
      labelNames: ['reason'],
      registers,
    });
    const throttled = new client.Counter({
      name: 'citypipe_mqtt_throttled_total',
      help: 'Times an MQTT client was slowed down (its socket paused until its rate allowed the next packet), by limit: messages (CITYPIPE_MQTT_CLIENT_RATE, packets of every type) or readings (CITYPIPE_MQTT_CLIENT_READING_RATE).',
      labelNames: ['limit'],
      registers,
    });
    const sessionLimit = new client.Counter({
      name: 'citypipe_mqtt_session_limit_total',
      help: 'What the broker turned away to bound its memory, by limit: retained_telemetry (retain flag on telemetry ignored), retained_too_large, retained_per_device, retained_total (retained message delivered but not kept), queue_full, queue_total (message not queued for an offline session), inflight_qos2 (QoS 2 PUBLISH refused, connection closed).',
      labelNames: ['limit'],
      registers,
    });
    const denied = new client.Counter({
      name: 'citypipe_mqtt_acl_denied_total',
      help: 'PUBLISHes (connection closed) and SUBSCRIBEs (SUBACK 0x80) refused by the topic ACL, by action.',
      labelNames: ['action'],
      registers,
    });
    const httpRefused = new client.Counter({
      name: 'citypipe_http_requests_refused_total',
      help: 'HTTP requests refused: rate (429, over CITYPIPE_HTTP_RATE, or CITYPIPE_OPEN_RATE on the residents’ routes), unauthorized (401, no or wrong bearer token) or streams (429/503, over CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS or CITYPIPE_HTTP_MAX_STREAMS).',
      labelNames: ['reason'],
      registers,
    });
    this.broker = {
      connectionRefused: (reason) => refused.labels(reason).inc(),
      throttled: (limit) => throttled.labels(limit).inc(),
      sessionLimit: (limit) => sessionLimit.labels(limit).inc(),
      denied: (action) => denied.labels(action).inc(),
    };
    this.http = { refused: (reason) => httpRefused.labels(reason).inc() };
  }
}
