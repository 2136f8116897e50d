/**
 * The aedes hooks: who may connect (preConnect, authenticate) and what each client may publish and
 * subscribe to (authorizePublish, authorizeSubscribe), one method per hook with aedes' own signature.
 * Device publishes under `city/` go from authorizePublish to `onTelemetry`: this is the per-message
 * path, so it does what the decision needs and nothing more. Also the record of who authenticated as
 * whom, which a catalog reload checks again (`revalidate`).
 */
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { clientIdBelongsTo, EVENTS_PREFIX, identityName, mayPublish, maySubscribe, NETWORK_SERVER_PREFIX, topicProblem, type Identity } from './acl.js';
import type { AuthDecision, BrokerOptions, BrokerSecurityEvents } from './broker.js';
import type { DeliveryConformance } from './conformance.js';
import { GuardedConnection } from './packet-guard.js';
import type { SessionLimits } from './session-limits.js';
import type { TelemetryRouting } from './telemetry-route.js';
import { truncate, type BrokerWarnings } from './warnings.js';

const DEVICE_TOPIC_PREFIX = 'city/';

/** What preConnect keeps of a CONNECT until authenticate decides it. */
interface PendingConnect {
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepalive: number;
  readonly protocolVersion: number;
  readonly willTopic: string | undefined;
}

/** The parts of the broker the hooks act on; built and installed on aedes by the broker. */
export interface ClientHooksParts {
  readonly events: BrokerSecurityEvents;
  readonly warnings: BrokerWarnings;
  readonly conformance: DeliveryConformance;
  readonly sessionLimits: SessionLimits;
  readonly telemetryRouting: TelemetryRouting;
}

/** The broker hands aedes one closure per hook that calls the method of the same name here. */
export class ClientHooks {
  private readonly opts: BrokerOptions;
  private readonly events: BrokerSecurityEvents;
  private readonly warnings: BrokerWarnings;
  private readonly conformance: DeliveryConformance;
  private readonly sessionLimits: SessionLimits;
  private readonly telemetryRouting: TelemetryRouting;
  private readonly pending = new WeakMap<Client, PendingConnect>();
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly authenticated = new Set<Client>();

  constructor(opts: BrokerOptions, parts: ClientHooksParts) {
    this.opts = opts;
    this.events = parts.events;
    this.warnings = parts.warnings;
    this.conformance = parts.conformance;
    this.sessionLimits = parts.sessionLimits;
    this.telemetryRouting = parts.telemetryRouting;
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

  /** A client that disconnected is no longer checked by `revalidate`. */
  forget(client: Client): void {
    this.authenticated.delete(client);
  }

  /** Drops clients that closed without a disconnect event reaching us. */
  sweep(): void {
    for (const client of this.authenticated) if (client.closed) this.authenticated.delete(client);
  }

  /**
   * Distinct catalog devices with an authenticated connection now: a device connected twice counts
   * once; accounts and lab-mode anonymous clients (whatever devices they publish for) count none.
   * A pass over the authenticated connections: for stats, not per message.
   */
  connectedDevices(): number {
    const ids = new Set<string>();
    for (const client of this.authenticated) {
      const identity = this.identities.get(client);
      if (!client.closed && identity?.kind === 'device') ids.add(identity.id);
    }
    return ids.size;
  }


  preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
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

  authenticate(
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
      this.warnings.warn(`auth:${reason}`, { ...context, code: ErrorCodes.MQTT_AUTH.code }, `connection refused: ${message}`);
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
          if (identity.kind === 'account' && identity.role === 'network-server' && client.conn instanceof GuardedConnection) client.conn.unlimit();
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

  authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const topic = packet.topic;
    // citypipe's own publishes (rule events) carry no client.
    if (client === null) return done(null);
    const identity = this.identities.get(client);
    const problem = topicProblem(topic);
    if (problem !== undefined || (!this.opts.open && (identity === undefined || !mayPublish(identity, topic)))) {
      this.events.denied('publish');
      const name = identity === undefined ? undefined : identityName(identity);
      const why = problem === 'reserved' ? '$SYS topics are the broker\'s' : problem === 'malformed' ? 'the topic is not valid UTF-8' : `${name ?? 'this client'} may not publish there`;
      this.warnings.warn('deny:publish', { clientId: client.id, deviceId: name, topic: truncate(topic), code: ErrorCodes.MQTT_ACL_DENIED.code }, `publish refused, connection closed: ${why}`);
      return done(new CitypipeError(ErrorCodes.MQTT_ACL_DENIED, `publish to ${truncate(topic)} refused: ${why}`));
    }
    // Readings: a device's under `city/`, and a network server's uplink events (the ACL above let
    // only a network-server account publish under `application/`).
    if ((!topic.startsWith(DEVICE_TOPIC_PREFIX) || topic.startsWith(EVENTS_PREFIX)) && !topic.startsWith(NETWORK_SERVER_PREFIX)) return done(null);
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

  authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const identity = this.identities.get(client);
    if (topicProblem(sub.topic) === 'malformed' || (!this.opts.open && (identity === undefined || !maySubscribe(identity, sub.topic)))) {
      this.events.denied('subscribe');
      this.warnings.warn('deny:subscribe', { clientId: client.id, deviceId: identity && identityName(identity), topic: truncate(sub.topic), code: ErrorCodes.MQTT_ACL_DENIED.code }, 'subscription refused (SUBACK 0x80)');
      // A null subscription is a SUBACK failure (0x80) for this filter; the connection stays.
      return done(null, null);
    }
    this.telemetryRouting.observe(sub.topic);
    done(null, sub);
  }
}
