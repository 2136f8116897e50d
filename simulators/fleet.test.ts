import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../src/catalog/types.js';
import { deviceType } from '../src/device-types/registry.js';
import { startFleet, type Fleet } from './fleet.js';

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
}

const devices: DeviceRecord[] = [
  { id: 'bin-t1', type: 'waste-bin', district: 'centrum', location: { lat: 52.3731, lon: 4.8926 }, reportingIntervalS: 900, attributes: { binCapacity: 240 } },
  { id: 'meter-t1', type: 'parking-meter', district: 'zuid', location: { lat: 52.358, lon: 4.881 }, reportingIntervalS: 300, attributes: { bays: 10, tariffZone: '2' } },
  { id: 'light-t1', type: 'streetlight', district: 'noord', location: { lat: 52.401, lon: 4.892 }, reportingIntervalS: 600, attributes: { powerRating: 60 } },
].map((d) => deviceRecordSchema.parse(d));

const secrets = new Map([
  ['bin-t1', 'secret-of-bin-t1'],
  ['meter-t1', 'secret-of-meter-t1'],
]);

let aedes: Aedes;
let server: net.Server;
let url: string;
let connects: Connect[];
let publishes: Publish[];
let fleet: Fleet | undefined;
/** Passwords the broker accepts; a device not in it must come without one. */
let accepted: Map<string, string>;

beforeEach(async () => {
  connects = [];
  publishes = [];
  accepted = new Map(secrets);
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
      const expected = username === undefined ? undefined : accepted.get(username);
      if (username === client.id && password?.toString() === expected) return done(null, true);
      const err = new Error('bad username or password') as AuthenticateError;
      err.returnCode = 4;
      done(err, false);
    },
    authorizePublish: (client, packet, done) => {
      if (client) publishes.push({ clientId: client.id, topic: packet.topic, payload: packet.payload.toString(), retain: packet.retain });
      done(null);
    },
  });
  server = net.createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const telemetry = (id: string) => publishes.filter((p) => p.clientId === id && p.topic.endsWith('/telemetry'));

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
      expect(own[0]).toEqual({ clientId: d.id, topic: `city/${d.type}/${d.id}/status`, payload: 'online', retain: true });
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
      expect(publishes.filter((p) => p.clientId === d.id).at(-1)).toEqual({
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
    await vi.waitFor(() => expect(aedes.connectedClients).toBe(0));
  });

  it('staggers first readings within firstWithinMs and then keeps each interval', async () => {
    fleet = await startFleet({ mqttUrl: url, devices, credentials: secrets, intervalS: 60, firstWithinMs: 300 });
    await vi.waitFor(() => {
      for (const d of devices) expect(telemetry(d.id)).toHaveLength(1);
    }, { timeout: 2000 });
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
    expect(fleet.stats().skipped).toBeGreaterThan(0);
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
