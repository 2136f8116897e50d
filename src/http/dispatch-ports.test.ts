/**
 * The dispatch API against both kinds of store (dispatch-ports.ts): the single node's SQLite stores,
 * which answer at once, and stores that answer with promises on a later turn of the event loop, as a
 * cluster's PostgreSQL stores do. The same requests get the same answers; a store whose promises
 * reject gets a 503 with Retry-After, never a crash or a request left waiting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FillHistory } from '../collection/fill-history.js';
import { CollectionPlanner } from '../collection/planner.js';
import { LatestReadings } from '../devices/latest-readings.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import { collectEvent, MIN, T0, TestCatalog, device } from '../dispatch/testing/fixtures.js';
import type { ActiveAlert, RuleEvent, RuleInput } from '../dispatch/types.js';
import { EventHub } from '../events/event-hub.js';
import { EventLog } from '../events/event-log.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { ZoneCounts } from '../parking/zones.js';
import { TicketStore, serviceLookup } from '../tickets/ticket-store.js';
import { buildApp } from './app.js';
import type { DispatchApiDeps } from './dispatch-api.js';
import type { EventAccess, TicketAccess } from './dispatch-ports.js';
import type { EventStreamOptions } from './event-stream.js';
import { idleAppDeps } from './testing/idle-app-deps.js';

const TOKEN = 'dispatch-ports-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const SERVICES: ServiceDefinition[] = [{ serviceCode: 'waste.collect', serviceName: 'Collect a full waste bin', description: undefined, rules: ['waste.collect'], public: true }];
const bins = [
  device({ id: 'bin-1', type: 'waste-bin', location: { lat: 52.3731, lon: 4.8922 }, address: 'Dam 1' }),
  device({ id: 'bin-2', type: 'waste-bin', district: 'west', location: { lat: 52.37, lon: 4.86 } }),
];
const catalog = new TestCatalog(bins);
const ZONES: ZoneCounts[] = [{ zone: 'P1', district: 'centrum', totalSpotNumber: 4, availableSpotNumber: 1, occupiedSpotNumber: 2, unknownSpotNumber: 1, changedAt: T0 }];
const NOW = T0 + 60 * MIN;
/** What a driver says when the database is down; it names a host, so it must not reach a client. */
const REFUSED = 'connect ECONNREFUSED 10.1.2.3:5432';

/** `read` on a later turn of the event loop, as a database answers. */
function later<T>(read: () => T): Promise<T> {
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve(read());
      } catch (err) {
        reject(err as Error);
      }
    }),
  );
}
const down = (): Promise<never> => later(() => {
  throw new Error(REFUSED);
});

let dir: string;
let tickets: TicketStore;
let events: EventLog;
let hub: EventHub;
let latest: LatestReadings;
let history: FillHistory;
let planner: CollectionPlanner;
const apps: FastifyInstance[] = [];
const responses: http.IncomingMessage[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-dispatch-ports-'));
  tickets = new TicketStore({ dataDir: dir, now: () => T0 + 30_000 });
  events = new EventLog({ db: tickets });
  hub = new EventHub();
  tickets.start();
  events.start();
  latest = new LatestReadings(':memory:');
  history = new FillHistory({ store: { file: ':memory:' } });
  history.open();
  const readings: RuleInput[] = [];
  for (let t = NOW - 6 * 60 * MIN; t <= NOW; t += 15 * MIN) {
    for (const [i, d] of bins.entries()) readings.push({ type: 'waste-bin', deviceId: d.id, district: d.district, timeMs: t, receivedAt: t, fields: { fillingLevel: 0.5 + i * 0.2 + (t - NOW) / (60 * MIN) / 50 } });
  }
  history.observe(readings);
  latest.observe(readings);
  planner = new CollectionPlanner({ devices: () => bins, history, thresholdOf: () => 0.8, now: () => NOW });
});
afterEach(async () => {
  for (const res of responses.splice(0)) res.destroy();
  for (const app of apps.splice(0)) await app.close();
  hub.close();
  latest.close();
  history.close();
  events.stop();
  tickets.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** What the service does per batch: tickets and log in one transaction, then the live fan-out. */
function record(batch: RuleEvent[]): void {
  hub.publish(tickets.db.transaction(() => events.append(tickets.apply(batch, catalog, serviceLookup(SERVICES))))());
}

function alerts(): Map<string, ActiveAlert[]> {
  return new Map([['bin-2', [{ deviceId: 'bin-2', rule: 'waste.collect', since: T0 + 10 * MIN, value: 0.9, flapping: false }]]]);
}

/** The single node's deps: the SQLite stores as they are. */
function sqliteDeps(): DispatchApiDeps {
  return {
    dispatch: { tickets, events, hub, services: () => SERVICES, now: () => NOW },
    devices: { devices: () => bins, latest: () => latest, alerts, openTickets: () => tickets.openByDevice() },
    collection: { planner, now: () => NOW },
    parking: { zones: () => ZONES },
  };
}

/** The same stores behind promises that settle on a later turn; `beforeScan` runs before each log read. */
function asyncDeps(beforeScan: () => void = () => undefined): DispatchApiDeps {
  const asyncTickets: TicketAccess = {
    list: (q) => later(() => tickets.list(q)),
    get: (id) => later(() => tickets.get(id)),
    close: (id, notes, by) => later(() => tickets.close(id, notes, by)),
  };
  const asyncEvents: EventAccess = {
    scan: (q, window) =>
      later(() => {
        beforeScan();
        return events.scan(q, window);
      }),
  };
  return {
    dispatch: { tickets: asyncTickets, events: asyncEvents, hub, services: () => SERVICES, now: () => NOW, stream: { replayPage: 50 } },
    devices: {
      devices: () => bins,
      latest: (ids) => later(() => new Map(bins.filter((d) => ids === undefined || ids.includes(d.id)).flatMap((d) => (latest.get(d.id) ? [[d.id, latest.get(d.id)!] as const] : [])))),
      alerts: () => later(alerts),
      openTickets: () => later(() => tickets.openByDevice()),
    },
    collection: { planner: { latest: () => later(() => planner.latest()), generate: () => later(() => planner.generate()) }, now: () => NOW },
    parking: { zones: () => later(() => ZONES) },
  };
}

/** Every store read rejects, as when the shared database is down. */
function downDeps(): DispatchApiDeps {
  return {
    dispatch: { tickets: { list: down, get: down, close: down }, events: { scan: down }, hub, services: () => SERVICES, now: () => NOW },
    devices: { devices: () => bins, latest: down, alerts: down, openTickets: down },
    collection: { planner: { latest: down, generate: down }, now: () => NOW },
    parking: { zones: down },
  };
}

function build(dispatch: DispatchApiDeps, log: Logger = createLogger('silent')): FastifyInstance {
  const app = buildApp({
    ...idleAppDeps(),
    log,
    security: { token: TOKEN, ratePerS: 0 },
    dispatch,
  });
  apps.push(app);
  return app;
}

/** Every route that reads a store, with a case that finds something and one that does not. */
const READS = [
  '/open311/v2/requests.json',
  '/open311/v2/requests.json?status=open&service_code=waste.collect',
  '/open311/v2/requests.json?service_request_id=1,2,9',
  '/open311/v2/requests/1.json',
  '/open311/v2/requests/9.json',
  '/api/events',
  '/api/events?limit=1',
  '/api/events?device_id=bin-2&state=raised',
  '/api/devices',
  '/api/devices?state=alert',
  '/api/devices/bin-1',
  '/api/districts',
  '/api/readings/latest?district=west',
  '/api/collection-plan',
  '/api/parking/zones',
];

describe('stores that answer on a later turn (a shared database)', () => {
  it('give every route the answer the SQLite stores give', async () => {
    record([collectEvent({ state: 'raised', at: T0 }), collectEvent({ state: 'raised', at: T0 + MIN, deviceId: 'bin-2', district: 'west' }), collectEvent({ state: 'cleared', at: T0 + 2 * MIN })]);
    // The async app first: it makes the collection plan through `generate`, the SQLite app reads it back through `latest`.
    const viaPromises = build(asyncDeps());
    const viaSqlite = build(sqliteDeps());
    for (const url of READS) {
      const a = await viaPromises.inject({ url, headers: auth });
      const s = await viaSqlite.inject({ url, headers: auth });
      expect(s.statusCode, url).toBe(url.endsWith('/9.json') ? 404 : 200);
      expect({ status: a.statusCode, body: a.json() }, url).toEqual({ status: s.statusCode, body: s.json() });
    }
    // Not two empty answers compared: the stores held tickets, events, readings and a plan.
    const some = async (url: string) => (await viaPromises.inject({ url, headers: auth })).json();
    expect((await some('/open311/v2/requests.json')).map((r: { service_request_id: string; status: string }) => [r.service_request_id, r.status])).toEqual([
      ['2', 'open'],
      ['1', 'closed'],
    ]);
    expect(await some('/api/devices/bin-2')).toMatchObject({ state: 'alert', alerts: ['waste.collect'], openTickets: ['2'], latest: { fields: { fillingLevel: 0.7 } } });
    expect((await some('/api/events?limit=1')).next).toBe('/api/events?limit=1&after_id=1');
    expect((await some('/api/collection-plan')).districts.length).toBeGreaterThan(0);
  });

  it('close a ticket by hand with the same answers: 200, then 409, and 404 for an unknown id', async () => {
    record([collectEvent({ state: 'raised', at: T0 }), collectEvent({ state: 'raised', at: T0, deviceId: 'bin-2', district: 'west' })]);
    const viaPromises = build(asyncDeps());
    const viaSqlite = build(sqliteDeps());
    const close = (app: FastifyInstance, id: string) => app.inject({ method: 'PATCH', url: `/api/tickets/${id}`, payload: { status: 'closed', status_notes: 'emptied' }, headers: auth });
    const closed = await close(viaPromises, '1');
    expect(closed.statusCode).toBe(200);
    expect(closed.json()).toMatchObject({ service_request_id: '1', status: 'closed', status_notes: 'emptied' });
    expect(tickets.get('1')).toMatchObject({ status: 'closed', closed_by: 'api' });
    expect((await close(viaSqlite, '2')).json()).toEqual({ ...closed.json(), service_request_id: '2', device_id: 'bin-2', lat: 52.37, long: 4.86, address: null });
    for (const id of ['1', '77']) {
      const [a, s] = [await close(viaPromises, id), await close(viaSqlite, id)];
      expect(a.statusCode, id).toBe(id === '1' ? 409 : 404);
      expect({ status: a.statusCode, body: a.json() }).toEqual({ status: s.statusCode, body: s.json() });
    }
  });

  it('replay the event stream page by page, then hand over to live events without a gap or a repeat', async () => {
    for (let i = 0; i < 120; i += 40) record(Array.from({ length: 40 }, (_, k) => collectEvent({ state: (i + k) % 2 ? 'cleared' : 'raised', at: T0 + i + k })));
    // While the second page is being read, an event commits: it is both in the log and in the
    // stream's live queue, and must arrive once, in order.
    let scans = 0;
    const app = build(asyncDeps(() => ++scans === 2 && record([collectEvent({ state: 'raised', at: T0 + 500, deviceId: 'bin-2', district: 'west' })])));
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const stream = await openStream(`${base}/api/events/stream`, { 'last-event-id': '0' });
    expect(stream.status).toBe(200);
    await stream.until((body) => body.includes('id: 121\n'));
    record([collectEvent({ state: 'cleared', at: T0 + 600, deviceId: 'bin-2', district: 'west' })]);
    const body = await stream.until((b) => b.includes('id: 122\n'));
    expect(ids(body)).toEqual(Array.from({ length: 122 }, (_, i) => i + 1));
    expect(scans).toBeGreaterThanOrEqual(3);
  });
});

describe('a shared database that is down', () => {
  it('gets a 503 with Retry-After from every route that reads it, the cause in the log and not in the answer', async () => {
    const { log, lines } = captureLog();
    const app = build(downDeps(), log);
    for (const url of [...READS, '/api/collection-plan?refresh=true']) {
      const res = await app.inject({ url, headers: auth });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['retry-after'], url).toBe('5');
      const message = /the shared database is unreachable or failed to answer; retry in 5 s/;
      if (url.startsWith('/open311/')) expect(res.json(), url).toEqual([{ code: 503, description: expect.stringMatching(message) }]);
      else expect(res.json(), url).toEqual({ statusCode: 503, code: 'CP_ERR_STORE_UNAVAILABLE', error: 'Service Unavailable', message: expect.stringMatching(message) });
      expect(res.body, url).not.toMatch(/ECONNREFUSED|10\.1\.2\.3/);
    }
    const patch = await app.inject({ method: 'PATCH', url: '/api/tickets/1', payload: { status: 'closed' }, headers: auth });
    expect([patch.statusCode, patch.json().code]).toEqual([503, 'CP_ERR_STORE_UNAVAILABLE']);

    // Routes without a store still answer; one log line stands for the whole outage so far.
    expect((await app.inject({ url: '/open311/v2/services.json' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const logged = lines.filter((l) => l.code === 'CP_ERR_STORE_UNAVAILABLE');
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged.length).toBeLessThanOrEqual(4); // one per group of routes (Open311 and events, devices, plan, zones)
    expect(JSON.stringify(logged[0])).toContain(REFUSED);
  });

  it('ends an event stream whose replay it cannot read, saying why, and frees its slot', async () => {
    const deps = downDeps();
    deps.dispatch.stream = { maxStreamsPerAddress: 1 } satisfies EventStreamOptions;
    const app = build(deps);
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const stream = await openStream(`${base}/api/events/stream`, { 'last-event-id': '5' });
    expect(stream.status).toBe(200);
    const body = await stream.ended;
    expect(body).toMatch(/: connected\n\n: CP_ERR_STORE_UNAVAILABLE: the shared database did not answer the replay; reconnect with Last-Event-ID to resume from the log\n\n$/);
    expect(hub.size).toBe(0);
    // The slot is free again (a cap of one per address), and a live-only stream needs no store.
    const live = await openStream(`${base}/api/events/stream`);
    expect(live.status).toBe(200);
    record([collectEvent({ state: 'raised', at: T0 })]);
    expect(ids(await live.until((b) => b.includes('id: 1\n')))).toEqual([1]);
  });
});

function ids(body: string): number[] {
  return [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
}

/** An SSE request on its own connection: what has arrived, waited for until a condition holds or the stream ends. */
function openStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; until(done: (body: string) => boolean): Promise<string>; ended: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { ...auth, ...headers }, agent: false }, (res) => {
      responses.push(res);
      res.setEncoding('utf8');
      let body = '';
      let waiters: (() => void)[] = [];
      const wake = () => {
        for (const w of waiters) w();
      };
      res.on('data', (chunk: string) => {
        body += chunk;
        wake();
      });
      const ended = new Promise<string>((done) => res.on('close', () => (done(body), wake())));
      const until = (done: (b: string) => boolean) =>
        new Promise<string>((ok, fail) => {
          const check = () => {
            if (done(body)) ok(body);
            else if (res.closed) fail(new Error(`stream ended before the condition held:\n${body}`));
            else return false;
            waiters = waiters.filter((w) => w !== check);
            return true;
          };
          if (!check()) waiters.push(check);
        });
      resolve({ status: res.statusCode ?? 0, until, ended });
    });
    req.on('error', reject);
  });
}

function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('info', stream), lines };
}
