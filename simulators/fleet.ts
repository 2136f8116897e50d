/**
 * A simulated fleet over real MQTT: every device its own mqtt.js connection, authenticating as
 * itself, with its Last Will, its own topics and its own reporting interval, so that citypipe sees
 * exactly what a city's devices would send.
 */
import { connect, type MqttClient } from 'mqtt';
import type { DeviceRecord } from '../src/catalog/types.js';
import { silentLogger, type Logger } from '../src/observability/logger.js';
import { modelFor } from './index.js';
import type { AnyDeviceModel } from './model.js';
import { deviceSeed, mulberry32, uniform, type Rng } from './prng.js';

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  mqttUrl: string;
  devices: readonly DeviceRecord[];
  /** Device id → plaintext secret. A device not in the map connects with its username only. */
  credentials?: ReadonlyMap<string, string>;
  /** Seconds between readings for every device, overriding each one's `reportingIntervalS` (e.g. 5 for a demo). */
  intervalS?: number;
  /** QoS of readings and status messages; default 1. */
  qos?: 0 | 1;
  /** Seed of the behaviour models; the same seed and catalog repeat the same readings. Default 1. */
  seed?: number;
  log?: Logger;
  /** Each device's first reading comes at a random moment within this many ms of start; default 2000. */
  firstWithinMs?: number;
  /** How long `startFleet` waits for the first connection attempts before returning; default 10 000. */
  connectTimeoutMs?: number;
}

/** Counters of a running fleet. */
export interface FleetStats {
  /** Devices connected right now. */
  connected: number;
  /** Readings the broker acknowledged (QoS 1) or that were written to the socket (QoS 0). */
  published: number;
  /** Connection failures and failed publishes. */
  errors: number;
  /** Readings a device took while disconnected and so never sent; its `seq` shows the gap. */
  skipped: number;
}

/** A running fleet. */
export interface Fleet {
  /** Publishes `offline` for every connected device, then disconnects them all cleanly. Idempotent. */
  stop(): Promise<void>;
  stats(): FleetStats;
}

const STOP_TIMEOUT_MS = 5_000;

/**
 * Connects every device and starts publishing. Resolves once every device has connected or failed
 * its first attempt (a device that failed keeps retrying in the background; see `stats()` and the
 * log). Throws only for options that cannot work: a device type without a model, a bad interval.
 */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const intervalS = opts.intervalS;
  if (intervalS !== undefined && !(Number.isFinite(intervalS) && intervalS > 0)) {
    throw new Error(`intervalS must be a number of seconds > 0, got ${intervalS}`);
  }
  const firstWithinMs = opts.firstWithinMs ?? 2_000;
  if (!(Number.isFinite(firstWithinMs) && firstWithinMs >= 0)) throw new Error(`firstWithinMs must be ≥ 0, got ${firstWithinMs}`);
  const seed = opts.seed ?? 1;
  const log = (opts.log ?? silentLogger).child({ stage: 'simulator' });
  const counters: FleetStats = { connected: 0, published: 0, errors: 0, skipped: 0 };
  const startMs = Date.now();

  const devices = opts.devices.map((device) => {
    const model = modelFor(device.type);
    if (!model) throw new Error(`device ${device.id}: no simulator model for type ${device.type}`);
    return new SimulatedDevice({
      device,
      model,
      url: opts.mqttUrl,
      password: opts.credentials?.get(device.id),
      intervalMs: (intervalS ?? device.reportingIntervalS) * 1000,
      qos: opts.qos ?? 1,
      modelRng: mulberry32(deviceSeed(seed, device.id)),
      // Scheduling draws from its own stream, so changing the stagger does not change the readings.
      scheduleRng: mulberry32(deviceSeed(seed ^ 0x5bd1e995, device.id)),
      startMs,
      counters,
      log,
    });
  });

  await Promise.all(devices.map((d) => d.connect(opts.connectTimeoutMs ?? 10_000)));
  for (const d of devices) d.startPublishing(firstWithinMs);
  log.info({ devices: devices.length, connected: counters.connected, url: opts.mqttUrl }, 'simulated fleet started');

  let stopping: Promise<void> | undefined;
  return {
    stop: () => {
      stopping ??= Promise.all(devices.map((d) => d.stop())).then(() => {
        log.info({ published: counters.published, errors: counters.errors }, 'simulated fleet stopped');
      });
      return stopping;
    },
    stats: () => ({ ...counters }),
  };
}

interface SimulatedDeviceParams {
  device: DeviceRecord;
  model: AnyDeviceModel;
  url: string;
  password: string | undefined;
  intervalMs: number;
  qos: 0 | 1;
  modelRng: Rng;
  scheduleRng: Rng;
  startMs: number;
  counters: FleetStats;
  log: Logger;
}

/** One device: its connection, its behaviour model, its timers. */
class SimulatedDevice {
  private readonly p: SimulatedDeviceParams;
  private readonly telemetryTopic: string;
  private readonly statusTopic: string;
  private client: MqttClient | undefined;
  private sim: { next(simTimeMs: number): object } | undefined;
  private connected = false;
  private stopped = false;
  private lastErrorCode: string | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(p: SimulatedDeviceParams) {
    this.p = p;
    this.telemetryTopic = `city/${p.device.type}/${p.device.id}/telemetry`;
    this.statusTopic = `city/${p.device.type}/${p.device.id}/status`;
  }

  /** Opens the connection; resolves after the first attempt succeeded or failed, or after `timeoutMs`. */
  connect(timeoutMs: number): Promise<void> {
    const { device, qos, log } = this.p;
    this.sim = this.p.model.create(device, this.p.modelRng, this.p.startMs);
    const client = connect(this.p.url, {
      clientId: device.id,
      username: device.id,
      ...(this.p.password !== undefined ? { password: this.p.password } : {}),
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      // Jittered, so that after a broker restart the fleet does not reconnect in one burst.
      reconnectPeriod: Math.round(uniform(this.p.scheduleRng, 1_000, 5_000)),
      connectTimeout: timeoutMs,
      will: { topic: this.statusTopic, payload: Buffer.from('offline'), qos, retain: true },
    });
    this.client = client;

    client.on('connect', () => {
      if (!this.connected) this.p.counters.connected++;
      this.connected = true;
      if (this.lastErrorCode !== undefined) log.info({ deviceId: device.id }, 'simulated device reconnected');
      this.lastErrorCode = undefined;
      client.publish(this.statusTopic, 'online', { qos, retain: true }, (err) => {
        if (err) this.p.counters.errors++;
      });
    });
    client.on('close', () => {
      if (this.connected) {
        this.p.counters.connected--;
        this.connected = false;
        if (!this.stopped) log.warn({ deviceId: device.id, code: 'CP_SIM_DISCONNECTED' }, 'simulated device lost its connection; retrying');
      }
    });
    client.on('error', (err: Error & { code?: string | number }) => {
      this.p.counters.errors++;
      const code = String(err.code ?? 'CP_SIM_MQTT_ERROR');
      // One line per change of trouble, not one per retry every few seconds.
      if (code !== this.lastErrorCode) {
        log.warn({ deviceId: device.id, code, err: err.message }, 'simulated device cannot connect');
        this.lastErrorCode = code;
      }
    });

    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('connect', done);
        client.off('error', done);
        client.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      client.on('connect', done);
      client.on('error', done);
      client.on('close', done);
    });
  }

  /** First reading at a random moment within `firstWithinMs`, then one per interval. */
  startPublishing(firstWithinMs: number): void {
    if (this.stopped) return;
    const first = setTimeout(() => {
      this.publishReading();
      const every = setInterval(() => this.publishReading(), this.p.intervalMs);
      this.timers.push(every);
    }, Math.floor(this.p.scheduleRng() * firstWithinMs));
    this.timers.push(first);
  }

  private publishReading(): void {
    const client = this.client;
    const sim = this.sim;
    if (!client || !sim || this.stopped) return;
    // Simulated time is real time here; the reading's ts is always the real send time, so a sped-up
    // simulation can never stamp a reading in the future.
    const now = Date.now();
    const reading = sim.next(now);
    if (!this.connected) {
      // Like a device without storage: the reading is lost and the seq gap shows it.
      this.p.counters.skipped++;
      return;
    }
    client.publish(this.telemetryTopic, JSON.stringify({ ts: now, ...reading }), { qos: this.p.qos }, (err) => {
      if (err) {
        this.p.counters.errors++;
        this.p.log.warn({ deviceId: this.p.device.id, code: 'CP_SIM_PUBLISH', err: err.message }, 'simulated reading not delivered');
      } else {
        this.p.counters.published++;
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      // A clean DISCONNECT discards the Last Will, so say `offline` ourselves.
      try {
        await withTimeout(client.publishAsync(this.statusTopic, 'offline', { qos: this.p.qos, retain: true }), STOP_TIMEOUT_MS);
      } catch (err) {
        this.p.log.warn({ deviceId: this.p.device.id, code: 'CP_SIM_PUBLISH', err: (err as Error).message }, 'offline status not delivered');
      }
      try {
        await withTimeout(client.endAsync(), STOP_TIMEOUT_MS);
        return;
      } catch {
        // fall through to a forced end
      }
    }
    await client.endAsync(true);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
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
