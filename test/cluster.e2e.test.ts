/**
 * Beyond one machine (CONTRACT §8): two citypipe workers, as processes, on one real broker
 * (Debian's mosquitto, MQTT 5 shared subscriptions) and one real PostgreSQL, one worker killed with
 * SIGKILL under a QoS 1 load and started again with its data folder and worker id. Every reading a
 * device got a PUBACK for from the broker ends up in the real InfluxDB exactly once; the workers open
 * one ticket per (device, rule) and problem, deliver each ticket message to the webhook once, and the
 * deadman sweep and the collection plan run once however many workers try.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startMosquitto } from '../bench/processes.js';
import { deviceTypeModule } from '../src/device-types/registry.js';
import { createDatabase, influxQuery, uniqueDbName } from './helpers/influx.js';
import { telemetryTopic, testDevice, testEnv, writeCatalog, type TestDevice } from './helpers/service.js';
import { killChildren, logLines, startServiceProcess, type StartedService } from './helpers/cli.js';
import pg from 'pg';
import { createPgDatabase } from '../src/postgres/local-postgres.js';
import { TestReceiver } from '../src/delivery/testing/receiver.js';
import { defaultRulesFile } from '../src/dispatch/rules-stage.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const postgresUrl = inject('postgresUrl');
const TOKEN = 'cluster-e2e-http-token-0123456789';

async function api<T>(worker: StartedService, pathAndQuery: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${worker.httpPort}${pathAndQuery}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** A bin's fill level flips between full and nearly empty every 64 readings: tickets open and close under load. */
const binLevel = (seq: number) => ((seq >> 6) & 1 ? 0.9 : 0.1);

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
  const payload = (s: number): string => {
    const text = bench.reading(t0 + s, s);
    if (device.record.type !== 'waste-bin') return text;
    return JSON.stringify({ ...(JSON.parse(text) as object), fillingLevel: binLevel(s) });
  };
  let running = true;
  let client: MqttClient | undefined;
  const loop = (async () => {
    client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: device.record.id, reconnectPeriod: 0 });
    let seq = 0;
    while (running) {
      const batch = [seq, seq + 1, seq + 2, seq + 3];
      seq += batch.length;
      await Promise.all(batch.map((s) => client!.publishAsync(telemetryTopic(device), payload(s), { qos: 1 }).then(() => acked.push(s))));
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

describe('two workers on a broker cluster and PostgreSQL', () => {
  it('stores every acknowledged reading once, tickets and deliveries once, the deadman and the plan once, through a SIGKILL', async () => {
    const work = mkdtempSync(path.join(tmpdir(), 'citypipe-cluster-'));
    // No cap on what the broker queues for a worker that is away (mosquitto's default drops past 1000
    // messages per session, after it acknowledged them to the device).
    const broker = await startMosquitto('/usr/sbin/mosquitto', work, 1024, ['max_queued_messages 0']);
    cleanups.push(() => broker.stop());
    const receiver = await new TestReceiver().up();
    cleanups.push(() => receiver.down());
    const brokerUrl = `mqtt://127.0.0.1:${broker.port}`;
    const databaseUrl = await createPgDatabase(postgresUrl);
    const devices = [testDevice('waste-bin', 'centrum'), testDevice('streetlight', 'west'), testDevice('parking-meter', 'noord'), testDevice('waste-bin', 'oost')];
    // Never heard from, with a 2 s interval: offline after 6 s, while both workers sweep every 1.5 s.
    const silent = [1, 2, 3].map(() => testDevice('parking-meter', 'zuid'));
    for (const d of silent) d.record = { ...d.record, reportingIntervalS: 2 };
    const db = uniqueDbName('cluster');
    await createDatabase(influxUrl, db);
    const catalog = writeCatalog([...devices, ...silent]);
    // The shipped rules, with the flapping guard out of reach: the bins flip every 64 readings, and
    // this test counts one ticket per raise (the guard's held tickets are the rules tests' business).
    const rules = JSON.parse(readFileSync(defaultRulesFile, 'utf8')) as { settings: Record<string, unknown> };
    rules.settings.flapping = { maxTransitions: 1_000_000, window: 'PT1M' };
    const rulesFile = path.join(work, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(rules));
    const workerEnv = (workerId: string) =>
      testEnv(influxUrl, db, catalog, {
        CITYPIPE_BROKER_URL: brokerUrl,
        CITYPIPE_WORKER_ID: workerId,
        CITYPIPE_BROKER_CONNECTIONS: '2',
        CITYPIPE_SHARE_GROUP: 'citypipe',
        CITYPIPE_DATABASE_URL: databaseUrl,
        CITYPIPE_RULES_FILE: rulesFile,
        CITYPIPE_WEBHOOK_URLS: `dispatch=${receiver.url}/hook`,
        CITYPIPE_WEBHOOK_SECRET: 'cluster-e2e-webhook-secret',
        // Every second, on every worker: one of them makes each second's plan.
        CITYPIPE_COLLECTION_PLAN_CRON: '* * * * * *',
        CITYPIPE_HTTP_TOKEN: TOKEN,
      });
    const env1 = workerEnv('worker-1');
    const env2 = workerEnv('worker-2');
    expect(env1.CITYPIPE_DATA_DIR).not.toBe(env2.CITYPIPE_DATA_DIR);

    // Worker 1 writes nothing to InfluxDB before it is killed: what it acknowledged must come back
    // from its spool.
    const first = await startServiceProcess({ ...env1, CITYPIPE_FLUSH_INTERVAL_MS: '60000', CITYPIPE_BATCH_SIZE: '100000' });
    const second = await startServiceProcess(env2);
    expect(first.stdout()).toContain('consuming as worker worker-1 of share group citypipe on mqtt://127.0.0.1:');
    await waitFor('both workers subscribed (ready)', async () => (await ready(first)) && (await ready(second)), 20_000);

    // Device time just behind the wall clock, so that no reading is `late` (late raises open no ticket).
    const t0 = Date.now() - 30_000;
    const publishers = devices.map((d) => startDevice(brokerUrl, d, t0));
    cleanups.push(() => Promise.all(publishers.map((p) => p.stop())));
    const ackedCount = () => publishers.reduce((n, p) => n + p.acked.length, 0);

    await waitFor('worker 1 took readings', async () => ackedCount() >= 400 && (await stats(first)).received >= 100, 40_000, 100);
    first.child.kill('SIGKILL');
    await first.exited;
    // The load goes on: the broker gives worker 1's sessions their share and keeps it for them.
    const atKill = ackedCount();
    await waitFor('PUBACKs while worker 1 is down', () => ackedCount() >= atKill + 400, 40_000);

    const restartedAt = Date.now();
    const restarted = await startServiceProcess(env1);
    await waitFor('worker 1 back', () => ready(restarted), 20_000);
    const atRestart = ackedCount();
    await waitFor('PUBACKs after the restart, bins through at least 3 flips', () => ackedCount() >= atRestart + 400 && publishers[0]!.acked.length >= 3 * 64, 60_000);
    // Bad readings, spread over both workers by the broker: dead letters, kept with their reason.
    const bad = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, clientId: 'bad-device' });
    for (let i = 0; i < 20; i++) await bad.publishAsync(telemetryTopic(devices[0]!), JSON.stringify({ ts: Date.now(), seq: 2_000_000 + i, fillingLevel: 'full' }), { qos: 1 });
    await bad.endAsync();
    await Promise.all(publishers.map((p) => p.stop()));

    // 1. Every reading a device got a PUBACK for is in InfluxDB, once.
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

    // 2. One ticket per problem. Each bin's last reading leaves it full or empty; a last reading
    // of each, newer than any, empties it: every collection ticket is closed then.
    const bins = devices.filter((d) => d.record.type === 'waste-bin');
    const closer = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, clientId: 'closer' });
    for (const b of bins) await closer.publishAsync(telemetryTopic(b), JSON.stringify({ ts: Date.now(), seq: 1_000_000, fillingLevel: 0.05, batteryLevel: 0.9 }), { qos: 1 });
    await closer.endAsync();
    const collect = await waitFor(
      'every collection ticket closed after the bins were emptied',
      async () => {
        const rows = await sql<{ device_id: string; status: string }>(databaseUrl, "SELECT device_id, status FROM tickets WHERE rule = 'waste.collect'");
        return rows.length > 0 && rows.every((r) => r.status === 'closed') ? rows : undefined;
      },
      30_000,
      250,
    );
    // Raised while full, cleared while empty, in the order the readings were taken, whichever worker
    // had them: one ticket for each raise, never two open for one bin.
    const raises = await sql<{ device_id: string; n: string }>(databaseUrl, "SELECT device_id, count(*) AS n FROM events WHERE rule = 'waste.collect' AND state = 'raised' GROUP BY device_id");
    for (const b of bins) {
      const tickets = collect.filter((t) => t.device_id === b.record.id).length;
      expect(tickets).toBeGreaterThanOrEqual(1);
      expect(Number(raises.find((r) => r.device_id === b.record.id)?.n ?? 0)).toBe(tickets);
    }

    // 3. The deadman raised each silent device once, whichever worker swept.
    const offline = await waitFor('the silent devices offline', async () => {
      const rows = await sql<{ device_id: string }>(databaseUrl, "SELECT device_id FROM tickets WHERE rule = 'device.offline'");
      return rows.length >= silent.length ? rows : undefined;
    }, 30_000, 250);
    expect(offline.map((r) => r.device_id).sort()).toEqual(silent.map((d) => d.record.id).sort());
    const offlineRaises = await sql<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM events WHERE rule = 'device.offline' AND state = 'raised'");
    expect(offlineRaises[0]!.n).toBe(String(silent.length));

    // 4. Every ticket message reached the webhook once: one request per idempotency key. The one
    // exception the design allows is a message worker 1 was sending when it was killed: sent again
    // (same key) after its restart, as after a crash of a single node. Its first copy arrives before
    // the restart (its bytes may still land after the kill): until then the dead worker's claim keeps
    // every other worker off it, so no other worker can have sent a copy that arrived then.
    const messages = Number((await sql<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM delivery_messages'))[0]!.n);
    await waitFor('every ticket message delivered', async () => {
      const rows = await sql<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM delivery_queue WHERE state = 'delivered'");
      return Number(rows[0]!.n) === messages;
    }, 30_000, 250);
    const keys = receiver.requests.map((r) => String(r.headers['idempotency-key']));
    expect(new Set(keys).size).toBe(messages);
    const repeated = receiver.requests.filter((r, i) => keys.indexOf(keys[i]!) !== i);
    const firstSent = (key: string) => receiver.requests.find((r) => r.headers['idempotency-key'] === key)!.at;
    expect(repeated.filter((r) => firstSent(String(r.headers['idempotency-key'])) >= restartedAt)).toEqual([]);

    // 5. Either worker answers for the whole city: every dead letter, every ticket.
    const letters = await waitFor('the dead letters of both workers listed by one', async () => {
      const page = await api<{ total: number; items: { reason: string; deviceId?: string }[] }>(second, '/api/dead-letters?limit=100');
      return page.total >= 20 ? page : undefined;
    }, 20_000, 250);
    expect(letters.total).toBe(20);
    expect(letters.items.every((d) => d.reason === 'wrong_type')).toBe(true);
    const tickets = Number((await sql<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM tickets'))[0]!.n);
    for (const w of [restarted, second]) expect(await api<unknown[]>(w, '/open311/v2/requests.json?start_date=2000-01-01T00:00:00Z')).toHaveLength(tickets);

    // 6. One plan per second's slot, made by one worker, though every worker's schedule fired.
    const runs = await sql<{ slot: string }>(databaseUrl, "SELECT slot FROM cp_job_runs WHERE job = 'collection-plan'");
    const made = [first, second, restarted].flatMap((p) => logLines(p, /"collection plan generated"/).map((l) => String(l.slot)));
    expect(runs.length).toBeGreaterThan(2);
    expect(made.filter((slot, i) => made.indexOf(slot) !== i)).toEqual([]); // no slot made twice
    // Each claimed slot was made (but one, if worker 1 was killed between its claim and its plan).
    expect(made.length).toBeGreaterThanOrEqual(runs.length - 1);

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
  }, 300_000);
});
