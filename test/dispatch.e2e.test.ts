/**
 * Dispatch end to end: real broker, real MQTT devices, real InfluxDB, real HTTP receivers.
 * Readings → rules → tickets (Open311 GeoReport v2) → signed webhooks; events on MQTT, in InfluxDB
 * and at /api/events; the deadman sweep; the collection plan; the OpenAPI description.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { influxQuery } from './helpers/influx.js';
import { connectClient, connectDevice, startTestService, testDevice, type RunningService, type TestDevice } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { hashSecret } from '../src/catalog/secrets.js';
import { verifySignature } from '../src/delivery/webhook.js';

const influxUrl = inject('influxUrl');
const TOKEN = 'dispatch-e2e-token-0123456789';
const SECRET = 'webhook-signing-secret-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const HOUR = 3_600_000;

interface Received {
  type: string;
  key: string;
  ticketId: string;
  status: string;
  signatureValid: boolean;
}

/** A webhook receiver on loopback that records what it gets and can go down and come back on its port. */
class Receiver {
  readonly got: Received[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then((code) => res.writeHead(code).end()));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/citypipe`;
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const payload = JSON.parse(body) as { id: string; type: string; ticket: { service_request_id: string; status: string } };
    const signatureValid = verifySignature(SECRET, req.headers['x-citypipe-signature'] as string, req.headers['x-citypipe-timestamp'] as string, body, 300);
    if (req.headers['idempotency-key'] !== payload.id) throw new Error('Idempotency-Key header differs from the body id');
    if (this.got.some((g) => g.key === payload.id)) return 200; // a repeat: acknowledged, not recorded twice
    this.got.push({ type: payload.type, key: payload.id, ticketId: payload.ticket.service_request_id, status: payload.ticket.status, signatureValid });
    return 200;
  }
}

const running: RunningService[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});
afterAll(async () => {
  for (const r of receivers.splice(0)) await r.stop();
});

async function start(devices: TestDevice[], extra: Record<string, string> = {}, now?: () => number): Promise<RunningService> {
  const svc = await startTestService(influxUrl, devices, { CITYPIPE_HTTP_TOKEN: TOKEN, ...extra }, { service: { ...(now ? { now } : {}), deliveryBackoff: { baseMs: 100, maxMs: 400 } } });
  running.push(svc);
  return svc;
}

async function get<T>(svc: RunningService, url: string): Promise<T> {
  const res = await fetch(`${svc.httpUrl}${url}`, { headers: auth });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Publishes readings (QoS 1, one PUBLISH each, in order) as the device. */
async function publish(svc: RunningService, device: TestDevice, readings: Record<string, unknown>[]): Promise<void> {
  const client = await connectDevice(svc.mqttUrl, device);
  try {
    for (const r of readings) await client.publishAsync(`city/${device.record.type}/${device.record.id}/telemetry`, JSON.stringify(r), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

interface GeoReportRequest {
  service_request_id: string;
  status: 'open' | 'closed';
  status_notes: string | null;
  service_code: string;
  service_name: string;
  description: string;
  requested_datetime: string;
  updated_datetime: string;
  lat: number;
  long: number;
  address: string;
  device_id: string;
  rule: string;
}

const requestsOf = (svc: RunningService, device: TestDevice, query = '') =>
  get<GeoReportRequest[]>(svc, `/open311/v2/requests.json?device_id=${device.record.id}${query}`);

/** A bin's simulated day: hourly readings from 24 h ago, filling from 10 % to 90 % (over 80 % from hour 21 on). */
function fillingDay(end: number): Record<string, unknown>[] {
  return Array.from({ length: 24 }, (_, h) => ({
    ts: new Date(end - (23 - h) * HOUR).toISOString(),
    fillingLevel: Math.round((0.1 + (0.8 * h) / 23) * 1000) / 1000,
    temperature: 15,
    status: 'ok',
    batteryLevel: 0.9,
  }));
}

describe('dispatch end to end', () => {
  it('a bin filling over a day opens exactly one waste.collect request, emptying closes it, and a signed webhook gets both; a receiver that was down gets every later transition in order', async () => {
    const receiver = new Receiver();
    receivers.push(receiver);
    await receiver.start();
    const bin = testDevice('waste-bin', 'Centrum');
    const svc = await start([bin], { CITYPIPE_WEBHOOK_URLS: receiver.url, CITYPIPE_WEBHOOK_SECRET: SECRET });

    const now = Date.now();
    await publish(svc, bin, fillingDay(now - 60_000));
    const [open] = await waitFor('the waste.collect request', async () => {
      const r = await requestsOf(svc, bin, '&status=open');
      return r.length > 0 && r;
    });
    // Valid GeoReport v2: the fields of CONTRACT §5 with their types, the device's location and address.
    expect(open).toEqual({
      service_request_id: expect.stringMatching(/^\d+$/),
      status: 'open',
      status_notes: null,
      service_code: 'waste.collect',
      service_name: 'Collect a full waste bin',
      description: expect.stringContaining('fillingLevel'),
      requested_datetime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/),
      updated_datetime: expect.any(String),
      lat: bin.record.location.lat,
      long: bin.record.location.lon,
      address: bin.record.address,
      device_id: bin.record.id,
      rule: 'waste.collect',
      ...(open && 'media_url' in open ? { media_url: expect.anything() } : {}),
    });
    // More full readings and a restart in between change nothing: still one request.
    await publish(svc, bin, [{ ts: new Date(now - 30_000).toISOString(), fillingLevel: 0.95, temperature: 15, status: 'ok', batteryLevel: 0.9 }]);
    const dataDir = svc.service.config.dataDir;
    await svc.stop();
    running.splice(running.indexOf(svc), 1);
    const again = await start([bin], { CITYPIPE_WEBHOOK_URLS: receiver.url, CITYPIPE_WEBHOOK_SECRET: SECRET, CITYPIPE_DATA_DIR: dataDir, CITYPIPE_INFLUX_BUCKET: svc.db });
    await publish(again, bin, [{ ts: new Date(now - 20_000).toISOString(), fillingLevel: 0.97, temperature: 15, status: 'ok', batteryLevel: 0.9 }]);
    // Once the reading is the latest one, the rules have had it (one batch feeds both): only then
    // does "still one request" say anything. Polled, where a fixed sleep may end too soon.
    await waitFor('the restarted service to have the reading', async () => {
      const d = await get<{ lastSeen: string | null }>(again, `/api/devices/${bin.record.id}`);
      return d.lastSeen === new Date(now - 20_000).toISOString();
    });
    expect(await requestsOf(again, bin)).toHaveLength(1);

    // Emptied: the request closes itself, with a note saying why.
    await publish(again, bin, [{ ts: new Date(now - 10_000).toISOString(), fillingLevel: 0.05, temperature: 15, status: 'ok', batteryLevel: 0.9 }]);
    const closed = await waitFor('the request to close', async () => {
      const [r] = await requestsOf(again, bin);
      return r?.status === 'closed' && r;
    });
    expect(closed.service_request_id).toBe(open!.service_request_id);
    expect(closed.status_notes).toMatch(/cleared|clear/i);
    await waitFor('the webhook to get the open and the close', () => receiver.got.length >= 2);
    expect(receiver.got.map((g) => [g.type, g.ticketId, g.signatureValid])).toEqual([
      ['ticket.opened', open!.service_request_id, true],
      ['ticket.closed', open!.service_request_id, true],
    ]);

    // The receiver goes down; the bin fills and is emptied twice meanwhile.
    await receiver.stop();
    const base = Date.now();
    for (let round = 0; round < 2; round++) {
      const t = base + round * 2000;
      await publish(again, bin, [{ ts: new Date(t - 5000).toISOString(), fillingLevel: 0.9, temperature: 15, status: 'ok', batteryLevel: 0.9 }]);
      await waitFor('a new request', async () => (await requestsOf(again, bin, '&status=open')).length === 1);
      await publish(again, bin, [{ ts: new Date(t - 4000).toISOString(), fillingLevel: 0.1, temperature: 15, status: 'ok', batteryLevel: 0.9 }]);
      await waitFor('it to close', async () => (await requestsOf(again, bin, '&status=open')).length === 0);
    }
    const all = await requestsOf(again, bin);
    expect(all).toHaveLength(3);
    expect(receiver.got).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 500)); // retries keep failing meanwhile
    await receiver.start(); // same port
    await waitFor('the webhook to catch up', () => receiver.got.length >= 6, 15_000);
    const later = receiver.got.slice(2);
    const [second, third] = [all[1]!.service_request_id, all[0]!.service_request_id].sort((a, b) => Number(a) - Number(b));
    // In order for each ticket (tickets may interleave), every one signed, nothing twice.
    expect(later.filter((g) => g.ticketId === second).map((g) => g.type)).toEqual(['ticket.opened', 'ticket.closed']);
    expect(later.filter((g) => g.ticketId === third).map((g) => g.type)).toEqual(['ticket.opened', 'ticket.closed']);
    expect(later.every((g) => g.signatureValid)).toBe(true);
    expect(new Set(receiver.got.map((g) => g.key)).size).toBe(receiver.got.length);
  }, 60_000);

  it('a burning bin opens an urgent waste.fire request on its first reading; events reach MQTT subscribers, /api/events and InfluxDB', async () => {
    const OPS_SECRET = 'ops-secret-0123456789';
    const bin = testDevice('waste-bin', 'Oost');
    const svc = await start([bin], { CITYPIPE_MQTT_ACCOUNTS: `ops:${hashSecret(OPS_SECRET)}` });
    const ops = await connectClient(svc.mqttUrl, { clientId: 'ops', username: 'ops', password: OPS_SECRET });
    const seen: { topic: string; event: { rule: string; state: string; severity: string; ticketId: string | null } }[] = [];
    ops.on('message', (topic, payload) => seen.push({ topic, event: JSON.parse(payload.toString()) }));
    await ops.subscribeAsync('city/events/#', { qos: 1 });

    await publish(svc, bin, [{ fillingLevel: 0.2, temperature: 85, status: 'burning', batteryLevel: 0.9 }]);
    const [fire] = await waitFor('the waste.fire request', async () => {
      const r = await requestsOf(svc, bin, '&service_code=waste.fire&status=open');
      return r.length > 0 && r;
    });
    expect(fire).toMatchObject({ service_code: 'waste.fire', status: 'open', device_id: bin.record.id });

    const events = await get<{ items: { rule: string; state: string; severity: string; ticketId: string | null }[] }>(svc, `/api/events?device_id=${bin.record.id}`);
    expect(events.items).toEqual([expect.objectContaining({ rule: 'waste.fire', state: 'raised', severity: 'urgent', ticketId: fire!.service_request_id })]);

    await waitFor('the event on MQTT', () => seen.length > 0);
    expect(seen[0]).toMatchObject({ topic: `city/events/waste-bin/${bin.record.id}`, event: { rule: 'waste.fire', state: 'raised', severity: 'urgent', ticketId: fire!.service_request_id } });
    await ops.endAsync();

    await svc.service.dispatcher!.flushToInflux();
    const rows = await influxQuery(influxUrl, svc.db, `SELECT * FROM events WHERE device_id = '${bin.record.id}'`);
    expect(rows).toEqual([expect.objectContaining({ rule: 'waste.fire', state: 'raised', severity: 'urgent', district: 'Oost', ticket_id: fire!.service_request_id })]);
  }, 30_000);

  it('a device silent for 3 reporting intervals raises device.offline (fake clock); its next reading closes it', async () => {
    let clock = Date.now();
    const lamp = testDevice('streetlight', 'Noord', { powerRating: 60 });
    const svc = await start([lamp], {}, () => clock);
    const reading = () => ({ powerState: 'off', powerConsumption: 0, voltage: 230, status: 'ok' });
    await publish(svc, lamp, [reading()]);
    await waitFor('the reading to be seen', async () => (await get<{ lastSeen: string | null }>(svc, `/api/devices/${lamp.record.id}`)).lastSeen !== null);

    clock += 2 * lamp.record.reportingIntervalS * 1000; // two intervals: not yet
    svc.service.dispatcher!.sweep();
    expect(await requestsOf(svc, lamp)).toEqual([]);

    clock += 1.5 * lamp.record.reportingIntervalS * 1000; // past three
    svc.service.dispatcher!.sweep();
    const [offline] = await requestsOf(svc, lamp, '&status=open');
    expect(offline).toMatchObject({ service_code: 'device.offline', rule: 'device.offline', status: 'open' });
    expect((await get<{ state: string }>(svc, `/api/devices/${lamp.record.id}`)).state).toBe('offline');

    await publish(svc, lamp, [reading()]);
    await waitFor('the offline request to close', async () => (await requestsOf(svc, lamp))[0]?.status === 'closed');
    expect((await get<{ state: string }>(svc, `/api/devices/${lamp.record.id}`)).state).toBe('ok');
  }, 30_000);

  it('puts a bin that will be full within 24 h on the collection plan, and not one that fills slowly', async () => {
    const fast = testDevice('waste-bin', 'West');
    const slow = testDevice('waste-bin', 'West');
    const svc = await start([fast, slow]);
    const now = Date.now();
    // Hourly readings for the last 12 h. fast: +3 %/h, 53 % an hour ago → 80 % in 8 h; slow: +0.5 %/h → 4½ days.
    const series = (rate: number) =>
      Array.from({ length: 12 }, (_, h) => ({ ts: new Date(now - (12 - h) * HOUR).toISOString(), fillingLevel: Math.round((0.2 + rate * h) * 1000) / 1000, status: 'ok' }));
    await publish(svc, fast, series(0.03));
    await publish(svc, slow, series(0.005));
    await waitFor('both bins seen', async () => (await get<{ items: unknown[] }>(svc, '/api/readings/latest?type=waste-bin')).items.length === 2);
    const plan = await get<{ districts: { district: string; stops: { deviceId: string; hoursToFull: number }[] }[] }>(svc, '/api/collection-plan?refresh=true');
    const stops = plan.districts.flatMap((d) => d.stops);
    expect(stops.map((s) => s.deviceId)).toEqual([fast.record.id]);
    expect(stops[0]!.hoursToFull).toBeGreaterThan(7.5);
    expect(stops[0]!.hoursToFull).toBeLessThan(8.5);
  }, 30_000);

  it('describes every route in OpenAPI at /docs, with response schemas, and marks the ones that need the token', async () => {
    const svc = await start([testDevice('waste-bin', 'Centrum')]);
    const ui = await fetch(`${svc.httpUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    const doc = (await (await fetch(`${svc.httpUrl}/docs/json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses?: Record<string, unknown>; security?: unknown[] }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const expected = [
      '/healthz', '/readyz', '/metrics', '/api/stats', '/api/dead-letters', '/api/dead-letters/replay',
      '/api/devices', '/api/devices/{id}', '/api/districts', '/api/readings/latest',
      '/api/events', '/api/events/stream', '/api/tickets/{id}', '/api/collection-plan',
      '/open311/v2/services.json', '/open311/v2/requests.json', '/open311/v2/requests/{id}.json',
    ];
    for (const p of expected) expect(Object.keys(doc.paths), p).toContain(p);
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses ?? {}), `${method.toUpperCase()} ${p} has response schemas`).toContain('200');
      }
    }
    expect(doc.paths['/api/devices']!.get!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/tickets/{id}']!.patch!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/healthz']!.get!.security).toBeUndefined();
  });
});

// The rules file is the city's: a bad one stops the start naming the file, the rule and the key.
describe('CITYPIPE_RULES_FILE', () => {
  it('stops start-up on a bad rules file, naming it and the key', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'citypipe-rules-')), 'rules.json');
    writeFileSync(file, JSON.stringify({ rules: [{ id: 'waste.collect', deviceType: 'waste-bin', condition: { kind: 'threshold', field: 'fillLevel', above: 0.8 }, severity: 'info', ticket: false }] }));
    await expect(start([testDevice('waste-bin', 'Centrum')], { CITYPIPE_RULES_FILE: file })).rejects.toThrow(`${file}: rule "waste.collect" (rules[0]): condition.field: waste-bin has no field "fillLevel"`);
  });
});
