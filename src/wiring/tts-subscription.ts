/**
 * The Things Stack's MQTT server, for deployments that offer only MQTT (CONTRACT §7): citypipe
 * connects as a client (`CITYPIPE_TTS_MQTT_URL`, username `app@tenant`, an API key as password),
 * subscribes to `v3/{app@tenant}/devices/+/up`, and hands every message to ingest like any uplink.
 *
 * The Things Stack's MQTT server speaks QoS 0 only: a message in flight when either side drops the
 * connection is lost, and there is no PUBACK to hold back. The webhook (`POST /api/uplinks/tts`) is
 * answered only once on disk; prefer it (README, "Connect The Things Stack").
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import { urlForLogs } from '../source/url-for-logs.js';

export interface TtsSubscriptionOptions {
  url: string;
  username: string;
  password: string;
  /** The broker's telemetry handler (ingest wiring's `onTelemetry`). */
  take(msg: RawMessage, done: (err?: Error) => void): number;
  log: Logger;
  /** Reconnect delay; default 5 s. */
  reconnectMs?: number;
}

/** What the subscription has seen (metrics, `/readyz` detail). */
export interface TtsSubscriptionState {
  connected: boolean;
  messages: number;
  /** Messages ingest could not store (a full spool): lost, as QoS 0 has no redelivery. */
  lost: number;
}

export class TtsSubscription {
  readonly state: TtsSubscriptionState = { connected: false, messages: 0, lost: 0 };
  private client: MqttClient | undefined;
  private readonly opts: TtsSubscriptionOptions;

  constructor(opts: TtsSubscriptionOptions) {
    this.opts = opts;
  }

  /** The topic filter: every device's uplinks of the application. */
  get filter(): string {
    return `v3/${this.opts.username}/devices/+/up`;
  }

  start(): void {
    const { url, username, password, log } = this.opts;
    const client = mqtt.connect(url, {
      username,
      password,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: this.opts.reconnectMs ?? 5000,
      connectTimeout: 10_000,
      clientId: `citypipe-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    });
    this.client = client;
    client.on('connect', () => {
      this.state.connected = true;
      client.subscribe(this.filter, { qos: 0 }, (err) => {
        if (err) log.error({ err, filter: this.filter }, `The Things Stack MQTT: could not subscribe to ${this.filter}; check that the API key may read application traffic`);
        else log.info({ url: urlForLogs(url), filter: this.filter }, 'The Things Stack MQTT: subscribed to uplinks');
      });
    });
    client.on('close', () => {
      if (this.state.connected) log.warn({ url: urlForLogs(url) }, 'The Things Stack MQTT: connection lost; reconnecting (uplinks sent meanwhile are not redelivered: QoS 0)');
      this.state.connected = false;
    });
    client.on('error', (err) => log.warn({ err, url: urlForLogs(url) }, `The Things Stack MQTT: ${err.message}`));
    client.on('message', (topic, payload) => {
      this.state.messages++;
      this.opts.take({ topic, payload, receivedAt: Date.now(), clientId: 'tts-mqtt', username }, (err) => {
        if (err) this.state.lost++;
      });
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true).catch(() => undefined);
  }
}
