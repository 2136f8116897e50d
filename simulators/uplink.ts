/**
 * One MQTT connection of the simulated fleet: a device's own, or a multiplexing gateway's that
 * carries many devices. It knows nothing of readings; it says when it is up or down and counts what
 * is in flight, so the fleet can buffer while it is down and hold back when the broker is slow.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

/** How an uplink connects. */
export interface UplinkOptions {
  url: string;
  clientId: string;
  /** Omitted: an anonymous connection (a multiplexing gateway). */
  username?: string | undefined;
  password?: string | undefined;
  /** Last Will, for a device's own connection: its `status` topic, `offline`, retained. */
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean } | undefined;
  /** Delay before each reconnect attempt. */
  reconnectPeriodMs: number;
  /** How long to wait for CONNACK. */
  connectTimeoutMs: number;
}

/** What an uplink reports to its owner. Listeners must not throw. */
export interface UplinkEvents {
  /** Connected (again) and every message the client had kept from before was sent. */
  onUp(): void;
  /** The connection was lost (not called for a deliberate stop). */
  onDown(): void;
  /** A connection attempt or the connection failed; `code` is the MQTT or socket error code. */
  onError(code: string, message: string): void;
}

const STOP_TIMEOUT_MS = 5_000;

/** An MQTT connection that reconnects on its own. */
export class Uplink {
  readonly clientId: string;
  private readonly opts: UplinkOptions;
  private readonly events: UplinkEvents;
  private client: MqttClient | undefined;
  private isUp = false;
  private stopping = false;
  private pending = 0;

  constructor(opts: UplinkOptions, events: UplinkEvents) {
    this.opts = opts;
    this.events = events;
    this.clientId = opts.clientId;
  }

  /** True while connected (after CONNACK and after the client's own backlog went out). */
  get up(): boolean {
    return this.isUp;
  }

  /** Publishes whose acknowledgement (QoS 1) or socket write (QoS 0) has not come back yet. */
  get inFlight(): number {
    return this.pending;
  }

  /**
   * Opens the connection. Resolves after the first attempt succeeded or failed, or after the connect
   * timeout; the client keeps retrying in the background either way.
   */
  connect(): Promise<void> {
    // A fleet stopped while it was still connecting must not open connections afterwards.
    if (this.stopping || this.client) return Promise.resolve();
    const o = this.opts;
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: o.reconnectPeriodMs,
      // A refused CONNECT is retried too, as field devices do: the service may not yet have loaded a
      // catalog file that was just generated, or may be restarting.
      reconnectOnConnackError: true,
      connectTimeout: o.connectTimeoutMs,
    };
    if (o.username !== undefined) options.username = o.username;
    if (o.password !== undefined) options.password = o.password;
    if (o.will) options.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: o.will.retain };
    const client = connect(o.url, options);
    this.client = client;

    // mqtt.js emits `connect` only after it has re-sent the QoS 1 messages it kept across the drop,
    // so whatever the owner publishes from onUp comes after them, in order.
    client.on('connect', () => {
      this.isUp = true;
      this.events.onUp();
    });
    client.on('close', () => {
      if (!this.isUp) return;
      this.isUp = false;
      if (!this.stopping) this.events.onDown();
    });
    client.on('error', (err: Error & { code?: string | number }) => {
      this.events.onError(String(err.code ?? 'CP_SIM_MQTT_ERROR'), err.message);
    });

    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('connect', done);
        client.off('error', done);
        client.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, o.connectTimeoutMs);
      client.on('connect', done);
      client.on('error', done);
      client.on('close', done);
    });
  }

  /**
   * Publishes; `done` is called once with the outcome. A QoS 1 message published while the socket is
   * going down is kept by mqtt.js and sent again after reconnecting, so it is not lost.
   */
  publish(topic: string, payload: string, qos: 0 | 1, retain: boolean, done: (err?: Error) => void): void {
    const client = this.client;
    if (!client) {
      done(new Error('not connected'));
      return;
    }
    this.pending++;
    client.publish(topic, payload, { qos, retain }, (err) => {
      this.pending--;
      done(err ?? undefined);
    });
  }

  /**
   * Ends the connection: `goodbye` runs first while still connected (the devices' `offline`
   * statuses), then a clean DISCONNECT that waits for acknowledgements, forced after a timeout.
   */
  async stop(goodbye?: () => Promise<void>): Promise<void> {
    this.stopping = true;
    const client = this.client;
    if (!client) return;
    if (this.isUp) {
      if (goodbye) await goodbye().catch(() => undefined);
      try {
        await withTimeout(client.endAsync(), STOP_TIMEOUT_MS);
        this.isUp = false;
        return;
      } catch {
        // fall through to a forced end
      }
    }
    this.isUp = false;
    await client.endAsync(true);
  }
}

/** `promise`, or a rejection after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
