/**
 * End to end through real parts: mqtt.js and Debian's mosquitto_pub publish to the embedded broker,
 * readings land in the run's real InfluxDB 1.x, and what is refused is in /api/dead-letters.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { influxQuery, wholeRows } from './helpers/influx.js';
import { connectClient, connectDevice, startTestService, telemetryTopic, testDevice, type RunningService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { deviceTypeModules } from '../src/device-types/registry.js';
import type { DeviceTypeDefinition } from '../src/device-types/types.js';
import { typeFixtures, typeFolder } from '../src/device-types/testing/fixtures.js';

const run = promisify(execFile);
const influxUrl = inject('influxUrl');

type TestDevice = ReturnType<typeof testDevice>;
type Reading = Record<string, unknown>;

/**
 * One device of every registered type (in its first demo device's district, with its attributes),
 * and what it sends: the type's bench reading (every field, values varying with `seq`) and its
 * smallest valid reading (`fixtures/base.json`).
 */
interface Typed {
  readonly def: DeviceTypeDefinition;
  readonly device: TestDevice;
  /** A reading with every field the type has. */
  full(ts: number, seq: number): Reading;
  /** The type's smallest valid reading, without `ts` and `seq`. */
  readonly base: Reading;
}

const typed: Typed[] = deviceTypeModules.map((m) => {
  const demo = m.demo.devices[0];
  return {
    def: m.definition,
    device: testDevice(m.definition.name, demo?.district ?? 'centrum', { ...demo?.attributes }),
    full: (ts, seq) => JSON.parse(m.bench.reading(ts, seq)) as Reading,
    base: typeFixtures(typeFolder(m.definition.name)).base,
  };
});
/** Where a test needs a device of some type, and others of other types. */
const [first, second = first, last = second] = [typed[0]!, typed[1], typed.at(-1)];

let svc: RunningService;
const clients: MqttClient[] = [];

async function device(d: TestDevice): Promise<MqttClient> {
  const c = await connectDevice(svc.mqttUrl, d);
  clients.push(c);
  return c;
}

async function publish(c: MqttClient, topic: string, payload: unknown, qos: 0 | 1 = 1): Promise<void> {
  await c.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos });
}

function q(influxql: string) {
  return influxQuery(influxUrl, svc.db, influxql);
}

async function deadLetters(params: Record<string, string> = {}) {
  const res = await fetch(`${svc.httpUrl}/api/dead-letters?${new URLSearchParams(params).toString()}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { total: number; items: { reason: string; path: string; message: string; deviceId: string; index: number | null; payload: string; topic: string }[] };
}

beforeAll(async () => {
  svc = await startTestService(influxUrl, typed.map((t) => t.device));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync()));
  await svc?.stop();
});

describe('valid readings reach InfluxDB', () => {
  it('writes one reading of every type with its values, catalog tags and device timestamp', async () => {
    const ts = Date.now() - 60_000;
    const readings = new Map(typed.map((t) => [t, t.full(ts, 1)]));
    for (const [t, reading] of readings) await publish(await device(t.device), telemetryTopic(t.device), reading);
    for (const [{ def, device: d }, reading] of readings) {
      const rows = await waitFor(`${def.measurement} point`, async () => {
        const r = await q(`SELECT * FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND time = ${ts}ms`);
        return wholeRows(r, Object.keys(reading).filter((k) => k !== 'ts'));
      });
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.time).toBe(ts);
      expect(row.device_id).toBe(d.record.id);
      expect(row.district).toBe(d.record.district);
      const { ts: _ts, ...fields } = reading;
      for (const [k, v] of Object.entries(fields)) expect(row[k], `${def.name}.${k}`).toBe(v);
      // Counters are integers, ratios floats, enums strings: each field as its type declares it.
      const types = await q(`SHOW FIELD KEYS FROM "${def.measurement}"`);
      const kind = Object.fromEntries(types.map((r) => [r.fieldKey, r.fieldType]));
      expect(kind).toMatchObject(Object.fromEntries(Object.keys(fields).map((k) => [k, def.fieldKinds.get(k)])));
    }
  });

  it('stamps a reading without ts with the time it was received', async () => {
    const { def, device: d, base } = first;
    const c = await device(d);
    const before = Date.now();
    await publish(c, telemetryTopic(d), { ...base, seq: 2 });
    const after = Date.now();
    const rows = await waitFor('reading without ts', async () => {
      const r = await q(`SELECT seq FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND seq = 2`);
      return r.length ? r : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.time as number).toBeGreaterThanOrEqual(before);
    expect(rows[0]!.time as number).toBeLessThanOrEqual(after);
  });

  it('keeps every reading of a batch without ts as its own point', async () => {
    const { def, device: d, base } = last;
    const c = await device(d);
    const before = Date.now();
    await publish(c, telemetryTopic(d), Array.from({ length: 5 }, (_, i) => ({ ...base, seq: 9000 + i })));
    await publish(c, telemetryTopic(d), { ...base, seq: 9005 });
    const after = Date.now();
    const rows = await waitFor('6 points without ts', async () => {
      const r = await q(`SELECT seq FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND seq >= 9000 AND seq <= 9005`);
      return r.length === 6 ? r : undefined;
    });
    expect(rows.map((r) => r.seq)).toEqual([9000, 9001, 9002, 9003, 9004, 9005]);
    const times = rows.map((r) => r.time as number);
    expect(new Set(times).size).toBe(6);
    expect(times[0]).toBeGreaterThanOrEqual(before);
    // Stamped when received, before the second PUBACK came back: no later than then, but for the
    // few ms the receive clock steps on so that readings received in one ms stay distinct. (A bound
    // on the spread instead would be a bound on how fast a busy machine answers a PUBLISH.)
    expect(times[5]).toBeLessThanOrEqual(after + 5);
  });

  it('accepts an ISO 8601 timestamp with an offset', async () => {
    const { def, device: d, base } = second;
    const c = await device(d);
    const t = new Date(Date.now() - 3_600_000);
    t.setUTCMilliseconds(250);
    const iso = t.toISOString().replace('Z', '+00:00');
    await publish(c, telemetryTopic(d), { ts: iso, ...base });
    const rows = await waitFor('ISO reading', async () => {
      const r = await q(`SELECT * FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND time = ${t.getTime()}ms`);
      return wholeRows(r, Object.keys(base));
    });
    expect(rows[0]).toMatchObject(base);
  });

  it('writes every reading of a batch, at QoS 0 as well', async () => {
    const { def, device: d, full } = last;
    const c = await device(d);
    const start = Date.now() - 10 * 60_000;
    const batch = Array.from({ length: 50 }, (_, i) => full(start + i * 1000, 100 + i));
    await publish(c, telemetryTopic(d), batch, 0);
    const rows = await waitFor('50 batch points', async () => {
      const r = await q(`SELECT seq FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND seq >= 100 AND seq < 150`);
      return r.length === 50 ? r : undefined;
    });
    expect(rows.map((r) => r.time)).toEqual(batch.map((b) => b.ts));
    expect(rows.map((r) => r.seq)).toEqual(batch.map((b) => b.seq));
  });

  it("accepts Debian's mosquitto_pub", async () => {
    const { def, device: d, full } = first;
    const { ts: _ts, ...reading } = full(0, 777);
    const port = new URL(svc.mqttUrl).port;
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-i', d.record.id, '-u', d.record.id, '-P', d.secret,
      '-t', telemetryTopic(d), '-m', JSON.stringify(reading)]);
    const rows = await waitFor('mosquitto_pub reading', async () => {
      const r = await q(`SELECT * FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND seq = 777`);
      return wholeRows(r, Object.keys(reading));
    });
    expect(rows[0]).toMatchObject(reading);
    expect(rows[0]!.district).toBe(d.record.district);
  });
});

describe('invalid readings are dead-lettered, never written', () => {
  interface InvalidFixture {
    name: string;
    reading: Record<string, unknown>;
    reason: string;
    path: string;
  }

  it.each(typed.map((t) => [t.def.name, t] as const))('%s: every invalid fixture is refused with its reason and path', async (_name, { def, device: d }) => {
    // Timestamp fixtures are relative to a fixed receive time; the window is covered by unit tests.
    const fixtures = (typeFixtures(typeFolder(def.name)).invalid as InvalidFixture[]).filter((f) => !f.reason.startsWith('ts_'));
    expect(fixtures.length).toBeGreaterThan(3);
    const c = await device(d);
    const pointsBefore = await q(`SELECT count(*) FROM "${def.measurement}" WHERE device_id = '${d.record.id}'`);
    for (const f of fixtures) {
      const { ts: _ts, ...reading } = f.reading;
      const before = (await deadLetters({ device_id: d.record.id, limit: '1' })).total;
      await publish(c, telemetryTopic(d), reading);
      const dl = await waitFor(`dead letter for "${f.name}"`, async () => {
        const r = await deadLetters({ device_id: d.record.id, limit: '1' });
        return r.total > before ? r.items[0] : undefined;
      });
      expect({ name: f.name, reason: dl!.reason, path: dl!.path }).toEqual({ name: f.name, reason: f.reason, path: f.path });
      expect(dl!.topic).toBe(telemetryTopic(d));
      expect(JSON.parse(dl!.payload)).toEqual(reading);
      if (f.path) expect(dl!.message).toContain(f.path);
    }
    // Nothing of these reached InfluxDB.
    const pointsAfter = await q(`SELECT count(*) FROM "${def.measurement}" WHERE device_id = '${d.record.id}'`);
    expect(pointsAfter).toEqual(pointsBefore);
  });

  it('keeps the good readings of a mixed batch and dead-letters the bad ones with their index', async () => {
    const { def, device: d, base } = first;
    // The first out-of-range and wrong-type cases of the type's fixtures (a field other than ts and seq).
    const bad = (reason: string) => (typeFixtures(typeFolder(def.name)).invalid as InvalidFixture[]).find((f) => f.reason === reason && f.path !== 'ts' && f.path !== 'seq')!;
    const [outOfRange, wrongType] = [bad('out_of_range'), bad('wrong_type')];
    const c = await device(d);
    const ts = Date.now() - 5000;
    await publish(c, telemetryTopic(d), [
      { ...base, ts, seq: 5001 },
      { ...outOfRange.reading, ts: ts + 1, seq: 5002 },
      { ...wrongType.reading, ts: ts + 2, seq: 5003 },
      { ...base, ts: ts + 3, seq: 5004 },
    ]);
    const rows = await waitFor('2 good batch points', async () => {
      const r = await q(`SELECT seq FROM "${def.measurement}" WHERE device_id = '${d.record.id}' AND seq >= 5001 AND seq <= 5004`);
      return r.length === 2 ? r : undefined;
    });
    expect(rows.map((r) => r.seq)).toEqual([5001, 5004]);
    const dl = await waitFor('2 batch dead letters', async () => {
      const r = (await deadLetters({ device_id: d.record.id, limit: '1000' })).items.filter((x) => /"seq":500[23]/.test(x.payload));
      return r.length === 2 ? r : undefined;
    });
    expect(dl.map((x) => [x.index, x.reason, x.path]).sort()).toEqual([
      [1, 'out_of_range', outOfRange.path],
      [2, 'wrong_type', wrongType.path],
    ]);
  });

  it('never writes readings of a device that is not in the catalog: it cannot even connect', async () => {
    // (In lab mode, CITYPIPE_MQTT_OPEN=true, it can; its readings are then dead-lettered as
    // unknown_device: see lab-mode.e2e.test.ts.)
    await expect(connectClient(svc.mqttUrl, { clientId: 'rogue-1', username: 'rogue-1', password: 'guess' })).rejects.toThrow(/Bad username or password/i);
    await expect(connectClient(svc.mqttUrl, { clientId: 'rogue-1' })).rejects.toThrow(/Not authorized/i);
    for (const { def } of typed) expect(await q(`SELECT * FROM "${def.measurement}" WHERE device_id = 'rogue-1'`)).toHaveLength(0);
  });

  it('dead-letters unreadable payloads and readings on its own topics that are not telemetry', async () => {
    const { device: d, base } = second;
    const c = await device(d);
    await publish(c, telemetryTopic(d), JSON.stringify(base).slice(0, -1) + ',');
    await publish(c, `${telemetryTopic(d)}/extra`, '{}');
    const reasons = await waitFor('invalid_json and invalid_topic', async () => {
      const r = (await deadLetters({ device_id: d.record.id, limit: '1000' })).items.map((x) => x.reason);
      return r.includes('invalid_json') ? r : undefined;
    });
    expect(reasons).toContain('invalid_json');
    await waitFor('invalid_topic', async () => (await deadLetters({ reason: 'invalid_topic' })).items.some((x) => x.topic.endsWith('/telemetry/extra')));
  });
});

describe('devices and the broker', () => {
  it('refuses a device that presents a wrong secret', async () => {
    const d = first.device;
    await expect(connectClient(svc.mqttUrl, { clientId: d.record.id, username: d.record.id, password: 'wrong' })).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
  });

  it('refuses credentials for a device that is not in the catalog', async () => {
    await expect(connectClient(svc.mqttUrl, { clientId: 'ghost', username: 'ghost', password: 'x' })).rejects.toThrow(/Bad username or password/i);
  });
});

describe('accounting and observability', () => {
  it('keeps received = written + dead-lettered + pending and exposes it in /api/stats and /metrics', async () => {
    const stats = await waitFor('pending drained', async () => {
      const s = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { received: number; written: number; deadLettered: number; pending: number };
      return s.pending === 0 ? s : undefined;
    });
    expect(stats.received).toBeGreaterThan(0);
    expect(stats.written).toBeGreaterThan(0);
    expect(stats.deadLettered).toBeGreaterThan(0);
    expect(stats.received).toBe(stats.written + stats.deadLettered + stats.pending);

    const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    for (const { def } of typed) {
      expect(metrics).toMatch(new RegExp(`citypipe_readings_received_total\\{type="${def.name}"\\} \\d+`));
      expect(metrics).toMatch(new RegExp(`citypipe_readings_written_total\\{type="${def.name}"\\} \\d+`));
      // Every type's invalid fixtures hold an out-of-range value (batteryLevel's, at least).
      expect(metrics).toMatch(new RegExp(`citypipe_readings_dead_lettered_total\\{type="${def.name}",reason="out_of_range"\\} \\d+`));
    }
    expect(metrics).toMatch(/citypipe_influx_write_duration_seconds_bucket/);
    expect(metrics).toMatch(/citypipe_influx_batch_lines_bucket/);
    expect(metrics).toMatch(/citypipe_readings_pending 0/);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${svc.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});
