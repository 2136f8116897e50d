/**
 * The edges of the MQTT side, with real clients (Debian's mosquitto_pub, raw sockets) against the
 * real service: every byte a device sent before it hung up is processed; QoS 2 is exactly once
 * across reconnects; what the broker keeps per client is bounded; every packet type counts against
 * the message rate and readings against a reading rate; receive-time stamps stay within a second
 * of receipt; a wrong password changes nothing of a device's session.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { influxQuery } from './helpers/influx.js';
import { ackPacket, connectPacket, DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, publishPacket, RawClient, SUBACK, subscribePacket, type ConnectOptions } from './helpers/mqtt-raw.js';
import { connectDevice, metricValue, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');

/**
 * Feeds `lines` to `mosquitto_pub -l` (one message per line; DISCONNECT and close at the end of input).
 * With `-d`, its trace says how far it got; a run past `timeoutMs` is killed and the error carries
 * that trace and what the service counted, so a stall says whether the client or the service stopped.
 */
function mosquittoPubLines(svc: RunningService, device: TestDevice, lines: string[], qos: 0 | 1 = 0, timeoutMs = 45_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = device.record.id;
    // stdbuf: the trace is printed with stdio, which a pipe would hold back in 4 KiB blocks.
    const child = spawn('stdbuf', ['-oL', 'mosquitto_pub', '-d', '-h', '127.0.0.1', '-p', String(svc.mqttPort), '-q', String(qos), '-i', id, '-u', id, '-P', device.secret, '-t', telemetryTopic(device), '-l'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    const trace = { connacks: 0, publishes: 0, disconnect: false, tail: [] as string[] };
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('sending PUBLISH')) trace.publishes++;
      else if (line.includes('received CONNACK')) trace.connacks++;
      else if (line.includes('sending DISCONNECT') && !trace.disconnect) {
        trace.disconnect = true;
        // mosquitto_pub 2.0 sometimes hangs after its DISCONNECT (eclipse/mosquitto#2739): every
        // message went before it on the same stream, so it has hung up as far as the test goes.
        setTimeout(() => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }, 10_000).unref();
      }
      trace.tail.push(line);
      if (trace.tail.length > 8) trace.tail.shift();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      void stats(svc)
        .then((st) => JSON.stringify(st), (e: unknown) => `stats not available: ${String(e)}`)
        .then((st) =>
          reject(
            new Error(
              `mosquitto_pub for ${id} did not exit within ${timeoutMs} ms: ${trace.connacks} CONNACK received, ${trace.publishes} of ${lines.length} PUBLISH sent, ` +
                `DISCONNECT ${trace.disconnect ? 'sent' : 'not sent'}; service /api/stats ${st}; last trace lines:\n${trace.tail.join('\n')}\nstderr: ${err}`,
            ),
          ),
        );
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto_pub could not run (apt-get install mosquitto-clients): ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') return; // the timer's: it rejects
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`mosquitto_pub exited ${code}: ${err}`));
    });
    child.stdin.end(lines.join('\n') + '\n');
  });
}

async function count(svc: RunningService, where = ''): Promise<number> {
  const rows = await influxQuery(influxUrl, svc.db, `SELECT count(fillingLevel) FROM waste_bin ${where}`);
  return Number(rows[0]?.count ?? 0);
}

async function stats(svc: RunningService): Promise<{ received: number; written: number; deadLettered: number; pending: number }> {
  return (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { received: number; written: number; deadLettered: number; pending: number };
}

function as(device: TestDevice, o: Partial<ConnectOptions> = {}): ConnectOptions {
  return { clientId: device.record.id, username: device.record.id, password: device.secret, ...o };
}

const raws: RawClient[] = [];
async function open(svc: RunningService, o: ConnectOptions): Promise<RawClient> {
  const { client, connack } = await RawClient.handshake(svc.mqttPort, o);
  raws.push(client);
  expect(connack.returnCode).toBe(0);
  return client;
}

afterAll(() => {
  for (const r of raws) r.end();
});

describe('with the default limits', () => {
  const fleet = Array.from({ length: 20 }, () => testDevice('waste-bin', 'noord'));
  const pipelined = testDevice('waste-bin', 'noord');
  let svc: RunningService;
  beforeAll(async () => {
    svc = await startTestService(influxUrl, [...fleet, pipelined]);
  });
  afterAll(() => svc?.stop());

  it('stores every reading of 20 devices that each send 900 with mosquitto_pub -l and hang up (QoS 0)', { timeout: 90_000 }, async () => {
    await Promise.all(fleet.map((d) => mosquittoPubLines(svc, d, Array.from({ length: 900 }, (_, i) => JSON.stringify({ seq: i, fillingLevel: (i % 100) / 100 })))));
    const stored = await waitFor('18,000 readings in InfluxDB', async () => ((await count(svc, `WHERE district = 'noord'`)) >= 18_000 ? count(svc, `WHERE district = 'noord'`) : false), 60_000, 250);
    expect(stored).toBe(18_000);
    const s = await stats(svc);
    expect(s.received).toBe(s.written + s.deadLettered + s.pending);
    expect(s.deadLettered).toBe(0);
  });

  it('takes packets a device sends right behind its CONNECT, before the CONNACK (MQTT allows it)', async () => {
    const client = await RawClient.connect(svc.mqttPort);
    raws.push(client);
    const publishes = Array.from({ length: 100 }, (_, i) => publishPacket(telemetryTopic(pipelined), JSON.stringify({ seq: i, fillingLevel: 0.5, ts: Date.now() - 100_000 + i }), { qos: 1, id: i + 1 }));
    // One write: CONNECT, 100 PUBLISHes, DISCONNECT. aedes alone drops the connection past 42.
    client.send(Buffer.concat([connectPacket(as(pipelined)), ...publishes, DISCONNECT]));
    const stored = await waitFor('100 pipelined readings', async () => ((await count(svc, `WHERE device_id = '${pipelined.record.id}'`)) >= 100 ? true : false), 20_000, 100);
    expect(stored).toBe(true);
    expect(await count(svc, `WHERE device_id = '${pipelined.record.id}'`)).toBe(100);
  });

  it('keeps its data folder 0700 and every file in it 0600', () => {
    const seen: string[] = [];
    const walk = (dir: string): void => {
      expect(statSync(dir).mode & 0o777, dir).toBe(0o700);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else {
          expect(statSync(p).mode & 0o777, p).toBe(0o600);
          seen.push(e.name);
        }
      }
    };
    walk(svc.service.config.dataDir);
    // The spool, the dead letters and the tickets' database (with SQLite's WAL) are among them.
    expect(seen).toEqual(expect.arrayContaining(['dead-letters.db', 'dispatch.db', 'dispatch.db-wal']));
    expect(seen.some((f) => /^seg-\d+\.log$/.test(f))).toBe(true);
  });
});

describe('an existing data folder of an earlier version', () => {
  it('is made 0700, and its files 0600, at start', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'citypipe-old-data-'));
    chmodSync(dataDir, 0o755);
    writeFileSync(path.join(dataDir, 'dead-letters.db'), '');
    chmodSync(path.join(dataDir, 'dead-letters.db'), 0o644);
    const svc = await startTestService(influxUrl, [], { CITYPIPE_DATA_DIR: dataDir });
    try {
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(dataDir, 'dead-letters.db')).mode & 0o777).toBe(0o600);
    } finally {
      await svc.stop();
    }
  });
});

describe('with rate limits off (a gateway or a load test)', () => {
  const big = testDevice('waste-bin', 'west');
  const unstamped = testDevice('waste-bin', 'west');
  let svc: RunningService;
  beforeAll(async () => {
    svc = await startTestService(influxUrl, [big, unstamped], { CITYPIPE_MQTT_CLIENT_RATE: '0', CITYPIPE_MQTT_CLIENT_READING_RATE: '0' });
  });
  afterAll(() => svc?.stop());

  it('stores all 20,000 readings a device sends with mosquitto_pub -l before it hangs up', { timeout: 90_000 }, async () => {
    // A backlog carries its own times (without ts, only 1,000 a second can be told apart: see below).
    const from = Date.now() - 60_000;
    await mosquittoPubLines(svc, big, Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ ts: from + i, seq: i, fillingLevel: (i % 100) / 100 })));
    await waitFor('20,000 readings in InfluxDB', async () => (await count(svc, `WHERE device_id = '${big.record.id}'`)) >= 20_000, 60_000, 250);
    expect(await count(svc, `WHERE device_id = '${big.record.id}'`)).toBe(20_000);
  });

  it('stamps readings without ts no later than a second after receipt, and dead-letters the rest with the reason', async () => {
    const client = await connectDevice(svc.mqttUrl, unstamped);
    const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ fillingLevel: (i % 100) / 100 })));
    const sentAt = Date.now();
    await Promise.all(Array.from({ length: 30 }, () => client.publishAsync(telemetryTopic(unstamped), batch, { qos: 1 })));
    const ackedAt = Date.now();
    await client.endAsync();
    const s = await waitFor('every reading written or dead-lettered', async () => {
      const st = await stats(svc);
      return st.pending === 0 && st.received >= 20_000 + 30_000 ? st : false;
    }, 60_000, 250);
    const rows = await influxQuery(influxUrl, svc.db, `SELECT count(fillingLevel), max(fillingLevel) FROM waste_bin WHERE device_id = '${unstamped.record.id}'`);
    const stored = Number(rows[0]?.count ?? 0);
    const last = await influxQuery(influxUrl, svc.db, `SELECT last(fillingLevel) FROM waste_bin WHERE device_id = '${unstamped.record.id}'`);
    // Received between sentAt and ackedAt: the newest stamp is at most a second after the last receipt.
    expect(Number(last[0]!.time)).toBeLessThan(ackedAt + 1000);
    expect(Number(last[0]!.time)).toBeGreaterThanOrEqual(sentAt);
    const dead = (await (await fetch(`${svc.httpUrl}/api/dead-letters?reason=ts_required&device_id=${unstamped.record.id}&limit=1`)).json()) as { total: number; items: { message: string }[] };
    expect(stored + dead.total).toBe(30_000);
    expect(dead.total).toBeGreaterThan(0);
    expect(dead.items[0]!.message).toMatch(/send ts/);
    expect(s.received).toBe(s.written + s.deadLettered + s.pending);
  });
});

describe('with small session caps', () => {
  const dev = testDevice('waste-bin', 'zuid');
  const q2 = testDevice('waste-bin', 'zuid');
  const capped = testDevice('waste-bin', 'zuid');
  const owner = testDevice('waste-bin', 'zuid');
  const batcher = testDevice('waste-bin', 'zuid');
  let svc: RunningService;
  beforeAll(async () => {
    svc = await startTestService(influxUrl, [dev, q2, capped, owner, batcher], {
      CITYPIPE_MQTT_MAX_INFLIGHT_QOS2: '5',
      CITYPIPE_MQTT_MAX_QUEUED: '10',
      CITYPIPE_MQTT_RETAINED_MAX_BYTES: '1024',
      CITYPIPE_MQTT_RETAINED_PER_DEVICE: '3',
      CITYPIPE_MQTT_CLIENT_READING_RATE: '100',
      CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE: 'true',
    });
  });
  afterAll(() => svc?.stop());

  const session = (limit: string) => metricValue(svc.httpUrl, `citypipe_mqtt_session_limit_total{limit="${limit}"}`);

  it('QoS 2: a PUBLISH sent again before PUBREL, on the same connection or after a reconnect, is one reading', async () => {
    const before = (await stats(svc)).received;
    const reading = JSON.stringify({ fillingLevel: 0.42 }); // no ts: a second take would be a second point
    const first = await open(svc, as(q2, { clean: false }));
    first.send(publishPacket(telemetryTopic(q2), reading, { qos: 2, id: 7 }));
    await first.next(PUBREC);
    first.send(publishPacket(telemetryTopic(q2), reading, { qos: 2, id: 7, dup: true }));
    await first.next(PUBREC);
    first.end();
    const again = await open(svc, as(q2, { clean: false }));
    again.send(publishPacket(telemetryTopic(q2), reading, { qos: 2, id: 7, dup: true }));
    await again.next(PUBREC);
    again.send(ackPacket(6, 7));
    await again.next(PUBCOMP);
    await waitFor('the reading in InfluxDB', async () => (await count(svc, `WHERE device_id = '${q2.record.id}'`)) >= 1, 10_000);
    expect((await stats(svc)).received - before).toBe(1);
    expect(await count(svc, `WHERE device_id = '${q2.record.id}'`)).toBe(1);
    // After PUBCOMP the same packet id is a new message.
    again.send(publishPacket(telemetryTopic(q2), reading, { qos: 2, id: 7 }));
    await again.next(PUBREC);
    expect((await stats(svc)).received - before).toBe(2);
  });

  it('QoS 2: unfinished flows are capped per client id, across reconnects, and PUBREL frees them', async () => {
    const reading = (i: number) => JSON.stringify({ seq: i, fillingLevel: 0.1, ts: Date.now() - 1000 + i });
    const a = await open(svc, as(capped, { clean: false }));
    for (let id = 1; id <= 5; id++) {
      a.send(publishPacket(telemetryTopic(capped), reading(id), { qos: 2, id }));
      await a.next(PUBREC);
    }
    a.send(publishPacket(telemetryTopic(capped), reading(6), { qos: 2, id: 6 }));
    expect(await a.waitClosed()).toBe(true);
    expect(await session('inflight_qos2')).toBeGreaterThanOrEqual(1);
    // A new connection of the same session inherits the five unfinished flows.
    const b = await open(svc, as(capped, { clean: false }));
    b.send(publishPacket(telemetryTopic(capped), reading(10), { qos: 2, id: 10 }));
    expect(await b.waitClosed()).toBe(true);
    const c = await open(svc, as(capped, { clean: false }));
    for (let id = 1; id <= 5; id++) {
      c.send(ackPacket(6, id));
      await c.next(PUBCOMP);
    }
    c.send(publishPacket(telemetryTopic(capped), reading(10), { qos: 2, id: 10 }));
    await c.next(PUBREC);
    expect(c.closed).toBe(false);
  });

  it('retained: never kept on telemetry, capped in size and per device elsewhere; small ones work as before', async () => {
    const pub = await open(svc, as(owner, { clientId: `${owner.record.id}:pub` }));
    const big = Buffer.alloc(900 * 1024, 0x61);
    for (let i = 0; i < 3; i++) {
      pub.send(publishPacket(`city/waste-bin/${owner.record.id}/blob${i}`, big, { qos: 1, id: i + 1, retain: true }));
      await pub.next(PUBACK, 10_000);
    }
    pub.send(publishPacket(telemetryTopic(owner), JSON.stringify({ fillingLevel: 0.3 }), { qos: 1, id: 10, retain: true }));
    await pub.next(PUBACK);
    for (const [i, topic] of ['status', 'a', 'b', 'c'].entries()) {
      pub.send(publishPacket(`city/waste-bin/${owner.record.id}/${topic}`, 'online', { qos: 1, id: 20 + i, retain: true }));
      await pub.next(PUBACK);
    }
    const sub = await open(svc, as(owner, { clientId: `${owner.record.id}:sub` }));
    sub.send(subscribePacket(1, [[`city/waste-bin/${owner.record.id}/#`, 1]]));
    await sub.next(SUBACK);
    // What comes back: the first three small ones (the per-device cap), nothing large, no telemetry.
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await sub.next(PUBLISH);
      expect(p.retain).toBe(true);
      got.push(p.topic!.split('/').pop()!);
    }
    expect(got.sort()).toEqual(['a', 'b', 'status']);
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.received.filter((p) => p.type === PUBLISH)).toEqual([]);
    expect(await session('retained_too_large')).toBe(3);
    expect(await session('retained_telemetry')).toBe(1);
    expect(await session('retained_per_device')).toBe(1);
    // The retained telemetry was still taken as a reading.
    await waitFor('the retained reading in InfluxDB', async () => (await count(svc, `WHERE device_id = '${owner.record.id}'`)) === 1, 10_000);
  });

  it('offline queues: a persistent session that is away gets at most CITYPIPE_MQTT_MAX_QUEUED messages', async () => {
    const topic = `city/waste-bin/${dev.record.id}/status`;
    const sub = await open(svc, as(dev, { clientId: `${dev.record.id}:sub`, clean: false }));
    sub.send(subscribePacket(1, [[topic, 1]]));
    await sub.next(SUBACK);
    sub.send(DISCONNECT);
    await sub.waitClosed();
    const pub = await open(svc, as(dev, { clientId: `${dev.record.id}:pub` }));
    for (let i = 1; i <= 25; i++) {
      pub.send(publishPacket(topic, `m${i}`, { qos: 1, id: i }));
      await pub.next(PUBACK);
    }
    const back = await open(svc, as(dev, { clientId: `${dev.record.id}:sub`, clean: false }));
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const p = await back.next(PUBLISH);
      got.push(p.payload!.toString());
      back.send(ackPacket(4, p.messageId!));
    }
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
    await new Promise((r) => setTimeout(r, 300));
    expect(back.received.filter((p) => p.type === PUBLISH)).toEqual([]);
    expect(await session('queue_full')).toBe(15);
  });

  it('counts every packet type against the message rate: a PUBREL flood is slowed down', async () => {
    const c = await open(svc, as(dev, { clientId: `${dev.record.id}:flood` }));
    const pubrels = Buffer.concat(Array.from({ length: 1500 }, (_, i) => ackPacket(6, (i % 60000) + 1)));
    c.send(pubrels);
    await waitFor('the flood throttled', async () => (await metricValue(svc.httpUrl, 'citypipe_mqtt_throttled_total{limit="messages"}')) > 0, 10_000);
    c.end();
  });

  it('counts readings, not messages, against the reading rate: a device sending big batches is slowed down', async () => {
    const client = await connectDevice(svc.mqttUrl, batcher);
    const now = Date.now();
    const batch = (k: number) => JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ ts: now - 10_000 + k * 1000 + i, fillingLevel: 0.2 })));
    await client.publishAsync(telemetryTopic(batcher), batch(0), { qos: 1 });
    await client.publishAsync(telemetryTopic(batcher), batch(1), { qos: 1 });
    await client.endAsync();
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_throttled_total{limit="readings"}')).toBeGreaterThanOrEqual(1);
    await waitFor('2,000 readings in InfluxDB', async () => (await count(svc, `WHERE device_id = '${batcher.record.id}'`)) === 2000, 20_000);
  });

  it('accepts keep alive 0 when CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE=true', async () => {
    const c = await connectDevice(svc.mqttUrl, dev, { clientId: `${dev.record.id}:ka0`, keepalive: 0 });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('a CONNECT with a device\'s client id and a wrong password changes nothing of its session', async () => {
    const topic = `city/waste-bin/${dev.record.id}/cmd`;
    const sub = await open(svc, as(dev, { clean: false }));
    sub.send(subscribePacket(1, [[topic, 1]]));
    await sub.next(SUBACK);
    const pub = await open(svc, as(dev, { clientId: `${dev.record.id}:pub2` }));
    pub.send(publishPacket(topic, 'hello', { qos: 1, id: 1 }));
    await pub.next(PUBACK);
    const first = await sub.next(PUBLISH);
    expect(first.dup).toBe(false);
    // Not acknowledged: the device goes away with the message in flight.
    sub.end();
    await sub.waitClosed();
    const { connack } = await RawClient.handshake(svc.mqttPort, as(dev, { password: 'not-the-secret', clean: true }));
    expect(connack.returnCode).toBe(4);
    const back = await open(svc, as(dev, { clean: false }));
    const again = await back.next(PUBLISH);
    // Still known as sent once: it comes again with DUP set [MQTT-3.3.1-1], as without the impostor.
    expect(again).toMatchObject({ dup: true, messageId: first.messageId });
  });
});
