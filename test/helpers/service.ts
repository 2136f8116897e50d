/**
 * Runs the real service in-process for end-to-end tests: real broker on a free loopback port, real
 * InfluxDB (the run's influxd, a database of the test's own), real HTTP.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { CitypipeService } from '../../src/service.js';
import { hashSecret } from '../../src/catalog/secrets.js';
import type { DeviceRecord } from '../../src/catalog/types.js';
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
  mqttUrl: string;
  httpUrl: string;
  stop(): Promise<void>;
}

export async function startTestService(influxUrl: string, devices: readonly TestDevice[], extra: Record<string, string> = {}): Promise<RunningService> {
  const db = uniqueDbName('e2e');
  await createDatabase(influxUrl, db);
  const config = loadConfig(testEnv(influxUrl, db, writeCatalog(devices), extra));
  const service = new CitypipeService(config, silentLogger);
  await service.start();
  return {
    service,
    db,
    mqttUrl: `mqtt://127.0.0.1:${service.mqttPort}`,
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
export function connectDevice(url: string, device: TestDevice): Promise<MqttClient> {
  return connectClient(url, { clientId: device.record.id, username: device.record.id, password: device.secret });
}

export function telemetryTopic(device: TestDevice): string {
  return `city/${device.record.type}/${device.record.id}/telemetry`;
}
