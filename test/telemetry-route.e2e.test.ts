/**
 * Telemetry that nobody subscribed to is not routed through aedes (src/broker/telemetry-route.ts);
 * the moment a client subscribes to a filter that can match it, it is, live and to a persistent
 * session that is away. Real service, real InfluxDB, mqtt.js clients.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hashSecret } from '../src/catalog/secrets.js';
import { influxQuery } from './helpers/influx.js';
import { connectClient, connectDevice, startTestService, telemetryTopic, testDevice, type RunningService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const bin = testDevice('waste-bin', 'centrum');
const OPS_SECRET = 'ops-secret-for-the-route-test-0123';

let svc: RunningService;
const clients: MqttClient[] = [];

beforeAll(async () => {
  svc = await startTestService(influxUrl, [bin], { CITYPIPE_MQTT_ACCOUNTS: `ops:${hashSecret(OPS_SECRET)}` });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await svc?.stop();
});

const reading = (seq: number) => JSON.stringify({ seq, fillingLevel: 0.4 });

function collect(c: MqttClient): number[] {
  const seqs: number[] = [];
  c.on('message', (topic, payload) => {
    if (topic === telemetryTopic(bin)) seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq);
  });
  return seqs;
}

/**
 * Connects the device's persistent watcher session, listening for messages before it connects. The
 * broker sends what it queued for the session right after CONNACK; when both arrive in one read (a
 * busy machine), mqtt.js hands the message out before a listener added after `connect` could hear it.
 */
async function connectWatcher(): Promise<{ watcher: MqttClient; seen: number[] }> {
  const watcher = mqtt.connect(svc.mqttUrl, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `${bin.record.id}:watch`,
    clean: false,
    username: bin.record.id,
    password: bin.secret,
  });
  const seen = collect(watcher);
  await new Promise<void>((resolve, reject) => {
    watcher.once('connect', () => resolve());
    watcher.once('error', (err) => {
      watcher.end(true);
      reject(err);
    });
  });
  return { watcher, seen };
}

describe('telemetry routing', () => {
  it('stores telemetry while only events are subscribed, and delivers it once a subscription can match it, also to a session that was away', async () => {
    const ops = await connectClient(svc.mqttUrl, { clientId: 'ops:board', username: 'ops', password: OPS_SECRET });
    clients.push(ops);
    await ops.subscribeAsync('city/events/#', { qos: 1 });
    const device = await connectDevice(svc.mqttUrl, bin);
    clients.push(device);
    await device.publishAsync(telemetryTopic(bin), reading(1), { qos: 1 });

    // The device watches its own topics from a second, persistent session.
    let { watcher, seen } = await connectWatcher();
    await watcher.subscribeAsync(`city/waste-bin/${bin.record.id}/#`, { qos: 1 });
    await device.publishAsync(telemetryTopic(bin), reading(2), { qos: 1 });
    await waitFor('reading 2 at the watcher', () => seen.includes(2));
    expect(seen).toEqual([2]);

    await watcher.endAsync();
    await device.publishAsync(telemetryTopic(bin), reading(3), { qos: 1 });
    ({ watcher, seen } = await connectWatcher());
    clients.push(watcher);
    await waitFor('reading 3, queued while the watcher was away', () => seen.includes(3));

    const rows = await waitFor('three readings in InfluxDB', async () => {
      const r = await influxQuery(influxUrl, svc.db, 'SELECT seq FROM waste_bin');
      return r.length === 3 ? r : undefined;
    });
    expect(rows.map((r) => r.seq).sort()).toEqual([1, 2, 3]);
  });
});
