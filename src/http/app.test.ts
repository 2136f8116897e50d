/**
 * The bounds `buildApp` puts on what one request may cost: whole-table aggregates at most once a
 * second whatever the request rate, capped limits, and a warning when the trusted-proxy setting lets
 * any client pick its address.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../observability/logger.js';
import { buildApp, MAX_REPLAY_LIMIT, STATS_AGGREGATE_MAX_AGE_MS, type AppDeps } from './app.js';
import { atMostEvery } from './at-most-every.js';

const TOKEN = 'app-test-token-0123456789';
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function build(over: Partial<AppDeps> = {}): FastifyInstance {
  app = buildApp({
    log: silentLogger,
    metricsText: async () => ({ contentType: 'text/plain', body: '' }),
    notReadyReasons: () => [],
    stats: () => ({ received: 3, recovered: 0, written: 2, deadLettered: 1, pending: 0, refused: 0, oldestPendingAgeS: 0, spoolBytes: 0, connectedDevices: 0, mqttConnections: 0 }),
    deadLettersByReason: () => ({}),
    deadLetters: { list: () => ({ items: [], total: 0 }) },
    replayDeadLetters: async () => ({ replayed: 0, skipped: [] }),
    security: { token: TOKEN, ratePerS: 0 },
    ...over,
  });
  return app;
}

describe('GET /api/stats', () => {
  it('counts dead letters by reason (a pass over the whole store) at most once a second, however many ask', async () => {
    let t = 0;
    let counted = 0;
    const a = build({
      now: () => t,
      deadLettersByReason: () => {
        counted++;
        return { out_of_range: counted };
      },
    });
    for (let i = 0; i < 50; i++) expect((await a.inject('/api/stats')).json()).toMatchObject({ received: 3, deadLettersByReason: { out_of_range: 1 } });
    expect(counted).toBe(1);
    t += STATS_AGGREGATE_MAX_AGE_MS;
    expect((await a.inject('/api/stats')).json()).toMatchObject({ deadLettersByReason: { out_of_range: 2 } });
    expect(counted).toBe(2);
  });
});

describe('POST /api/dead-letters/replay', () => {
  it('caps the limit', async () => {
    const a = build();
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    expect((await a.inject({ method: 'POST', url: '/api/dead-letters/replay', headers, payload: { limit: MAX_REPLAY_LIMIT } })).statusCode).toBe(200);
    const over = await a.inject({ method: 'POST', url: '/api/dead-letters/replay', headers, payload: { limit: MAX_REPLAY_LIMIT + 1 } });
    expect(over.statusCode).toBe(400);
    expect(over.json<{ message: string }>().message).toMatch(/limit must be <= 1000000/);
  });
});

describe('CITYPIPE_HTTP_TRUST_PROXY', () => {
  function logOf(trustProxy: AppDeps['security']['trustProxy']): string[] {
    const lines: string[] = [];
    const log: Logger = createLogger('info', new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString('utf8')), done()) }));
    build({ log, security: { token: TOKEN, ratePerS: 0, trustProxy } });
    return lines;
  }

  it('warns at start when it believes X-Forwarded-For from any peer (true, a hop count); not for a list of proxies', () => {
    for (const v of [true, 2] as const) expect(logOf(v).join('')).toMatch(/CP_WARN_HTTP_TRUST_PROXY.*List the proxy's address instead/);
    expect(logOf(['127.0.0.1']).join('')).not.toMatch(/CP_WARN_HTTP_TRUST_PROXY/);
  });
});

describe('atMostEvery', () => {
  it('computes once per interval', () => {
    let t = 0;
    let n = 0;
    const f = atMostEvery(1000, () => ++n, () => t);
    expect([f(), f(), f()]).toEqual([1, 1, 1]);
    t = 999;
    expect(f()).toBe(1);
    t = 1000;
    expect(f()).toBe(2);
  });
});
