/**
 * The receive stage: an embedded aedes MQTT 3.1.1 broker on TCP. It knows nothing of readings; it
 * hands every device PUBLISH under `city/` to `onTelemetry` and lets the rest of MQTT be MQTT.
 */
import net from 'node:net';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { Logger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';

/** What the broker asks of whoever decides who may connect. */
export type AuthDecision = 'ok' | 'anonymous' | 'bad_credentials';

export interface BrokerOptions {
  host: string;
  port: number;
  log: Logger;
  /**
   * Decides a CONNECT. `username`/`password` are undefined when the client sent none.
   * Must be cheap or asynchronous: it runs once per connection attempt.
   */
  authenticate: (username: string | undefined, password: Buffer | undefined) => AuthDecision | Promise<AuthDecision>;
  allowAnonymous: boolean;
  /**
   * Takes a device publish. Called from aedes' `authorizePublish`, which completes before the QoS 1
   * PUBACK is sent: the PUBACK goes out only after `done()`, so whatever this stores before calling
   * it is what the device is told was received. `done(err)` refuses the publish: the device gets no
   * PUBACK (aedes closes the connection; MQTT 3.1.1 has no negative acknowledgement) and keeps its
   * data to send again.
   */
  onTelemetry: (msg: RawMessage, done: (err?: Error) => void) => void;
}

const DEVICE_TOPIC_PREFIX = 'city/';
const EVENTS_TOPIC_PREFIX = 'city/events/';

export class MqttBroker {
  private readonly opts: BrokerOptions;
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private readonly usernames = new WeakMap<Client, string>();

  constructor(opts: BrokerOptions) {
    this.opts = opts;
  }

  /** The TCP port the broker listens on (the real one when configured with 0). */
  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
    });
    this.aedes = aedes;
    aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
    aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'));

    const server = net.createServer(aedes.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        if (err.code === 'EADDRINUSE') {
          reject(
            new CitypipeError(
              ErrorCodes.PORT_IN_USE,
              `CITYPIPE_MQTT_PORT: port ${this.opts.port} on ${this.opts.host} is already in use (another MQTT broker such as mosquitto?). Stop it or set CITYPIPE_MQTT_PORT to a free port.`,
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
      server.listen(this.opts.port, this.opts.host);
    });
    server.on('error', (err) => log.error({ err, code: 'CP_ERR_MQTT_SERVER' }, 'mqtt listener error'));
    log.info({ host: this.opts.host, port: this.port }, 'mqtt broker listening');
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

  /** Stops accepting connections, disconnects clients and closes the broker. */
  async stop(): Promise<void> {
    const server = this.server;
    const aedes = this.aedes;
    this.server = undefined;
    this.aedes = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Clients are closed by aedes.close(); server.close() then completes once sockets are gone.
      if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closed;
    } else if (aedes) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const refuse = (returnCode: number, message: string) => {
      const err = new Error(message) as AuthenticateError;
      err.returnCode = returnCode as AuthenticateError['returnCode'];
      done(err, false);
    };
    const finish = (decision: AuthDecision) => {
      if (decision === 'ok') {
        if (username !== undefined) this.usernames.set(client, username);
        done(null, true);
      } else if (decision === 'anonymous' && this.opts.allowAnonymous) {
        done(null, true);
      } else if (decision === 'anonymous') {
        this.opts.log.warn({ clientId: client.id, code: 'CP_ERR_MQTT_AUTH' }, 'anonymous connection refused');
        refuse(5, 'not authorized');
      } else {
        this.opts.log.warn({ clientId: client.id, deviceId: username, code: 'CP_ERR_MQTT_AUTH' }, 'bad username or password');
        refuse(4, 'bad username or password');
      }
    };
    try {
      const decision = this.opts.authenticate(username, password);
      if (typeof decision === 'string') finish(decision);
      else
        decision.then(finish, (err: unknown) => {
          this.opts.log.error({ err, clientId: client.id, code: 'CP_ERR_MQTT_AUTH' }, 'authentication failed');
          refuse(3, 'server unavailable');
        });
    } catch (err) {
      this.opts.log.error({ err, clientId: client.id, code: 'CP_ERR_MQTT_AUTH' }, 'authentication failed');
      refuse(3, 'server unavailable');
    }
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const topic = packet.topic;
    if (client === null || !topic.startsWith(DEVICE_TOPIC_PREFIX) || topic.startsWith(EVENTS_TOPIC_PREFIX)) return done(null);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.opts.onTelemetry(
      { topic, payload, receivedAt: Date.now(), clientId: client.id, username: this.usernames.get(client) },
      (err) => done(err ?? null),
    );
  }
}
