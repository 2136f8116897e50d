import { describe, expect, it } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../catalog/types.js';
import { deviceTypes } from '../device-types/registry.js';
import { ParkingZones, zoneLine } from './zones.js';

// The bay type is whichever registered type declares occupancy; nothing here names it.
const bayType = deviceTypes.find((d) => d.occupancy !== undefined)!;
const occ = bayType.occupancy!;
const bay = (id: string, zone: string | undefined, district = 'centrum'): DeviceRecord =>
  deviceRecordSchema.parse({ id, type: bayType.name, district, location: { lat: 52.37, lon: 4.89 }, attributes: zone === undefined ? {} : { [occ.zoneAttribute]: zone } });

function world() {
  const devices = [bay('b1', 'z1'), bay('b2', 'z1'), bay('b3', 'z1'), bay('b4', 'z2', 'oost'), bay('b5', undefined)];
  const latest = new Map<string, Record<string, string>>();
  const offline = new Set<string>();
  let now = 1_000;
  const zones = () => new ParkingZones({ devices: () => devices, latestFields: (id) => latest.get(id), offlineDevices: () => offline, now: () => now });
  const set = (id: string, status: string) => latest.set(id, { [occ.field]: status });
  return { devices, latest, offline, zones, set, tick: () => (now += 1000) };
}

const summary = (z: ParkingZones) => z.all().map((c) => `${c.zone}@${c.district} ${c.availableSpotNumber} free ${c.occupiedSpotNumber} occupied ${c.unknownSpotNumber} unknown of ${c.totalSpotNumber}`);

describe('parking zones', () => {
  it('counts the catalog bays of each zone; a bay never heard from is unknown, a bay without a zone is in none', () => {
    const w = world();
    const z = w.zones();
    expect(summary(z)).toEqual(['z1@centrum 0 free 0 occupied 3 unknown of 3', 'z2@oost 0 free 0 occupied 1 unknown of 1']);
  });

  it('follows arrivals and departures, writing a point only for the zone that changed', () => {
    const w = world();
    for (const id of ['b1', 'b2', 'b3', 'b4']) w.set(id, occ.free);
    const z = w.zones();
    const start = z.takeLines()!;
    expect(start.lines).toHaveLength(2); // once per zone at start
    start.written();
    w.tick();
    w.set('b2', occ.occupied); // an arrival
    z.touch();
    const taken = z.takeLines()!;
    expect(taken.lines).toEqual([`parking_zone,district=centrum,zone=z1 availableSpotNumber=2i,occupiedSpotNumber=1i,totalSpotNumber=3i,unknownSpotNumber=0i 2000`]);
    taken.written();
    z.touch();
    expect(z.takeLines()).toBeUndefined(); // nothing changed
    w.set('b2', occ.free); // the departure
    z.touch();
    expect(summary(z)[0]).toBe('z1@centrum 3 free 0 occupied 0 unknown of 3');
  });

  it('counts a silent (offline) bay as unknown, not free, until it reports again', () => {
    const w = world();
    for (const id of ['b1', 'b2', 'b3']) w.set(id, occ.free);
    const z = w.zones();
    w.offline.add('b3');
    z.touch();
    expect(summary(z)[0]).toBe('z1@centrum 2 free 0 occupied 1 unknown of 3');
    w.offline.delete('b3');
    z.touch();
    expect(summary(z)[0]).toBe('z1@centrum 3 free 0 occupied 0 unknown of 3');
  });

  it('recounts the same zones after a restart (from the kept latest readings), and writes each once', () => {
    const w = world();
    w.set('b1', occ.occupied);
    w.set('b2', occ.free);
    const before = summary(w.zones());
    const again = w.zones();
    expect(summary(again)).toEqual(before);
    expect(again.takeLines()!.lines.map((l) => l.split(' ')[0])).toEqual(['parking_zone,district=centrum,zone=z1', 'parking_zone,district=oost,zone=z2']);
  });

  it('keeps a line that failed to write for the next try, and escapes tag values', () => {
    const w = world();
    w.devices.push(bay('b6', 'zone 3,a=b', 'nieuw west'));
    const z = w.zones();
    const first = z.takeLines()!;
    expect(z.takeLines()!.lines).toEqual(first.lines); // not written: taken again
    expect(first.lines).toContain(zoneLine(z.all().find((c) => c.zone === 'zone 3,a=b')!));
    expect(first.lines.join('\n')).toContain('district=nieuw\\ west,zone=zone\\ 3\\,a\\=b ');
  });
});
