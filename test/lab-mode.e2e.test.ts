/**
 * Lab mode (CITYPIPE_MQTT_OPEN=true): anonymous clients, no topic ACL, for interoperability
 * testing. There the broker behaves as a conforming MQTT 3.1.1 broker, tested here on raw sockets
 * against the spec's numbered requirements; every limit still applies; and the mode is loudly
 * logged.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { influxQuery } from './helpers/influx.js';
import {
  ackPacket,
  CONNACK,
  DISCONNECT,
  PINGREQ,
  PINGRESP,
  PUBACK,
  PUBCOMP,
  publishPacket,
  PUBLISH,
  PUBREC,
  PUBREL,
  RawClient,
  SUBACK,
  subscribePacket,
  UNSUBACK,
  unsubscribePacket,
  type ConnectOptions,
  type Received,
} from './helpers/mqtt-raw.js';
import { connectClient, connectDevice, startTestService, telemetryTopic, testDevice, type RunningService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const bin = testDevice('waste-bin', 'centrum');
/** Connected only by the stats test, so that its count starts at 0 whatever the other tests left open. */
const counted = testDevice('waste-bin', 'centrum');
const logLines: Record<string, unknown>[] = [];
let svc: RunningService;
const raws: RawClient[] = [];

async function open(o: ConnectOptions): Promise<{ client: RawClient; connack: Received }> {
  const r = await RawClient.handshake(svc.mqttPort, o);
  raws.push(r.client);
  return r;
}

async function subscriber(clientId: string, filters: [string, 0 | 1 | 2][], o: Omit<ConnectOptions, 'clientId'> = {}): Promise<RawClient> {
  const { client, connack } = await open({ ...o, clientId });
  expect(connack.returnCode).toBe(0);
  client.send(subscribePacket(1, filters));
  const suback = await client.next(SUBACK);
  expect(suback.granted).toEqual(filters.map(([, qos]) => qos));
  return client;
}

/** Publishes from an anonymous connection and waits for the broker to have taken it. */
async function publish(topic: string, payload: string, o: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
  const { client } = await open({ clientId: '' });
  client.send(publishPacket(topic, payload, { qos: o.qos ?? 1, id: 1, retain: o.retain ?? false }));
  if ((o.qos ?? 1) === 1) await client.next(PUBACK);
  client.send(DISCONNECT);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  svc = await startTestService(influxUrl, [bin, counted], { CITYPIPE_MQTT_OPEN: 'true' }, { log: pino({ level: 'warn' }, sink) });
});

afterAll(async () => {
  for (const r of raws) r.end();
  await svc?.stop();
});

describe('lab mode', () => {
  it('counts distinct authenticated devices apart from open MQTT connections in /api/stats', async () => {
    type Stats = { connectedDevices: number; mqttConnections: number };
    const stats = async () => (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as Stats;
    const before = await stats();
    // One device over two connections (its client id may carry a suffix), and an anonymous
    // connection publishing for it: three connections, one device.
    const first = await connectDevice(svc.mqttUrl, counted);
    const second = await connectDevice(svc.mqttUrl, counted, { clientId: `${counted.record.id}:second` });
    const anonymous = await connectClient(svc.mqttUrl, { clientId: 'gateway-for-many' });
    await anonymous.publishAsync(telemetryTopic(counted), JSON.stringify({ seq: 90, fillingLevel: 0.2 }), { qos: 1 });
    try {
      await waitFor('three more connections', async () => (await stats()).mqttConnections === before.mqttConnections + 3);
      expect((await stats()).connectedDevices).toBe(before.connectedDevices + 1);
    } finally {
      await Promise.all([first.endAsync(), second.endAsync(), anonymous.endAsync()]);
    }
    await waitFor('the connections closed', async () => (await stats()).mqttConnections === before.mqttConnections);
    expect((await stats()).connectedDevices).toBe(before.connectedDevices);
  });

  it('is loudly logged at start', () => {
    const warning = logLines.find((l) => l.code === 'CP_WARN_MQTT_OPEN');
    expect(warning).toBeDefined();
    expect(warning!.level).toBe(40);
    expect(String(warning!.msg)).toMatch(/LAB MODE.*ANONYMOUS.*NO topic ACL/);
  });

  it('accepts an anonymous client, lets it subscribe to #, and writes its readings of catalog devices', async () => {
    const c = await connectClient(svc.mqttUrl, { clientId: 'interop-tool' });
    expect((await c.subscribeAsync('#', { qos: 0 }))[0]!.qos).toBe(0);
    await c.publishAsync(telemetryTopic(bin), JSON.stringify({ seq: 1, fillingLevel: 0.3 }), { qos: 1 });
    await c.endAsync();
    await waitFor('the anonymous reading', async () => (await influxQuery(influxUrl, svc.db, `SELECT seq FROM waste_bin WHERE seq = 1`)).length === 1);
  });

  it('dead-letters readings of devices that are not in the catalog, or under an unknown type, and never writes them', async () => {
    const c = await connectClient(svc.mqttUrl, { clientId: 'rogue' });
    await c.publishAsync('city/waste-bin/rogue-1/telemetry', JSON.stringify({ seq: 2, fillingLevel: 0.5 }), { qos: 1 });
    await c.publishAsync(`city/bicycle-rack/${bin.record.id}/telemetry`, '{}', { qos: 1 });
    await c.endAsync();
    const reasons = await waitFor('unknown_device and unknown_type dead letters', async () => {
      const r = (await (await fetch(`${svc.httpUrl}/api/dead-letters`)).json()) as { items: { reason: string; message: string }[] };
      const found = r.items.map((d) => d.reason);
      return found.includes('unknown_device') && found.includes('unknown_type') ? r.items : undefined;
    });
    expect(reasons.find((d) => d.reason === 'unknown_device')!.message).toMatch(/not in the catalog/);
    expect(await influxQuery(influxUrl, svc.db, `SELECT * FROM waste_bin WHERE device_id = 'rogue-1'`)).toHaveLength(0);
  });
});

describe('MQTT 3.1.1 conformance in lab mode', () => {
  it('retained messages: delivered to new subscribers with RETAIN set, cleared by an empty retained message [MQTT-3.3.1-5..10]', async () => {
    await publish('lab/retained', 'r1', { retain: true });
    const s1 = await subscriber('lab-ret-1', [['lab/retained', 1]]);
    const m = await s1.next(PUBLISH);
    expect(m).toMatchObject({ topic: 'lab/retained', retain: true });
    expect(m.payload!.toString()).toBe('r1');
    if (m.qos === 1) s1.send(ackPacket(4, m.messageId!));
    // A message that matches an existing subscription arrives with RETAIN cleared.
    await publish('lab/retained', 'r2', { retain: true });
    const live = await s1.next(PUBLISH);
    expect(live).toMatchObject({ topic: 'lab/retained', retain: false });
    // A zero-byte retained message removes the retained one.
    await publish('lab/retained', '', { retain: true });
    const s2 = await subscriber('lab-ret-2', [['lab/retained', 1]]);
    await sleep(200);
    expect(s2.received.filter((p) => p.type === PUBLISH)).toEqual([]);
  });

  it('QoS 1: an unacknowledged message is sent again with DUP on reconnect, and one queued while offline is delivered [MQTT-4.4.0-1]', async () => {
    const s = await subscriber('lab-q1', [['lab/q1', 1]], { clean: false });
    await publish('lab/q1', 'm1');
    const first = await s.next(PUBLISH);
    expect(first).toMatchObject({ qos: 1, dup: false });
    s.end(); // no PUBACK
    await publish('lab/q1', 'm2');
    const { client, connack } = await open({ clientId: 'lab-q1', clean: false });
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: true });
    const again = await client.next(PUBLISH);
    expect(again).toMatchObject({ qos: 1, dup: true, messageId: first.messageId });
    expect(again.payload!.toString()).toBe('m1');
    client.send(ackPacket(4, again.messageId!));
    const queued = await client.next(PUBLISH);
    expect(queued.payload!.toString()).toBe('m2');
    client.send(ackPacket(4, queued.messageId!));
  });

  it('QoS 2: unacknowledged PUBLISH and PUBREL are sent again on reconnect, and a duplicate inbound PUBLISH is delivered once [MQTT-4.3.3, MQTT-4.4.0-1]', async () => {
    const s = await subscriber('lab-q2', [['lab/q2', 2]], { clean: false });
    // Inbound exactly-once: the publisher repeats its PUBLISH (DUP) before PUBREL.
    const { client: pub } = await open({ clientId: 'lab-q2-pub' });
    pub.send(publishPacket('lab/q2', 'n1', { qos: 2, id: 42 }));
    expect((await pub.next(PUBREC)).messageId).toBe(42);
    pub.send(publishPacket('lab/q2', 'n1', { qos: 2, id: 42, dup: true }));
    await pub.next(PUBREC);
    pub.send(ackPacket(6, 42));
    expect((await pub.next(PUBCOMP)).messageId).toBe(42);

    const first = await s.next(PUBLISH);
    expect(first).toMatchObject({ qos: 2 });
    s.end(); // no PUBREC
    const r1 = await open({ clientId: 'lab-q2', clean: false });
    expect(r1.connack.sessionPresent).toBe(true);
    const again = await r1.client.next(PUBLISH);
    expect(again).toMatchObject({ qos: 2, dup: true, messageId: first.messageId });
    r1.client.send(ackPacket(5, again.messageId!));
    const rel = await r1.client.next(PUBREL);
    expect(rel.messageId).toBe(first.messageId);
    r1.client.end(); // no PUBCOMP: the broker must send PUBREL again
    const r2 = await open({ clientId: 'lab-q2', clean: false });
    const relAgain = await r2.client.next(PUBREL);
    expect(relAgain.messageId).toBe(first.messageId);
    r2.client.send(ackPacket(7, relAgain.messageId!));
    await sleep(200);
    // Exactly one copy of n1 reached the subscriber's application (the DUP inbound was not forwarded).
    expect(r2.client.received.filter((p) => p.type === PUBLISH)).toEqual([]);
  });

  it('overlapping subscriptions: the message arrives with the highest QoS of the matching filters [MQTT-3.3.5-1]', async () => {
    const s = await subscriber('lab-overlap', [
      ['lab/o/#', 0],
      ['lab/o/+', 2],
    ]);
    const { client: pub } = await open({ clientId: 'lab-o-pub' });
    pub.send(publishPacket('lab/o/x', 'o1', { qos: 2, id: 9 }));
    await pub.next(PUBREC);
    pub.send(ackPacket(6, 9));
    const copy = await s.next(PUBLISH);
    await sleep(200);
    const copies = [copy, ...s.received.filter((p) => p.type === PUBLISH)];
    expect(Math.max(...copies.map((c) => c.qos))).toBe(2);
    expect(copies.every((c) => c.payload!.toString() === 'o1')).toBe(true);
  });

  it('a wildcard subscription caps the QoS of what it delivers at its own [MQTT-3.8.4-6]', async () => {
    const s = await subscriber('lab-cap', [['lab/cap/+', 1]]);
    const { client: pub } = await open({ clientId: 'lab-cap-pub' });
    pub.send(publishPacket('lab/cap/x', 'c1', { qos: 2, id: 3 }));
    await pub.next(PUBREC);
    pub.send(ackPacket(6, 3));
    expect(await s.next(PUBLISH)).toMatchObject({ qos: 1, topic: 'lab/cap/x' });
  });

  it('keep alive: PINGREQ gets PINGRESP; a silent client is disconnected after 1.5 × its keep alive [MQTT-3.1.2-24]', async () => {
    const { client } = await open({ clientId: 'lab-ka', keepalive: 1 });
    client.send(PINGREQ);
    await client.next(PINGRESP);
    const silentFrom = Date.now();
    expect(await client.waitClosed(4000)).toBe(true);
    const after = client.closedAt! - silentFrom;
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(3000);
  });

  it('$ topics: not matched by filters that start with a wildcard [MQTT-4.7.2-1]; $SYS cannot be published to', async () => {
    const wild = await subscriber('lab-dollar-wild', [
      ['#', 0],
      ['+/x', 0],
    ]);
    const dollar = await subscriber('lab-dollar', [['$lab/#', 0]]);
    await publish('$lab/x', 'd1');
    expect((await dollar.next(PUBLISH)).topic).toBe('$lab/x');
    await sleep(200);
    expect(wild.received.filter((p) => p.type === PUBLISH && p.topic!.startsWith('$'))).toEqual([]);
    const { client } = await open({ clientId: 'lab-sys' });
    client.send(publishPacket('$SYS/broker/uptime', '0', { qos: 1, id: 1 }));
    expect(await client.waitClosed()).toBe(true);
    expect(client.received.filter((p) => p.type === PUBACK)).toEqual([]);
  });

  it('unsubscribe: UNSUBACK with the same packet id, and no more messages [MQTT-3.10.4-4, MQTT-3.10.4-5]', async () => {
    const s = await subscriber('lab-unsub', [['lab/u', 1]]);
    s.send(unsubscribePacket(77, ['lab/u']));
    expect((await s.next(UNSUBACK)).messageId).toBe(77);
    await publish('lab/u', 'u1');
    await sleep(200);
    expect(s.received.filter((p) => p.type === PUBLISH)).toEqual([]);
  });

  it('zero-length client ids: accepted with clean session 1, refused with CONNACK 2 with clean session 0 [MQTT-3.1.3-6..9]', async () => {
    const ok = await open({ clientId: '', clean: true });
    expect(ok.connack.returnCode).toBe(0);
    const two = await open({ clientId: '', clean: true });
    expect(two.connack.returnCode).toBe(0);
    // Each got its own session: the first is still connected.
    await sleep(100);
    expect(ok.client.closed).toBe(false);
    const refused = await open({ clientId: '', clean: false });
    expect(refused.connack.returnCode).toBe(2);
    expect(await refused.client.waitClosed()).toBe(true);
  });
});

describe('limits stay on in lab mode', () => {
  it('cuts a packet declaring 256 MB and a first packet that is not CONNECT; accepts keep alive 0 (interoperability suites use it)', async () => {
    const big = await RawClient.connect(svc.mqttPort);
    raws.push(big);
    big.send(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    expect(await big.waitClosed(500)).toBe(true);
    const notConnect = await RawClient.connect(svc.mqttPort);
    raws.push(notConnect);
    notConnect.send(PINGREQ);
    expect(await notConnect.waitClosed(500)).toBe(true);
    const noKeepalive = await open({ clientId: 'lab-ka0', keepalive: 0 });
    expect(noKeepalive.connack).toMatchObject({ type: CONNACK, returnCode: 0 });
  });
});
