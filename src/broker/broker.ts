/**
 * The receive stage: an embedded aedes MQTT 3.1.1 broker on TCP (and optionally TLS). It knows
 * nothing of readings; it decides who may connect and which topics each client may use (acl.ts),
 * holds every connection to its limits (packet-guard.ts), and hands every device PUBLISH under
 * `city/` to `onTelemetry`.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import { addressKey, KeyedTokenBuckets, TokenBucket } from '../security/token-bucket.js';
import { clientIdBelongsTo, EVENTS_PREFIX, identityName, mayPublish, maySubscribe, topicProblem, type Identity } from './acl.js';
import { DeliveryConformance } from './conformance.js';
import { FixedHeaderScanner, GuardedConnection, openOnConnack, type ConnectionMeta, type GuardEvents, type GuardViolation } from './packet-guard.js';
import { SessionLimits, type SessionCaps, type SessionLimit } from './session-limits.js';
import { TelemetryRouting } from './telemetry-route.js';

export type { Identity } from './acl.js';

/** What a client presented in its CONNECT (and on the TLS handshake). */
export interface AuthRequest {
  /** Undefined when the client sent none. */
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  /** Subject CN of a client certificate that was verified against the configured CA. */
  readonly certificateName: string | undefined;
}

/** The answer to an {@link AuthRequest}. `reason` is for the log, never sent to the client. */
export type AuthDecision =
  | { readonly outcome: 'ok'; readonly identity: Identity }
  /** No credentials: accepted in lab mode only. */
  | { readonly outcome: 'anonymous' }
  | { readonly outcome: 'bad_credentials'; readonly reason: string }
  | { readonly outcome: 'not_authorized'; readonly reason: string };

/** The limits every connection is held to (README "Security"). Rates of 0 switch a limit off. */
export interface MqttLimits {
  readonly maxPacketBytes: number;
  readonly connectTimeoutMs: number;
  /** CONNECTs asking for more keep alive than this are refused. */
  readonly maxKeepaliveS: number;
  /** Accept keep alive 0 (no keep alive: a dead peer is noticed only by TCP); refused otherwise. */
  readonly allowZeroKeepalive: boolean;
  /** A subscriber that does not read for this long is disconnected. */
  readonly drainTimeoutMs: number;
  /** Packets (of every type) per second per connection; the excess is slowed down. */
  readonly clientMessageRate: number;
  /** Readings per second per connection (a batch counts each of its readings); the excess is slowed down. */
  readonly clientReadingRate: number;
  /** New connections per second per client address (IPv6: per /64); the excess is closed. */
  readonly ipConnectRate: number;
  /** Open connections per listener; the excess is closed. */
  readonly maxConnections: number;
  /** What the broker keeps for its clients: retained messages, offline queues, inbound QoS 2. */
  readonly session: SessionCaps;
}

/** An optional second listener speaking MQTT over TLS. PEM contents, not paths. */
export interface TlsListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA that signs client certificates; without it no client certificate is asked for. */
  readonly clientCa: Buffer | undefined;
  /** Refuse the TLS handshake of a client without a valid certificate. */
  readonly requireClientCert: boolean;
}

/** Counters the broker reports to; must not throw. */
export interface BrokerSecurityEvents {
  /** A connection closed before or at CONNECT, by reason (a metric label). */
  connectionRefused(reason: string): void;
  /** A client was slowed down by its message or reading rate. */
  throttled(limit: 'messages' | 'readings'): void;
  /** A session cap turned something away (README "Limits"). */
  sessionLimit(limit: SessionLimit): void;
  /** A PUBLISH or SUBSCRIBE the ACL refused. */
  denied(action: 'publish' | 'subscribe'): void;
}

/** How the broker listens, whom it lets in, and where device publishes go. */
export interface BrokerOptions {
  host: string;
  port: number;
  log: Logger;
  tls?: TlsListenerOptions | undefined;
  /**
   * Lab mode: anonymous clients are accepted and no topic ACL or client-id binding applies. Every
   * limit still does.
   */
  open: boolean;
  limits: MqttLimits;
  /** Decides a CONNECT. Runs once per connection attempt: cheap, or asynchronous. */
  authenticate: (req: AuthRequest) => AuthDecision | Promise<AuthDecision>;
  events?: BrokerSecurityEvents | undefined;
  /**
   * Takes a device publish. Called from aedes' `authorizePublish`, which completes before the QoS 1
   * PUBACK is sent: the PUBACK goes out only after `done()`, so whatever this stores before calling
   * it is what the device is told was received. `done(err)` refuses the publish: the device gets no
   * PUBACK (aedes closes the connection; MQTT 3.1.1 has no negative acknowledgement) and keeps its
   * data to send again. Returns the number of readings the message carried (decided synchronously),
   * which counts against the connection's reading rate.
   */
  onTelemetry: (msg: RawMessage, done: (err?: Error) => void) => number;
}

/**
 * The largest first packet accepted. A CONNECT carries a client id, credentials and a small Will;
 * 16 KiB is far above any real one and keeps a connection that has not authenticated from costing
 * more than that.
 */
export const MAX_CONNECT_BYTES = 16 * 1024;

const DEVICE_TOPIC_PREFIX = 'city/';
const SWEEP_MS = 10_000;
const LOG_EVERY_MS = 10_000;

const noopEvents: BrokerSecurityEvents = { connectionRefused() {}, throttled() {}, denied() {}, sessionLimit() {} };

/** What preConnect keeps of a CONNECT until authenticate decides it. */
interface PendingConnect {
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepalive: number;
  readonly protocolVersion: number;
  readonly willTopic: string | undefined;
}

/** The embedded broker: `start()` listens, `stop()` disconnects everyone and closes. */
export class MqttBroker {
  private readonly opts: BrokerOptions;
  private readonly events: BrokerSecurityEvents;
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly ipBuckets: KeyedTokenBuckets;
  private readonly pending = new WeakMap<Client, PendingConnect>();
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly authenticated = new Set<Client>();
  private readonly warnings = new Map<string, RateLimitedLog>();
  private readonly guardEvents: GuardEvents;
  private readonly conformance = new DeliveryConformance();
  private readonly telemetryRouting: TelemetryRouting;
  private readonly sessionLimits: SessionLimits;

  constructor(opts: BrokerOptions) {
    this.opts = opts;
    this.events = opts.events ?? noopEvents;
    this.ipBuckets = new KeyedTokenBuckets(opts.limits.ipConnectRate);
    this.telemetryRouting = new TelemetryRouting((filter) =>
      opts.log.info({ filter: truncate(filter) }, 'a subscription can match device telemetry: telemetry is routed to subscribers from now on'),
    );
    this.guardEvents = {
      violation: (v: GuardViolation, meta: ConnectionMeta, declaredBytes: number) => {
        this.events.connectionRefused(v);
        this.warn(v, { remoteAddress: meta.remoteAddress, declaredBytes, code: ErrorCodes.MQTT_LIMIT.code }, `connection cut: ${describeViolation(v, declaredBytes, opts.limits.maxPacketBytes)}`);
      },
      throttled: (meta: ConnectionMeta, limit: 'messages' | 'readings') => {
        this.events.throttled(limit);
        const why =
          limit === 'messages'
            ? `over CITYPIPE_MQTT_CLIENT_RATE (${opts.limits.clientMessageRate} packets/s)`
            : `over CITYPIPE_MQTT_CLIENT_READING_RATE (${opts.limits.clientReadingRate} readings/s)`;
        this.warn(`throttled:${limit}`, { remoteAddress: meta.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `client slowed down: ${why}`);
      },
    };
    this.sessionLimits = new SessionLimits(opts.limits.session, (limit, detail) => {
      this.events.sessionLimit(limit);
      this.warn(`session:${limit}`, { clientId: truncate(detail.clientId), topic: truncate(detail.topic), code: ErrorCodes.MQTT_LIMIT.code }, describeSessionLimit(limit, opts.limits.session));
    });
  }

  /** The TCP port the broker listens on (the real one when configured with 0). */
  get port(): number {
    return portOf(this.server);
  }

  /** The TLS port, or 0 without a TLS listener. */
  get tlsPort(): number {
    return portOf(this.tlsServer);
  }

  get listening(): boolean {
    return (this.server?.listening ?? false) && (this.opts.tls === undefined || (this.tlsServer?.listening ?? false));
  }

  /** Open MQTT connections: devices, accounts, and in lab mode anonymous clients. */
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /**
   * Distinct catalog devices with an authenticated connection now: a device connected twice counts
   * once; accounts and lab-mode anonymous clients (whatever devices they publish for) count none.
   * A pass over the authenticated connections: for stats, not per message.
   */
  get connectedDevices(): number {
    const ids = new Set<string>();
    for (const client of this.authenticated) {
      const identity = this.identities.get(client);
      if (!client.closed && identity?.kind === 'device') ids.add(identity.id);
    }
    return ids.size;
  }

  async start(): Promise<void> {
    const { log, limits } = this.opts;
    const aedes = await Aedes.createBroker({
      connectTimeout: limits.connectTimeoutMs,
      drainTimeout: limits.drainTimeoutMs,
      // aedes' own cap per connection; SessionLimits holds it per client id across reconnects.
      maxInflightInbound: limits.session.maxInflightQos2,
      preConnect: (client, packet, done) => this.preConnect(client, packet, done),
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.authorizeSubscribe(client, sub, done),
    });
    this.aedes = aedes;
    this.conformance.install(aedes);
    this.sessionLimits.install(aedes);
    this.telemetryRouting.install(aedes);
    openOnConnack(aedes);
    aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
    aedes.on('connectionError', (_client, err) => {
      if (err.message === 'connect did not arrive in time') this.events.connectionRefused('connect_timeout');
      log.debug({ err: err.message }, 'mqtt connection error');
    });
    aedes.on('clientDisconnect', (client) => this.authenticated.delete(client));

    const server = net.createServer((socket) => {
      if (this.admit(socket)) this.accept(socket, { remoteAddress: socket.remoteAddress });
    });
    this.server = server;
    this.capConnections(server);
    await listen(server, this.opts.port, this.opts.host, 'CITYPIPE_MQTT_PORT');
    server.on('error', (err) => log.error({ err, code: 'CP_ERR_MQTT_SERVER' }, 'mqtt listener error'));
    log.info({ host: this.opts.host, port: this.port }, 'mqtt broker listening');

    const t = this.opts.tls;
    if (t) {
      const tlsServer = tls.createServer(
        {
          cert: t.cert,
          key: t.key,
          minVersion: 'TLSv1.2',
          handshakeTimeout: limits.connectTimeoutMs,
          ...(t.clientCa ? { ca: t.clientCa, requestCert: true, rejectUnauthorized: t.requireClientCert } : {}),
        },
        (socket) => this.accept(socket, tlsMeta(socket)),
      );
      // Counted before the handshake: a refused address costs no TLS work.
      tlsServer.on('connection', (raw: Socket) => void this.admit(raw));
      tlsServer.on('tlsClientError', (err: Error & { code?: string }) => {
        // A hang-up before the handshake (a peer that went away, or one admit() just closed) is not
        // a TLS failure.
        if (err.code === 'ECONNRESET') return;
        this.events.connectionRefused('tls_handshake');
        this.warn('tls', { code: ErrorCodes.MQTT_AUTH.code, err: err.message }, 'TLS handshake failed');
      });
      this.tlsServer = tlsServer;
      this.capConnections(tlsServer);
      await listen(tlsServer, t.port, t.host, 'CITYPIPE_MQTT_TLS_PORT');
      tlsServer.on('error', (err) => log.error({ err, code: 'CP_ERR_MQTT_SERVER' }, 'mqtt TLS listener error'));
      log.info({ host: t.host, port: this.tlsPort, clientCertificates: t.clientCa ? (t.requireClientCert ? 'required' : 'optional') : 'off' }, 'mqtt TLS listener listening');
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Publishes a message from citypipe itself (rule events); resolves once routed. */
  publish(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker not started'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload, qos: opts.qos ?? 0, retain: opts.retain ?? false, dup: false },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  /**
   * Disconnects every authenticated client whose identity `keep` no longer accepts (a device
   * revoked, removed, or given a new secret). Returns how many were disconnected.
   */
  revalidate(keep: (identity: Identity) => boolean): number {
    let dropped = 0;
    for (const client of this.authenticated) {
      const identity = this.identities.get(client);
      if (client.closed || identity === undefined) {
        this.authenticated.delete(client);
        continue;
      }
      if (keep(identity)) continue;
      this.authenticated.delete(client);
      this.opts.log.warn({ clientId: client.id, deviceId: identityName(identity), code: ErrorCodes.MQTT_AUTH.code }, 'disconnected: its credentials are no longer valid (revoked, removed or rotated)');
      client.close();
      dropped++;
    }
    return dropped;
  }

  /** Stops accepting connections, disconnects clients and closes the broker. */
  async stop(): Promise<void> {
    const servers = [this.server, this.tlsServer].filter((s): s is net.Server => s !== undefined);
    const aedes = this.aedes;
    this.server = undefined;
    this.tlsServer = undefined;
    this.aedes = undefined;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    // Clients are closed by aedes.close(); server.close() then completes once sockets are gone.
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await Promise.all(closed);
  }

  // -----------------------------------------------------------------------------------------------
  // Connections

  /** Node closes connections over `maxConnections` itself; 'drop' says when it did. */
  private capConnections(server: net.Server): void {
    server.maxConnections = this.opts.limits.maxConnections;
    server.on('drop', (data?: { remoteAddress?: string }) => {
      this.events.connectionRefused('max_connections');
      this.warn('max_connections', { remoteAddress: data?.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `connection refused: ${this.opts.limits.maxConnections} open connections (CITYPIPE_MQTT_MAX_CONNECTIONS)`);
    });
  }

  /** The per-address connection rate, checked before a byte is read. */
  private admit(socket: Socket): boolean {
    if (this.ipBuckets.take(addressKey(socket.remoteAddress))) return true;
    this.events.connectionRefused('ip_rate');
    this.warn('ip_rate', { remoteAddress: socket.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `connection refused: over CITYPIPE_MQTT_IP_CONNECT_RATE (${this.opts.limits.ipConnectRate}/s from one address)`);
    socket.destroy();
    return false;
  }

  private accept(socket: Socket, meta: ConnectionMeta): void {
    const aedes = this.aedes;
    if (!aedes) {
      socket.destroy();
      return;
    }
    const { limits } = this.opts;
    const bucket = limits.clientMessageRate > 0 ? new TokenBucket(limits.clientMessageRate) : undefined;
    const readings = limits.clientReadingRate > 0 ? new TokenBucket(limits.clientReadingRate) : undefined;
    const scanner = new FixedHeaderScanner({ maxPacketBytes: limits.maxPacketBytes, maxConnectBytes: Math.min(MAX_CONNECT_BYTES, limits.maxPacketBytes) }, bucket, readings);
    aedes.handle(new GuardedConnection(socket, scanner, meta, this.guardEvents));
  }

  private preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
    // Nothing of the session this client id names is touched here: that waits until authenticate
    // accepted the client, or anyone could reset a device's session by sending its client id.
    this.pending.set(client, {
      clientId: packet.clientId ?? '',
      clean: packet.clean !== false,
      keepalive: packet.keepalive ?? 0,
      protocolVersion: packet.protocolVersion ?? 4,
      willTopic: packet.will?.topic,
    });
    done(null, true);
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const { log, limits, open } = this.opts;
    const connect = this.pending.get(client);
    this.pending.delete(client);
    const meta = client.conn instanceof GuardedConnection ? client.conn.meta : undefined;
    const context = { clientId: truncate(connect?.clientId ?? client.id), deviceId: truncate(username), remoteAddress: meta?.remoteAddress };
    const refuse = (returnCode: 2 | 3 | 4 | 5, reason: string, message: string): void => {
      this.events.connectionRefused(reason);
      this.warn(`auth:${reason}`, { ...context, code: ErrorCodes.MQTT_AUTH.code }, `connection refused: ${message}`);
      const err = new Error(message) as AuthenticateError;
      err.returnCode = returnCode as AuthenticateError['returnCode'];
      done(err, false);
    };
    if (connect === undefined) return refuse(3, 'internal', 'CONNECT was not seen by preConnect');
    // The session checks come first and hold in lab mode too: they are MQTT 3.1.1 itself.
    if (connect.clientId === '' && !connect.clean) {
      return refuse(2, 'client_id', 'a zero-length client id needs clean session 1 [MQTT-3.1.3-8]');
    }
    if (topicProblem(connect.clientId) === 'malformed') return refuse(2, 'client_id', 'the client id is not valid UTF-8');
    if (connect.keepalive === 0 && !limits.allowZeroKeepalive) {
      return refuse(2, 'keepalive', `keep alive 0 (none) is not accepted: ask for 1..${limits.maxKeepaliveS} s, or allow it with CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE=true`);
    }
    if (connect.keepalive > limits.maxKeepaliveS) {
      return refuse(2, 'keepalive', `keep alive ${connect.keepalive} s is over ${limits.maxKeepaliveS} s (CITYPIPE_MQTT_MAX_KEEPALIVE_S)`);
    }
    if (connect.willTopic !== undefined && topicProblem(connect.willTopic) !== undefined) {
      return refuse(5, 'will_topic', `a Will on ${truncate(connect.willTopic)} is not allowed`);
    }
    if (meta?.tls?.presented && !meta.tls.authorized) {
      return refuse(5, 'certificate', `the client certificate was not accepted: ${meta.tls.error ?? 'not signed by CITYPIPE_MQTT_TLS_CA'}`);
    }
    const certificateName = meta?.tls?.authorized ? meta.tls.commonName : undefined;
    const accept = (): void => {
      // Before aedes restores or adds any subscription of it (those capture its delivery functions).
      this.conformance.attach(client, connect.clean, connect.clientId);
      done(null, true);
    };

    const finish = (decision: AuthDecision): void => {
      switch (decision.outcome) {
        case 'ok': {
          const identity = decision.identity;
          if (!open) {
            // A zero-length client id (clean session) gets a random one from aedes: nobody can claim it.
            if (connect.clientId !== '' && !clientIdBelongsTo(identity, connect.clientId)) {
              return refuse(2, 'client_id', `client id ${truncate(connect.clientId)} does not belong to ${identityName(identity)}: use "${identityName(identity)}" or "${identityName(identity)}:<anything>"`);
            }
            if (connect.willTopic !== undefined && !mayPublish(identity, connect.willTopic)) {
              return refuse(5, 'will_topic', `a Will on ${truncate(connect.willTopic)} is outside what ${identityName(identity)} may publish`);
            }
          }
          this.identities.set(client, identity);
          this.authenticated.add(client);
          return accept();
        }
        case 'anonymous':
          if (open) return accept();
          return refuse(5, 'anonymous', 'no credentials: a device connects with username = its id and its secret (anonymous clients are accepted only in lab mode, CITYPIPE_MQTT_OPEN=true)');
        case 'bad_credentials':
          return refuse(4, 'bad_credentials', `bad username or password: ${decision.reason}`);
        case 'not_authorized':
          return refuse(5, 'not_authorized', `not authorized: ${decision.reason}`);
      }
    };
    const failed = (err: unknown): void => {
      log.error({ err, ...context, code: ErrorCodes.MQTT_AUTH.code }, 'authentication failed');
      refuse(3, 'internal', 'server unavailable');
    };
    try {
      const decision = this.opts.authenticate({ username, password, certificateName });
      if ('outcome' in decision) finish(decision);
      else decision.then(finish, failed);
    } catch (err) {
      failed(err);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Topics

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const topic = packet.topic;
    // citypipe's own publishes (rule events) carry no client.
    if (client === null) return done(null);
    const identity = this.identities.get(client);
    const problem = topicProblem(topic);
    if (problem !== undefined || (!this.opts.open && (identity === undefined || !mayPublish(identity, topic)))) {
      this.events.denied('publish');
      const name = identity === undefined ? undefined : identityName(identity);
      const why = problem === 'reserved' ? '$SYS topics are the broker\'s' : problem === 'malformed' ? 'the topic is not valid UTF-8' : `${name ?? 'this client'} may not publish there`;
      this.warn('deny:publish', { clientId: client.id, deviceId: name, topic: truncate(topic), code: ErrorCodes.MQTT_ACL_DENIED.code }, `publish refused, connection closed: ${why}`);
      return done(new CitypipeError(ErrorCodes.MQTT_ACL_DENIED, `publish to ${truncate(topic)} refused: ${why}`));
    }
    if (!topic.startsWith(DEVICE_TOPIC_PREFIX) || topic.startsWith(EVENTS_PREFIX)) return done(null);
    let claimed = false;
    if (packet.qos === 2) {
      // The reading goes to the spool here, at the PUBLISH, not at the PUBREL: a PUBLISH sent again
      // (DUP) before PUBREL, on this connection or after a reconnect, is the same reading.
      const claim = this.sessionLimits.claimInbound(client.id, packet.messageId ?? 0);
      if (claim === 'duplicate') return done(null);
      if (claim === 'full') {
        return done(new CitypipeError(ErrorCodes.MQTT_LIMIT, `${this.opts.limits.session.maxInflightQos2} QoS 2 messages of ${truncate(client.id)} await PUBREL (CITYPIPE_MQTT_MAX_INFLIGHT_QOS2): connection closed`));
      }
      claimed = true;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const conn = client.conn instanceof GuardedConnection ? client.conn : undefined;
    const readings = this.opts.onTelemetry(
      { topic, payload, receivedAt: Date.now(), clientId: client.id, username: identity === undefined ? undefined : identityName(identity) },
      (err) => {
        if (err !== undefined && claimed) this.sessionLimits.releaseInbound(client.id, packet.messageId ?? 0);
        // aedes writes the PUBACK from inside done(); a spool group releases many at once, so a
        // connection's PUBACKs of one group are corked into one write.
        if (conn !== undefined && err === undefined && packet.qos > 0) conn.corkUntilNextTurn();
        done(err ?? null);
      },
    );
    conn?.chargeReadings(readings);
  }

  private authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const identity = this.identities.get(client);
    if (topicProblem(sub.topic) === 'malformed' || (!this.opts.open && (identity === undefined || !maySubscribe(identity, sub.topic)))) {
      this.events.denied('subscribe');
      this.warn('deny:subscribe', { clientId: client.id, deviceId: identity && identityName(identity), topic: truncate(sub.topic), code: ErrorCodes.MQTT_ACL_DENIED.code }, 'subscription refused (SUBACK 0x80)');
      // A null subscription is a SUBACK failure (0x80) for this filter; the connection stays.
      return done(null, null);
    }
    this.telemetryRouting.observe(sub.topic);
    done(null, sub);
  }

  // -----------------------------------------------------------------------------------------------

  private sweep(): void {
    this.ipBuckets.sweep();
    for (const client of this.authenticated) if (client.closed) this.authenticated.delete(client);
  }

  /** Warnings that an attacker can trigger at will are logged at most once per 10 s per kind. */
  private warn(kind: string, fields: Record<string, unknown>, message: string): void {
    let log = this.warnings.get(kind);
    if (log === undefined) {
      log = new RateLimitedLog(this.opts.log, LOG_EVERY_MS);
      this.warnings.set(kind, log);
    }
    log.warn(fields, message);
  }
}

function portOf(server: net.Server | undefined): number {
  const addr = server?.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

function listen(server: net.Server, port: number, host: string, key: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(
          new CitypipeError(
            ErrorCodes.PORT_IN_USE,
            `${key}: port ${port} on ${host} is already in use (another MQTT broker such as mosquitto?). Stop it or set ${key} to a free port.`,
            { cause: err },
          ),
        );
      } else reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // A fleet reconnecting at once (after a network outage) overflows Node's default accept queue
    // of 511; dropped handshakes then wait out TCP's retransmission backoff. The kernel caps this at
    // net.core.somaxconn (README "Security"). Measured in docs/BENCHMARKS.md (reconnect burst).
    server.listen({ port, host, backlog: LISTEN_BACKLOG });
  });
}

const LISTEN_BACKLOG = 4096;

function tlsMeta(socket: tls.TLSSocket): ConnectionMeta {
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  const cn = presented ? cert.subject?.CN : undefined;
  const err = socket.authorizationError as unknown;
  return {
    remoteAddress: socket.remoteAddress,
    tls: {
      authorized: presented && socket.authorized,
      presented,
      commonName: Array.isArray(cn) ? undefined : cn,
      error: err === null || err === undefined ? undefined : String(err),
    },
  };
}

function describeSessionLimit(limit: SessionLimit, caps: SessionCaps): string {
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

function describeViolation(v: GuardViolation, declared: number, maxPacket: number): string {
  switch (v) {
    case 'packet_too_large':
      return `a packet declared ${declared} bytes, over CITYPIPE_MQTT_MAX_PACKET_BYTES (${maxPacket})`;
    case 'connect_too_large':
      return `the first packet declared ${declared} bytes, over the ${Math.min(MAX_CONNECT_BYTES, maxPacket)} a CONNECT may have`;
    case 'first_packet_not_connect':
      return 'the first packet was not a CONNECT';
    case 'malformed_length':
      return 'a packet length longer than 4 bytes';
  }
}

/** Client-supplied strings go into logs bounded: a 64 KiB client id must not become a 64 KiB line. */
function truncate(s: string | undefined): string | undefined {
  return s === undefined || s.length <= 80 ? s : `${s.slice(0, 80)}…`;
}
