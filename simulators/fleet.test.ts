import net from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../src/catalog/types.js';
import type { DeviceTypeModule } from '../src/device-types/module.js';
import { deviceType, deviceTypeModules } from '../src/device-types/registry.js';
import { startFleet, type Fleet } from './fleet.js';
import { generateFleet } from './generate-fleet.js';

interface Connect {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  protocolVersion: number;
  will: { topic: string; payload: string; retain: boolean } | undefined;
}
interface Publish {
  clientId: string;
  topic: string;
  payload: string;
  retain: boolean;
  /** Wall clock when the broker took it. */
  at: number;
}

const devices: DeviceRecord[] = [
  { id: 'bin-t1', type: 'waste-bin', district: 'centrum', location: { lat: 52.3731, lon: 4.8926 }, reportingIntervalS: 900, attributes: { binCapacity: 240 } },
  { id: 'meter-t1', type: 'parking-meter', district: 'zuid', location: { lat: 52.358, lon: 4.881 }, reportingIntervalS: 300, attributes: { bays: 10, tariffZone: '2' } },
  { id: 'light-t1', type: 'streetlight', district: 'noord', location: { lat: 52.401, lon: 4.892 }, reportingIntervalS: 600, attributes: { powerRating: 60 } },
].map((d) => deviceRecordSchema.parse(d));

/** A type's first demo device, as a catalog record. */
const demoRecord = (m: DeviceTypeModule): DeviceRecord => {
  const d = m.demo.devices[0]!;
  return deviceRecordSchema.parse({ id: d.id, type: m.definition.name, district: d.district, location: { lat: d.lat, lon: d.lon }, reportingIntervalS: m.fleet.reportingIntervalS, attributes: { ...d.attributes } });
};

const secrets = new Map([
  ['bin-t1', 'secret-of-bin-t1'],
  ['meter-t1', 'secret-of-meter-t1'],
]);

let aedes: Aedes;
let server: net.Server;
let sockets: Set<net.Socket>;
let clients: Map<string, Client>;
let port: number;
let url: string;
let connects: Connect[];
let publishes: Publish[];
let fleet: Fleet | undefined;
/** Passwords the broker accepts; a device not in it must come without one. */
let accepted: Map<string, string>;

/** Devices whose (correct) credentials the broker refuses for now, as if it were down for them. */
let refused: Set<string>;

beforeEach(async () => {
  connects = [];
  publishes = [];
  accepted = new Map(secrets);
  refused = new Set();
  sockets = new Set();
  clients = new Map();
  aedes = await Aedes.createBroker({
    preConnect: (_client, packet, done) => {
      connects.push({
        clientId: packet.clientId,
        username: packet.username,
        password: packet.password?.toString(),
        protocolVersion: packet.protocolVersion ?? 0,
        will: packet.will ? { topic: packet.will.topic, payload: packet.will.payload.toString(), retain: packet.will.retain ?? false } : undefined,
      });
      done(null, true);
    },
    authenticate: (client, username, password, done) => {
      // Gateways come anonymous.
      if (username === undefined && password === undefined && client.id.startsWith('citypipe-gw-')) return done(null, true);
      const expected = username === undefined ? undefined : accepted.get(username);
      // Its client id is its name, or its name, ':' and anything (as citypipe has it).
      const owns = username !== undefined && (client.id === username || client.id.startsWith(`${username}:`));
      if (owns && password?.toString() === expected && !refused.has(client.id)) return done(null, true);
      const err = new Error('bad username or password') as AuthenticateError;
      err.returnCode = 4;
      done(err, false);
    },
    authorizePublish: (client, packet, done) => {
      if (client) publishes.push({ clientId: client.id, topic: packet.topic, payload: packet.payload.toString(), retain: packet.retain, at: Date.now() });
      done(null);
    },
  });
  aedes.on('client', (c) => clients.set(c.id, c));
  server = await listen(0);
  port = (server.address() as net.AddressInfo).port;
  url = `mqtt://127.0.0.1:${port}`;
});

async function listen(onPort: number): Promise<net.Server> {
  const s = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => s.listen(onPort, '127.0.0.1', resolve));
  return s;
}

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const telemetry = (id: string) => publishes.filter((p) => p.clientId === id && p.topic.endsWith('/telemetry'));
/** Every reading the broker took on a device's telemetry topic (from any connection), single or batched. */
const readingsOf = (type: string, id: string) =>
  publishes
    .filter((p) => p.topic === `city/${type}/${id}/telemetry`)
    .flatMap((p) => {
      const parsed = JSON.parse(p.payload) as Record<string, unknown> | Record<string, unknown>[];
      return (Array.isArray(parsed) ? parsed : [parsed]).map((r) => ({ r, at: p.at, batch: Array.isArray(parsed) }));
    });
/** The seqs a device's readings carry, each once (a QoS 1 retransmission may repeat one), sorted. */
const seqsOf = (type: string, id: string) => [...new Set(readingsOf(type, id).map((x) => x.r['seq'] as number))].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('startFleet', () => {
  it('connects every device as itself and publishes valid readings on its own topic', async () => {
    const before = Date.now();
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, intervalS: 0.1, firstWithinMs: 100, seed: 3, qos: 1 });
    expect(fleet.stats().connected).toBe(3);

    await vi.waitFor(() => {
      for (const d of devices) expect(telemetry(d.id).length).toBeGreaterThanOrEqual(3);
      // The broker sees a publish before the device has its PUBACK: wait for those too.
      expect(fleet!.stats().published).toBeGreaterThanOrEqual(9);
    }, { timeout: 5000 });

    for (const d of devices) {
      const c = connects.find((x) => x.clientId === d.id);
      expect(c, d.id).toBeDefined();
      expect(c!.username).toBe(d.id);
      // light-t1 has no secret in the map: it must come with its username only.
      expect(c!.password).toBe(secrets.get(d.id));
      expect(c!.protocolVersion).toBe(4);
      expect(c!.will).toEqual({ topic: `city/${d.type}/${d.id}/status`, payload: 'offline', retain: true });

      const own = publishes.filter((p) => p.clientId === d.id);
      expect(own[0]).toMatchObject({ clientId: d.id, topic: `city/${d.type}/${d.id}/status`, payload: 'online', retain: true });
      for (const p of own) expect(p.topic.startsWith(`city/${d.type}/${d.id}/`)).toBe(true);

      const def = deviceType(d.type)!;
      telemetry(d.id).forEach((p, i) => {
        const reading = JSON.parse(p.payload) as Record<string, unknown>;
        const parsed = def.schema.safeParse(reading);
        expect(parsed.success, `${d.id}: ${p.payload}`).toBe(true);
        expect(reading['seq']).toBe(i);
        expect(typeof reading['ts']).toBe('number');
        expect(reading['ts'] as number).toBeGreaterThanOrEqual(before);
        expect(reading['ts'] as number).toBeLessThanOrEqual(Date.now());
      });
    }

    expect(fleet.stats().errors).toBe(0);

    await fleet.stop();
    for (const d of devices) {
      expect(publishes.filter((p) => p.clientId === d.id).at(-1)).toMatchObject({
        clientId: d.id,
        topic: `city/${d.type}/${d.id}/status`,
        payload: 'offline',
        retain: true,
      });
    }
    expect(fleet.stats().connected).toBe(0);
    const count = publishes.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(publishes.length).toBe(count);
    // vi.waitFor's default 1 s is short on a loaded machine.
    await vi.waitFor(() => expect(aedes.connectedClients).toBe(0), { timeout: 10_000 });
  });

  it('staggers first readings within firstWithinMs and then keeps each interval', async () => {
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, intervalS: 60, firstWithinMs: 300 });
    // Normally all three within 300 ms. The deadline leaves a loaded machine room and still fails if
    // firstWithinMs were ignored: first readings would then spread over the whole 60 s interval.
    await vi.waitFor(() => {
      for (const d of devices) expect(telemetry(d.id)).toHaveLength(1);
    }, { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    for (const d of devices) expect(telemetry(d.id)).toHaveLength(1);
  });

  it('keeps going when one device is refused, and counts the failure', async () => {
    const wrong = new Map(secrets);
    wrong.set('meter-t1', 'not-the-secret');
    fleet = await startFleet({ mqttUrl: url, devices, credentials: wrong, intervalS: 0.1, firstWithinMs: 50, connectTimeoutMs: 2000 });
    const stats = fleet.stats();
    expect(stats.connected).toBe(2);
    expect(stats.errors).toBeGreaterThan(0);
    await vi.waitFor(() => expect(telemetry('bin-t1').length).toBeGreaterThan(2), { timeout: 3000 });
    expect(telemetry('meter-t1')).toEqual([]);
    // The refused device keeps its readings for when it gets in.
    expect(fleet.stats().buffered).toBeGreaterThan(0);
    expect(fleet.stats().connected).toBe(2);
  });

  it('returns when the broker is unreachable instead of hanging, and stops cleanly', async () => {
    const unused = net.createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const port = (unused.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => unused.close(() => resolve()));
    fleet = await startFleet({ mqttUrl: `mqtt://127.0.0.1:${port}`, devices, intervalS: 0.1, connectTimeoutMs: 2000 });
    expect(fleet.stats().connected).toBe(0);
    expect(fleet.stats().errors).toBeGreaterThan(0);
    await fleet.stop();
  });

  it('refuses a device type it has no model for', async () => {
    const odd = { ...devices[0]!, type: 'toaster' } as unknown as DeviceRecord;
    await expect(startFleet({ mqttUrl: url, devices: [odd] })).rejects.toThrow('no simulator model for type toaster');
    await expect(startFleet({ mqttUrl: url, devices, intervalS: 0 })).rejects.toThrow('intervalS');
  });
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isBatch = (p: Publish) => p.payload.startsWith('[');

describe('faster than real time', () => {
  it('replays from the past: every ts inside citypipe’s window, readings in order per device, and the run ends at the present', async () => {
    const startedAt = Date.now();
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, speed: 7200, from: { agoMs: 3 * HOUR }, atNow: 'stop', seed: 5 });
    expect(await fleet.finished).toBe('caught-up');
    const caughtUpAt = Date.now();
    await fleet.stop();
    // Three simulated hours took a couple of real seconds.
    expect(Date.now() - startedAt).toBeLessThan(15_000);

    for (const d of devices) {
      const rs = readingsOf(d.type, d.id);
      const expected = (3 * 3600) / d.reportingIntervalS;
      expect(rs.length, d.id).toBeGreaterThanOrEqual(expected - 1);
      expect(rs.length, d.id).toBeLessThanOrEqual(expected + 1);
      const schema = deviceType(d.type)!.schema;
      rs.forEach(({ r, at, batch }, i) => {
        expect(batch).toBe(false);
        expect(schema.safeParse(r).success, JSON.stringify(r)).toBe(true);
        expect(r['seq'], d.id).toBe(i);
        const ts = r['ts'] as number;
        // CONTRACT §2: not more than 5 minutes ahead of citypipe, not older than 7 days. The simulated
        // clock never passes the wall clock, so not ahead at all.
        expect(ts).toBeLessThanOrEqual(at);
        expect(ts).toBeGreaterThan(at - 7 * DAY);
        expect(ts).toBeGreaterThanOrEqual(startedAt - 3 * HOUR);
        if (i > 0) expect(ts - (rs[i - 1]!.r['ts'] as number), d.id).toBe(d.reportingIntervalS * 1000);
      });
      // The replay reached the present.
      expect(rs.at(-1)!.r['ts'] as number).toBeGreaterThan(caughtUpAt - d.reportingIntervalS * 1000 - 10_000);
    }
    expect(fleet.stats().caughtUp).toBe(true);
  });

  it('a device that reports on change sends each change at its time as well as its heartbeat', async () => {
    // The registered types whose model announces its changes (nextChangeMs), one demo device each.
    const onChange = deviceTypeModules
      .filter((m) => typeof m.model.create(demoRecord(m), () => 0.5, Date.now()).nextChangeMs === 'function')
      .map((m) => demoRecord(m));
    expect(onChange.length).toBeGreaterThan(0);
    const startedAt = Date.now();
    // Twelve simulated hours, so that some daytime (when things change) is in the window whatever the
    // time of day the test runs at.
    fleet = await startFleet({ mqttUrl: url, devices: onChange, speed: 14_400, from: { agoMs: 12 * HOUR }, atNow: 'stop', seed: 5 });
    expect(await fleet.finished).toBe('caught-up');
    await fleet.stop();
    let changesSeen = 0;
    for (const d of onChange) {
      const rs = readingsOf(d.type, d.id).map(({ r }) => r);
      const interval = d.reportingIntervalS * 1000;
      const first = rs[0]!['ts'] as number;
      const beats = rs.filter((r) => ((r['ts'] as number) - first) % interval === 0);
      const changes = rs.filter((r) => ((r['ts'] as number) - first) % interval !== 0);
      // Every heartbeat, and readings between them: the changes, in order, none a heartbeat late.
      expect(beats.length, d.id).toBeGreaterThanOrEqual((12 * 3600) / d.reportingIntervalS - 1);
      changesSeen += changes.length;
      rs.forEach((r, i) => {
        expect(r['seq'], d.id).toBe(i);
        expect(r['ts'] as number).toBeGreaterThanOrEqual(startedAt - 12 * HOUR);
        if (i > 0) expect((r['ts'] as number) - (rs[i - 1]!['ts'] as number)).toBeGreaterThan(0);
        if (i > 0) expect((r['ts'] as number) - (rs[i - 1]!['ts'] as number)).toBeLessThanOrEqual(interval);
      });
    }
    expect(changesSeen).toBeGreaterThan(0);
  });

  it('refuses a start it could not keep valid', async () => {
    await expect(startFleet({ mqttUrl: url, devices, speed: 60, from: { agoMs: 8 * DAY } })).rejects.toThrow('older than citypipe accepts');
    await expect(startFleet({ mqttUrl: url, devices, speed: 60, from: Date.now() + HOUR })).rejects.toThrow('in the future');
    await expect(startFleet({ mqttUrl: url, devices, speed: 1, atNow: 'stop' })).rejects.toThrow('stop needs a speed above 1');
    await expect(startFleet({ mqttUrl: url, devices, speed: 0.5 })).rejects.toThrow('speed');
  });
});

describe('lost connections', () => {
  it('a device whose connection drops buffers its readings and uploads them as one batch on reconnect; no seq is lost', async () => {
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, intervalS: 0.05, firstWithinMs: 20, reconnectPeriodMs: 400 });
    await vi.waitFor(() => expect(seqsOf('waste-bin', 'bin-t1').length).toBeGreaterThanOrEqual(5), { timeout: 5000 });
    // The network drops the bin's connection (its socket dies under it).
    clients.get('bin-t1')!.conn.destroy();
    await vi.waitFor(() => expect(telemetry('bin-t1').some(isBatch)).toBe(true), { timeout: 5000 });
    const batchAt = telemetry('bin-t1').findIndex(isBatch);
    await vi.waitFor(() => expect(telemetry('bin-t1').length).toBeGreaterThan(batchAt + 3), { timeout: 5000 });
    await fleet.stop();

    const batches = telemetry('bin-t1').filter(isBatch);
    expect(batches).toHaveLength(1);
    const batch = (JSON.parse(batches[0]!.payload) as { seq: number }[]).map((r) => r.seq);
    // ~400 ms away at a reading every 50 ms.
    expect(batch.length).toBeGreaterThanOrEqual(3);
    expect(batch).toEqual(range(batch.length).map((i) => batch[0]! + i));
    // Nothing lost: every seq arrived (a QoS 1 message in flight at the drop may arrive twice).
    const seqs = seqsOf('waste-bin', 'bin-t1');
    expect(seqs).toEqual(range(seqs.length));
    // In order: first arrivals of each seq ascend, so the batch came before anything newer.
    const seen = new Set<number>();
    const firsts = readingsOf('waste-bin', 'bin-t1')
      .map((x) => x.r['seq'] as number)
      .filter((q) => (seen.has(q) ? false : (seen.add(q), true)));
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    // The others never lost theirs.
    for (const d of devices.slice(1)) {
      expect(telemetry(d.id).some(isBatch), d.id).toBe(false);
      expect(seqsOf(d.type, d.id)).toEqual(range(seqsOf(d.type, d.id).length));
    }
    expect(fleet.stats().batches).toBe(1);
    expect(fleet.stats().skipped).toBe(0);
  });

  it('after the broker went down and came back, every device uploads one batch, and nothing is lost', async () => {
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, intervalS: 0.05, firstWithinMs: 20, reconnectPeriodMs: 250 });
    await vi.waitFor(() => {
      for (const d of devices) expect(seqsOf(d.type, d.id).length).toBeGreaterThanOrEqual(3);
    }, { timeout: 5000 });

    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    await vi.waitFor(() => expect(fleet!.stats().connected).toBe(0), { timeout: 10_000 });
    // Readings pile up while the broker is away (at least 5 a device; polled, not slept for).
    await vi.waitFor(() => expect(fleet!.stats().buffered).toBeGreaterThanOrEqual(3 * 5), { timeout: 10_000 });
    server = await listen(port);

    await vi.waitFor(() => {
      for (const d of devices) expect(telemetry(d.id).filter(isBatch), d.id).toHaveLength(1);
    }, { timeout: 10_000 });
    await sleep(200);
    await fleet.stop();
    for (const d of devices) {
      expect(telemetry(d.id).filter(isBatch), d.id).toHaveLength(1);
      const seqs = seqsOf(d.type, d.id);
      expect(seqs, d.id).toEqual(range(seqs.length));
    }
    expect(fleet.stats().buffered).toBe(0);
  });

  it('keeps at most bufferLimit readings while refused, and uploads them within maxBatch and maxPayloadBytes per payload', async () => {
    refused.add('bin-t1');
    fleet = await startFleet({
      mqttUrl: url,
      devices: [devices[0]!],
      credentials: secrets,
      intervalS: 0.02,
      firstWithinMs: 0,
      reconnectPeriodMs: 150,
      connectTimeoutMs: 1000,
      bufferLimit: 20,
      maxBatch: 6,
      maxPayloadBytes: 900,
    });
    await vi.waitFor(() => expect(fleet!.stats().skipped).toBeGreaterThan(5), { timeout: 5000 });
    expect(fleet.stats().buffered).toBe(20);
    refused.delete('bin-t1');
    await vi.waitFor(() => expect(telemetry('bin-t1').filter((p) => !isBatch(p)).length).toBeGreaterThan(2), { timeout: 5000 });
    await fleet.stop();

    const batches = telemetry('bin-t1').filter(isBatch);
    const batched = batches.flatMap((p) => JSON.parse(p.payload) as { seq: number }[]).map((r) => r.seq);
    expect(batched).toHaveLength(20);
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const p of batches) {
      expect((JSON.parse(p.payload) as unknown[]).length).toBeLessThanOrEqual(6);
      expect(Buffer.byteLength(p.payload)).toBeLessThanOrEqual(900);
    }
    // The oldest were dropped, the newest 20 kept, in order; then live readings carry on without a gap.
    const skipped = fleet.stats().skipped;
    expect(batched).toEqual(range(20).map((i) => skipped + i));
    const seqs = seqsOf('waste-bin', 'bin-t1');
    expect(seqs).toEqual(range(seqs.length).map((i) => skipped + i));
  });
});

describe('multiplexed connections', () => {
  it('publishes for every device over K anonymous connections', async () => {
    const generated = await generateFleet({ count: 30, districts: 3, seed: 9, hash: async () => 'scrypt$test' });
    fleet = await startFleet({ mqttUrl: url, devices: generated.records, connections: 3, intervalS: 0.2, firstWithinMs: 100 });
    expect(fleet.stats()).toMatchObject({ devices: 30, connections: 3, connected: 30 });
    await vi.waitFor(() => {
      for (const d of generated.records) expect(readingsOf(d.type, d.id).length, d.id).toBeGreaterThanOrEqual(2);
    }, { timeout: 5000 });
    await fleet.stop();

    expect(connects).toHaveLength(3);
    for (const c of connects) {
      expect(c.clientId).toMatch(/^citypipe-gw-\d+-[0-2]$/);
      expect(c.username).toBeUndefined();
      expect(c.password).toBeUndefined();
      expect(c.will).toBeUndefined();
    }
    const gateways = new Set(publishes.map((p) => p.clientId));
    expect(gateways.size).toBe(3);
    for (const d of generated.records) {
      const own = publishes.filter((p) => p.topic.startsWith(`city/${d.type}/${d.id}/`));
      // One gateway carries each device, and says online and offline for it.
      expect(new Set(own.map((p) => p.clientId)).size, d.id).toBe(1);
      expect(own[0]).toMatchObject({ topic: `city/${d.type}/${d.id}/status`, payload: 'online', retain: true });
      expect(own.at(-1)).toMatchObject({ topic: `city/${d.type}/${d.id}/status`, payload: 'offline', retain: true });
      const schema = deviceType(d.type)!.schema;
      for (const { r } of readingsOf(d.type, d.id)) expect(schema.safeParse(r).success).toBe(true);
      expect(seqsOf(d.type, d.id)).toEqual(range(seqsOf(d.type, d.id).length));
    }
    // Ten devices a connection.
    for (const g of gateways) {
      const carried = new Set(publishes.filter((p) => p.clientId === g).map((p) => p.topic.split('/')[2]));
      expect(carried.size).toBe(10);
    }
  });
});

describe('LoRaWAN devices behind a network server', () => {
  it('send their readings as their models\' frames in ChirpStack up events over the one account, each accepted by ingest', async () => {
    const { readFileSync } = await import('node:fs');
    const { IngestPipeline } = await import('../src/pipeline/ingest.js');
    const { TestCatalog } = await import('../src/dispatch/testing/fixtures.js');
    const { lorawanDevices } = await import('./fleet.js');
    const sensors = lorawanDevices(
      (JSON.parse(readFileSync(new URL('./demo-fleet/lorawan-sensors.json', import.meta.url), 'utf8')) as unknown[]).map((r) => deviceRecordSchema.parse(r)),
    );
    expect(sensors.length).toBeGreaterThan(0);
    accepted.set('ns', 'ns-secret');
    fleet = await startFleet({ mqttUrl: url, devices: [...devices, ...sensors], credentials: secrets, intervalS: 0.05, firstWithinMs: 20, networkServer: { username: 'ns', password: 'ns-secret' } });
    const upsOf = (d: DeviceRecord) => publishes.filter((p) => p.topic.endsWith(`/device/${d.lorawan!.devEui}/event/up`));
    await vi.waitFor(() => {
      for (const d of sensors) expect(upsOf(d).length, d.id).toBeGreaterThanOrEqual(3);
    }, { timeout: 10_000 });
    await fleet.stop();
    // One connection for all of them, as the network-server account; the direct devices still on their own.
    expect(connects.filter((c) => c.username === 'ns').map((c) => c.clientId)).toEqual([expect.stringMatching(/^ns:/)]);
    expect(new Set(sensors.flatMap((d) => upsOf(d).map((p) => p.clientId))).size).toBe(1);
    const ingest = new IngestPipeline({
      catalog: new TestCatalog(sensors),
      validate: { maxPayloadBytes: 65536, maxBatch: 100, maxAgeMs: 7 * 86_400_000, maxFutureMs: 300_000, maxDeadLetterPayloadBytes: 4096 },
    });
    for (const d of sensors) {
      const fCnts: number[] = [];
      let stored = 0;
      for (const p of upsOf(d)) {
        const out = ingest.decide({ topic: p.topic, payload: Buffer.from(p.payload), receivedAt: Date.now(), clientId: p.clientId, username: 'ns' });
        expect(out?.deadLetters ?? [], `${d.id}: ${p.payload}`).toEqual([]);
        stored += out?.lines.length ?? 0;
        fCnts.push((JSON.parse(p.payload) as { fCnt: number }).fCnt);
      }
      // Frame counters count up per device; every frame with a reading is stored.
      expect(fCnts, d.id).toEqual([...fCnts].sort((a, b) => a - b));
      expect(new Set(fCnts).size, d.id).toBe(fCnts.length);
      expect(stored, d.id).toBeGreaterThan(0);
    }
  });
});
