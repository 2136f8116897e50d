/**
 * Bad input cannot hurt the service (README "Security"): malformed and oversized MQTT on raw
 * sockets, thousands of half-open connections, abusive payloads and floods, against the real
 * service. The process stays up, its memory stays bounded, and a legitimate device publishing all
 * along keeps getting its PUBACKs within a measured bound.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { influxQuery } from './helpers/influx.js';
import { CONNACK, connectPacket, PINGREQ, publishPacket, RawClient, subscribePacket, varint } from './helpers/mqtt-raw.js';
import {
  connectDevice,
  metricValue,
  quantile,
  startPublisher,
  startTestService,
  telemetryTopic,
  testDevice,
  type BackgroundPublisher,
  type RunningService,
} from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');

const legit = testDevice('streetlight', 'noord');
const abuser = testDevice('waste-bin', 'west');
const flooder = testDevice('waste-bin', 'west');
const CLIENT_RATE = 20;

let svc: RunningService;
let legitPublisher: BackgroundPublisher;
const clients: MqttClient[] = [];
const MB = 1024 * 1024;

const rssMb = () => process.memoryUsage().rss / MB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Legitimate PUBACK latencies recorded from `from` on. */
function latenciesSince(from: number): number[] {
  return legitPublisher.latenciesMs.slice(from);
}

beforeAll(async () => {
  svc = await startTestService(influxUrl, [legit, abuser, flooder], {
    CITYPIPE_MQTT_CONNECT_TIMEOUT_MS: '1000',
    // Thousands of sockets from one address are the point of some tests here; the per-address
    // connection rate has its own service below.
    CITYPIPE_MQTT_IP_CONNECT_RATE: '0',
    CITYPIPE_MQTT_CLIENT_RATE: String(CLIENT_RATE),
  });
  legitPublisher = startPublisher(svc.mqttUrl, legit, { intervalMs: 20 });
  await waitFor('the legitimate device publishing', () => legitPublisher.acked.length >= 10);
});

afterAll(async () => {
  await legitPublisher?.stop();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await svc?.stop();
});

describe('oversized packets are cut at the fixed header', () => {
  it('cuts a first packet declaring 256 MB within milliseconds, before buffering what follows', async () => {
    const before = rssMb();
    const junk = Buffer.alloc(8 * MB);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(svc.mqttPort)));
    const t0 = Date.now();
    for (const s of sockets) {
      // CONNECT, remaining length 268,435,455 (the varint maximum), then as much as the socket takes.
      s.send(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
      s.send(junk);
    }
    for (const s of sockets) expect(await s.waitClosed(2000)).toBe(true);
    // Well before the 1 s connect timeout: the guard cut them, not the timer.
    expect(Math.max(...sockets.map((s) => s.closedAt! - t0))).toBeLessThan(500);
    expect(sockets.every((s) => s.received.length === 0)).toBe(true);
    // 20 × 8 MB would be 160 MB had the broker buffered it.
    expect(rssMb() - before).toBeLessThan(60);
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="connect_too_large"}')).toBeGreaterThanOrEqual(20);
  });

  it('cuts an authenticated device whose PUBLISH declares more than CITYPIPE_MQTT_MAX_PACKET_BYTES', async () => {
    const { client, connack } = await RawClient.handshake(svc.mqttPort, { clientId: abuser.record.id, username: abuser.record.id, password: abuser.secret });
    expect(connack.returnCode).toBe(0);
    client.send(Buffer.concat([Buffer.from([0x32]), varint(256 * MB - 1)]));
    client.send(Buffer.alloc(4 * MB));
    expect(await client.waitClosed(1000)).toBe(true);
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="packet_too_large"}')).toBeGreaterThanOrEqual(1);
  });

  it('cuts a remaining length longer than 4 bytes', async () => {
    const s = await RawClient.connect(svc.mqttPort);
    s.send(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]));
    expect(await s.waitClosed(500)).toBe(true);
  });
});

describe('malformed handshakes', () => {
  it.each([
    ['PUBLISH', publishPacket(telemetryTopic(abuser), '{"fillingLevel":0.5}', { qos: 1, id: 1 })],
    ['SUBSCRIBE', subscribePacket(1, [['#', 0]])],
    ['PINGREQ', PINGREQ],
    ['a reserved packet type', Buffer.from([0x00, 0x00])],
    ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ])('closes a connection whose first packet is %s, at once and without an answer', async (_name, bytes) => {
    const metric = 'citypipe_mqtt_connections_refused_total{reason="first_packet_not_connect"}';
    const cutBefore = await metricValue(svc.httpUrl, metric);
    const s = await RawClient.connect(svc.mqttPort);
    s.send(bytes);
    expect(await s.waitClosed(10_000)).toBe(true);
    // At once: cut by the packet guard on its first byte, not left to the connect timeout (1 s here).
    expect(await metricValue(svc.httpUrl, metric)).toBe(cutBefore + 1);
    expect(s.received).toEqual([]);
  });

  it('refuses a 64 KB client id without accepting the connection', async () => {
    const s = await RawClient.connect(svc.mqttPort);
    s.send(connectPacket({ clientId: 'x'.repeat(65_535), username: abuser.record.id, password: abuser.secret }));
    expect(await s.waitClosed(500)).toBe(true);
    expect(s.received.filter((p) => p.type === CONNACK && p.returnCode === 0)).toEqual([]);
  });

  it('answers protocol level 5 with CONNACK 1 (unacceptable protocol version) and closes', async () => {
    const { client, connack } = await RawClient.handshake(svc.mqttPort, { clientId: abuser.record.id, username: abuser.record.id, password: abuser.secret, protocolLevel: 5 });
    expect(connack.returnCode).toBe(1);
    expect(await client.waitClosed()).toBe(true);
  });

  it('survives thousands of half-open sockets: closed at the connect timeout, memory bounded, devices unaffected', async () => {
    const before = rssMb();
    const latencyFrom = legitPublisher.latenciesMs.length;
    const n = 2000;
    const sockets: RawClient[] = [];
    for (let i = 0; i < n; i += 200) {
      sockets.push(...(await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(svc.mqttPort)))));
    }
    // Half say nothing; half start a CONNECT and stall in the middle of it.
    const partial = connectPacket({ clientId: 'half-open', username: abuser.record.id, password: abuser.secret }).subarray(0, 12);
    sockets.forEach((s, i) => i % 2 === 1 && s.send(partial));
    const opened = Date.now();
    // ~1–2 s on a quiet machine; the deadline only bounds the wait. That the connect timeout (1 s
    // here) closed them, not something else, is what the metric below says.
    await waitFor(`the broker closing ${n} half-open sockets`, () => sockets.every((s) => s.closed), 60_000, 100);
    const closedAfter = Math.max(...sockets.map((s) => s.closedAt!)) - opened;
    expect(rssMb() - before).toBeLessThan(80);
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="connect_timeout"}')).toBeGreaterThanOrEqual(n * 0.9);
    const lat = latenciesSince(latencyFrom);
    expect(lat.length).toBeGreaterThan(20);
    console.info(`half-open: ${n} sockets closed ${closedAfter} ms after opening; legitimate PUBACK p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
    // Opening 2000 sockets and timing them out all at once costs the event loop (which this test's
    // clients share with the service) a few hundred ms once; nobody is refused or lost. On a busy
    // machine every PUBACK is slower: the bound grows with the device's p99 before the sockets came.
    const p99Before = quantile(legitPublisher.latenciesMs.slice(Math.max(0, latencyFrom - 200), latencyFrom), 0.99);
    expect(quantile(lat, 0.99)).toBeLessThan(Number.isFinite(p99Before) ? Math.max(1500, 5 * p99Before) : 1500);
  });
});

describe('abusive payloads', () => {
  it('dead-letters each with its reason, cuts one over the packet limit, never pollutes a prototype, and barely slows other devices', async () => {
    const latencyFrom = legitPublisher.latenciesMs.length;
    const c = await connectDevice(svc.mqttUrl, abuser);
    clients.push(c);
    const topic = telemetryTopic(abuser);
    const deep = (n: number, open: string, close: string, inner: string) => open.repeat(n) + inner + close.repeat(n);
    const payloads: [string, string | Buffer, string][] = [
      ['1 MB of JSON', JSON.stringify({ fillingLevel: 0.5, pad: 'x'.repeat(1_000_000) }), 'payload_too_large'],
      ['10,000-deep arrays', deep(10_000, '[', ']', '1'), 'not_an_object'],
      ['10,000-deep objects', deep(10_000, '{"a":', '}', '1'), 'missing_field'],
      ['__proto__ keys', '{"fillingLevel":0.5,"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}', 'unknown_key'],
      ['1e400', '{"fillingLevel":1e400}', 'not_finite'],
      ['a huge array of readings', JSON.stringify(Array.from({ length: 5000 }, () => ({ fillingLevel: 0.1 }))), 'batch_too_large'],
      ['a huge array of numbers', `[${Array.from({ length: 100_000 }, () => '1').join(',')}]`, 'batch_too_large'],
      ['not JSON', Buffer.from([0xff, 0xfe, 0x00, 0x01]), 'invalid_json'],
    ];
    // Several rounds, so that the other device's latency is measured over a second or more of abuse.
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      for (const [name, payload] of payloads) {
        const t0 = performance.now();
        await c.publishAsync(topic, payload, { qos: 1 });
        expect(performance.now() - t0, `${name}: PUBACK time`).toBeLessThan(2000);
      }
    }
    const dead = await waitFor('a dead letter for each abusive payload', async () => {
      const r = (await (await fetch(`${svc.httpUrl}/api/dead-letters?device_id=${abuser.record.id}&limit=1000`)).json()) as { items: { reason: string }[] };
      return r.items.length >= payloads.length * rounds ? r.items.map((d) => d.reason) : undefined;
    });
    expect(dead.sort(), JSON.stringify(dead)).toEqual(Array.from({ length: rounds }, () => payloads.map(([, , reason]) => reason)).flat().sort());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();

    // Over CITYPIPE_MQTT_MAX_PACKET_BYTES (1 MiB): the connection is cut at the header, nothing stored.
    const cutBefore = await metricValue(svc.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="packet_too_large"}');
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(topic, Buffer.alloc(2 * MB, 0x20), { qos: 1 });
    await closed;
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="packet_too_large"}')).toBe(cutBefore + 1);
    expect(await influxQuery(influxUrl, svc.db, `SELECT count(*) FROM waste_bin WHERE device_id = '${abuser.record.id}'`)).toEqual([]);

    // Enough legitimate readings to judge (a slow machine may need a little longer to get them).
    await waitFor('10 legitimate readings acknowledged during the abuse', () => latenciesSince(latencyFrom).length >= 10, 15_000);
    const lat = latenciesSince(latencyFrom);
    console.info(`abusive payloads: legitimate PUBACK p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms over ${lat.length} readings`);
    expect(lat.length).toBeGreaterThanOrEqual(10);
    // Measured 15-20 ms p50 and 140 ms p99 on the 2-core build machine, client and service in one process.
    expect(quantile(lat, 0.99)).toBeLessThan(500);
  });

  it('slows a flooding device down to CITYPIPE_MQTT_CLIENT_RATE without losing its readings or slowing others', async () => {
    const latencyFrom = legitPublisher.latenciesMs.length;
    const c = await connectDevice(svc.mqttUrl, flooder);
    clients.push(c);
    // The burst allowance is 10 s of the rate; 60 more must wait for the rate.
    const n = CLIENT_RATE * 10 + 60;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: n }, (_, i) => c.publishAsync(telemetryTopic(flooder), JSON.stringify({ seq: i, fillingLevel: 0.2 }), { qos: 1 })));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThan((60 / CLIENT_RATE) * 1000 * 0.8);
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_throttled_total{limit="messages"}')).toBeGreaterThan(0);
    await waitFor(`all ${n} flood readings written`, async () => {
      const r = await influxQuery(influxUrl, svc.db, `SELECT count(seq) FROM waste_bin WHERE device_id = '${flooder.record.id}'`);
      return r[0]?.count === n;
    });
    const lat = latenciesSince(latencyFrom);
    console.info(`flood of ${n} at ${CLIENT_RATE}/s took ${took} ms; legitimate PUBACK p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
    expect(quantile(lat, 0.99)).toBeLessThan(500);
  });
});

describe('connections per address', () => {
  it('closes connections over CITYPIPE_MQTT_IP_CONNECT_RATE at once and counts them', async () => {
    const limited = await startTestService(influxUrl, [legit], { CITYPIPE_MQTT_IP_CONNECT_RATE: '5' });
    try {
      // 5/s with a burst of 10 s: 50 get in, the next 30 are closed before a byte is read.
      const sockets = await Promise.all(Array.from({ length: 80 }, () => RawClient.connect(limited.mqttPort)));
      await sleep(300);
      const closed = sockets.filter((s) => s.closed).length;
      expect(closed).toBeGreaterThanOrEqual(25);
      expect(closed).toBeLessThanOrEqual(35);
      expect(await metricValue(limited.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="ip_rate"}')).toBe(closed);
      for (const s of sockets) s.end();
    } finally {
      await limited.stop();
    }
  });
});

describe('open connections', () => {
  it('closes connections over CITYPIPE_MQTT_MAX_CONNECTIONS at once and counts them', async () => {
    const capped = await startTestService(influxUrl, [legit], { CITYPIPE_MQTT_MAX_CONNECTIONS: '5' });
    try {
      const sockets: RawClient[] = [];
      for (let i = 0; i < 8; i++) sockets.push(await RawClient.connect(capped.mqttPort));
      await sleep(200);
      expect(sockets.map((s) => s.closed)).toEqual([false, false, false, false, false, true, true, true]);
      expect(await metricValue(capped.httpUrl, 'citypipe_mqtt_connections_refused_total{reason="max_connections"}')).toBe(3);
      for (const s of sockets) s.end();
    } finally {
      await capped.stop();
    }
  });
});

describe('after all of the above', () => {
  it('is healthy, and the legitimate device never missed a PUBACK and has every reading written', async () => {
    await legitPublisher.stop();
    expect(legitPublisher.failures).toBe(0);
    const seqs = await waitFor('every legitimate reading in InfluxDB', async () => {
      const rows = await influxQuery(influxUrl, svc.db, `SELECT seq FROM streetlight WHERE device_id = '${legit.record.id}'`);
      return rows.length >= legitPublisher.acked.length ? rows.map((r) => r.seq as number) : undefined;
    }, 15_000);
    expect(new Set(seqs)).toEqual(new Set(legitPublisher.acked));
    expect((await fetch(`${svc.httpUrl}/readyz`)).status).toBe(200);
    const lat = legitPublisher.latenciesMs;
    console.info(`whole run: ${lat.length} legitimate readings, PUBACK p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
  });
});
