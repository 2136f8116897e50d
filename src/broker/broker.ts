/**
 * The receive stage: an embedded aedes MQTT 3.1.1 broker on TCP (and optionally TLS). It knows
 * nothing of readings; it decides who may connect and which topics each client may use (the aedes
 * hooks in client-hooks.ts, the rules in acl.ts), holds every connection to its limits
 * (packet-guard.ts), and hands every device PUBLISH under `city/` to `onTelemetry`. This file is the
 * lifecycle and the connections: listeners, admission per address, and the parts installed on aedes.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Aedes } from 'aedes';
import type { Logger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import { ErrorCodes } from '../errors/catalog.js';
import { addressKey, KeyedTokenBuckets, TokenBucket } from '../security/token-bucket.js';
import type { Identity } from './acl.js';
import { ClientHooks } from './client-hooks.js';
import { DeliveryConformance } from './conformance.js';
import { listen, portOf, tlsMeta } from './listeners.js';
import { FixedHeaderScanner, GuardedConnection, openOnConnack, type ConnectionMeta, type GuardEvents, type GuardViolation } from './packet-guard.js';
import { SessionLimits, type SessionCaps, type SessionLimit } from './session-limits.js';
import { TelemetryRouting } from './telemetry-route.js';
import { BrokerWarnings, describeSessionLimit, describeViolation, truncate } from './warnings.js';

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

const SWEEP_MS = 10_000;

const noopEvents: BrokerSecurityEvents = { connectionRefused() {}, throttled() {}, denied() {}, sessionLimit() {} };

/** The embedded broker: `start()` listens, `stop()` disconnects everyone and closes. */
export class MqttBroker {
  private readonly opts: BrokerOptions;
  private readonly events: BrokerSecurityEvents;
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly ipBuckets: KeyedTokenBuckets;
  private readonly warnings: BrokerWarnings;
  private readonly guardEvents: GuardEvents;
  private readonly conformance = new DeliveryConformance();
  private readonly telemetryRouting: TelemetryRouting;
  private readonly sessionLimits: SessionLimits;
  private readonly hooks: ClientHooks;

  constructor(opts: BrokerOptions) {
    this.opts = opts;
    this.events = opts.events ?? noopEvents;
    this.ipBuckets = new KeyedTokenBuckets(opts.limits.ipConnectRate);
    this.warnings = new BrokerWarnings(opts.log);
    this.telemetryRouting = new TelemetryRouting((filter) =>
      opts.log.info({ filter: truncate(filter) }, 'a subscription can match device telemetry: telemetry is routed to subscribers from now on'),
    );
    this.guardEvents = {
      violation: (v: GuardViolation, meta: ConnectionMeta, declaredBytes: number) => {
        this.events.connectionRefused(v);
        this.warnings.warn(v, { remoteAddress: meta.remoteAddress, declaredBytes, code: ErrorCodes.MQTT_LIMIT.code }, `connection cut: ${describeViolation(v, declaredBytes, opts.limits.maxPacketBytes, Math.min(MAX_CONNECT_BYTES, opts.limits.maxPacketBytes))}`);
      },
      throttled: (meta: ConnectionMeta, limit: 'messages' | 'readings') => {
        this.events.throttled(limit);
        const why =
          limit === 'messages'
            ? `over CITYPIPE_MQTT_CLIENT_RATE (${opts.limits.clientMessageRate} packets/s)`
            : `over CITYPIPE_MQTT_CLIENT_READING_RATE (${opts.limits.clientReadingRate} readings/s)`;
        this.warnings.warn(`throttled:${limit}`, { remoteAddress: meta.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `client slowed down: ${why}`);
      },
    };
    this.sessionLimits = new SessionLimits(opts.limits.session, (limit, detail) => {
      this.events.sessionLimit(limit);
      this.warnings.warn(`session:${limit}`, { clientId: truncate(detail.clientId), topic: truncate(detail.topic), code: ErrorCodes.MQTT_LIMIT.code }, describeSessionLimit(limit, opts.limits.session));
    });
    this.hooks = new ClientHooks(opts, {
      events: this.events,
      warnings: this.warnings,
      conformance: this.conformance,
      sessionLimits: this.sessionLimits,
      telemetryRouting: this.telemetryRouting,
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

  /** Distinct catalog devices with an authenticated connection now (see {@link ClientHooks.connectedDevices}). */
  get connectedDevices(): number {
    return this.hooks.connectedDevices();
  }

  async start(): Promise<void> {
    const { log, limits } = this.opts;
    const hooks = this.hooks;
    const aedes = await Aedes.createBroker({
      connectTimeout: limits.connectTimeoutMs,
      drainTimeout: limits.drainTimeoutMs,
      // aedes' own cap per connection; SessionLimits holds it per client id across reconnects.
      maxInflightInbound: limits.session.maxInflightQos2,
      preConnect: (client, packet, done) => hooks.preConnect(client, packet, done),
      authenticate: (client, username, password, done) => hooks.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => hooks.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => hooks.authorizeSubscribe(client, sub, done),
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
    aedes.on('clientDisconnect', (client) => hooks.forget(client));

    const server = net.createServer((socket) => {
      if (this.admit(socket)) this.accept(socket, { remoteAddress: socket.remoteAddress });
    });
    this.server = server;
    this.capConnections(server);
    await listen(server, this.opts.port, this.opts.host, 'CITYPIPE_MQTT_PORT');
    server.on('error', (err) => log.error({ err, code: ErrorCodes.MQTT_SERVER.code }, 'mqtt listener error'));
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
        this.warnings.warn('tls', { code: ErrorCodes.MQTT_AUTH.code, err: err.message }, 'TLS handshake failed');
      });
      this.tlsServer = tlsServer;
      this.capConnections(tlsServer);
      await listen(tlsServer, t.port, t.host, 'CITYPIPE_MQTT_TLS_PORT');
      tlsServer.on('error', (err) => log.error({ err, code: ErrorCodes.MQTT_SERVER.code }, 'mqtt TLS listener error'));
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
    return this.hooks.revalidate(keep);
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
      this.warnings.warn('max_connections', { remoteAddress: data?.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `connection refused: ${this.opts.limits.maxConnections} open connections (CITYPIPE_MQTT_MAX_CONNECTIONS)`);
    });
  }

  /** The per-address connection rate, checked before a byte is read. */
  private admit(socket: Socket): boolean {
    if (this.ipBuckets.take(addressKey(socket.remoteAddress))) return true;
    this.events.connectionRefused('ip_rate');
    this.warnings.warn('ip_rate', { remoteAddress: socket.remoteAddress, code: ErrorCodes.MQTT_LIMIT.code }, `connection refused: over CITYPIPE_MQTT_IP_CONNECT_RATE (${this.opts.limits.ipConnectRate}/s from one address)`);
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

  // -----------------------------------------------------------------------------------------------

  private sweep(): void {
    this.ipBuckets.sweep();
    this.hooks.sweep();
  }
}
