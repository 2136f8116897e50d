import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../catalog/types.js';
import type { LatestReading } from '../devices/latest-readings.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import type { Ticket } from '../tickets/open311-view.js';
import { buildResidentSnapshot, OUTAGE_DECIMALS, STALE_INTERVALS, type ResidentInput } from './snapshot.js';
import { outagesGeoJson, parkingDatex, parkingGeoJson } from './feeds.js';

const NOW = Date.parse('2026-12-04T10:00:00Z');
const MIN = 60_000;

function device(id: string, type: DeviceRecord['type'], district: string, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return { id, type, district, location: { lat: 52.370123456, lon: 4.890987654 }, reportingIntervalS: 60, attributes: {}, ...extra };
}
function reading(d: DeviceRecord, agoMs: number, fields: Record<string, number | string>): LatestReading {
  return { deviceId: d.id, type: d.type, timeMs: NOW - agoMs, receivedAt: NOW - agoMs, fields };
}
function ticket(id: number, d: DeviceRecord, code: string, name: string, status: 'open' | 'closed' = 'open'): Ticket {
  return {
    service_request_id: String(id),
    status,
    status_notes: null,
    service_code: code,
    service_name: name,
    description: '',
    requested_datetime: new Date(NOW - id * MIN).toISOString(),
    updated_datetime: new Date(NOW).toISOString(),
    lat: d.location.lat,
    long: d.location.lon,
    address: d.address ?? null,
    device_id: d.id,
    rule: code,
    district: d.district,
    severity: 'warning',
    seq: 1,
    closed_by: null,
    held: false,
  };
}
const services: ServiceDefinition[] = [
  { serviceCode: 'light.out', serviceName: 'Streetlight out', description: undefined, rules: ['light.out'], public: true },
  { serviceCode: 'waste.collect', serviceName: 'Collect a full waste bin', description: undefined, rules: ['waste.collect'], public: true },
  { serviceCode: 'device.battery', serviceName: 'Replace a sensor battery', description: undefined, rules: ['device.battery'], public: false },
  { serviceCode: 'parking.repair', serviceName: 'Repair a parking meter', description: undefined, rules: ['parking.repair'], public: true },
];

function input(devices: DeviceRecord[], latest: LatestReading[], openTickets: Ticket[] = [], now = NOW): ResidentInput {
  const byId = new Map(latest.map((l) => [l.deviceId, l]));
  return { devices, latest: { get: (id) => byId.get(id) }, openTickets, services, now };
}

describe('buildResidentSnapshot: parking', () => {
  const bays = [1, 2, 3].map((n) => device(`bay-${n}`, 'parking-spot', 'centrum', { attributes: { zone: 'centrum-z1' }, location: { lat: 52.37 + n / 1000, lon: 4.89 } }));

  it('counts a zone from its fresh bays: free ones are available, and the zone is open', () => {
    const s = buildResidentSnapshot(input(bays, [reading(bays[0]!, MIN, { status: 'free' }), reading(bays[1]!, 2 * MIN, { status: 'occupied' }), reading(bays[2]!, MIN, { status: 'free' })]));
    expect(s.places).toEqual([
      expect.objectContaining({ id: 'zone:centrum-z1', kind: 'zone', name: 'centrum-z1', totalSpotNumber: 3, availableSpotNumber: 2, unknownSpotNumber: 0, status: 'open', updated: NOW - MIN }),
    ]);
    // The zone's point is its bays' centre.
    expect(s.places[0]).toMatchObject({ lat: 52.372, lon: 4.89 });
  });

  it('is full only when every bay is known and none is free; with bays unheard of and none free it is unknown', () => {
    const all = buildResidentSnapshot(input(bays, bays.map((b) => reading(b, MIN, { status: 'occupied' }))));
    expect(all.places[0]).toMatchObject({ status: 'full', availableSpotNumber: 0, unknownSpotNumber: 0 });
    const some = buildResidentSnapshot(input(bays, [reading(bays[0]!, MIN, { status: 'occupied' })]));
    expect(some.places[0]).toMatchObject({ status: 'unknown', availableSpotNumber: 0, unknownSpotNumber: 2 });
  });

  it(`does not use a reading older than ${STALE_INTERVALS} × the reporting interval: the place becomes unknown, and staleAt says when`, () => {
    const limit = STALE_INTERVALS * 60 * 1000;
    const justFresh = buildResidentSnapshot(input(bays.slice(0, 1), [reading(bays[0]!, limit - 1, { status: 'free' })]));
    expect(justFresh.places[0]).toMatchObject({ status: 'open', availableSpotNumber: 1 });
    expect(justFresh.staleAt).toBe(NOW + 1);
    const stale = buildResidentSnapshot(input(bays.slice(0, 1), [reading(bays[0]!, limit, { status: 'free' })]));
    expect(stale.places[0]).toMatchObject({ status: 'unknown', availableSpotNumber: null, unknownSpotNumber: 1, updated: null });
    expect(stale.staleAt).toBe(Number.POSITIVE_INFINITY);
  });

  it('shows a meter by where it stands with its last count; stale, it keeps its size and loses its free count', () => {
    const meter = device('meter-1', 'parking-meter', 'west', { address: 'Dam 1' });
    const fresh = buildResidentSnapshot(input([meter], [reading(meter, MIN, { totalSpotNumber: 12, availableSpotNumber: 0 })]));
    expect(fresh.places).toEqual([
      { id: 'meter:52.37012,4.89099', kind: 'meter', name: 'Dam 1', district: 'west', lat: 52.37012, lon: 4.89099, totalSpotNumber: 12, availableSpotNumber: 0, unknownSpotNumber: 0, status: 'full', updated: NOW - MIN },
    ]);
    const stale = buildResidentSnapshot(input([meter], [reading(meter, 10 * MIN, { totalSpotNumber: 12, availableSpotNumber: 4 })]));
    expect(stale.places[0]).toMatchObject({ status: 'unknown', totalSpotNumber: 12, availableSpotNumber: null });
    const never = buildResidentSnapshot(input([meter], []));
    expect(never.places[0]).toMatchObject({ status: 'unknown', totalSpotNumber: null, availableSpotNumber: null, name: 'Dam 1' });
  });

  it('gives two meters at one spot distinct, stable ids, and no place carries a device id', () => {
    const a = device('meter-b', 'parking-meter', 'west');
    const b = device('meter-a', 'parking-meter', 'west');
    const s = buildResidentSnapshot(input([a, b], []));
    expect(s.places.map((p) => p.id)).toEqual(['meter:52.37012,4.89099', 'meter:52.37012,4.89099-2']);
    expect(buildResidentSnapshot(input([b, a], [])).places.map((p) => p.id)).toEqual(s.places.map((p) => p.id));
    const bodies = [parkingGeoJson(s), parkingDatex(s, 'X')].join();
    expect(bodies).not.toContain('meter-a');
    expect(bodies).not.toContain('meter-b');
  });
});

describe('buildResidentSnapshot: outages', () => {
  const light = device('light-1', 'streetlight', 'west');
  const bin = device('bin-1', 'waste-bin', 'centrum');
  const meter = device('meter-1', 'parking-meter', 'west');

  it('shows open public tickets of outage types, newest first, located to ~10 m, without device ids', () => {
    const s = buildResidentSnapshot(
      input(
        [light, bin, meter],
        [],
        [
          ticket(3, light, 'light.out', 'Streetlight out'),
          ticket(1, bin, 'waste.collect', 'Collect a full waste bin'),
          ticket(2, light, 'device.battery', 'Replace a sensor battery'),
          ticket(4, meter, 'parking.repair', 'Repair a parking meter'),
          ticket(5, light, 'light.out', 'Streetlight out', 'closed'),
          ticket(6, { ...light, id: 'gone' }, 'light.out', 'Streetlight out'),
        ],
      ),
    );
    expect(s.outages).toEqual([
      { id: 'outage:1', heading: 'Waste bins', service: 'Collect a full waste bin', serviceCode: 'waste.collect', district: 'centrum', since: NOW - MIN, lat: 52.3701, lon: 4.891 },
      { id: 'outage:3', heading: 'Streetlights', service: 'Streetlight out', serviceCode: 'light.out', district: 'west', since: NOW - 3 * MIN, lat: 52.3701, lon: 4.891 },
    ]);
    expect(s.outageHeadings).toEqual(['Streetlights', 'Waste bins']);
    const body = outagesGeoJson(s);
    expect(body).not.toContain('light-1');
    expect(body).not.toContain('bin-1');
    const coords = (JSON.parse(body) as { features: { geometry: { coordinates: number[] } }[] }).features.flatMap((f) => f.geometry.coordinates);
    for (const c of coords) expect(Math.abs(c * 10 ** OUTAGE_DECIMALS - Math.round(c * 10 ** OUTAGE_DECIMALS))).toBeLessThan(1e-6);
  });
});

describe('feeds', () => {
  it('write GeoJSON points as [lon, lat] and DATEX II-style occupancy with the GeoJSON ids', () => {
    const bays = [1, 2, 3, 4].map((n) => device(`bay-${n}`, 'parking-spot', 'centrum', { attributes: { zone: 'z' } }));
    const s = buildResidentSnapshot(input(bays, [reading(bays[0]!, MIN, { status: 'free' }), reading(bays[1]!, MIN, { status: 'occupied' }), reading(bays[2]!, MIN, { status: 'occupied' })]));
    const geo = JSON.parse(parkingGeoJson(s)) as { type: string; features: { id: string; geometry: { coordinates: number[] }; properties: Record<string, unknown> }[] };
    expect(geo.type).toBe('FeatureCollection');
    expect(geo.features[0]).toMatchObject({ id: 'zone:z', geometry: { coordinates: [4.89099, 52.37012] }, properties: { status: 'open', totalSpotNumber: 4, availableSpotNumber: 1, unknownSpotNumber: 1 } });
    const datex = JSON.parse(parkingDatex(s, 'Our city')) as { publicationTime: string; parkingRecordStatus: Record<string, unknown>[] };
    expect(datex.publicationTime).toBe(new Date(NOW - MIN).toISOString());
    expect(datex.parkingRecordStatus[0]).toEqual({
      parkingRecordReference: { id: 'zone:z', version: '1' },
      parkingRecordName: 'z',
      parkingStatusOriginTime: new Date(NOW - MIN).toISOString(),
      parkingOccupancy: { parkingNumberOfSpacesOverride: 4, parkingNumberOfVacantSpaces: 1, parkingNumberOfOccupiedSpaces: 2, parkingOccupancy: 66.7 },
      parkingSiteStatus: 'spacesAvailable',
    });
  });

  it('keep the same bytes for the same data, whenever the snapshot is made', () => {
    const meter = device('m', 'parking-meter', 'west');
    const at = (now: number) => buildResidentSnapshot(input([meter], [reading(meter, MIN, { totalSpotNumber: 5, availableSpotNumber: 2 })], [], now));
    expect(parkingGeoJson(at(NOW))).toBe(parkingGeoJson(at(NOW + 5000)));
    expect(parkingDatex(at(NOW), 'c')).toBe(parkingDatex(at(NOW + 5000), 'c'));
  });
});
