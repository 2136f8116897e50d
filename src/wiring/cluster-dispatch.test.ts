/**
 * Two workers' dispatch on one real PostgreSQL (the run's server, a database per test): the shared
 * promises of CONTRACT §8 that do not need a broker. Readings of one device reach both workers, as a
 * shared subscription hands them out; the tickets, events and deliveries must come out as one node's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { silentLogger } from '../observability/logger.js';
import type { DeviceRecord } from '../catalog/types.js';
import type { RuleInput } from '../dispatch/types.js';
import { TestReceiver } from '../delivery/testing/receiver.js';
import { createPgDatabase } from '../postgres/local-postgres.js';
import { ClusterDispatch } from './cluster-dispatch.js';
import { ResidentView } from '../residents/view.js';
import { residentSource } from '../residents/source.js';

const T0 = Date.parse('2026-06-01T08:00:00Z');

function bin(n: number): DeviceRecord {
  return {
    id: `bin-${n}`,
    type: 'waste-bin',
    location: { lat: 52.37 + n / 1000, lon: 4.89 },
    district: 'centrum',
    address: `Teststraat ${n}`,
    reportingIntervalS: 600,
    attributes: {},
  } as DeviceRecord;
}

function reading(d: DeviceRecord, timeMs: number, fillingLevel: number): RuleInput {
  return { type: d.type, deviceId: d.id, district: d.district, timeMs, receivedAt: timeMs, fields: { fillingLevel, batteryLevel: 0.9 } };
}

const running: ClusterDispatch[] = [];
const receivers: TestReceiver[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop(2000)));
  await Promise.all(receivers.splice(0).map((r) => r.down()));
});

async function workers(devices: readonly DeviceRecord[], opts: { webhook?: string; now?: () => number } = {}): Promise<{ url: string; a: ClusterDispatch; b: ClusterDispatch }> {
  const url = await createPgDatabase(inject('postgresUrl'));
  const byId = new Map(devices.map((d) => [d.id, d]));
  const catalog = { get: (id: string) => byId.get(id), all: () => devices };
  const make = async (name: string) => {
    const config = loadConfig({
      CITYPIPE_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'citypipe-cluster-')),
      ...(opts.webhook ? { CITYPIPE_WEBHOOK_URLS: `city=${opts.webhook}`, CITYPIPE_WEBHOOK_SECRET: 'cluster-test-secret-0123456789' } : {}),
    });
    const w = new ClusterDispatch({
      config,
      databaseUrl: url,
      workerId: name,
      catalog: () => catalog,
      log: silentLogger,
      metrics: { countRuleEvent: () => undefined, countTicketTransition: () => undefined, countDelivery: () => undefined },
      publish: async () => undefined,
      writeLines: async () => undefined,
      ...(opts.now ? { now: opts.now } : {}),
      deliveryBackoff: { baseMs: 50, maxMs: 200 },
      // The tests sweep and plan themselves, at their own clock's times.
      schedules: false,
    });
    await w.start();
    running.push(w);
    return w;
  };
  const a = await make('worker-a');
  const b = await make('worker-b');
  return { url, a, b };
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** Hands stored readings to a worker as its rules tap does, and waits until they are committed. */
async function feed(w: ClusterDispatch, batch: RuleInput[]): Promise<void> {
  w.evaluate(batch);
  await w.persistDeviceState();
}

describe('dispatch shared by two workers in PostgreSQL', () => {
  it('follows one device across workers: one ticket while raised, closed on clear, a new one on the next raise', async () => {
    const d = bin(1);
    const { url, a, b } = await workers([d], { now: () => T0 + 3600_000 });
    await feed(a, [reading(d, T0, 0.5)]);
    await feed(b, [reading(d, T0 + 60_000, 0.85)]);
    await feed(a, [reading(d, T0 + 120_000, 0.9)]);
    let tickets = await query<{ status: string }>(url, "SELECT status FROM tickets WHERE rule = 'waste.collect'");
    expect(tickets).toEqual([{ status: 'open' }]);
    await feed(a, [reading(d, T0 + 180_000, 0.1)]);
    await feed(b, [reading(d, T0 + 240_000, 0.95)]);
    tickets = await query<{ status: string }>(url, "SELECT status FROM tickets WHERE rule = 'waste.collect' ORDER BY id");
    expect(tickets).toEqual([{ status: 'closed' }, { status: 'open' }]);
    const events = await query<{ state: string }>(url, "SELECT state FROM events WHERE rule = 'waste.collect' ORDER BY id");
    expect(events.map((e) => e.state)).toEqual(['raised', 'cleared', 'raised']);
    // A reading a worker gets again (redelivered by the broker, or re-read from its spool) changes nothing.
    await feed(b, [reading(d, T0 + 60_000, 0.85), reading(d, T0 + 240_000, 0.95)]);
    expect(await query(url, "SELECT id FROM events WHERE rule = 'waste.collect'")).toHaveLength(3);
  });

  it('opens exactly one ticket per (device, rule) when both workers raise the same devices at once', async () => {
    const devices = Array.from({ length: 40 }, (_, i) => bin(i + 1));
    const { url, a, b } = await workers(devices, { now: () => T0 + 3600_000 });
    await feed(a, devices.map((d) => reading(d, T0, 0.2)));
    // Each worker gets a reading over the threshold of every bin, in opposite orders, at the same time.
    const forA = devices.map((d) => reading(d, T0 + 1000, 0.9));
    const forB = devices.map((d) => reading(d, T0 + 2000, 0.92)).reverse();
    await Promise.all([feed(a, forA), feed(b, forB)]);
    const perDevice = await query<{ device_id: string; n: string }>(url, "SELECT device_id, count(*) AS n FROM tickets WHERE rule = 'waste.collect' GROUP BY device_id");
    expect(perDevice).toHaveLength(devices.length);
    expect(perDevice.every((r) => r.n === '1')).toBe(true);
    const raised = await query<{ n: string }>(url, "SELECT count(*) AS n FROM events WHERE rule = 'waste.collect' AND state = 'raised'");
    expect(raised[0]!.n).toBe(String(devices.length));
    // The row locks made the second worker wait for the first: no attempt ran into the unique index.
    expect(a.counts.failedAttempts + b.counts.failedAttempts).toBe(0);
  });

  it('sends each ticket message once, whichever worker claims it', async () => {
    const receiver = await new TestReceiver().up();
    receivers.push(receiver);
    const devices = Array.from({ length: 30 }, (_, i) => bin(i + 1));
    const { url, a, b } = await workers(devices, { webhook: receiver.url, now: () => T0 + 3600_000 });
    await Promise.all([feed(a, devices.slice(0, 15).map((d) => reading(d, T0, 0.9))), feed(b, devices.slice(15).map((d) => reading(d, T0, 0.9)))]);
    await Promise.all([feed(b, devices.slice(0, 15).map((d) => reading(d, T0 + 1000, 0.1))), feed(a, devices.slice(15).map((d) => reading(d, T0 + 1000, 0.1)))]);
    // 30 opened + 30 closed.
    await receiver.waitFor(60, 30_000);
    const delivered = async () => (await query<{ n: string }>(url, "SELECT count(*) AS n FROM delivery_queue WHERE state = 'delivered'"))[0]!.n;
    for (let i = 0; i < 100 && (await delivered()) !== '60'; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await delivered()).toBe('60');
    const keys = receiver.requests.map((r) => r.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(60);
    expect(keys).toHaveLength(60);
    const by = await query<{ claimed_by: string | null }>(url, 'SELECT DISTINCT claimed_by FROM delivery_queue');
    expect(by).toEqual([{ claimed_by: null }]);
  });

  it('raises a silent device once when both workers sweep, and clears it with the next reading on either', async () => {
    const devices = Array.from({ length: 10 }, (_, i) => bin(i + 1));
    let now = T0;
    const { url, a, b } = await workers(devices, { now: () => now });
    await feed(a, devices.map((d) => reading(d, now, 0.2)));
    now += 3 * 600_000 + 1000;
    const [ea, eb] = await Promise.all([a.sweep(now), b.sweep(now)]);
    // Whichever worker got the lock raised them all; the other did nothing, then or after.
    expect(ea.length + eb.length).toBe(devices.length);
    expect((await a.sweep(now + 1000)).length + (await b.sweep(now + 2000)).length).toBe(0);
    const offline = await query<{ n: string }>(url, "SELECT count(*) AS n FROM tickets WHERE rule = 'device.offline' AND status = 'open'");
    expect(offline[0]!.n).toBe(String(devices.length));
    await feed(b, [reading(devices[0]!, now + 5000, 0.25)]);
    const closed = await query<{ device_id: string }>(url, "SELECT device_id FROM tickets WHERE rule = 'device.offline' AND status = 'closed'");
    expect(closed).toEqual([{ device_id: devices[0]!.id }]);
  });

  it('makes the scheduled collection plan on one worker per slot', async () => {
    const devices = Array.from({ length: 5 }, (_, i) => bin(i + 1));
    const { url, a, b } = await workers(devices, { now: () => T0 });
    await feed(a, devices.map((d) => reading(d, T0 - 3600_000, 0.4)));
    await feed(b, devices.map((d) => reading(d, T0 - 600_000, 0.6)));
    const runs = await Promise.all([a.scheduledPlan(T0), b.scheduledPlan(T0), a.scheduledPlan(T0 + 1000), b.scheduledPlan(T0 + 1000)]);
    expect(runs.filter(Boolean)).toHaveLength(2);
    expect(runs[0] !== runs[1]).toBe(true);
    const rows = await query<{ slot: string; result: { summary: { bins: number } } }>(url, "SELECT slot, result FROM cp_job_runs WHERE job = 'collection-plan' ORDER BY slot");
    expect(rows).toHaveLength(2);
    expect(rows[0]!.result.summary).toBeDefined();
  });

  it('shows residents the same outages and parking on either worker, from the shared tables', async () => {
    const bins = Array.from({ length: 3 }, (_, i) => bin(i + 1));
    const meter = { ...bin(9), id: 'meter-9', type: 'parking-meter', address: 'Dam 9' } as DeviceRecord;
    const now = T0 + 60_000;
    const { a, b } = await workers([...bins, meter], { now: () => now });
    await feed(a, [reading(bins[0]!, T0, 0.9), { ...reading(bins[1]!, T0, 0.5), fields: { fillingLevel: 0.5, batteryLevel: 0.05 } }]);
    await feed(b, [{ type: 'parking-meter', deviceId: meter.id, district: 'centrum', timeMs: T0, receivedAt: T0, fields: { totalSpotNumber: 8, availableSpotNumber: 3 } }]);
    const views = [a, b].map((w) => new ResidentView({ source: residentSource(w.httpDeps()), cityName: 'Test', log: silentLogger, now: () => now }));
    const bodies = await Promise.all(views.map(async (v) => [(await v.get('outages.geojson')).body.toString(), (await v.get('parking.geojson')).body.toString()]));
    expect(bodies[0]).toEqual(bodies[1]);
    const outages = JSON.parse(bodies[0]![0]!) as { features: { properties: { serviceCode: string } }[] };
    // The full bin is public; the low battery (device.battery) is not.
    expect(outages.features.map((f) => f.properties.serviceCode)).toEqual(['waste.collect']);
    const parking = JSON.parse(bodies[0]![1]!) as { features: { properties: Record<string, unknown> }[] };
    expect(parking.features.map((f) => f.properties)).toEqual([expect.objectContaining({ kind: 'meter', name: 'Dam 9', totalSpotNumber: 8, availableSpotNumber: 3, status: 'open' })]);
  });
});
