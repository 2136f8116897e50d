import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../http/app.js';
import { idleAppDeps } from '../http/testing/idle-app-deps.js';
import { silentLogger } from '../observability/logger.js';
import { MAX_AGE_S, matchesEtag } from './routes.js';
import { ResidentView, type ResidentSource } from './view.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const source = (fail = false): ResidentSource => ({
  read: async () => {
    if (fail) throw new Error('password authentication failed for user "citypipe" at db.internal:5432');
    return {
      devices: [{ id: 'meter-secret-id', type: 'parking-meter', district: 'west', location: { lat: 52.37, lon: 4.89 }, reportingIntervalS: 60, attributes: {} }],
      latest: { get: () => ({ deviceId: 'meter-secret-id', type: 'parking-meter', timeMs: T0, receivedAt: T0, fields: { totalSpotNumber: 8, availableSpotNumber: 5 } }) },
      openTickets: [],
      services: [],
    };
  },
});

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function start(opts: { fail?: boolean; ratePerS?: number; residentsRatePerS?: number } = {}): FastifyInstance {
  const view = new ResidentView({ source: source(opts.fail), cityName: 'Test', log: silentLogger, now: () => T0 });
  app = buildApp({
    ...idleAppDeps(),
    security: { token: 'a-token-residents-never-need-0123456789', ratePerS: opts.ratePerS ?? 0, residentsRatePerS: opts.residentsRatePerS },
    residents: { view },
  });
  return app;
}

const URLS = ['/open/v1/parking.geojson', '/open/v1/outages.geojson', '/open/v1/parking.json', '/status'];

describe('residents routes', () => {
  it('answer without a token, cacheable for at most 60 s, readable from any origin', async () => {
    const a = start();
    for (const url of URLS) {
      const res = await a.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-expose-headers']).toBe('ETag');
      expect(res.headers['cache-control']).toBe(`public, max-age=${MAX_AGE_S}`);
      expect(MAX_AGE_S).toBeLessThanOrEqual(60);
      expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
      expect(res.body).not.toContain('meter-secret-id');
    }
    expect((await a.inject({ url: '/open/v1/parking.geojson' })).headers['content-type']).toBe('application/geo+json; charset=utf-8');
    expect((await a.inject({ url: '/open/v1/parking.json' })).headers['content-type']).toBe('application/json; charset=utf-8');
    expect((await a.inject({ url: '/status' })).headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('answer 304 without a body to a matching If-None-Match, and 200 to an old one', async () => {
    const a = start();
    for (const url of URLS) {
      const first = await a.inject({ url });
      const again = await a.inject({ url, headers: { 'if-none-match': first.headers.etag as string } });
      expect(again.statusCode, url).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers.etag).toBe(first.headers.etag);
      expect(again.headers['cache-control']).toBe(`public, max-age=${MAX_AGE_S}`);
      expect((await a.inject({ url, headers: { 'if-none-match': `"old", W/${first.headers.etag as string}` } })).statusCode).toBe(304);
      expect((await a.inject({ url, headers: { 'if-none-match': '"old"' } })).statusCode).toBe(200);
    }
  });

  it('answer HEAD with the headers and a CORS preflight with 204', async () => {
    const a = start();
    const head = await a.inject({ method: 'HEAD', url: '/open/v1/parking.geojson' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers.etag).toBeDefined();
    const pre = await a.inject({ method: 'OPTIONS', url: '/open/v1/outages.geojson', headers: { origin: 'https://map.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' } });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(pre.headers['access-control-allow-headers']).toMatch(/If-None-Match/);
  });

  it('serve the page with a CSP that allows only its own stylesheet, refreshing unless ?refresh=off', async () => {
    const a = start();
    const page = await a.inject({ url: '/status' });
    expect(page.headers.refresh).toBe('60');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(page.body).not.toMatch(/<script/i);
    const still = await a.inject({ url: '/status?refresh=off' });
    expect(still.statusCode).toBe(200);
    expect(still.headers.refresh).toBeUndefined();
    expect(still.headers.etag).not.toBe(page.headers.etag);
    // An unknown query parameter (a cache buster) is no error.
    expect((await a.inject({ url: '/status?_=123' })).statusCode).toBe(200);
  });

  it('count against their own rate (CITYPIPE_OPEN_RATE), not the API’s', async () => {
    const a = start({ ratePerS: 1, residentsRatePerS: 1000 });
    for (let i = 0; i < 50; i++) expect((await a.inject({ url: '/open/v1/parking.geojson' })).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/stats' })).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/stats' })).statusCode).toBe(200);
    await a.close();
    const tight = start({ ratePerS: 1000, residentsRatePerS: 1 });
    let refused;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await tight.inject({ url: '/status' });
      if (res.statusCode === 429) refused = res;
    }
    expect(refused?.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(refused!.body).message).toMatch(/^over CITYPIPE_OPEN_RATE \(1 requests\/s from one address\)/);
  });

  it('answer 503 with Retry-After, and no driver detail, while no snapshot could be made', async () => {
    const a = start({ fail: true });
    const res = await a.inject({ url: '/open/v1/parking.geojson' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'CP_ERR_STORE_UNAVAILABLE' });
    expect(res.body).not.toContain('db.internal');
  });
});

describe('matchesEtag', () => {
  it('matches a listed tag, a weak form of it, or *', () => {
    expect(matchesEtag('"a"', '"a"')).toBe(true);
    expect(matchesEtag('"b", "a"', '"a"')).toBe(true);
    expect(matchesEtag('W/"a"', '"a"')).toBe(true);
    expect(matchesEtag('*', '"a"')).toBe(true);
    expect(matchesEtag('"ab"', '"a"')).toBe(false);
    expect(matchesEtag(undefined, '"a"')).toBe(false);
  });
});
