import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerHttpSecurity, type HttpSecurityOptions } from './security.js';

const TOKEN = 'a-test-token-of-enough-length';
let app: FastifyInstance | undefined;

async function build(opts: Partial<HttpSecurityOptions> = {}, refused: string[] = []): Promise<FastifyInstance> {
  app = Fastify();
  registerHttpSecurity(app, { token: TOKEN, ratePerS: 0, events: { refused: (r) => refused.push(r) }, ...opts });
  app.get('/open', async () => ({ ok: true }));
  app.get('/locations', { config: { protected: true } }, async () => ({ ok: true }));
  app.post('/change', async () => ({ ok: true }));
  app.post('/public-post', { config: { protected: false } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('bearer token', () => {
  it('guards state-changing methods and routes marked protected; leaves the rest open', async () => {
    const refused: string[] = [];
    const a = await build({}, refused);
    expect((await a.inject({ method: 'GET', url: '/open' })).statusCode).toBe(200);
    expect((await a.inject({ method: 'POST', url: '/public-post' })).statusCode).toBe(200);
    for (const [method, url] of [['POST', '/change'], ['GET', '/locations']] as const) {
      const none = await a.inject({ method, url });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="citypipe"');
      expect(none.json()).toMatchObject({ code: 'CP_ERR_HTTP_UNAUTHORIZED' });
      expect((await a.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}x` } })).statusCode).toBe(401);
      expect((await a.inject({ method, url, headers: { authorization: `Basic ${TOKEN}` } })).statusCode).toBe(401);
      expect((await a.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
      expect((await a.inject({ method, url, headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
    }
    expect(refused).toEqual(Array.from({ length: 6 }, () => 'unauthorized'));
  });

  it('refuses every protected request when no token is configured', async () => {
    const a = await build({ token: undefined });
    const res = await a.inject({ method: 'POST', url: '/change', headers: { authorization: 'Bearer anything-at-all-here' } });
    expect(res.statusCode).toBe(401);
    expect(res.json<{ message: string }>().message).toMatch(/CITYPIPE_HTTP_TOKEN is not set/);
    expect((await a.inject({ method: 'GET', url: '/open' })).statusCode).toBe(200);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once an address is over its rate, per address', async () => {
    const refused: string[] = [];
    const a = await build({ ratePerS: 2 }, refused);
    const codes: number[] = [];
    for (let i = 0; i < 25; i++) codes.push((await a.inject({ method: 'GET', url: '/open' })).statusCode);
    // A burst of 10 s at 2/s.
    expect(codes.filter((c) => c === 200).length).toBe(20);
    const limited = await a.inject({ method: 'GET', url: '/open' });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.json()).toMatchObject({ code: 'CP_ERR_HTTP_RATE_LIMITED' });
    expect((await a.inject({ method: 'GET', url: '/open', remoteAddress: '192.0.2.9' })).statusCode).toBe(200);
    expect(refused.every((r) => r === 'rate')).toBe(true);
  });
});

describe('security headers', () => {
  it('are on every answer, errors included', async () => {
    const a = await build();
    for (const res of [await a.inject({ url: '/open' }), await a.inject({ url: '/missing' }), await a.inject({ method: 'POST', url: '/change' })]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });
});
