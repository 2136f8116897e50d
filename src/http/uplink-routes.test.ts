/**
 * The network servers' HTTP routes, against `buildApp` with a stand-in for ingest: the token, the
 * answer only after `take` resolves, 503 when it cannot store, 400 for a body that is not an uplink,
 * 415 for anything but JSON, and the rate limit a server with the right token is exempt from.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { DeadLetter, RawMessage } from '../ingest/types.js';
import { buildApp } from './app.js';
import { idleAppDeps } from './testing/idle-app-deps.js';

const HTTP_TOKEN = 'http-token-0123456789abcdef';
const UPLINK_TOKEN = 'uplink-token-0123456789abcdef';
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function build(take: (msg: RawMessage) => Promise<{ readings: number; deadLetters: readonly DeadLetter[] }>, opts: { uplinkToken?: string; ratePerS?: number } = {}): FastifyInstance {
  app = buildApp({
    ...idleAppDeps(),
    security: { token: HTTP_TOKEN, uplinkToken: 'uplinkToken' in opts ? opts.uplinkToken : UPLINK_TOKEN, ratePerS: opts.ratePerS ?? 0 },
    uplinks: { take },
  });
  return app;
}

const post = (a: FastifyInstance, url: string, body: string, token: string | null = UPLINK_TOKEN, type = 'application/json') =>
  a.inject({ method: 'POST', url, payload: body, headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

describe('POST /api/uplinks/*', () => {
  it('hands the body unparsed, with its topic, and answers only once take resolves', async () => {
    const seen: RawMessage[] = [];
    let release!: () => void;
    const a = build((msg) => {
      seen.push(msg);
      if (seen.length > 1) return Promise.resolve({ readings: 0, deadLetters: [] });
      return new Promise((resolve) => (release = () => resolve({ readings: 1, deadLetters: [] })));
    });
    await a.ready();
    let answered = false;
    const pending = Promise.resolve(post(a, '/api/uplinks/chirpstack?event=up', '{"a": 1}')).then((res) => {
      answered = true;
      return res;
    });
    for (let i = 0; i < 400 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    release();
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stored: 1, deadLettered: [] });
    expect(seen[0]!.topic).toBe('http/chirpstack/up');
    expect(seen[0]!.payload.toString()).toBe('{"a": 1}');
    expect((await post(a, '/api/uplinks/tts', '{}')).statusCode).toBe(200);
    expect(seen[1]!.topic).toBe('http/tts/up');
  });

  it('needs CITYPIPE_UPLINK_TOKEN, not the HTTP token', async () => {
    const a = build(async () => ({ readings: 1, deadLetters: [] }));
    for (const token of [null, 'wrong-token-0123456789', HTTP_TOKEN]) {
      const res = await post(a, '/api/uplinks/tts', '{}', token);
      expect(res.statusCode, String(token)).toBe(401);
      expect(res.json().message).toMatch(/CITYPIPE_UPLINK_TOKEN|wrong bearer token/);
    }
    const off = build(async () => ({ readings: 1, deadLetters: [] }), { uplinkToken: undefined });
    const res = await post(off, '/api/uplinks/tts', '{}');
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/disabled: CITYPIPE_UPLINK_TOKEN is not set/);
  });

  it('answers 503 with Retry-After when the uplink could not be stored, 400 when it is no uplink, 415 when it is not JSON', async () => {
    const full = build(async () => {
      throw new CitypipeError(ErrorCodes.SPOOL_FULL, 'spool full');
    });
    const res = await post(full, '/api/uplinks/tts', '{}');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    const bad = build(async () => ({ readings: 0, deadLetters: [{ reason: 'invalid_json', path: '', message: 'not JSON', topic: 'http/tts/up', deviceId: undefined, type: undefined, index: undefined, payload: '', receivedAt: 0 }] }));
    const r400 = await post(bad, '/api/uplinks/tts', '{');
    expect(r400.statusCode).toBe(400);
    expect(r400.json().message).toMatch(/^invalid_json: not JSON \(kept as a dead letter\)/);
    const r415 = await post(bad, '/api/uplinks/chirpstack?event=up', 'CgQ=', UPLINK_TOKEN, 'application/octet-stream');
    expect(r415.statusCode).toBe(415);
    expect(r415.json().message).toMatch(/payload encoding to JSON/);
    expect((await post(bad, '/api/uplinks/chirpstack?event=Up%20', '{}')).statusCode).toBe(400);
  });

  it('does not count a server with the right token against the per-address rate limit', async () => {
    const a = build(async () => ({ readings: 1, deadLetters: [] }), { ratePerS: 1 });
    for (let i = 0; i < 30; i++) expect((await post(a, '/api/uplinks/tts', '{}')).statusCode).toBe(200);
    const codes = [];
    for (let i = 0; i < 30; i++) codes.push((await post(a, '/api/uplinks/tts', '{}', 'wrong-token-0123456789')).statusCode);
    expect(codes).toContain(429);
  });
});
