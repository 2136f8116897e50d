import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { registerDeviceRoutes } from './device-routes.js';
import { registerHttpSecurity } from './security.js';
import { LatestReadings } from '../devices/latest-readings.js';
import { device } from '../dispatch/testing/fixtures.js';
import type { ActiveAlert } from '../dispatch/types.js';

const TOKEN = 'a-test-token-0123456789';
const bin = device({ id: 'bin-1', type: 'waste-bin', district: 'Centrum' });
const lamp = device({ id: 'light-1', type: 'streetlight', district: 'Noord', attributes: { powerRating: 60 } });
const meter = device({ id: 'meter-1', type: 'parking-meter', district: 'Centrum' });

function app() {
  const latest = new LatestReadings(':memory:');
  latest.observe([
    { type: 'waste-bin', deviceId: 'bin-1', district: 'Centrum', timeMs: Date.parse('2026-11-28T10:00:00Z'), receivedAt: Date.parse('2026-11-28T10:00:01Z'), fields: { fillingLevel: 0.85, status: 'ok' } },
    { type: 'streetlight', deviceId: 'light-1', district: 'Noord', timeMs: Date.parse('2026-11-28T09:00:00Z'), receivedAt: Date.parse('2026-11-28T09:00:00Z'), fields: { powerState: 'on' } },
  ]);
  const alerts = new Map<string, ActiveAlert[]>([
    ['bin-1', [{ deviceId: 'bin-1', rule: 'waste.collect', since: Date.parse('2026-11-28T10:00:00Z'), value: 0.85, flapping: false }]],
    ['light-1', [{ deviceId: 'light-1', rule: 'device.offline', since: Date.parse('2026-11-28T09:00:00Z'), value: undefined, flapping: false, role: 'offline' }, { deviceId: 'light-1', rule: 'light.dayburner', since: 0, value: 'on', flapping: false }]],
  ]);
  const a = Fastify();
  registerHttpSecurity(a, { token: TOKEN, ratePerS: 0 });
  registerDeviceRoutes(a, { devices: () => [bin, lamp, meter], latest: () => latest, alerts: () => alerts, openTickets: () => new Map([['bin-1', ['17']]]) });
  return a;
}
const auth = { authorization: `Bearer ${TOKEN}` };

describe('device routes', () => {
  it('need the token: they show where devices are', async () => {
    const a = app();
    for (const url of ['/api/devices', '/api/devices/bin-1', '/api/districts', '/api/readings/latest']) {
      expect((await a.inject(url)).statusCode, url).toBe(401);
    }
  });

  it('lists devices with their health, filtered by district and state', async () => {
    const a = app();
    const all = (await a.inject({ url: '/api/devices', headers: auth })).json();
    expect(all.total).toBe(3);
    expect(Object.fromEntries(all.items.map((d: { id: string; state: string }) => [d.id, d.state]))).toEqual({ 'bin-1': 'alert', 'light-1': 'offline', 'meter-1': 'unknown' });
    expect(all.items[0]).toMatchObject({ id: 'bin-1', district: 'Centrum', alerts: ['waste.collect'], openTickets: ['17'], lastSeen: '2026-11-28T10:00:00.000Z' });
    expect(all.items[0]).not.toHaveProperty('secretHash');
    const centrum = (await a.inject({ url: '/api/devices?district=Centrum&state=unknown', headers: auth })).json();
    expect(centrum.items.map((d: { id: string }) => d.id)).toEqual(['meter-1']);
    expect((await a.inject({ url: '/api/devices?state=broken', headers: auth })).statusCode).toBe(400);
  });

  it('shows one device with its latest values, and a clear 404 for an unknown one', async () => {
    const a = app();
    const one = (await a.inject({ url: '/api/devices/bin-1', headers: auth })).json();
    expect(one.latest).toEqual({ deviceId: 'bin-1', type: 'waste-bin', district: 'Centrum', time: '2026-11-28T10:00:00.000Z', receivedAt: '2026-11-28T10:00:01.000Z', fields: { fillingLevel: 0.85, status: 'ok' } });
    expect(one.alertDetails).toEqual([{ rule: 'waste.collect', since: '2026-11-28T10:00:00.000Z', value: 0.85, flapping: false }]);
    expect((await a.inject({ url: '/api/devices/meter-1', headers: auth })).json().latest).toBeNull();
    const missing = await a.inject({ url: '/api/devices/nope', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toBe('device "nope" is not in the catalog');
  });

  it('summarises districts and lists the latest readings', async () => {
    const a = app();
    expect((await a.inject({ url: '/api/districts', headers: auth })).json()).toEqual([
      { district: 'Centrum', devices: 2, byType: { 'waste-bin': 1, 'parking-meter': 1 }, byState: { alert: 1, unknown: 1 } },
      { district: 'Noord', devices: 1, byType: { streetlight: 1 }, byState: { offline: 1 } },
    ]);
    const latest = (await a.inject({ url: '/api/readings/latest?type=streetlight', headers: auth })).json();
    expect(latest.items.map((l: { deviceId: string }) => l.deviceId)).toEqual(['light-1']);
  });

  it('answers in pages of at most 1000, with the total', async () => {
    const latest = new LatestReadings(':memory:');
    const many = Array.from({ length: 1500 }, (_, i) => device({ id: `bin-${i}`, type: 'waste-bin', district: 'Centrum' }));
    latest.observe(many.map((d) => ({ type: 'waste-bin', deviceId: d.id, district: 'Centrum', timeMs: 1, receivedAt: 1, fields: { fillingLevel: 0.1 } })));
    const a = Fastify();
    registerHttpSecurity(a, { token: TOKEN, ratePerS: 0 });
    registerDeviceRoutes(a, {
      devices: () => many,
      latest: () => latest,
      alerts: () => new Map(),
      openTickets: () => new Map(),
    });
    expect((await a.inject({ url: '/api/devices?limit=1001', headers: auth })).statusCode).toBe(400);
    const first = (await a.inject({ url: '/api/devices', headers: auth })).json();
    expect([first.total, first.items.length]).toEqual([1500, 1000]);
    const second = (await a.inject({ url: '/api/devices?offset=1000', headers: auth })).json();
    expect([second.total, second.items.length, second.items[0].id]).toEqual([1500, 500, 'bin-1000']);
    const readings = (await a.inject({ url: '/api/readings/latest?limit=10&offset=1495', headers: auth })).json();
    expect([readings.total, readings.items.length]).toEqual([1500, 5]);
    expect((await a.inject({ url: '/api/readings/latest?limit=5000', headers: auth })).statusCode).toBe(400);
  });
});
