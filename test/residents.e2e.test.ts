/**
 * What residents see (CONTRACT §9), end to end: the real service, a simulated fleet of every type
 * publishing over MQTT (an hour of readings at 720×), and a few scripted devices for the cases that
 * matter: data gone stale, a private service code, a public outage. The open feeds are compared with
 * what the token-protected API says about the same devices, and fetched over real HTTP with ETags.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateFleet } from '../simulators/generate-fleet.js';
import { startFleet, type Fleet } from '../simulators/fleet.js';
import { hashSecret } from '../src/catalog/secrets.js';
import { OUTAGE_DECIMALS } from '../src/residents/snapshot.js';
import { waitFor } from './helpers/wait.js';
import { connectDevice, metricValue, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';

const influxUrl = inject('influxUrl');
const TOKEN = 'residents-e2e-token-0123456789abcdef';
const FLEET_SECRET = 'fleet-secret-residents';
const MIN = 60_000;

interface Feature {
  id: string;
  geometry: { type: string; coordinates: [number, number] };
  properties: Record<string, unknown>;
}
interface Collection {
  type: string;
  features: Feature[];
}
interface Open311 {
  service_request_id: string;
  service_code: string;
  requested_datetime: string;
  lat: number;
  long: number;
  device_id: string;
}

// Scripted devices (reporting every 60 s: stale after 3 minutes).
const staleBay = testDevice('parking-spot', 'noord', { zone: 'noord-stale' });
const staleMeter = testDevice('parking-meter', 'noord');
const brokenLight = testDevice('streetlight', 'noord', { powerRating: 60 });
const fullBin = testDevice('waste-bin', 'noord');
const coinMeter = testDevice('parking-meter', 'noord');
// A zone with a free bay whatever the hour: at a weekday's midday the fleet's bays may all be taken.
const freeBay = testDevice('parking-spot', 'noord', { zone: 'noord-open' });
const takenBay = testDevice('parking-spot', 'noord', { zone: 'noord-open' });
const scripted = [staleBay, staleMeter, brokenLight, fullBin, coinMeter, freeBay, takenBay];

let svc: RunningService;
let fleet: Fleet | undefined;
let fleetRecords: TestDevice['record'][] = [];

const api = async <T>(url: string): Promise<T> => {
  const res = await fetch(`${svc.httpUrl}${url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
};
const open = async <T>(url: string): Promise<T> => {
  const res = await fetch(`${svc.httpUrl}${url}`);
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
};

async function publish(d: TestDevice, reading: Record<string, unknown>): Promise<void> {
  const c = await connectDevice(svc.mqttUrl, d);
  try {
    await c.publishAsync(telemetryTopic(d), JSON.stringify(reading), { qos: 1 });
  } finally {
    await c.endAsync();
  }
}

beforeAll(async () => {
  // One secret for the whole fleet: hashing 160 secrets with scrypt would take most of the test.
  const fleetHash = hashSecret(FLEET_SECRET);
  const generated = await generateFleet({ count: 160, districts: 3, seed: 5, hash: async () => fleetHash });
  const records = generated.records.map((r) => ({ ...r, secretHash: fleetHash }));
  fleetRecords = records;
  svc = await startTestService(influxUrl, [...scripted, ...records.map((record) => ({ record, secret: FLEET_SECRET }))], { CITYPIPE_HTTP_TOKEN: TOKEN, CITYPIPE_CITY_NAME: 'Testville' });
  fleet = await startFleet({
    mqttUrl: svc.mqttUrl,
    devices: records,
    credentials: new Map(records.map((r) => [r.id, FLEET_SECRET])),
    intervalS: 60,
    speed: 720,
    from: { agoMs: 60 * MIN },
    atNow: 'stop',
    seed: 9,
    firstWithinMs: 50,
  });
  const end = await Promise.race([fleet.finished, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
  if (end === 'timeout') throw new Error(`the simulated fleet did not catch up within 60 s: ${JSON.stringify(fleet.stats())}`);
  const now = Date.now();
  await publish(staleBay, { status: 'free', ts: now - 5 * MIN });
  await publish(staleMeter, { totalSpotNumber: 6, availableSpotNumber: 4, ts: now - 5 * MIN });
  await publish(brokenLight, { powerState: 'on', status: 'defectiveLamp', batteryLevel: 0.1 });
  await publish(fullBin, { fillingLevel: 0.95 });
  await publish(coinMeter, { totalSpotNumber: 4, availableSpotNumber: 1, coinBoxLevel: 0.95 });
  await publish(freeBay, { status: 'free' });
  await publish(takenBay, { status: 'occupied' });
  await waitFor(
    'every reading stored and the scripted tickets open',
    async () => {
      const s = await api<{ pending: number; received: number }>('/api/stats');
      if (s.pending !== 0 || s.received < fleet!.stats().published + scripted.length) return false;
      const open = await api<Open311[]>('/open311/v2/requests.json?status=open');
      const codes = new Set(open.filter((t) => scripted.some((d) => d.record.id === t.device_id)).map((t) => t.service_code));
      return ['light.repair', 'device.battery', 'waste.collect', 'parking.coins'].every((c) => codes.has(c));
    },
    30_000,
    100,
  );
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
  await svc?.stop();
});

/** The open feed once it has caught up with what the API says (the view is made again at most once a second). */
async function settled<T>(url: string, ok: (body: T) => boolean): Promise<T> {
  return waitFor(`${url} to show the stored readings`, async () => {
    const body = await open<T>(url);
    return ok(body) ? body : undefined;
  });
}

describe('open data against a simulated fleet', () => {
  it('parking zones match /api/parking/zones, except a zone whose only bay has gone silent: unknown, not free', async () => {
    const { zones } = await api<{ zones: { zone: string; district: string; totalSpotNumber: number; availableSpotNumber: number; unknownSpotNumber: number }[] }>('/api/parking/zones');
    const fleetZones = zones.filter((z) => z.zone !== 'noord-stale');
    expect(fleetZones.length).toBeGreaterThan(2);
    expect(fleetZones.find((z) => z.zone === 'noord-open')).toMatchObject({ totalSpotNumber: 2, availableSpotNumber: 1, unknownSpotNumber: 0 });
    const feed = await settled<Collection>('/open/v1/parking.geojson', (c) => c.features.some((f) => f.id === 'zone:noord-stale'));
    expect(feed.type).toBe('FeatureCollection');
    for (const z of fleetZones) {
      const f = feed.features.find((x) => x.id === `zone:${z.zone}`);
      expect(f, z.zone).toBeDefined();
      const known = z.totalSpotNumber - z.unknownSpotNumber;
      expect(f!.properties, z.zone).toMatchObject({
        kind: 'zone',
        name: z.zone,
        district: z.district,
        totalSpotNumber: z.totalSpotNumber,
        availableSpotNumber: known === 0 ? null : z.availableSpotNumber,
        unknownSpotNumber: z.unknownSpotNumber,
        status: z.availableSpotNumber > 0 ? 'open' : z.unknownSpotNumber === 0 ? 'full' : 'unknown',
      });
      expect(f!.geometry.type).toBe('Point');
    }
    // The API counts the silent bay as free (its offline rule has not fired yet); residents are not sent there.
    expect(zones.find((z) => z.zone === 'noord-stale')).toMatchObject({ totalSpotNumber: 1, availableSpotNumber: 1 });
    expect(feed.features.find((f) => f.id === 'zone:noord-stale')!.properties).toMatchObject({ status: 'unknown', availableSpotNumber: null, unknownSpotNumber: 1, updated: null });
  });

  it('meters show the counts of their latest reading (/api/readings/latest); a silent one is unknown', async () => {
    const { items } = await api<{ items: { deviceId: string; time: string; fields: Record<string, number> }[] }>('/api/readings/latest?type=parking-meter');
    const feed = await open<Collection>('/open/v1/parking.geojson');
    const meters = feed.features.filter((f) => f.properties.kind === 'meter');
    expect(meters.length).toBeGreaterThanOrEqual(items.length);
    const catalog = new Map([...scripted.map((d) => d.record), ...fleetRecords].map((r) => [r.id, r]));
    let compared = 0;
    for (const item of items) {
      if (item.deviceId === staleMeter.record.id) continue;
      // Meters are found by where they stand: the feed names places, never devices.
      const { lat, lon } = catalog.get(item.deviceId)!.location;
      const here = meters.filter((m) => m.geometry.coordinates[0] === Number(lon.toFixed(5)) && m.geometry.coordinates[1] === Number(lat.toFixed(5)));
      expect(here, item.deviceId).toHaveLength(1);
      const f = here[0];
      expect(f!.properties).toMatchObject({ totalSpotNumber: item.fields.totalSpotNumber, availableSpotNumber: item.fields.availableSpotNumber, updated: item.time, status: item.fields.availableSpotNumber! > 0 ? 'open' : 'full' });
      compared++;
    }
    expect(compared).toBeGreaterThan(3);
    const stale = meters.find((m) => m.geometry.coordinates[1] === Number(staleMeter.record.location.lat.toFixed(5)));
    expect(stale!.properties).toMatchObject({ status: 'unknown', totalSpotNumber: 6, availableSpotNumber: null });
  });

  it('outages are the open public tickets of streetlights and bins (Open311), located to ~10 m; private codes and other types are absent', async () => {
    const tickets = await api<Open311[]>('/open311/v2/requests.json?status=open');
    const { items: devices } = await api<{ items: { id: string; type: string }[] }>('/api/devices?limit=1000');
    const typeOf = new Map(devices.map((d) => [d.id, d.type]));
    const services = await open<{ service_code: string }[]>('/open311/v2/services.json');
    const privateCodes = ['device.battery', 'device.offline', 'parking.coins'];
    expect(services.map((s) => s.service_code)).toEqual(expect.arrayContaining(privateCodes));
    const expected = tickets.filter((t) => !privateCodes.includes(t.service_code) && ['streetlight', 'waste-bin'].includes(typeOf.get(t.device_id)!));
    expect(expected.map((t) => t.service_code)).toEqual(expect.arrayContaining(['light.repair', 'waste.collect']));
    const feed = await settled<Collection>('/open/v1/outages.geojson', (c) => c.features.length === expected.length);
    const round = (v: number) => Math.round(v * 10 ** OUTAGE_DECIMALS) / 10 ** OUTAGE_DECIMALS;
    expect(feed.features.map((f) => [f.id, f.properties.serviceCode, f.properties.since, f.geometry.coordinates]).sort()).toEqual(
      expected.map((t) => [`outage:${t.service_request_id}`, t.service_code, t.requested_datetime, [round(t.long), round(t.lat)]]).sort(),
    );
    for (const f of feed.features) {
      expect(privateCodes).not.toContain(f.properties.serviceCode);
      expect(f.properties.status).toBe('open');
      for (const c of f.geometry.coordinates) expect(c).toBe(round(c));
    }
    // The private ones exist: residents just do not see them.
    expect(tickets.map((t) => t.service_code)).toEqual(expect.arrayContaining(['device.battery', 'parking.coins']));
  });

  it('no answer names a device', async () => {
    const bodies = await Promise.all(['/open/v1/parking.geojson', '/open/v1/outages.geojson', '/open/v1/parking.json', '/status'].map(async (u) => (await fetch(`${svc.httpUrl}${u}`)).text()));
    const all = bodies.join('\n');
    for (const id of [...fleetRecords, ...scripted.map((d) => d.record)].map((r) => r.id)) expect(all.includes(id), id).toBe(false);
    expect(all).not.toContain(FLEET_SECRET);
  });

  it('the DATEX II-style view has a record for every GeoJSON place, with the same counts', async () => {
    const geo = await open<Collection>('/open/v1/parking.geojson');
    const datex = await open<{ publicationTime: string; parkingRecordStatus: { parkingRecordReference: { id: string }; parkingSiteStatus: string; parkingOccupancy?: { parkingNumberOfVacantSpaces: number } }[] }>('/open/v1/parking.json');
    expect(datex.parkingRecordStatus.map((r) => r.parkingRecordReference.id)).toEqual(geo.features.map((f) => f.id));
    const status = { open: 'spacesAvailable', full: 'full', unknown: 'unknown' } as Record<string, string>;
    for (const [i, r] of datex.parkingRecordStatus.entries()) {
      const p = geo.features[i]!.properties;
      expect(r.parkingSiteStatus).toBe(status[p.status as string]);
      expect(r.parkingOccupancy?.parkingNumberOfVacantSpaces ?? null).toBe(p.availableSpotNumber);
    }
  });

  it('the status page lists parking by district and the public outages, and says how fresh the data is', async () => {
    const res = await fetch(`${svc.httpUrl}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('refresh')).toBe('60');
    const page = await res.text();
    expect(page).toContain('<title>Testville: parking, streetlights and bins now</title>');
    expect(page).toMatch(/<th scope="row">noord<\/th>/);
    expect(page).toContain('Repair a streetlight');
    expect(page).toContain('Collect a full waste bin');
    expect(page).not.toContain('Replace a sensor battery');
    expect(page).not.toContain('coin box');
    expect(page).toMatch(/Newest reading: (less than a minute|\d+ minutes?) ago/);
    expect(page).toMatch(/\d+ of \d+ places (has|have) no recent data/);
  });
});

describe('caching', () => {
  it('a matching ETag gets 304; a stored reading changes the feed and its ETag, so the old one gets 200', async () => {
    const url = `${svc.httpUrl}/open/v1/parking.geojson`;
    const first = await fetch(url);
    const etag = first.headers.get('etag')!;
    expect(first.headers.get('cache-control')).toBe('public, max-age=10');
    expect(first.headers.get('access-control-allow-origin')).toBe('*');
    const again = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');

    await publish(staleBay, { status: 'occupied' });
    const changed = await settled<Collection>('/open/v1/parking.geojson', (c) => c.features.find((f) => f.id === 'zone:noord-stale')?.properties.status === 'full');
    expect(changed.features.find((f) => f.id === 'zone:noord-stale')!.properties).toMatchObject({ availableSpotNumber: 0, unknownSpotNumber: 0 });
    const after = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    // The operator sees residents' use: answers by route and status, and the snapshot's age.
    expect(await metricValue(svc.httpUrl, 'citypipe_open_data_requests_total{route="parking.geojson",status="304"}')).toBeGreaterThanOrEqual(1);
    expect(await metricValue(svc.httpUrl, 'citypipe_open_data_requests_total{route="parking.geojson",status="200"}')).toBeGreaterThanOrEqual(3);
    const age = /^citypipe_open_data_snapshot_age_seconds (\S+)$/m.exec(await (await fetch(`${svc.httpUrl}/metrics`)).text());
    expect(Number(age?.[1])).toBeLessThan(60);
  });
});
