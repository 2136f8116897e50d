import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { device } from '../dispatch/testing/fixtures.js';
import { registerHttpSecurity } from '../http/security.js';
import type { RuleInput } from '../dispatch/types.js';
import { FillHistory } from './fill-history.js';
import { CollectionPlanner } from './planner.js';
import { PLAN_REFRESH_MIN_MS, registerCollectionRoutes } from './routes.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-06-02T05:00:00Z');
const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const bins = [
  device({ id: 'bin-w1', type: 'waste-bin', district: 'west', location: { lat: 52.37, lon: 4.87 }, address: 'Kade 1' }),
  device({ id: 'bin-w2', type: 'waste-bin', district: 'west', location: { lat: 52.372, lon: 4.872 } }),
  device({ id: 'bin-o1', type: 'waste-bin', district: 'oost', location: { lat: 52.36, lon: 4.93 } }),
];

/** Readings every 15 min over 12 h up to `until`: level at `until`, rising at `rate` per hour (a multiple of 0.004, so the 3-digit rounding devices do is exact). */
function readings(id: string, district: string, level: number, rate: number, until: number): RuleInput[] {
  const out: RuleInput[] = [];
  for (let t = until - 12 * HOUR; t <= until; t += HOUR / 4) {
    out.push({ type: 'waste-bin', deviceId: id, district, timeMs: t, receivedAt: t, fields: { fillingLevel: Math.round((level - (rate * (until - t)) / HOUR) * 1000) / 1000 } });
  }
  return out;
}

let app: FastifyInstance | undefined;
let history: FillHistory | undefined;
afterEach(async () => {
  await app?.close();
  history?.close();
});

async function build(now: { t: number }) {
  history = new FillHistory({ store: { file: ':memory:' } });
  history.open();
  history.observe([...readings('bin-w1', 'west', 0.85, 0.012, T0), ...readings('bin-w2', 'west', 0.68, 0.012, T0), ...readings('bin-o1', 'oost', 0.32, 0.012, T0)]);
  const planner = new CollectionPlanner({ devices: () => bins, history, thresholdOf: () => 0.8, now: () => now.t });
  app = Fastify();
  registerHttpSecurity(app, { token: TOKEN, ratePerS: 0 });
  registerCollectionRoutes(app, { planner, now: () => now.t });
  await app.ready();
  return { app, planner, history };
}

describe('GET /api/collection-plan', () => {
  it('needs the bearer token: it shows where bins stand', async () => {
    const { app } = await build({ t: T0 });
    const res = await app.inject({ url: '/api/collection-plan' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'CP_ERR_HTTP_UNAUTHORIZED' });
  });

  it('answers the latest plan, making one when there is none yet', async () => {
    const { app, planner } = await build({ t: T0 });
    const res = await app.inject({ url: '/api/collection-plan', headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      generatedAt: '2026-06-02T05:00:00.000Z',
      horizonHours: 24,
      districts: [
        {
          district: 'west',
          distanceKm: 0.261,
          stops: [
            { order: 1, deviceId: 'bin-w1', lat: 52.37, long: 4.87, address: 'Kade 1', fillingLevel: 0.85, fillRatePerHour: 0.012, predictedFullAt: '2026-06-02T05:00:00.000Z', hoursToFull: 0, threshold: 0.8, lastReadingAt: '2026-06-02T05:00:00.000Z' },
            { order: 2, deviceId: 'bin-w2', lat: 52.372, long: 4.872, fillingLevel: 0.68, fillRatePerHour: 0.012, predictedFullAt: '2026-06-02T15:00:00.000Z', hoursToFull: 10, threshold: 0.8, lastReadingAt: '2026-06-02T05:00:00.000Z' },
          ],
        },
      ],
      summary: { bins: 3, planned: 2, due: 1, later: 1, noPrediction: 0, noRecentData: 0, noThreshold: 0 },
    });
    expect(planner.latest()?.generatedAt).toBe(body.generatedAt);
  });

  it('answers the stored plan until asked to refresh', async () => {
    const now = { t: T0 };
    const { app, history } = await build(now);
    await app.inject({ url: '/api/collection-plan', headers: auth });
    // Seventeen hours later bin-o1 has risen on, from 40 h to full to 23 h.
    now.t = T0 + 17 * HOUR;
    history.observe(readings('bin-o1', 'oost', 0.524, 0.012, now.t));
    const stale = (await app.inject({ url: '/api/collection-plan', headers: auth })).json();
    expect(stale.generatedAt).toBe('2026-06-02T05:00:00.000Z');
    const fresh = (await app.inject({ url: '/api/collection-plan?refresh=true', headers: auth })).json();
    expect(fresh.generatedAt).toBe('2026-06-02T22:00:00.000Z');
    expect(fresh.districts.map((d: { district: string }) => d.district)).toEqual(['oost', 'west']);
    expect(fresh.districts[0].stops[0]).toMatchObject({ deviceId: 'bin-o1', hoursToFull: 23 });
    const again = (await app.inject({ url: '/api/collection-plan', headers: auth })).json();
    expect(again.generatedAt).toBe('2026-06-02T22:00:00.000Z');
  });

  it('makes a new plan on refresh at most every 10 s, however often it is asked', async () => {
    const now = { t: T0 };
    const { app } = await build(now);
    const generatedAt = async (url: string) => ((await app.inject({ url, headers: auth })).json() as { generatedAt: string }).generatedAt;
    expect(await generatedAt('/api/collection-plan?refresh=true')).toBe(new Date(T0).toISOString());
    now.t = T0 + PLAN_REFRESH_MIN_MS - 1;
    expect(await generatedAt('/api/collection-plan?refresh=true')).toBe(new Date(T0).toISOString());
    now.t = T0 + PLAN_REFRESH_MIN_MS;
    expect(await generatedAt('/api/collection-plan?refresh=true')).toBe(new Date(T0 + PLAN_REFRESH_MIN_MS).toISOString());
  });

  it('filters by district', async () => {
    const { app } = await build({ t: T0 });
    const west = (await app.inject({ url: '/api/collection-plan?district=west', headers: auth })).json();
    expect(west.districts.map((d: { district: string }) => d.district)).toEqual(['west']);
    const none = (await app.inject({ url: '/api/collection-plan?district=noord', headers: auth })).json();
    expect(none.districts).toEqual([]);
  });

  it('refuses a malformed query', async () => {
    const { app } = await build({ t: T0 });
    expect((await app.inject({ url: '/api/collection-plan?refresh=perhaps', headers: auth })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/collection-plan?district=', headers: auth })).statusCode).toBe(400);
  });
});
