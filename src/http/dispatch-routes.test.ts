import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import { collectEvent, MIN, T0, TestCatalog, device } from '../dispatch/testing/fixtures.js';
import type { RuleEvent } from '../dispatch/types.js';
import { EventHub } from '../events/event-hub.js';
import { EventLog, type LoggedEvent } from '../events/event-log.js';
import { TicketStore, serviceLookup } from '../tickets/ticket-store.js';
import { buildApp } from './app.js';
import { parseIsoDate, registerDispatchRoutes, type DispatchRouteDeps } from './dispatch-routes.js';
import { idleAppDeps } from './testing/idle-app-deps.js';

const TOKEN = 'dispatch-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const SERVICES: ServiceDefinition[] = [
  { serviceCode: 'waste.collect', serviceName: 'Collect a full waste bin', description: 'The bin is at least 80 % full.', rules: ['waste.collect'], public: true },
  { serviceCode: 'device.battery', serviceName: 'Replace a sensor battery', description: undefined, rules: ['device.battery'], public: true },
];
const catalog = new TestCatalog([
  device({ id: 'bin-1', type: 'waste-bin', location: { lat: 52.3731, lon: 4.8922 }, address: 'Dam 1' }),
  device({ id: 'bin-2', type: 'waste-bin', district: 'west', location: { lat: 52.37, lon: 4.86 } }),
]);

const ev = collectEvent;

let dir: string;
let tickets: TicketStore;
let events: EventLog;
let hub: EventHub;
let app: FastifyInstance;

function build(extra: Partial<DispatchRouteDeps> = {}): FastifyInstance {
  return buildApp({
    ...idleAppDeps(),
    security: { token: TOKEN, ratePerS: 0 },
    routes: (app) => registerDispatchRoutes(app, { tickets, events, hub, services: () => SERVICES, now: () => T0 + 60 * MIN, ...extra }),
  });
}

/** What the service does per batch: tickets and log in one transaction, then the live fan-out. */
function record(batch: RuleEvent[]): LoggedEvent[] {
  const logged = tickets.db.transaction(() => events.append(tickets.apply(batch, catalog, serviceLookup(SERVICES))))();
  hub.publish(logged);
  return logged;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-dispatch-routes-'));
  tickets = new TicketStore({ dataDir: dir, now: () => T0 + 30_000 });
  events = new EventLog({ db: tickets });
  hub = new EventHub();
  tickets.start();
  events.start();
  app = build();
});
afterEach(async () => {
  await app.close();
  hub.close();
  events.stop();
  tickets.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Open311 GeoReport v2', () => {
  it('lists the services without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/open311/v2/services.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([
      { service_code: 'waste.collect', service_name: 'Collect a full waste bin', description: 'The bin is at least 80 % full.', metadata: false, type: 'realtime', keywords: 'waste.collect', group: 'waste' },
      { service_code: 'device.battery', service_name: 'Replace a sensor battery', description: 'Replace a sensor battery', metadata: false, type: 'realtime', keywords: 'device.battery', group: 'device' },
    ]);
  });

  it('serves requests only with the token, because they show locations', async () => {
    record([ev({ state: 'raised' })]);
    for (const url of ['/open311/v2/requests.json', '/open311/v2/requests/1.json']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ code: 'CP_ERR_HTTP_UNAUTHORIZED' });
    }
    const res = await app.inject({ method: 'GET', url: '/open311/v2/requests.json', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([
      {
        service_request_id: '1',
        status: 'open',
        status_notes: null,
        service_code: 'waste.collect',
        service_name: 'Collect a full waste bin',
        description: 'waste.collect raised',
        requested_datetime: '2026-06-01T10:00:00.000Z',
        updated_datetime: '2026-06-01T10:00:30.000Z',
        lat: 52.3731,
        long: 4.8922,
        address: 'Dam 1',
        device_id: 'bin-1',
        rule: 'waste.collect',
      },
    ]);
  });

  it('filters requests by status, service codes, dates, ids and device', async () => {
    record([
      ev({ state: 'raised', at: T0 }),
      ev({ state: 'raised', at: T0 + 10 * MIN, deviceId: 'bin-2', district: 'west' }),
      ev({ state: 'raised', at: T0 + 20 * MIN, rule: 'device.battery', serviceCode: 'device.battery' }),
      ev({ state: 'cleared', at: T0 + 30 * MIN, deviceId: 'bin-2', district: 'west' }),
    ]);
    const ids = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/open311/v2/requests.json?${query}`, headers: auth });
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
      return res.json<{ service_request_id: string }[]>().map((r) => r.service_request_id);
    };
    expect(await ids('')).toEqual(['3', '2', '1']);
    expect(await ids('status=open')).toEqual(['3', '1']);
    expect(await ids('status=closed')).toEqual(['2']);
    expect(await ids('service_code=waste.collect')).toEqual(['2', '1']);
    expect(await ids('service_code=device.battery,%20waste.collect&status=open')).toEqual(['3', '1']);
    expect(await ids('start_date=2026-06-01T10:05:00Z&end_date=2026-06-01T12:15:00%2B02:00')).toEqual(['2']);
    expect(await ids('start_date=2026-06-01&end_date=2026-06-01')).toEqual(['3', '2', '1']);
    expect(await ids('end_date=2026-05-31')).toEqual([]);
    expect(await ids('service_request_id=1,3&status=closed')).toEqual(['3', '1']); // ids override the other filters
    expect(await ids('device_id=bin-1')).toEqual(['3', '1']);
    expect(await ids('jurisdiction_id=amsterdam.nl')).toEqual(['3', '2', '1']);
  });

  it('returns only the last 90 days when no dates are given, as GeoReport v2 says', async () => {
    await app.close();
    app = build({ now: () => T0 + 91 * 24 * 60 * MIN });
    record([ev({ state: 'raised', at: T0 }), ev({ state: 'raised', at: T0 + 2 * 24 * 60 * MIN, deviceId: 'bin-2', district: 'west' })]);
    const res = await app.inject({ method: 'GET', url: '/open311/v2/requests.json', headers: auth });
    expect(res.json<{ service_request_id: string }[]>().map((r) => r.service_request_id)).toEqual(['2']);
    const all = await app.inject({ method: 'GET', url: '/open311/v2/requests.json?start_date=2026-01-01', headers: auth });
    expect(all.json<unknown[]>()).toHaveLength(2);
  });

  it('answers a bad parameter with a GeoReport error naming it', async () => {
    const cases: [string, RegExp][] = [
      ['start_date=yesterday', /^start_date: not an ISO 8601 date-time with a time zone, got "yesterday"/],
      ['end_date=2026-06-01T10:00:00', /^end_date: not an ISO 8601 date-time with a time zone/],
      ['start_date=2026-02-31', /^start_date: /],
      ['start_date=2026-06-02&end_date=2026-06-01', /^end_date \(2026-06-01\) is before start_date \(2026-06-02\)$/],
      ['status=pending', /^status: must be equal to one of the allowed values \(open, closed\)$/],
    ];
    for (const [query, description] of cases) {
      const res = await app.inject({ method: 'GET', url: `/open311/v2/requests.json?${query}`, headers: auth });
      expect(res.statusCode, query).toBe(400);
      const body = res.json<{ code: number; description: string }[]>();
      expect(body, query).toEqual([{ code: 400, description: expect.stringMatching(description) }]);
    }
  });

  it('serves one request as a one-element array, and a GeoReport 404 for an unknown id', async () => {
    record([ev({ state: 'raised' })]);
    const res = await app.inject({ method: 'GET', url: '/open311/v2/requests/1.json', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([expect.objectContaining({ service_request_id: '1', status: 'open', device_id: 'bin-1' })]);
    for (const id of ['2', 'abc']) {
      const missing = await app.inject({ method: 'GET', url: `/open311/v2/requests/${id}.json`, headers: auth });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual([{ code: 404, description: `no service request with service_request_id "${id}"` }]);
    }
  });
});

describe('PATCH /api/tickets/:id', () => {
  it('closes a ticket by hand with the token, and says clearly when it cannot', async () => {
    record([ev({ state: 'raised' })]);
    const body = { status: 'closed', status_notes: 'Emptied by crew 7' };
    expect((await app.inject({ method: 'PATCH', url: '/api/tickets/1', payload: body })).statusCode).toBe(401);

    const res = await app.inject({ method: 'PATCH', url: '/api/tickets/1', payload: body, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ service_request_id: '1', status: 'closed', status_notes: 'Emptied by crew 7' });
    expect(tickets.get('1')).toMatchObject({ status: 'closed', closed_by: 'api', held: true });

    const again = await app.inject({ method: 'PATCH', url: '/api/tickets/1', payload: body, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ statusCode: 409, code: 'CP_ERR_TICKET_CLOSED', error: 'Conflict', message: 'ticket 1 is already closed (Emptied by crew 7)' });

    const missing = await app.inject({ method: 'PATCH', url: '/api/tickets/77', payload: body, headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'CP_ERR_TICKET_NOT_FOUND', message: 'no ticket with service_request_id "77"' });

    const reopen = await app.inject({ method: 'PATCH', url: '/api/tickets/1', payload: { status: 'open' }, headers: auth });
    expect(reopen.statusCode).toBe(400);
    expect(reopen.json<{ message: string }>().message).toMatch(/status/);
  });
});

describe('GET /api/events', () => {
  it('needs the token (device ids and their problems); lists logged events, filtered and paged', async () => {
    record([
      ev({ state: 'raised', at: T0 }),
      ev({ state: 'raised', at: T0 + MIN, deviceId: 'bin-2', district: 'west', value: 'burning', rule: 'waste.fire', serviceCode: undefined }),
      ev({ state: 'cleared', at: T0 + 2 * MIN, value: 0.1 }),
    ]);
    expect((await app.inject({ method: 'GET', url: '/api/events?device_id=bin-1' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/api/events?device_id=bin-1', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { id: 1, at: '2026-06-01T10:00:00.000Z', rule: 'waste.collect', serviceCode: 'waste.collect', deviceId: 'bin-1', district: 'centrum', type: 'waste-bin', severity: 'info', state: 'raised', value: 0.85, message: 'waste.collect raised', late: false, flapping: null, ticketId: '1', transition: 'opened' },
        { id: 3, at: '2026-06-01T10:02:00.000Z', rule: 'waste.collect', serviceCode: 'waste.collect', deviceId: 'bin-1', district: 'centrum', type: 'waste-bin', severity: 'info', state: 'cleared', value: 0.1, message: 'waste.collect cleared', late: false, flapping: null, ticketId: '1', transition: 'closed' },
      ],
      next: null,
    });
    const page1 = await app.inject({ method: 'GET', url: '/api/events?limit=2', headers: auth });
    const p1 = page1.json<{ items: { id: number; value: unknown }[]; next: string }>();
    expect(p1.items.map((e) => e.id)).toEqual([1, 2]);
    expect(p1.items[1]!.value).toBe('burning');
    expect(p1.next).toBe('/api/events?limit=2&after_id=2');
    const page2 = await app.inject({ method: 'GET', url: p1.next, headers: auth });
    expect(page2.json()).toMatchObject({ items: [{ id: 3 }], next: null });
    const byState = await app.inject({ method: 'GET', url: '/api/events?state=cleared&since=2026-06-01T10:01:00Z', headers: auth });
    expect(byState.json<{ items: { id: number }[] }>().items.map((e) => e.id)).toEqual([3]);
    const bad = await app.inject({ method: 'GET', url: '/api/events?since=last%20week', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toMatch(/^since: not an ISO 8601 date-time/);
  });
});

/**
 * A minimal EventSource over node:http (no connection pool, so nothing lingers after `cancel`):
 * frames split on blank lines.
 */
class SseClient {
  private buffer = '';
  private ended = false;
  private wake: (() => void) | undefined;
  private constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    private readonly res: http.IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.wake?.();
    });
    res.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers, agent: false }, (res) => resolve(new SseClient(res.statusCode ?? 0, res.headers, res)));
      req.on('error', reject);
    });
  }

  /** The next frame (its raw text without the blank line), or undefined when the stream ended. */
  async frame(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return frame;
      }
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE frame within ${timeoutMs} ms; buffered: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Frames until one with `data:`; returns its id and parsed data. */
  async event(): Promise<{ id: number; data: { id: number; deviceId: string; state: string } }> {
    for (;;) {
      const f = await this.frame();
      if (f === undefined) throw new Error('stream ended before an event');
      if (!f.includes('data: ')) continue;
      const id = Number(/^id: (\d+)$/m.exec(f)?.[1]);
      return { id, data: JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as { id: number; deviceId: string; state: string } };
    }
  }

  cancel(): void {
    this.res.destroy();
  }

  /** Stops reading from the socket, like a client on a slow link. */
  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }
}

describe('GET /api/events/stream (a real client over 127.0.0.1)', () => {
  it('replays from Last-Event-ID, then streams live events matching its filters, with heartbeats', async () => {
    await app.close();
    app = build({ stream: { heartbeatMs: 150, retryMs: 1000 } });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    record([ev({ state: 'raised', at: T0 }), ev({ state: 'raised', at: T0, deviceId: 'bin-2', district: 'west' }), ev({ state: 'cleared', at: T0 + MIN })]);

    const client = await SseClient.open(`${base}/api/events/stream?device_id=bin-1`, { 'last-event-id': '1', ...auth });
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.headers['x-content-type-options']).toBe('nosniff');
    expect(await client.frame()).toBe('retry: 1000\n: connected');
    // Replayed: bin-1's events after id 1 (bin-2's id 2 is filtered out).
    expect(await client.event()).toMatchObject({ id: 3, data: { id: 3, deviceId: 'bin-1', state: 'cleared' } });

    // Live: only bin-1's event comes through.
    record([ev({ state: 'raised', at: T0 + 5 * MIN, deviceId: 'bin-2', district: 'west' }), ev({ state: 'raised', at: T0 + 6 * MIN })]);
    expect(await client.event()).toMatchObject({ id: 5, data: { deviceId: 'bin-1', state: 'raised' } });

    // Idle: heartbeat comments keep the connection alive.
    expect(await client.frame(5_000)).toBe(': heartbeat');
    expect(hub.size).toBe(1);

    // The client goes away: its subscription is released.
    client.cancel();
    for (let i = 0; i < 100 && hub.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(hub.size).toBe(0);
  });

  it('starts with live events only when no Last-Event-ID is given, and ends open streams when the app closes', async () => {
    await app.close();
    app = build();
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    record([ev({ state: 'raised' })]);
    const client = await SseClient.open(`${base}/api/events/stream?last_event_id=0&state=cleared`, auth);
    const plain = await SseClient.open(`${base}/api/events/stream`, auth);
    await plain.frame(); // retry + connected
    record([ev({ state: 'cleared', at: T0 + MIN })]);
    expect(await plain.event()).toMatchObject({ id: 2 });
    expect(await client.event()).toMatchObject({ id: 2, data: { state: 'cleared' } });

    const bad = await fetch(`${base}/api/events/stream`, { headers: { 'last-event-id': 'abc', ...auth } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: expect.stringMatching(/last-event-id/) });

    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await plain.frame()).toBeUndefined();
    expect(await client.frame()).toBeUndefined();
  });
});

describe('a client too slow for the stream', () => {
  it('is disconnected instead of buffered without bound, and catches up from the log with Last-Event-ID', async () => {
    await app.close();
    hub = new EventHub({ maxQueue: 5 });
    app = build();
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const slow = await SseClient.open(`${base}/api/events/stream`, auth);
    expect(await slow.frame()).toMatch(/: connected$/);
    slow.pause();
    // 16 KiB messages fill the socket buffers quickly; then the hub queue overflows.
    const big = 'x'.repeat(16 * 1024);
    let published = 0;
    for (let batch = 0; batch < 100 && hub.counts.overflows === 0; batch++) {
      record(Array.from({ length: 40 }, (_, i) => ev({ state: i % 2 ? 'cleared' : 'raised', at: T0 + published + i, message: big })));
      published += 40;
      await new Promise((r) => setImmediate(r));
    }
    expect(hub.counts.overflows).toBe(1);
    expect(hub.size).toBe(0);

    slow.resume();
    let lastId = 0;
    let frame: string | undefined;
    let last: string | undefined;
    while ((frame = await slow.frame()) !== undefined) {
      last = frame;
      const id = /^id: (\d+)$/m.exec(frame)?.[1];
      if (id) lastId = Number(id);
    }
    expect(last).toBe(': too far behind: disconnected; reconnect with Last-Event-ID to resume from the log');
    expect(lastId).toBeGreaterThan(0);
    expect(lastId).toBeLessThan(published);

    // Reconnecting resumes exactly where it left off.
    const again = await SseClient.open(`${base}/api/events/stream`, { 'last-event-id': String(lastId), ...auth });
    const ids: number[] = [];
    while (ids.length < published - lastId) ids.push((await again.event()).id);
    expect(ids).toEqual(Array.from({ length: published - lastId }, (_, i) => lastId + 1 + i));
    again.cancel();
  });
});

describe('parseIsoDate', () => {
  it('takes the GeoReport subset of ISO 8601 and a bare date, nothing looser', () => {
    expect(parseIsoDate('2026-06-01T12:00:00+02:00', 'start')).toBe(T0);
    expect(parseIsoDate('2026-06-01T10:00Z', 'start')).toBe(T0);
    expect(parseIsoDate('2026-06-01', 'start')).toBe(Date.parse('2026-06-01T00:00:00Z'));
    expect(parseIsoDate('2026-06-01', 'end')).toBe(Date.parse('2026-06-01T23:59:59.999Z'));
    for (const s of ['2026-06-01T10:00:00', 'June 1 2026', '1780313400000', '2026-13-01', '2026-06-01T25:00:00Z']) expect(parseIsoDate(s, 'start'), s).toBeNull();
  });
});
