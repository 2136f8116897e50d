/**
 * Beyond one machine (CONTRACT §8): two citypipe workers, as processes, on one real broker
 * (Debian's mosquitto, MQTT 5 shared subscriptions), one killed with SIGKILL under load and started
 * again with its data folder and worker id. Every reading a device got a PUBACK for from the broker
 * ends up in the real InfluxDB exactly once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startMosquitto } from '../bench/processes.js';
import { deviceTypeModule } from '../src/device-types/registry.js';
import { createDatabase, influxQuery, uniqueDbName } from './helpers/influx.js';
import { telemetryTopic, testDevice, testEnv, writeCatalog, type TestDevice } from './helpers/service.js';
import { killChildren, startServiceProcess, type StartedService } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  killChildren();
});
afterAll(killChildren);

interface Stats {
  received: number;
  recovered: number;
  pending: number;
}

async function stats(worker: StartedService): Promise<Stats> {
  return (await (await fetch(`http://127.0.0.1:${worker.httpPort}/api/stats`)).json()) as Stats;
}

async function ready(worker: StartedService): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${worker.httpPort}/readyz`)).status === 200;
}

/**
 * A device publishing QoS 1 readings, each with its own `ts` and `seq`, as fast as the broker
 * acknowledges them (a few in flight at once); `acked` holds the seqs the broker sent a PUBACK for.
 */
function startDevice(url: string, device: TestDevice, t0: number) {
  const bench = deviceTypeModule(device.record.type)!.bench;
  const acked: number[] = [];
  let running = true;
  let client: MqttClient | undefined;
  const loop = (async () => {
    client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: device.record.id, reconnectPeriod: 0 });
    let seq = 0;
    while (running) {
      const batch = [seq, seq + 1, seq + 2, seq + 3];
      seq += batch.length;
      await Promise.all(batch.map((s) => client!.publishAsync(telemetryTopic(device), bench.reading(t0 + s, s), { qos: 1 }).then(() => acked.push(s))));
      // Paced, so that the workers keep up and the backlog at the kill stays small.
      await new Promise((r) => setTimeout(r, 4));
    }
  })();
  return {
    acked,
    async stop() {
      running = false;
      await loop;
      await client?.endAsync();
    },
  };
}

describe('two workers on a broker cluster', () => {
  it('stores every reading the broker acknowledged exactly once, through a worker killed with SIGKILL and restarted', async () => {
    const work = mkdtempSync(path.join(tmpdir(), 'citypipe-cluster-'));
    // No cap on what the broker queues for a worker that is away (mosquitto's default drops past 1000
    // messages per session, after it acknowledged them to the device).
    const broker = await startMosquitto('/usr/sbin/mosquitto', work, 1024, ['max_queued_messages 0']);
    cleanups.push(() => broker.stop());
    const brokerUrl = `mqtt://127.0.0.1:${broker.port}`;
    const devices = [testDevice('waste-bin', 'centrum'), testDevice('streetlight', 'west'), testDevice('parking-meter', 'noord'), testDevice('waste-bin', 'oost')];
    const db = uniqueDbName('cluster');
    await createDatabase(influxUrl, db);
    const catalog = writeCatalog(devices);
    const workerEnv = (workerId: string) =>
      testEnv(influxUrl, db, catalog, { CITYPIPE_BROKER_URL: brokerUrl, CITYPIPE_WORKER_ID: workerId, CITYPIPE_BROKER_CONNECTIONS: '2', CITYPIPE_SHARE_GROUP: 'citypipe' });
    const env1 = workerEnv('worker-1');
    const env2 = workerEnv('worker-2');
    expect(env1.CITYPIPE_DATA_DIR).not.toBe(env2.CITYPIPE_DATA_DIR);

    // Worker 1 writes nothing to InfluxDB before it is killed: what it acknowledged must come back
    // from its spool.
    const first = await startServiceProcess({ ...env1, CITYPIPE_FLUSH_INTERVAL_MS: '60000', CITYPIPE_BATCH_SIZE: '100000' });
    const second = await startServiceProcess(env2);
    expect(first.stdout()).toContain('consuming as worker worker-1 of share group citypipe on mqtt://127.0.0.1:');
    await waitFor('both workers subscribed (ready)', async () => (await ready(first)) && (await ready(second)), 20_000);

    const t0 = Date.now() - 3_600_000;
    const publishers = devices.map((d) => startDevice(brokerUrl, d, t0));
    cleanups.push(() => Promise.all(publishers.map((p) => p.stop())));
    const ackedCount = () => publishers.reduce((n, p) => n + p.acked.length, 0);

    await waitFor('worker 1 took readings', async () => ackedCount() >= 400 && (await stats(first)).received >= 100, 40_000, 100);
    first.child.kill('SIGKILL');
    await first.exited;
    // The load goes on: the broker gives worker 1's sessions their share and keeps it for them.
    const atKill = ackedCount();
    await waitFor('PUBACKs while worker 1 is down', () => ackedCount() >= atKill + 400, 40_000);

    const restarted = await startServiceProcess(env1);
    await waitFor('worker 1 back', () => ready(restarted), 20_000);
    const atRestart = ackedCount();
    await waitFor('PUBACKs after the restart', () => ackedCount() >= atRestart + 400, 40_000);
    await Promise.all(publishers.map((p) => p.stop()));

    for (let i = 0; i < devices.length; i++) {
      const device = devices[i]!;
      const measurement = deviceTypeModule(device.record.type)!.definition.measurement;
      const want = publishers[i]!.acked;
      const counts = await waitFor(
        `${want.length} acknowledged readings of ${device.record.id} in InfluxDB`,
        async () => {
          const rows = await influxQuery(influxUrl, db, `SELECT seq FROM "${measurement}" WHERE device_id = '${device.record.id}'`);
          const perSeq = new Map<number, number>();
          for (const r of rows) perSeq.set(r.seq as number, (perSeq.get(r.seq as number) ?? 0) + 1);
          return want.every((s) => perSeq.has(s)) ? perSeq : undefined;
        },
        60_000,
        250,
      );
      expect(want.filter((s) => counts.get(s) !== 1)).toEqual([]); // each exactly once
    }

    // Both workers took part; worker 1's acknowledged readings came back from its spool, and its
    // sessions had kept what the broker queued for it while it was down.
    const s1 = await stats(restarted);
    const s2 = await stats(second);
    expect(s1.recovered).toBeGreaterThan(0);
    expect(s1.received - s1.recovered).toBeGreaterThan(0);
    expect(s2.received).toBeGreaterThan(0);

    // Without the cluster a worker is not ready, and says where it tries to connect.
    await broker.stop();
    const reasons = await waitFor('worker 2 not ready', async () => {
      const res = await fetch(`http://127.0.0.1:${second.httpPort}/readyz`);
      return res.status === 503 ? ((await res.json()) as { reasons: string[] }).reasons : undefined;
    });
    expect(reasons.join('; ')).toContain(`no connection to the broker cluster at ${brokerUrl} is up`);

    restarted.child.kill('SIGTERM');
    second.child.kill('SIGTERM');
    // A graceful stop in this mode, the cluster gone or not: the spool drained, exit 0.
    expect(await Promise.all([restarted.exited, second.exited])).toEqual([0, 0]);
  }, 240_000);
});
