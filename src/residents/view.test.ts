import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../catalog/types.js';
import type { LatestReading } from '../devices/latest-readings.js';
import { silentLogger } from '../observability/logger.js';
import type { ResidentInput } from './snapshot.js';
import { ResidentView, type ResidentSource } from './view.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const meter: DeviceRecord = { id: 'm-1', type: 'parking-meter', district: 'west', location: { lat: 52.37, lon: 4.89 }, reportingIntervalS: 60, attributes: {} };

/** A source whose meter reads `free` spaces at `timeMs`; counts its reads; fails while `down`. */
function source() {
  const state = { free: 3, timeMs: T0, reads: 0, down: false };
  const src: ResidentSource & { state: typeof state } = {
    state,
    read: async (): Promise<Omit<ResidentInput, 'now'>> => {
      state.reads++;
      if (state.down) throw new Error('connection refused');
      const l: LatestReading = { deviceId: meter.id, type: meter.type, timeMs: state.timeMs, receivedAt: state.timeMs, fields: { totalSpotNumber: 10, availableSpotNumber: state.free } };
      return { devices: [meter], latest: { get: (id) => (id === meter.id ? l : undefined) }, openTickets: [], services: [] };
    },
  };
  return src;
}

async function free(view: ResidentView): Promise<number | null> {
  const body = JSON.parse((await view.get('parking.geojson')).body.toString()) as { features: { properties: { availableSpotNumber: number | null } }[] };
  return body.features[0]!.properties.availableSpotNumber;
}

describe('ResidentView', () => {
  it('answers many requests from one snapshot, and reads again only once touched and a second has passed', async () => {
    let now = T0;
    const src = source();
    const view = new ResidentView({ source: src, cityName: 'Test', log: silentLogger, now: () => now });
    await Promise.all(Array.from({ length: 50 }, () => view.get('parking.geojson')));
    expect(src.state.reads).toBe(1);
    const etag = (await view.get('parking.geojson')).etag;

    src.state.free = 2;
    view.touch();
    now += 500;
    expect(await free(view)).toBe(3);
    expect(src.state.reads).toBe(1);
    now += 500;
    expect(await free(view)).toBe(2);
    expect(src.state.reads).toBe(2);
    expect((await view.get('parking.geojson')).etag).not.toBe(etag);
    // Not touched: the same snapshot until it is maxAgeMs old.
    src.state.free = 1;
    now += 5000;
    expect(await free(view)).toBe(2);
    now += 5000;
    expect(await free(view)).toBe(1);
    expect(src.state.reads).toBe(3);
  });

  it('makes the snapshot again when a reading it used goes stale, so a silent place turns unknown', async () => {
    let now = T0;
    const src = source();
    const view = new ResidentView({ source: src, cityName: 'Test', log: silentLogger, now: () => now, maxAgeMs: 3_600_000 });
    expect(await free(view)).toBe(3);
    now = T0 + 3 * 60_000 - 1;
    expect(await free(view)).toBe(3);
    now = T0 + 3 * 60_000;
    expect(await free(view)).toBeNull();
  });

  it('keeps serving the last snapshot while the source fails, and fails only without one', async () => {
    let now = T0;
    const src = source();
    src.state.down = true;
    const view = new ResidentView({ source: src, cityName: 'Test', log: silentLogger, now: () => now });
    await expect(view.get('status')).rejects.toThrow('connection refused');
    now += 1000;
    src.state.down = false;
    expect(await free(view)).toBe(3);
    src.state.down = true;
    src.state.free = 0;
    view.touch();
    now += 1000;
    expect(await free(view)).toBe(3);
    // The failed read left it due: the next attempt (a second later) reads again and catches up.
    src.state.down = false;
    now += 1000;
    expect(await free(view)).toBe(0);
  });

  it('renders a refreshing and a still status page from the same snapshot', async () => {
    const view = new ResidentView({ source: source(), cityName: 'Springfield & Co', log: silentLogger, now: () => T0 });
    const page = (await view.get('status')).body.toString();
    const still = (await view.get('status-still')).body.toString();
    expect(page).toContain('<title>Springfield &amp; Co: parking, streetlights and bins now</title>');
    expect(page).toContain('href="/status?refresh=off"');
    expect(still).toContain('This page does not update itself');
    expect(still).not.toContain('href="/status?refresh=off"');
  });
});
