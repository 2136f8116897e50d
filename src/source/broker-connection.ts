/**
 * One connection of a worker to the broker cluster (CONTRACT §8): an MQTT 5 session `<workerId>-<n>`
 * that outlives the connection, subscribed QoS 1 to the shared filters, whose every PUBLISH goes to
 * ingest and is acknowledged only once ingest has it in the spool.
 *
 * mqtt.js 5 passes a QoS 1 PUBLISH to `handleMessage(packet, callback)`, writes the PUBACK when
 * `callback()` runs, and reads the connection's next packet only then (handlers/publish.js). Waiting
 * there for the spool would take one message per fsync per connection: 2,834 readings/s for one
 * worker of 4 connections where Mosquitto alone passed 32,123 (docs/BENCHMARKS.md, "Beyond one
 * machine"). So `callback` is answered at once with {@link DEFERRED} (mqtt.js then writes no PUBACK
 * and reads on), and this connection writes each PUBACK itself once ingest has the message in the
 * spool: many messages of one connection share an fsync. PUBACKs go out in the order the PUBLISHes
 * came, as MQTT requires [MQTT-4.6.0-2], and only on the connection that brought them. The broker's
 * in-flight window bounds how many wait (CONNECT's Receive Maximum, MAX_IN_FLIGHT).
 *
 * The session is what makes a crash lose nothing: the broker keeps every message it sent and got no
 * PUBACK for, and everything it queued meanwhile, for the session expiry interval, and sends them
 * again when a connection with the same client id comes back (the worker restarted with the same
 * CITYPIPE_WORKER_ID).
 */
import mqtt, { type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../observability/logger.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { RawMessage } from '../ingest/types.js';
import { ErrorCodes } from '../errors/catalog.js';
import { urlForLogs } from './url-for-logs.js';

/** A connection drop or a failed reconnect is logged at most this often (a cluster that is down fails every reconnect). */
const TROUBLE_LOG_MS = 30_000;
/** How long a connection closed after a refusal may wait for the broker to close its side. */
const HALF_OPEN_MS = 5000;
/** Receive Maximum: QoS 1 messages the broker may have in flight to one connection. */
const MAX_IN_FLIGHT = 256;

/**
 * Given to mqtt.js's `handleMessage` callback: its QoS 1 path then writes no PUBACK and goes on to
 * the next packet (it passes the error to a work-queue step that ignores it; mqtt 5.16.0, pinned, and
 * the tests fail if that changes). The PUBACK is written by {@link BrokerConnection} later.
 */
const DEFERRED = Object.freeze(new Error('PUBACK deferred until the message is in the spool'));

/** A QoS 1 message of one connection awaiting its PUBACK: `stored` once ingest has it. */
interface AwaitingAck {
  readonly messageId: number;
  stored: boolean;
}

/** The PUBACKs one connection (stream) owes; after a refusal it takes no more messages. */
interface Acks {
  readonly stream: unknown;
  readonly queue: AwaitingAck[];
  refused: boolean;
}

export interface BrokerConnectionOptions {
  url: string;
  /** `<workerId>-<n>`: the session this connection resumes. */
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  /** PEM of the CA that signs the cluster's certificate (mqtts://), else the system's CAs. */
  ca: Buffer | undefined;
  /** Topic filters, `$share/<group>/…`. */
  filters: readonly string[];
  /** Ingest's telemetry handler: `done()` once the message is in the spool, `done(err)` when refused. */
  take(msg: RawMessage, done: (err?: Error) => void): number;
  log: Logger;
  reconnectMs: number;
  /** How long the broker keeps the session (and its messages) while no connection of it is up. */
  sessionExpiryS: number;
}

export class BrokerConnection {
  private readonly opts: BrokerConnectionOptions;
  private readonly trouble: RateLimitedLog;
  private client: MqttClient | undefined;
  private subscribedNow = false;
  private lastProblem = 'not connected yet';
  /** The connection was closed on purpose after a refusal: its close is not news. */
  private closingAfterRefusal = false;
  /** A lost connection was logged: its return is logged too. */
  private lossLogged = false;
  private stopping = false;
  /** Messages handed to ingest whose answer has not come. */
  private inFlight = 0;
  private onIdle: (() => void) | undefined;
  /** The stream the waiting PUBACKs belong to, and them in the order their PUBLISHes came. */
  private acks: Acks = { stream: undefined, queue: [], refused: false };

  constructor(opts: BrokerConnectionOptions) {
    this.opts = opts;
    this.trouble = new RateLimitedLog(opts.log, TROUBLE_LOG_MS);
  }

  /** Connected, with every filter granted. */
  get subscribed(): boolean {
    return this.subscribedNow;
  }

  /** Why this connection takes no messages now; undefined while it does. */
  get problem(): string | undefined {
    return this.subscribedNow ? undefined : this.lastProblem;
  }

  start(): void {
    const { url, clientId, username, password, ca, reconnectMs, sessionExpiryS } = this.opts;
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      // Clean Start 0 with an expiry: the broker resumes this client id's session, with the messages
      // it holds for it, instead of starting an empty one.
      clean: false,
      clientId,
      ...(username === undefined ? {} : { username, password }),
      ...(ca === undefined ? {} : { ca }),
      reconnectPeriod: reconnectMs,
      connectTimeout: 10_000,
      // Subscribed on every CONNACK below, whether or not the broker kept the session.
      resubscribe: false,
      properties: { sessionExpiryInterval: sessionExpiryS, receiveMaximum: MAX_IN_FLIGHT },
    });
    this.client = client;
    client.handleMessage = this.handleMessage;
    client.on('connect', (connack) => this.subscribe(client, connack));
    client.on('close', () => this.closed());
    client.on('error', (err) => this.failed(err));
  }

  /** Publishes QoS 1 (rule events); resolves at the broker's PUBACK. */
  async publish(topic: string, payload: string): Promise<void> {
    if (!this.client) throw new Error('the connection is not started');
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  /**
   * Takes no more messages, waits (until `deadline`) for those ingest has to answer and their
   * PUBACKs, then disconnects; the broker keeps the session. A message not acknowledged by then is
   * sent again to the next connection of this session.
   */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    const client = this.client;
    if (!client) return;
    if (this.inFlight > 0) await untilDeadline(new Promise<void>((resolve) => (this.onIdle = resolve)), deadline);
    // A graceful DISCONNECT waits for our own QoS 1 publishes in flight; a cluster that does not
    // answer does not hold the stop past its deadline.
    const ended = await untilDeadline(client.endAsync(false).then(() => true), deadline);
    if (!ended) await client.endAsync(true).catch(() => undefined);
    this.subscribedNow = false;
  }

  /**
   * A PUBLISH from the cluster. Devices were authenticated there; the topic is the one the device
   * used (a shared subscription delivers `city/…`, not `$share/…`), and ingest checks it against the
   * catalog like any other. `clientId` names this connection; there is no device username.
   */
  private readonly handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void): void => {
    const client = this.client;
    // Not acknowledged: the broker sends it again to this session's next connection.
    if (!client || this.stopping) return;
    // The PUBACK goes out on the connection the PUBLISH came on or not at all: on the next one, its
    // packet id may name another message (mqtt.js would queue it for the reconnect).
    const stream = client.stream;
    if (this.acks.stream !== stream) this.acks = { stream, queue: [], refused: false };
    const acks = this.acks;
    // After a refusal this connection is closing: what comes meanwhile is sent again after it.
    if (acks.refused) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const msg: RawMessage = { topic: packet.topic, payload, receivedAt: Date.now(), clientId: this.opts.clientId, username: undefined };
    this.inFlight++;
    if (packet.qos !== 1 || packet.messageId === undefined) {
      // QoS 0 (nothing to acknowledge; a refused one is lost, as QoS 0 allows).
      this.opts.take(msg, () => {
        this.settled();
        callback();
      });
      return;
    }
    const awaiting: AwaitingAck = { messageId: packet.messageId, stored: false };
    acks.queue.push(awaiting);
    this.opts.take(msg, (err) => {
      this.settled();
      if (client.stream !== stream || this.acks !== acks || acks.refused) return;
      if (err !== undefined) {
        acks.refused = true;
        return this.refused(client);
      }
      awaiting.stored = true;
      this.writeAcks(client, acks);
    });
    callback(DEFERRED);
  };

  /** Writes the PUBACKs of the stored messages at the head of the queue, in order. */
  private writeAcks(client: MqttClient, acks: Acks): void {
    const { queue } = acks;
    let n = 0;
    while (n < queue.length && queue[n]!.stored) n++;
    if (n === 0 || !client.connected) return;
    for (const a of queue.splice(0, n)) client['_sendPacket']({ cmd: 'puback', messageId: a.messageId, reasonCode: 0 });
  }

  /**
   * Ingest could not store the message (a full spool). MQTT 5 has no "not now" for a message the
   * broker delivered: a PUBACK with an error reason code (0x97 quota exceeded, 0x80) completes the
   * QoS 1 exchange, and the broker drops the message — acknowledged as failed is still lost. So it is
   * not acknowledged at all, nor is any message after it on this connection (PUBACKs go in order),
   * and the connection is closed. The broker keeps the message
   * in this worker's session and sends it again, first, when the connection comes back after
   * `reconnectMs`; messages for the group that arrive meanwhile wait in the session too. The close
   * is a graceful end, so that the PUBACKs already written for earlier messages reach the broker
   * (a destroy would drop them, and the broker would send those messages again too); a broker that
   * keeps the connection half open after our FIN is cut off.
   */
  private refused(client: MqttClient): void {
    this.closingAfterRefusal = true;
    this.lastProblem = 'ingest refused a message (spool full); reconnecting to have it sent again';
    const stream = client.stream;
    stream.end();
    setTimeout(() => stream.destroy(), HALF_OPEN_MS).unref();
  }

  private subscribe(client: MqttClient, connack: IConnackPacket): void {
    const { filters, log, url, clientId } = this.opts;
    if (this.client !== client || this.stopping) return;
    client.subscribe([...filters], { qos: 1 }, (err) => {
      if (this.client !== client || !client.connected) return;
      if (err) {
        this.lastProblem = `subscription refused by the broker: ${err.message}`;
        log.error({ err, code: ErrorCodes.BROKER_CLUSTER.code, url: urlForLogs(url), clientId, filters }, `broker cluster: ${this.lastProblem}; check that the account may subscribe to ${filters.join(', ')}`);
        return;
      }
      this.subscribedNow = true;
      this.closingAfterRefusal = false;
      const back = this.lossLogged;
      this.lossLogged = false;
      if (back) log.info({ url: urlForLogs(url), clientId, sessionPresent: connack.sessionPresent }, 'broker cluster: connection back');
      else log.debug({ url: urlForLogs(url), clientId, sessionPresent: connack.sessionPresent }, 'broker cluster: subscribed');
    });
  }

  private closed(): void {
    const { url, clientId } = this.opts;
    const was = this.subscribedNow;
    this.subscribedNow = false;
    if (this.stopping || this.closingAfterRefusal) return;
    if (!was) return;
    this.lastProblem = 'connection lost; reconnecting';
    this.lossLogged = true;
    this.trouble.warn({ code: ErrorCodes.BROKER_CLUSTER.code, url: urlForLogs(url), clientId }, 'broker cluster: connection lost; reconnecting (the broker keeps this worker\'s messages meanwhile)');
  }

  private failed(err: Error): void {
    const { url, clientId } = this.opts;
    this.lastProblem = err.message;
    if (!this.stopping) this.trouble.warn({ err, code: ErrorCodes.BROKER_CLUSTER.code, url: urlForLogs(url), clientId }, `broker cluster: ${err.message}`);
  }

  private settled(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.onIdle) {
      const idle = this.onIdle;
      this.onIdle = undefined;
      idle();
    }
  }
}

/** Resolves with the promise's value, or with false at `deadline`. */
async function untilDeadline<T>(p: Promise<T>, deadline: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
