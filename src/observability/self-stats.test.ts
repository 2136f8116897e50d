import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, influxQuery, uniqueDbName } from '../../test/helpers/influx.js';
import { deviceStateLines, selfStatsLines, WriteWindow, type SelfStatsSnapshot } from './self-stats.js';

const influxUrl = inject('influxUrl');
let db: string;

async function write(lines: string[]): Promise<void> {
  const res = await fetch(`${influxUrl}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
  expect(res.status, await res.text()).toBe(204);
}

const q = (influxql: string) => influxQuery(influxUrl, db, influxql);

function snapshot(over: Partial<SelfStatsSnapshot> = {}): SelfStatsSnapshot {
  return {
    received: 120,
    recovered: 3,
    written: 110,
    deadLettered: 4,
    refused: 1,
    pending: 6,
    spoolBytes: 2048,
    oldestPendingAgeS: 1.25,
    byType: { 'waste-bin': { received: 70, written: 65, deadLettered: 3 }, streetlight: { received: 50, written: 45, deadLettered: 1 } },
    deadLettersByReason: { out_of_range: 3, unknown_device: 1 },
    writes: { requests: 4, failed: 1, lines: 110, meanDurationMs: 12.5, maxDurationMs: 30 },
    lastWrite: { durationMs: 8, lines: 20, ok: true },
    openTicketsByService: { 'waste.collect': 2, 'light.repair': 0 },
    connectedDevices: 38,
    mqttConnections: 40,
    ...over,
  };
}

beforeAll(async () => {
  db = uniqueDbName('selfstats');
  await createDatabase(influxUrl, db);
});

describe('selfStatsLines', () => {
  it('writes a pipeline line InfluxDB accepts, with integer totals and float latencies', async () => {
    const t = Date.now() - 5000;
    await write(selfStatsLines(snapshot(), t));
    const [row] = await q(`SELECT * FROM "citypipe" WHERE "scope" = 'pipeline' AND time = ${t}ms`);
    expect(row).toMatchObject({
      time: t,
      received: 120,
      recovered: 3,
      written: 110,
      dead_lettered: 4,
      refused: 1,
      pending: 6,
      spool_bytes: 2048,
      oldest_pending_age_s: 1.25,
      connected_devices: 38,
      mqtt_connections: 40,
      write_requests: 4,
      write_failures: 1,
      write_lines: 110,
      write_latency_mean_ms: 12.5,
      write_latency_max_ms: 30,
      last_write_ms: 8,
      last_write_lines: 20,
    });
    const keys = await q(`SHOW FIELD KEYS FROM "citypipe"`);
    const kinds = Object.fromEntries(keys.map((k) => [k.fieldKey, k.fieldType]));
    expect(kinds).toMatchObject({ received: 'integer', pending: 'integer', write_latency_mean_ms: 'float', oldest_pending_age_s: 'float', open: 'integer', count: 'integer' });
  });

  it('writes one line per device type, dead-letter reason and service, tagged so boards can group by them', async () => {
    const t = Date.now() - 4000;
    await write(selfStatsLines(snapshot(), t));
    const types = await q(`SELECT "received", "written", "dead_lettered", "type" FROM "citypipe" WHERE "scope" = 'device_type' AND time = ${t}ms`);
    expect(types.map((r) => [r.type, r.received, r.written, r.dead_lettered]).sort()).toEqual([
      ['streetlight', 50, 45, 1],
      ['waste-bin', 70, 65, 3],
    ]);
    const reasons = await q(`SELECT "count", "reason" FROM "citypipe" WHERE "scope" = 'dead_letters' AND time = ${t}ms`);
    expect(reasons.map((r) => [r.reason, r.count]).sort()).toEqual([
      ['out_of_range', 3],
      ['unknown_device', 1],
    ]);
    const tickets = await q(`SELECT "open", "service_code" FROM "citypipe" WHERE "scope" = 'tickets' AND time = ${t}ms`);
    expect(tickets.map((r) => [r.service_code, r.open]).sort()).toEqual([
      ['light.repair', 0],
      ['waste.collect', 2],
    ]);
  });

  it('leaves out latency fields of a window without writes instead of writing NaN, and clamps bad numbers', async () => {
    const t = Date.now() - 3000;
    const lines = selfStatsLines(snapshot({ writes: { requests: 0, failed: 0, lines: 0 }, lastWrite: undefined, oldestPendingAgeS: Number.NaN }), t);
    expect(lines[0]).not.toMatch(/NaN|undefined|latency|last_write/);
    await write(lines);
    const [row] = await q(`SELECT "write_requests", "oldest_pending_age_s", "write_latency_mean_ms" FROM "citypipe" WHERE "scope" = 'pipeline' AND time = ${t}ms`);
    expect(row).toMatchObject({ write_requests: 0, oldest_pending_age_s: 0, write_latency_mean_ms: null });
  });

  it('escapes tag values with spaces and commas', async () => {
    const t = Date.now() - 2000;
    await write(selfStatsLines(snapshot({ byType: {}, deadLettersByReason: {}, openTicketsByService: { 'odd code, with=spaces': 1 } }), t));
    const rows = await q(`SELECT "open", "service_code" FROM "citypipe" WHERE "scope" = 'tickets' AND time = ${t}ms`);
    expect(rows).toEqual([expect.objectContaining({ service_code: 'odd code, with=spaces', open: 1 })]);
  });
});

describe('deviceStateLines', () => {
  it('writes one point per device with position, state, state code and open tickets', async () => {
    const t = Date.now() - 1000;
    await write(
      deviceStateLines(
        [
          { deviceId: 'bin-1', type: 'waste-bin', district: 'centrum', lat: 52.37, lon: 4.89, state: 'ok', openTickets: 0 },
          { deviceId: 'light-1', type: 'streetlight', district: 'nieuw west', lat: 52.36, lon: 4.8, state: 'alert', openTickets: 2 },
          { deviceId: 'meter-1', type: 'parking-meter', district: 'zuid', lat: 52, lon: 5, state: 'offline', openTickets: 1 },
        ],
        t,
      ),
    );
    const rows = await q(`SELECT "lat", "lon", "state", "state_code", "open_tickets", "device_id", "type", "district" FROM "device_state" WHERE time = ${t}ms`);
    expect(rows.map(({ time: _t, ...r }) => r).sort((a, b) => String(a.device_id).localeCompare(String(b.device_id)))).toEqual([
      { device_id: 'bin-1', type: 'waste-bin', district: 'centrum', lat: 52.37, lon: 4.89, state: 'ok', state_code: 0, open_tickets: 0 },
      { device_id: 'light-1', type: 'streetlight', district: 'nieuw west', lat: 52.36, lon: 4.8, state: 'alert', state_code: 1, open_tickets: 2 },
      { device_id: 'meter-1', type: 'parking-meter', district: 'zuid', lat: 52, lon: 5, state: 'offline', state_code: 2, open_tickets: 1 },
    ]);
    const kinds = Object.fromEntries((await q(`SHOW FIELD KEYS FROM "device_state"`)).map((k) => [k.fieldKey, k.fieldType]));
    // Whole-degree coordinates must still be floats, or the next fractional one would be refused.
    expect(kinds).toEqual({ lat: 'float', lon: 'float', state: 'string', state_code: 'integer', open_tickets: 'integer' });
  });
});

describe('WriteWindow', () => {
  it('reports requests, failures, lines and mean/max latency of the window, then starts afresh', () => {
    const w = new WriteWindow();
    w.observe(10, 100, true);
    w.observe(30, 50, false);
    w.observe(20, 200, true);
    expect(w.take()).toEqual({ requests: 3, failed: 1, lines: 300, meanDurationMs: 20, maxDurationMs: 30 });
    expect(w.take()).toEqual({ requests: 0, failed: 0, lines: 0 });
  });
});
