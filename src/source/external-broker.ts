/**
 * The source when citypipe runs as one of N workers on a broker cluster (CONTRACT §8,
 * `CITYPIPE_BROKER_URL`): no embedded broker; `connections` MQTT 5 sessions `<workerId>-1…n`, each
 * subscribed to the shared filters of the group, so that the broker hands every device message to
 * one connection of one worker. Each connection acknowledges a message only once ingest has it in
 * the spool (broker-connection.ts). Rule events go back to the cluster through `publish`.
 *
 * The cluster authenticates devices and holds them to their topics (its ACL); citypipe still checks
 * every topic against the catalog (an unknown device is a dead letter). The embedded broker's
 * per-connection limits (message and reading rates, session caps) are the cluster's job here: every
 * message arrives on a worker's own connection.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import { BrokerConnection } from './broker-connection.js';
import { urlForLogs } from './url-for-logs.js';
import type { ReadingSource } from './source.js';

/**
 * How long the broker keeps a worker's session while none of its connections is up: long enough to
 * restart a worker (or replace its machine with the same data folder and worker id) without losing
 * what the broker holds for it. A broker may cap it lower (EMQX `session_expiry_interval`).
 */
export const SESSION_EXPIRY_S = 24 * 3600;

/** The topics a worker takes, under `$share/<group>/`: device telemetry and status (§1), network-server events (§7). */
export const SOURCE_TOPICS = ['city/+/+/telemetry', 'city/+/+/status', 'application/+/device/+/event/+'] as const;

export interface ExternalBrokerSourceOptions {
  broker: NonNullable<Config['externalBroker']>;
  /** Ingest's telemetry handler (ingest wiring's `onTelemetry`). */
  take(msg: RawMessage, done: (err?: Error) => void): number;
  log: Logger;
  /** Wait before reconnecting, also after a refused message; default 1 s. */
  reconnectMs?: number;
}

export class ExternalBrokerSource implements ReadingSource {
  private readonly opts: ExternalBrokerSourceOptions;
  private links: BrokerConnection[] = [];
  /** Round robin over the connections for rule events. */
  private nextPublisher = 0;

  constructor(opts: ExternalBrokerSourceOptions) {
    this.opts = opts;
  }

  /** The shared subscriptions, `$share/<group>/<topic>`. */
  get filters(): string[] {
    return SOURCE_TOPICS.map((t) => `$share/${this.opts.broker.shareGroup}/${t}`);
  }

  /** For the start log line: which worker of which group on which cluster. */
  get description(): string {
    const { workerId, shareGroup, url, connections } = this.opts.broker;
    return `worker ${workerId} of share group ${shareGroup} on ${urlForLogs(url)} (${connections} connection${connections === 1 ? '' : 's'})`;
  }

  /** Connections up and subscribed. */
  get connected(): number {
    let n = 0;
    for (const c of this.links) if (c.subscribed) n++;
    return n;
  }

  /** For `/readyz`: why no message can arrive; undefined while a connection is up. */
  get problem(): string | undefined {
    if (this.connected > 0) return undefined;
    const why = this.links.find((c) => c.problem)?.problem ?? 'not started';
    return `no connection to the broker cluster at ${urlForLogs(this.opts.broker.url)} is up (${why})`;
  }

  /** The worker's connections up (its MQTT connections, for metrics). */
  get connections(): number {
    return this.connected;
  }

  /** Devices connect to the cluster, not to citypipe. */
  readonly connectedDevices = 0;

  /** The cluster ends a revoked device's session (through the authorization hook), not citypipe. */
  revalidate(): void {}

  /**
   * Opens the connections; they connect and reconnect on their own (`problem` says how it goes). A
   * cluster that is down does not stop the start: the worker is not ready until it is up.
   */
  async start(): Promise<void> {
    const { broker, take, log } = this.opts;
    // Read once, here: a missing or unreadable CA stops the start instead of every reconnect.
    const ca = broker.caFile === undefined ? undefined : readFileSync(broker.caFile);
    const filters = this.filters;
    for (let n = 1; n <= broker.connections; n++) {
      const connection = new BrokerConnection({
        url: broker.url,
        clientId: `${broker.workerId}-${n}`,
        username: broker.username,
        password: broker.password,
        ca,
        filters,
        take,
        log,
        reconnectMs: this.opts.reconnectMs ?? 1000,
        sessionExpiryS: SESSION_EXPIRY_S,
      });
      this.links.push(connection);
      connection.start();
    }
  }

  /**
   * Publishes QoS 1 on a connection that is up. Rule events are kept in citypipe's event log either
   * way; with no connection up this rejects now rather than queueing without bound.
   */
  publish(topic: string, payload: string): Promise<void> {
    const n = this.links.length;
    for (let i = 0; i < n; i++) {
      const c = this.links[(this.nextPublisher + i) % n]!;
      if (!c.subscribed) continue;
      this.nextPublisher = (this.nextPublisher + i + 1) % n;
      return c.publish(topic, payload);
    }
    return Promise.reject(new Error(`no connection to the broker cluster at ${urlForLogs(this.opts.broker.url)} is up`));
  }

  /** Stops taking messages; what ingest has is acknowledged (until `deadline`), the rest the broker keeps. */
  async stop(deadline = Date.now() + 5000): Promise<void> {
    const connections = this.links;
    this.links = [];
    await Promise.all(connections.map((c) => c.stop(deadline)));
  }
}
