import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerHttpSecurity, type HttpSecurityOptions } from './security.js';

const TOKEN = 'a-test-token-of-enough-length';
let app: FastifyInstance | undefined;

async function build(opts: Partial<HttpSecurityOptions> = {}, refused: string[] = []): Promise<FastifyInstance> {
  // As buildApp does: Fastify derives req.ip from the same setting.
  app = Fastify({ trustProxy: typeof opts.trustProxy === 'object' ? [...opts.trustProxy] : ((opts.trustProxy as boolean | undefined) ?? false) });
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

describe('the client behind a reverse proxy (CITYPIPE_HTTP_TRUST_PROXY)', () => {
  /** Requests until the first 429; the burst at 1 request/s is 10. */
  async function allowed(a: FastifyInstance, remoteAddress: string, forwardedFor?: string): Promise<number> {
    let n = 0;
    const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
    while ((await a.inject({ method: 'GET', url: '/open', remoteAddress, headers })).statusCode === 200) n++;
    return n;
  }

  it('gives each client behind a trusted proxy its own bucket', async () => {
    const a = await build({ ratePerS: 1, trustProxy: ['127.0.0.1'] });
    expect(await allowed(a, '127.0.0.1', '203.0.113.1')).toBe(10);
    // Another client through the same proxy: its own bucket, not the proxy's.
    expect(await allowed(a, '127.0.0.1', '203.0.113.2')).toBe(10);
    // A chain: the proxy appends the address it saw; the client is the last untrusted one.
    expect(await allowed(a, '127.0.0.1', '198.51.100.7, 203.0.113.3')).toBe(10);
  });

  it('ignores X-Forwarded-For when no proxy is trusted: a client cannot spoof its way out of its bucket', async () => {
    const a = await build({ ratePerS: 1 });
    expect(await allowed(a, '192.0.2.50', '203.0.113.1')).toBe(10);
    expect(await allowed(a, '192.0.2.50', '203.0.113.2')).toBe(0);
    const limited = await a.inject({ method: 'GET', url: '/open', remoteAddress: '192.0.2.50', headers: { 'x-forwarded-for': '203.0.113.3' } });
    // Behind a proxy that is not trusted, the refusal says which setting to change.
    expect(limited.json<{ message: string }>().message).toMatch(/set CITYPIPE_HTTP_TRUST_PROXY to its address/);
  });

  it('ignores X-Forwarded-For from a peer that is not one of the trusted proxies', async () => {
    const a = await build({ ratePerS: 1, trustProxy: ['127.0.0.1'] });
    expect(await allowed(a, '192.0.2.50', '203.0.113.1')).toBe(10);
    expect(await allowed(a, '192.0.2.50', '203.0.113.2')).toBe(0);
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
