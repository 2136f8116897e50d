/**
 * What one client may cost through `GET /api/events/stream`: the token, the caps on open streams (in
 * all and per client address, the address behind a trusted proxy included), and a paged replay that
 * delivers the whole log in order. Real connections on 127.0.0.1; the load test with a real device
 * is test/event-stream-load.e2e.test.ts.
 */
import http from 'node:http';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { collectEvent, T0 } from '../dispatch/testing/fixtures.js';
import { EventHub } from '../events/event-hub.js';
import { EventLog } from '../events/event-log.js';
import { buildApp } from './app.js';
import { registerEventStream, type EventStreamOptions } from './event-stream.js';
import type { TrustProxy } from './trust-proxy.js';
import { idleAppDeps } from './testing/idle-app-deps.js';

const TOKEN = 'event-stream-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

let app: FastifyInstance | undefined;
let db: Database.Database | undefined;
const open: http.IncomingMessage[] = [];
/** What the HTTP security layer was told it refused. */
const refusals: string[] = [];

afterEach(async () => {
  refusals.length = 0;
  for (const res of open.splice(0)) res.destroy();
  await app?.close();
  app = undefined;
  db?.close();
  db = undefined;
});

async function start(stream: EventStreamOptions, trustProxy: TrustProxy = false, events = 0): Promise<{ base: string; log: EventLog }> {
  db = new Database(':memory:');
  const log = new EventLog({ db, maxRows: 1_000_000 });
  log.start();
  for (let i = 0; i < events; i += 1000) {
    log.append(Array.from({ length: Math.min(1000, events - i) }, (_, k) => ({ event: collectEvent({ state: 'raised', at: T0 + i + k, deviceId: `bin-${(i + k) % 7}` }), ticketId: undefined, transition: undefined })));
  }
  app = buildApp({
    ...idleAppDeps(),
    security: { token: TOKEN, ratePerS: 0, trustProxy, events: { refused: (reason) => void refusals.push(reason) } },
    routes: (a) => registerEventStream(a, { events: log, hub: new EventHub(), stream }),
  });
  return { base: await app.listen({ host: '127.0.0.1', port: 0 }), log };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body of a refusal; for a stream, what arrived before `until` matched (or it ended). */
  body: string;
  /** The open stream, left open (closed after the test). */
  res: http.IncomingMessage;
}

/** A request on its own connection; a 200 stream is read until `until` matches what arrived. */
function get(url: string, headers: Record<string, string> = {}, until: (body: string) => boolean = (b) => b.includes(': connected')): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { ...auth, ...headers }, agent: false }, (res) => {
      open.push(res);
      res.setEncoding('utf8');
      let body = '';
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, res });
      };
      res.on('data', (chunk: string) => {
        body += chunk;
        if (res.statusCode === 200 && until(body)) finish();
      });
      res.on('end', finish);
      res.on('close', finish);
    });
    req.on('error', reject);
  });
}

describe('GET /api/events/stream', () => {
  it('needs the bearer token', async () => {
    const { base } = await start({});
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${base}/api/events/stream`, { agent: false }, resolve));
    open.push(res);
    expect(res.statusCode).toBe(401);
  });

  it('refuses a stream over CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS with 429, naming the setting; a closed stream frees its slot', async () => {
    const { base } = await start({ maxStreams: 10, maxStreamsPerAddress: 2 });
    const a = await get(`${base}/api/events/stream`);
    const b = await get(`${base}/api/events/stream`);
    expect([a.status, b.status]).toEqual([200, 200]);
    const c = await get(`${base}/api/events/stream`);
    expect(c.status).toBe(429);
    expect(c.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(c.body)).toMatchObject({
      code: 'CP_ERR_HTTP_STREAM_LIMIT',
      message: expect.stringMatching(/^2 event streams are open from your address, as many as CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS \(2\) allows; close one, or raise CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS/),
    });
    a.res.destroy();
    // The server notices the close in its own time: poll (bounded), no fixed sleep.
    let again: Answer | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      if (again) await new Promise((r) => setTimeout(r, 20));
      again = await get(`${base}/api/events/stream`);
    }
    expect(again?.status).toBe(200);
  });

  it('refuses a stream over CITYPIPE_HTTP_MAX_STREAMS with 503, naming the setting', async () => {
    const { base } = await start({ maxStreams: 2, maxStreamsPerAddress: 5 });
    await get(`${base}/api/events/stream`);
    await get(`${base}/api/events/stream`);
    const c = await get(`${base}/api/events/stream`);
    expect(c.status).toBe(503);
    expect(c.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(c.body).message).toMatch(/^the service has 2 event streams open, as many as CITYPIPE_HTTP_MAX_STREAMS \(2\) allows; retry in \d+ s, or raise CITYPIPE_HTTP_MAX_STREAMS$/);
    // Counted with the other refusals (citypipe_http_requests_refused_total{reason="streams"}).
    expect(refusals).toEqual(['streams']);
  });

  it('counts streams per real client behind a trusted proxy, and per peer when X-Forwarded-For is not trusted', async () => {
    const { base } = await start({ maxStreams: 10, maxStreamsPerAddress: 1 }, ['127.0.0.1']);
    const xff = (ip: string) => ({ 'x-forwarded-for': ip });
    expect((await get(`${base}/api/events/stream`, xff('203.0.113.1'))).status).toBe(200);
    expect((await get(`${base}/api/events/stream`, xff('203.0.113.2'))).status).toBe(200);
    expect((await get(`${base}/api/events/stream`, xff('203.0.113.1'))).status).toBe(429);

    for (const res of open.splice(0)) res.destroy();
    await app?.close();
    const untrusted = await start({ maxStreams: 10, maxStreamsPerAddress: 1 }, false);
    expect((await get(`${untrusted.base}/api/events/stream`, xff('203.0.113.1'))).status).toBe(200);
    // A client cannot name another address to get out of its own count.
    expect((await get(`${untrusted.base}/api/events/stream`, xff('203.0.113.2'))).status).toBe(429);
  });

  it('replays the whole log after Last-Event-ID, page by page, in order', async () => {
    // More events than one scan window, and a filter that matches one event in seven.
    const { base } = await start({ replayPage: 50 }, false, 12_000);
    const expected = Array.from({ length: 12_000 }, (_, i) => i + 1).filter((id) => (id - 1) % 7 === 3);
    const all = await get(`${base}/api/events/stream?device_id=bin-3`, { 'last-event-id': '0' }, (b) => b.includes(`id: ${expected.at(-1)}\n`));
    const ids = [...all.body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(expected);
  });
});
