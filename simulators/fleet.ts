/**
 * A simulated fleet over real MQTT. By default every device has its own mqtt.js connection,
 * authenticating as itself, with its Last Will, its own topics and its own reporting interval, so
 * that citypipe sees exactly what a city's devices would send. For load beyond what one process can
 * hold open, `connections: K` multiplexes the fleet over K anonymous gateway connections instead.
 *
 * Time is simulated (see sim-clock.ts): readings are stamped with the simulated time they fall due,
 * which may run faster than real time from a start in the past, and is never ahead of the wall clock.
 * One scheduler (a min-heap of due devices) drives the whole fleet. A device whose connection is down
 * keeps its readings and uploads them as one batch (a JSON array, at most `maxBatch` readings and
 * `maxPayloadBytes` per payload) when it is back, before anything newer.
 */
import type { DeviceRecord } from '../src/catalog/types.js';
import { silentLogger, type Logger } from '../src/observability/logger.js';
import { DueQueue, type Due } from './due-queue.js';
import { modelFor } from './index.js';
import type { AnyDeviceModel, AnySimulation } from './model.js';
import { deviceSeed, mulberry32, uniform, type Rng } from './prng.js';
import { planClock, SimClock, type AtNow, type StartTime } from './sim-clock.js';
import { Uplink, withTimeout } from './uplink.js';
import { lorawanModel } from '../src/device-types/registry.js';
import type { LorawanModel, LorawanSupport } from '../src/device-types/lorawan.js';
import { chirpstackTopic, chirpstackUp } from './network-server.js';

/** Options of {@link startFleet} and {@link SimulatedFleet}. */
export interface FleetOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  mqttUrl: string;
  devices: readonly DeviceRecord[];
  /** Device id → plaintext secret. A device not in the map connects with its username only. */
  credentials?: ReadonlyMap<string, string>;
  /** Simulated seconds between readings for every device, overriding each one's `reportingIntervalS` (e.g. 5 for a demo). */
  intervalS?: number;
  /** QoS of readings and status messages; default 1. With QoS 0 a reading on the wire when a connection drops is lost. */
  qos?: 0 | 1;
  /** Seed of the behaviour models; the same seed and catalog repeat the same readings. Default 1. */
  seed?: number;
  log?: Logger;
  /**
   * Each device's first reading comes at a random moment within this many real ms of the start
   * (never later than its interval). Default: anywhere within its interval, so a large fleet's
   * readings spread evenly instead of arriving in bursts.
   */
  firstWithinMs?: number;
  /** How long a connection attempt waits for CONNACK; `start` waits for every first attempt. Default 10 000. */
  connectTimeoutMs?: number;
  /** Simulated time per real time; default 1. Above 1 the run starts in the past (see `from`). */
  speed?: number;
  /** Start of simulated time: epoch ms, `{ atMs }` or `{ agoMs }`. Default now at speed 1, 24 h ago when faster. */
  from?: StartTime | number;
  /** When a sped-up clock reaches the present: `live` carries on at real time (default), `stop` ends the run (`finished`). */
  atNow?: AtNow;
  /** The oldest `ts` citypipe accepts (CITYPIPE_TS_MAX_AGE_S); readings older than that are not sent. Default 7 days. */
  maxAgeMs?: number;
  /**
   * Multiplex the fleet over this many MQTT connections (anonymous gateways, client ids
   * `citypipe-gw-<pid>-<n>`) instead of one per device. For load tests: a gateway cannot authenticate
   * as each device, so per-device credentials and topic ACLs cannot apply.
   */
  connections?: number;
  /** Multiplies every fault's rate in the behaviour models (0 = none); default 1. */
  faultRate?: number;
  /** Readings a disconnected device keeps; beyond, the oldest are dropped (counted as skipped). Default 10 000. */
  bufferLimit?: number;
  /** Readings per batch payload; default 1000 (citypipe's CITYPIPE_MAX_BATCH). */
  maxBatch?: number;
  /** Bytes per batch payload; default 262 144 (citypipe's CITYPIPE_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /** Publishes awaiting their acknowledgement beyond which the scheduler waits; default 10 000. */
  maxInFlight?: number;
  /** Delay before a reconnect attempt; default a per-connection random 1–5 s, so a fleet does not reconnect in one burst. */
  reconnectPeriodMs?: number;
  /** Connection attempts under way at once while starting; default 200. */
  connectConcurrency?: number;
  /**
   * A network-server account (`devices account NAME --role network-server`): the catalog's LoRaWAN
   * devices then send their readings as the frames their model's codec reads (its `encode`), in
   * ChirpStack `up` events over this one connection, as ChirpStack's MQTT integration does.
   * Without it, LoRaWAN devices are left out (they have no MQTT secret of their own).
   */
  networkServer?: { username: string; password: string };
}

/** Counters of a running fleet. */
export interface FleetStats {
  /** Simulated devices. */
  devices: number;
  /** Devices whose connection (their own, or their gateway's) is up right now. */
  connected: number;
  /** MQTT connections up right now. */
  connections: number;
  /** Readings the broker acknowledged (QoS 1) or that were written to the socket (QoS 0); a batch counts each reading. */
  published: number;
  /** Batch payloads sent by devices catching up after a lost connection. */
  batches: number;
  /** Readings held right now by devices whose connection is down. */
  buffered: number;
  /** Readings given up: a full buffer, or too old for citypipe by the time they could be sent. */
  skipped: number;
  /** Connection failures and failed publishes. */
  errors: number;
  /** Publishes awaiting their acknowledgement. */
  inFlight: number;
  /** The simulated clock, epoch ms. */
  simTimeMs: number;
  /** Simulated seconds per real second. */
  speed: number;
  /** True once the simulated clock has reached the present. */
  caughtUp: boolean;
}

/** Why a fleet's run ended: its clock reached the present with `atNow: 'stop'`, or `stop()` was called. */
export type FleetEnd = 'caught-up' | 'stopped';

/** A running fleet. */
export interface Fleet {
  /** Publishes `offline` for every connected device, then disconnects them all cleanly. Idempotent. */
  stop(): Promise<void>;
  stats(): FleetStats;
  /** Settles when no more readings will be produced. */
  readonly finished: Promise<FleetEnd>;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  bufferLimit: 10_000,
  maxBatch: 1_000,
  maxPayloadBytes: 262_144,
  maxInFlight: 10_000,
  connectConcurrency: 200,
  maxAgeMs: 7 * 86_400_000,
} as const;

/** Readings emitted per scheduler turn before yielding to I/O, so acknowledgements keep flowing. */
const TICK_BUDGET = 2_000;
/** The scheduler sleeps at most this long, so a stop or a freed in-flight window is noticed. */
const MAX_SLEEP_MS = 250;
/** Waiting for acknowledgements when the in-flight window is full. */
const BACKOFF_MS = 5;
/** A reading needs a moment between leaving and being checked by citypipe. */
const TRANSIT_MARGIN_MS = 60_000;
/** Warnings of one kind per window, beyond which they are counted and summarised. */
const WARNINGS_PER_WINDOW = 10;
const WARNING_WINDOW_MS = 10_000;

/**
 * Connects every device and starts publishing. Resolves once every connection has connected or
 * failed its first attempt (a connection that failed keeps retrying in the background; see `stats()`
 * and the log). Throws only for options that cannot work: a device type without a model, a bad
 * interval, a start time citypipe would not accept.
 */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const fleet = new SimulatedFleet(opts);
  await fleet.start();
  return fleet;
}

/** A fleet with a separate `start()`, for callers that show progress while it connects. */
export class SimulatedFleet implements Fleet {
  readonly finished: Promise<FleetEnd>;
  private readonly opts: FleetOptions;
  private readonly counters = { published: 0, batches: 0, skipped: 0, errors: 0, inFlight: 0, buffered: 0 };
  private clock: SimClock | undefined;
  private devices: SimDevice[] = [];
  private uplinks: Uplink[] = [];
  /** The devices each connection carries: one, or a gateway's share. */
  private readonly devicesOf = new Map<Uplink, SimDevice[]>();
  private readonly queue = new DueQueue<SimDevice>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private ended = false;
  private stopping: Promise<void> | undefined;
  private resolveFinished!: (end: FleetEnd) => void;
  private log: Logger = silentLogger;
  private warnings: ThrottledLog = new ThrottledLog(silentLogger);

  constructor(opts: FleetOptions) {
    this.opts = opts;
    this.finished = new Promise<FleetEnd>((resolve) => {
      this.resolveFinished = resolve;
    });
  }

  /** Checks the options, connects (at most `connectConcurrency` attempts at once), then starts the clock and the readings. */
  async start(): Promise<void> {
    if (this.started) throw new Error('fleet already started');
    this.started = true;
    const o = this.opts;
    const intervalS = o.intervalS;
    if (intervalS !== undefined && !(Number.isFinite(intervalS) && intervalS > 0)) {
      throw new Error(`intervalS must be a number of seconds > 0, got ${intervalS}`);
    }
    const firstWithinMs = o.firstWithinMs;
    if (firstWithinMs !== undefined && !(Number.isFinite(firstWithinMs) && firstWithinMs >= 0)) throw new Error(`firstWithinMs must be ≥ 0, got ${firstWithinMs}`);
    const connections = o.connections;
    if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1)) {
      throw new Error(`connections must be a whole number ≥ 1, got ${connections}`);
    }
    for (const key of ['bufferLimit', 'maxBatch', 'maxPayloadBytes', 'maxInFlight', 'connectConcurrency'] as const) {
      const v = o[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new Error(`${key} must be a whole number ≥ 1, got ${v}`);
    }
    const faultRate = o.faultRate ?? 1;
    if (!(Number.isFinite(faultRate) && faultRate >= 0)) throw new Error(`faultRate must be ≥ 0, got ${o.faultRate}`);
    const maxAgeMs = o.maxAgeMs ?? DEFAULTS.maxAgeMs;
    const clock = new SimClock(planClock({ speed: o.speed, from: o.from, atNow: o.atNow, nowMs: Date.now(), maxAgeMs }));
    this.clock = clock;
    const seed = o.seed ?? 1;
    const qos = o.qos ?? 1;
    this.log = (o.log ?? silentLogger).child({ stage: 'simulator' });
    this.warnings = new ThrottledLog(this.log);

    const radios = new Set(o.networkServer === undefined ? [] : lorawanDevices(o.devices));
    const simulated = o.devices.filter((d) => d.lorawan === undefined || radios.has(d));
    const models = simulated.map((device) => {
      const model = modelFor(device.type);
      if (!model) throw new Error(`device ${device.id}: no simulator model for type ${device.type}`);
      return model;
    });

    const connectTimeoutMs = o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    const reconnectRng = mulberry32(seed ^ 0x27d4eb2d);
    const reconnectPeriodMs = (): number => o.reconnectPeriodMs ?? Math.round(uniform(reconnectRng, 1_000, 5_000));
    const settings: DeviceSettings = {
      qos,
      bufferLimit: o.bufferLimit ?? DEFAULTS.bufferLimit,
      maxBatch: o.maxBatch ?? DEFAULTS.maxBatch,
      maxPayloadBytes: o.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes,
      expiryMs: maxAgeMs - TRANSIT_MARGIN_MS,
    };

    // Gateways first, so devices can be handed theirs.
    const gateways: Uplink[] = [];
    const multiplex = connections !== undefined;
    const gatewayCount = multiplex ? Math.min(connections, Math.max(1, simulated.length)) : 0;
    const devicesOf = this.devicesOf;
    const makeUplink = (uplinkOpts: ConstructorParameters<typeof Uplink>[0]): Uplink => {
      const uplink: Uplink = new Uplink(uplinkOpts, {
        onUp: () => {
          for (const d of devicesOf.get(uplink) ?? []) d.connectionUp();
        },
        onDown: () => {
          this.warnings.warn('down', { clientId: uplink.clientId, code: 'CP_SIM_DISCONNECTED' }, 'simulated connection lost; buffering its readings and retrying');
        },
        onError: (code, message) => {
          this.counters.errors++;
          const hint = code === 'EMFILE' ? ': too many open files; raise `ulimit -n` or multiplex the fleet over fewer connections' : '';
          this.warnings.warn(`error:${code}`, { clientId: uplink.clientId, code, err: message }, `simulated connection failed${hint}`);
        },
      });
      devicesOf.set(uplink, []);
      return uplink;
    };
    for (let i = 0; i < gatewayCount; i++) {
      gateways.push(
        makeUplink({ url: o.mqttUrl, clientId: `citypipe-gw-${process.pid}-${i}`, reconnectPeriodMs: reconnectPeriodMs(), connectTimeoutMs }),
      );
    }

    // The network server: one connection for every LoRaWAN device.
    const ns = o.networkServer;
    const networkServer = ns && simulated.some((d) => d.lorawan !== undefined)
      ? makeUplink({ url: o.mqttUrl, clientId: `${ns.username}:sim-${process.pid}`, username: ns.username, password: ns.password, reconnectPeriodMs: reconnectPeriodMs(), connectTimeoutMs })
      : undefined;

    const startSim = clock.fromMs;
    this.devices = simulated.map((device, i) => {
      const model = models[i] as AnyDeviceModel;
      const statusTopic = `city/${device.type}/${device.id}/status`;
      const uplink = device.lorawan !== undefined
        ? (networkServer as Uplink)
        : multiplex
        ? (gateways[i % gatewayCount] as Uplink)
        : makeUplink({
            url: o.mqttUrl,
            clientId: device.id,
            username: device.id,
            password: o.credentials?.get(device.id),
            will: { topic: statusTopic, payload: 'offline', qos, retain: true },
            reconnectPeriodMs: reconnectPeriodMs(),
            connectTimeoutMs,
          });
      const d = new SimDevice({
        device,
        uplink,
        settings,
        sim: model.create(device, mulberry32(deviceSeed(seed, device.id)), startSim, { faultRate }),
        // Scheduling draws from its own stream, so changing the stagger does not change the readings.
        scheduleRng: mulberry32(deviceSeed(seed ^ 0x5bd1e995, device.id)),
        intervalMs: (intervalS ?? device.reportingIntervalS) * 1000,
        counters: this.counters,
        warnings: this.warnings,
        lorawan: device.lorawan === undefined ? undefined : new LorawanRadio(device),
      });
      devicesOf.get(uplink)?.push(d);
      return d;
    });
    this.uplinks = [...devicesOf.keys()];

    await forEachLimited(this.uplinks, o.connectConcurrency ?? DEFAULTS.connectConcurrency, (u) => u.connect());
    if (this.stopping) return;

    clock.start();
    const from = clock.fromMs;
    for (const d of this.devices) {
      const stagger = firstWithinMs === undefined ? d.intervalMs : Math.min(d.intervalMs, firstWithinMs * clock.speed);
      d.dueMs = d.heartbeatMs = from + Math.floor(d.scheduleRng() * stagger);
      this.queue.push(d);
    }
    this.log.info(
      {
        devices: this.devices.length,
        connections: this.uplinks.length,
        connected: this.stats().connected,
        url: o.mqttUrl,
        from: new Date(from).toISOString(),
        speed: clock.speed,
      },
      'simulated fleet started',
    );
    this.tick();
  }

  stats(): FleetStats {
    let connected = 0;
    for (const d of this.devices) if (d.uplink.up) connected++;
    let connections = 0;
    for (const u of this.uplinks) if (u.up) connections++;
    const c = this.counters;
    return {
      devices: this.opts.devices.length,
      connected,
      connections,
      published: c.published,
      batches: c.batches,
      buffered: c.buffered,
      skipped: c.skipped,
      errors: c.errors,
      inFlight: c.inFlight,
      simTimeMs: this.clock?.now() ?? Date.now(),
      speed: this.clock?.speed ?? this.opts.speed ?? 1,
      caughtUp: this.clock?.caughtUp() ?? false,
    };
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.end('stopped');
    await Promise.all(
      this.uplinks.map((u) =>
        // A clean DISCONNECT discards the Last Will, so the devices say `offline` themselves.
        u.stop(() => withTimeout(Promise.all((this.devicesOf.get(u) ?? []).map((d) => d.sayOffline())), 5_000).then(() => undefined)),
      ),
    );
    const c = this.counters;
    this.warnings.flush();
    if (c.buffered > 0) {
      this.log.warn({ code: 'CP_SIM_UNSENT', buffered: c.buffered }, 'readings still buffered by disconnected devices were not sent');
    }
    this.log.info({ published: c.published, batches: c.batches, skipped: c.skipped, errors: c.errors }, 'simulated fleet stopped');
  }

  private end(reason: FleetEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.resolveFinished(reason);
  }

  /**
   * Emits every reading that has fallen due, oldest first, up to a budget per turn and while the
   * broker keeps up; then sleeps until the next one falls due.
   */
  private tick = (): void => {
    this.timer = undefined;
    const clock = this.clock;
    if (this.ended || !clock) return;
    const simNow = clock.now();
    const realNow = Date.now();
    const maxInFlight = this.opts.maxInFlight ?? DEFAULTS.maxInFlight;
    let budget = TICK_BUDGET;
    for (; budget > 0 && this.counters.inFlight < maxInFlight; budget--) {
      const d = this.queue.peek();
      if (!d || d.dueMs > simNow) break;
      this.queue.pop();
      d.emit(realNow);
      d.advance();
      this.queue.push(d);
    }
    const next = this.queue.peek();
    const behind = next !== undefined && next.dueMs <= simNow;
    if (!behind && this.opts.atNow === 'stop' && clock.caughtUp()) {
      this.log.info({ simTime: new Date(simNow).toISOString() }, 'simulated clock reached the present; run complete');
      this.end('caught-up');
      return;
    }
    let delay: number;
    if (behind) delay = budget === 0 ? 0 : BACKOFF_MS;
    else delay = next === undefined ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(1, clock.realMsUntil(next.dueMs)));
    this.timer = setTimeout(this.tick, delay);
  };
}

interface DeviceSettings {
  qos: 0 | 1;
  bufferLimit: number;
  maxBatch: number;
  maxPayloadBytes: number;
  /** Readings older than this (real time) are no longer sent: citypipe would dead-letter them. */
  expiryMs: number;
}

interface Counters {
  published: number;
  batches: number;
  skipped: number;
  errors: number;
  inFlight: number;
  buffered: number;
}

/** The catalog's LoRaWAN devices a simulated network server can drive (their model is registered). */
export function lorawanDevices(devices: readonly DeviceRecord[]): DeviceRecord[] {
  return devices.filter((d) => d.lorawan !== undefined && lorawanModel(d.lorawan.model) !== undefined);
}

/**
 * What a LoRaWAN device sends instead of JSON telemetry: its reading as the sensor measures it (the
 * type's `measure`), encoded into its model's frames, each a ChirpStack `up` event with the next
 * frame counter. No status topic and no Last Will: presence is the network server's business.
 */
class LorawanRadio {
  private fCnt = 0;
  private readonly device: DeviceRecord;
  private readonly model: LorawanModel;
  private readonly support: LorawanSupport | undefined;
  readonly topic: string;

  constructor(device: DeviceRecord) {
    this.device = device;
    const registered = lorawanModel(device.lorawan!.model)!;
    this.model = registered.model;
    this.support = registered.type.lorawan;
    this.topic = chirpstackTopic(device.lorawan!.devEui, 'up');
  }

  /** The ChirpStack `up` bodies of one reading taken at `ts`. */
  uplinks(ts: number, reading: Record<string, unknown>): string[] {
    const { seq: _seq, rssi, batteryLevel, ...fields } = reading as Record<string, number | string>;
    const measured = this.support?.measure ? this.support.measure(fields, this.device) : fields;
    const battery = typeof batteryLevel === 'number' ? batteryLevel * 100 : undefined;
    // A reading in several frames (a lamp's status and usage) goes as uplinks a millisecond apart:
    // in the field they are separate transmissions.
    return this.model.encode(measured, battery).map((f, i) =>
      chirpstackUp({ devEui: this.device.lorawan!.devEui, fPort: f.fPort, bytes: f.bytes, fCnt: this.fCnt++, timeMs: ts + i, ...(typeof rssi === 'number' ? { rssi } : {}) }),
    );
  }
}

interface SimDeviceParams {
  /** Set for a LoRaWAN device: it sends through the network server's connection. */
  lorawan: LorawanRadio | undefined;
  device: DeviceRecord;
  uplink: Uplink;
  settings: DeviceSettings;
  sim: AnySimulation;
  scheduleRng: Rng;
  intervalMs: number;
  counters: Counters;
  warnings: ThrottledLog;
}

/** One device: its behaviour model, its place in the schedule, its buffer while disconnected. */
class SimDevice implements Due {
  dueMs = 0;
  /** The next reading on the reporting interval; `dueMs` comes earlier when the model reports a change first. */
  heartbeatMs = 0;
  readonly intervalMs: number;
  readonly uplink: Uplink;
  readonly scheduleRng: Rng;
  private readonly p: SimDeviceParams;
  private readonly telemetryTopic: string;
  private readonly statusTopic: string;
  /** Readings (serialised, with their ts) taken while the connection was down, oldest first. */
  private buffer: { ts: number; json: string }[] = [];

  constructor(p: SimDeviceParams) {
    this.p = p;
    this.uplink = p.uplink;
    this.scheduleRng = p.scheduleRng;
    this.intervalMs = p.intervalMs;
    this.telemetryTopic = `city/${p.device.type}/${p.device.id}/telemetry`;
    this.statusTopic = `city/${p.device.type}/${p.device.id}/status`;
  }

  /**
   * After a reading: due at the next heartbeat, or at the model's next change if that comes first
   * (a device that reports on change). Change times are rounded up to the millisecond, the ts unit.
   */
  advance(): void {
    if (this.dueMs >= this.heartbeatMs) this.heartbeatMs += this.intervalMs;
    const change = this.p.sim.nextChangeMs?.();
    const at = change === undefined ? Number.POSITIVE_INFINITY : Math.ceil(change);
    this.dueMs = at > this.dueMs && at < this.heartbeatMs ? at : this.heartbeatMs;
  }

  /** Takes the reading due at `dueMs` (its ts) and sends it, or keeps it while disconnected. */
  emit(realNow: number): void {
    const ts = this.dueMs;
    const radio = this.p.lorawan;
    if (radio !== undefined) {
      // Over LoRaWAN: nothing is buffered on the device (a frame sent while the network server's
      // integration is down is lost there, as it is in the field).
      const bodies = radio.uplinks(ts, this.p.sim.next(ts) as Record<string, unknown>);
      if (!this.uplink.up || realNow - ts > this.p.settings.expiryMs) {
        this.p.counters.skipped++;
        return;
      }
      for (const body of bodies) this.send(body, 1, false, radio.topic);
      return;
    }
    const json = JSON.stringify({ ts, ...this.p.sim.next(ts) });
    const c = this.p.counters;
    if (realNow - ts > this.p.settings.expiryMs) {
      // The scheduler fell a week behind: citypipe would dead-letter it.
      c.skipped++;
      return;
    }
    if (!this.uplink.up) {
      // Like a field device with flash storage: keep it for the batch upload on reconnect.
      if (this.buffer.length >= this.p.settings.bufferLimit) {
        this.buffer.shift();
        c.skipped++;
        c.buffered--;
      }
      this.buffer.push({ ts, json });
      c.buffered++;
      return;
    }
    this.send(json, 1, false);
  }

  /** The connection is (back) up: say `online`, then upload what was buffered, oldest first. */
  connectionUp(): void {
    if (this.p.lorawan !== undefined) return;
    const s = this.p.settings;
    this.uplink.publish(this.statusTopic, 'online', s.qos, true, (err) => {
      if (err) this.p.counters.errors++;
    });
    if (this.buffer.length === 0) return;
    const buffered = this.buffer;
    this.buffer = [];
    const c = this.p.counters;
    c.buffered -= buffered.length;
    const oldest = Date.now() - s.expiryMs;
    let chunk: string[] = [];
    let bytes = 2;
    const sendChunk = (): void => {
      if (chunk.length === 0) return;
      this.send(`[${chunk.join(',')}]`, chunk.length, true);
      chunk = [];
      bytes = 2;
    };
    for (const r of buffered) {
      if (r.ts < oldest) {
        c.skipped++;
        continue;
      }
      const size = Buffer.byteLength(r.json) + 1;
      if (chunk.length >= s.maxBatch || (chunk.length > 0 && bytes + size > s.maxPayloadBytes)) sendChunk();
      chunk.push(r.json);
      bytes += size;
    }
    sendChunk();
  }

  /** Publishes `offline` (retained) if connected; resolves when acknowledged or failed. */
  sayOffline(): Promise<void> {
    if (!this.uplink.up || this.p.lorawan !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.uplink.publish(this.statusTopic, 'offline', this.p.settings.qos, true, (err) => {
        if (err) this.p.warnings.warn('offline', { deviceId: this.p.device.id, code: 'CP_SIM_PUBLISH', err: err.message }, 'offline status not delivered');
        resolve();
      });
    });
  }

  private send(payload: string, readings: number, batch: boolean, topic = this.telemetryTopic): void {
    const c = this.p.counters;
    c.inFlight++;
    if (batch) c.batches++;
    this.uplink.publish(topic, payload, this.p.settings.qos, false, (err) => {
      c.inFlight--;
      if (err) {
        c.errors++;
        this.p.warnings.warn('publish', { deviceId: this.p.device.id, code: 'CP_SIM_PUBLISH', err: err.message, readings }, 'simulated readings not delivered');
      } else {
        c.published += readings;
      }
    });
  }
}

/**
 * Warnings that a whole fleet can raise at once (a broker restart drops 20 000 connections): the
 * first few of each kind per window are logged, the rest counted and summarised.
 */
class ThrottledLog {
  private readonly log: Logger;
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(log: Logger) {
    this.log = log;
  }

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    let w = this.windows.get(kind);
    if (!w || now - w.start >= WARNING_WINDOW_MS) {
      if (w && w.suppressed > 0) this.log.warn({ kind, suppressed: w.suppressed, code: fields['code'] }, `${w.suppressed} more like "${message}" not logged`);
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(kind, w);
    }
    if (w.logged < WARNINGS_PER_WINDOW) {
      w.logged++;
      this.log.warn(fields, message);
    } else {
      w.suppressed++;
    }
  }

  /** Logs the counts still suppressed. */
  flush(): void {
    for (const [kind, w] of this.windows) {
      if (w.suppressed > 0) this.log.warn({ kind, suppressed: w.suppressed }, `${w.suppressed} more warnings of this kind not logged`);
    }
    this.windows.clear();
  }
}

/** Runs `fn` over `items` with at most `limit` under way at once. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
