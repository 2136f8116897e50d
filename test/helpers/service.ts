/**
 * Runs the real service in-process for end-to-end tests: real broker on a free loopback port, real
 * InfluxDB (the run's influxd, a database of the test's own), real HTTP.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { CitypipeService, type ServiceOptions } from '../../src/service.js';
import { hashSecret } from '../../src/catalog/secrets.js';
import type { DeviceRecord } from '../../src/catalog/types.js';
import { deviceTypeModule } from '../../src/device-types/registry.js';
import { createDatabase, uniqueDbName } from './influx.js';

export interface TestDevice {
  record: DeviceRecord;
  secret: string;
}

let counter = 0;

/** A catalog device with a known secret. */
export function testDevice(type: DeviceRecord['type'], district: string, attributes: DeviceRecord['attributes'] = {}): TestDevice {
  counter++;
  const id = `${type}-t${process.pid}-${counter}`;
  const secret = `secret-${id}`;
  return {
    secret,
    record: {
      id,
      type,
      location: { lat: 52.37 + counter / 1000, lon: 4.89 },
      district,
      address: `Teststraat ${counter}`,
      reportingIntervalS: 60,
      attributes,
      secretHash: hashSecret(secret),
    },
  };
}

/** Writes a catalog folder with these devices and returns its path. */
export function writeCatalog(devices: readonly TestDevice[], dir = mkdtempSync(path.join(tmpdir(), 'citypipe-devices-'))): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'test-fleet.json'), JSON.stringify(devices.map((d) => d.record), null, 2));
  return dir;
}

/** The environment a test service runs with: loopback, free ports, fast flushes, its own database. */
export function testEnv(influxUrl: string, db: string, devicesDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CITYPIPE_MQTT_HOST: '127.0.0.1',
    CITYPIPE_MQTT_PORT: '0',
    CITYPIPE_HTTP_HOST: '127.0.0.1',
    CITYPIPE_HTTP_PORT: '0',
    CITYPIPE_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'citypipe-data-')),
    CITYPIPE_DEVICES_DIR: devicesDir,
    CITYPIPE_INFLUX_URL: influxUrl,
    CITYPIPE_INFLUX_API: 'v1',
    CITYPIPE_INFLUX_BUCKET: db,
    CITYPIPE_FLUSH_INTERVAL_MS: '100',
    CITYPIPE_LOG_LEVEL: 'silent',
    ...extra,
  };
}

export interface RunningService {
  service: CitypipeService;
  db: string;
  /** The catalog folder the service loaded (and watches). */
  devicesDir: string;
  mqttUrl: string;
  mqttPort: number;
  httpUrl: string;
  stop(): Promise<void>;
}

export async function startTestService(
  influxUrl: string,
  devices: readonly TestDevice[],
  extra: Record<string, string> = {},
  opts: { log?: Logger; service?: ServiceOptions } = {},
): Promise<RunningService> {
  const db = uniqueDbName('e2e');
  await createDatabase(influxUrl, db);
  const devicesDir = writeCatalog(devices);
  const config = loadConfig(testEnv(influxUrl, db, devicesDir, extra));
  const service = new CitypipeService(config, opts.log ?? silentLogger, opts.service);
  await service.start();
  return {
    service,
    db,
    devicesDir,
    mqttUrl: `mqtt://127.0.0.1:${service.mqttPort}`,
    mqttPort: service.mqttPort,
    httpUrl: `http://127.0.0.1:${service.httpPort}`,
    stop: () => service.stop(),
  };
}

/** Connects a real MQTT 3.1.1 client; rejects with the broker's refusal (e.g. bad credentials). */
export function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** Connects as a catalog device with its own credentials. */
export function connectDevice(url: string, device: TestDevice, opts: IClientOptions = {}): Promise<MqttClient> {
  return connectClient(url, { clientId: device.record.id, username: device.record.id, password: device.secret, ...opts });
}

/** A device publishing QoS 1 readings with increasing `seq` in the background, timing each PUBACK. */
export interface BackgroundPublisher {
  /** seq of every reading whose PUBACK arrived. */
  readonly acked: number[];
  /** Milliseconds from publish to PUBACK, per acknowledged reading. */
  readonly latenciesMs: number[];
  readonly failures: number;
  stop(): Promise<void>;
}

/**
 * Publishes one reading every `intervalMs` (default 20; 0 = as fast as PUBACKs come back) until
 * stopped (at most `maxMs`), one at a time as a device does. Reconnects when the broker drops it;
 * `url` may be a function for a service that restarts on another port.
 */
export function startPublisher(
  url: string | (() => string),
  device: TestDevice,
  opts: { intervalMs?: number; maxMs?: number; startSeq?: number } = {},
): BackgroundPublisher {
  const urlNow = typeof url === 'string' ? () => url : url;
  const acked: number[] = [];
  const latenciesMs: number[] = [];
  let failures = 0;
  let running = true;
  let client: MqttClient | undefined;
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  // The type's bench reading without `ts`: stamped when received, values varying with seq.
  const bench = deviceTypeModule(device.record.type)!.bench;
  const readingOf = (seq: number): Record<string, unknown> => {
    const { ts: _ts, ...reading } = JSON.parse(bench.reading(0, seq)) as Record<string, unknown>;
    return reading;
  };
  const loop = (async () => {
    let seq = opts.startSeq ?? 0;
    while (running && Date.now() < deadline) {
      try {
        client ??= await connectDevice(urlNow(), device);
        const s = seq++;
        const reading = readingOf(s);
        const t0 = performance.now();
        await Promise.race([
          client.publishAsync(telemetryTopic(device), JSON.stringify(reading), { qos: 1 }),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no PUBACK within 5 s')), 5000)),
        ]);
        latenciesMs.push(performance.now() - t0);
        acked.push(s);
      } catch {
        failures++;
        client?.end(true);
        client = undefined;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (opts.intervalMs !== 0) await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
    }
  })();
  return {
    acked,
    latenciesMs,
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await loop;
      await client?.endAsync().catch(() => undefined);
    },
  };
}

/** The q-quantile (0..1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Resolves true once `client` lost its connection, false after `timeoutMs`. */
export function waitForClose(client: MqttClient, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The value of one Prometheus sample (0 when absent), e.g. `citypipe_mqtt_throttled_total`. */
export async function metricValue(httpUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  for (const line of text.split('\n')) if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  return 0;
}

export function telemetryTopic(device: TestDevice): string {
  return `city/${device.record.type}/${device.record.id}/telemetry`;
}
