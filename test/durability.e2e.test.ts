/**
 * Nothing lost: a PUBACK means the reading is on disk. Real faults against real parts: an influxd
 * stopped and restarted, the service killed with SIGKILL, a misbehaving InfluxDB (a real HTTP proxy
 * in front of the real one), a full spool, a torn spool file.
 */
import { appendFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, influxQuery, uniqueDbName } from './helpers/influx.js';
import { connectClient, connectDevice, startPublisher, startTestService, telemetryTopic, testDevice, testEnv, writeCatalog, type RunningService, type TestDevice } from './helpers/service.js';
import { startHttpProxy, type ProxyAnswer, type RecordedRequest, type TestHttpProxy } from './helpers/http-proxy.js';
import { killChildren, spawnCli, startServiceProcess } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { startLocalInfluxd, type LocalInfluxd } from '../src/influxd/local-influxd.js';

const influxUrl = inject('influxUrl');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  killChildren();
});
afterAll(killChildren);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * For the tests that restart influxd or the service, or wait out 5 s PUBACK timeouts: 10–17 s on a
 * machine to themselves, up to 26 s measured beside two CPU hogs. The default 30 s is too close.
 */
const SLOW_TEST_MS = 90_000;

async function seqsIn(url: string, db: string, measurement: string, deviceId: string): Promise<number[]> {
  const rows = await influxQuery(url, db, `SELECT seq FROM "${measurement}" WHERE device_id = '${deviceId}'`);
  return rows.map((r) => r.seq as number);
}

/** Waits until InfluxDB holds every acknowledged seq; asserts none is there twice. */
async function expectAllAcked(url: string, db: string, measurement: string, device: TestDevice, acked: number[], timeoutMs = 30_000): Promise<void> {
  const want = new Set(acked);
  const got = await waitFor(
    `${acked.length} acknowledged readings in InfluxDB`,
    async () => {
      const seqs = await seqsIn(url, db, measurement, device.record.id);
      return [...want].every((s) => seqs.includes(s)) ? seqs : undefined;
    },
    timeoutMs,
    250,
  );
  expect(new Set(got).size).toBe(got.length); // exactly once
}

describe('InfluxDB outage', () => {
  it('keeps every acknowledged reading through a stopped InfluxDB and writes each exactly once when it returns', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'citypipe-outage-influx-'));
    let influx: LocalInfluxd = await startLocalInfluxd({ dataDir });
    cleanups.push(() => influx.stop());
    const port = influx.port;
    const bin = testDevice('waste-bin', 'centrum');
    const svc = await startTestService(influx.url, [bin], { CITYPIPE_INFLUX_TIMEOUT_MS: '1000', CITYPIPE_INFLUX_RETRY_MAX_MS: '500' });
    cleanups.push(() => svc.stop());
    const pub = startPublisher(svc.mqttUrl, bin, { intervalMs: 5 });
    cleanups.push(() => pub.stop());

    await waitFor('readings flowing', async () => (await seqsIn(influx.url, svc.db, 'waste_bin', bin.record.id)).length > 20);
    await influx.stop();
    const down = Date.now();
    // Many write attempts fail while devices keep publishing and getting their PUBACKs.
    await waitFor('20 failed write attempts', async () => {
      const m = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      const failed = /citypipe_influx_write_errors_total\{code="CP_ERR_INFLUX_UNREACHABLE"\} (\d+)/.exec(m);
      return failed && Number(failed[1]) >= 20 && Date.now() - down > 8000;
    }, 30_000, 200);
    const ackedDuringOutage = pub.acked.length;
    const stats = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { pending: number; received: number; written: number; deadLettered: number };
    expect(stats.pending).toBeGreaterThan(50);
    expect(stats.received).toBe(stats.written + stats.deadLettered + stats.pending);
    expect((await fetch(`${svc.httpUrl}/readyz`)).status).toBe(503);

    influx = await startLocalInfluxd({ dataDir, port });
    // The device keeps publishing and getting PUBACKs with InfluxDB back (polled, not slept for).
    const ackedAtReturn = pub.acked.length;
    await waitFor('PUBACKs after InfluxDB returned', () => pub.acked.length > ackedAtReturn + 20, 20_000);
    await pub.stop();
    expect(pub.acked.length).toBeGreaterThan(ackedDuringOutage);
    await expectAllAcked(influx.url, svc.db, 'waste_bin', bin, pub.acked);
    const after = await waitFor('pending drained', async () => {
      const s = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { pending: number; received: number; written: number; deadLettered: number };
      return s.pending === 0 ? s : undefined;
    });
    expect(after.received).toBe(after.written + after.deadLettered);
  }, SLOW_TEST_MS);
});

describe('kill -9', () => {
  it('writes every reading that got a PUBACK after the service is killed and started again', async () => {
    const light = testDevice('streetlight', 'west');
    const db = uniqueDbName('kill9');
    await createDatabase(influxUrl, db);
    // Nothing is flushed by size or time before the kill: every reading must come back from the spool.
    const env = testEnv(influxUrl, db, writeCatalog([light]), { CITYPIPE_FLUSH_INTERVAL_MS: '60000', CITYPIPE_BATCH_SIZE: '100000' });
    const first = await startServiceProcess(env);
    let mqttPort = first.mqttPort;
    const pub = startPublisher(() => `mqtt://127.0.0.1:${mqttPort}`, light, { intervalMs: 0 });
    cleanups.push(() => pub.stop());
    await waitFor('300 PUBACKs', () => pub.acked.length >= 300, 40_000);
    first.child.kill('SIGKILL');
    await first.exited;
    await pub.stop();
    const acked = [...pub.acked];
    expect(await seqsIn(influxUrl, db, 'streetlight', light.record.id)).toHaveLength(0);

    const second = await startServiceProcess({ ...env, CITYPIPE_FLUSH_INTERVAL_MS: '100' });
    mqttPort = second.mqttPort;
    await expectAllAcked(influxUrl, db, 'streetlight', light, acked);
    const stats = (await (await fetch(`http://127.0.0.1:${second.httpPort}/api/stats`)).json()) as { recovered: number };
    expect(stats.recovered).toBeGreaterThanOrEqual(acked.length);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, SLOW_TEST_MS);
});

/** A write of readings (citypipe also writes its own points: events, self-monitoring). */
function isReadingsWrite(req: RecordedRequest): boolean {
  if (!req.url.startsWith('/write')) return false;
  const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(req.body) : req.body;
  return /^(waste_bin|parking_meter|streetlight),/m.test(body.toString('utf8'));
}

describe('a misbehaving InfluxDB', () => {
  it('rides out 503 and 429 with Retry-After, 500 and answers slower than the timeout: nothing lost, nothing twice', async () => {
    const bin = testDevice('waste-bin', 'zuid');
    const faults: ProxyAnswer[] = [
      { status: 503, headers: { 'retry-after': '1' }, body: '{"error":"unavailable"}' },
      { status: 500, body: '{"error":"internal error"}' },
      { status: 429, headers: { 'retry-after': '1' }, body: '{"error":"slow down"}' },
      'hang',
      { status: 503, body: '' },
    ];
    let writes = 0;
    const proxy = await startHttpProxy((req) => {
      if (!isReadingsWrite(req)) return 'forward';
      return faults[writes++] ?? 'forward';
    }, influxUrl);
    cleanups.push(() => proxy.close());
    const svc = await startTestService(proxy.url, [bin], { CITYPIPE_INFLUX_TIMEOUT_MS: '700', CITYPIPE_INFLUX_RETRY_MAX_MS: '300' });
    cleanups.push(() => svc.stop());
    const pub = startPublisher(svc.mqttUrl, bin, { intervalMs: 10, maxMs: 15_000 });
    // At least 3 s of readings through the faults, and enough of them (a slow disk takes longer).
    await sleep(3000);
    await waitFor('more than 50 acknowledged readings', () => pub.acked.length > 50, 12_000);
    await pub.stop();
    expect(pub.acked.length).toBeGreaterThan(50);
    await expectAllAcked(influxUrl, svc.db, 'waste_bin', bin, pub.acked);
    expect(writes).toBeGreaterThan(faults.length);
    // Retry-After: 1 was honoured: the retry of a batch answered so (the same body again) came at
    // least ~1 s later.
    const sent = proxy.requests.filter(isReadingsWrite);
    const retryAfterAnswers = [0, 2];
    for (const i of retryAfterAnswers) {
      const retry = sent.slice(i + 1).find((r) => r.body.equals(sent[i]!.body));
      expect(retry, `a retry of write ${i}`).toBeDefined();
      expect(retry!.at - sent[i]!.at).toBeGreaterThanOrEqual(950);
    }
  });

  it('keeps the good points of a partial write and dead-letters the refused ones with InfluxDB’s message', async () => {
    const bin = testDevice('waste-bin', 'noord');
    const svc = await startTestService(influxUrl, [bin]);
    cleanups.push(() => svc.stop());
    // Another writer made `temperature` a string field in this database: InfluxDB will refuse floats.
    // (InfluxDB 1.x keeps field types per shard: write it at the time the readings will have.)
    const res = await fetch(`${influxUrl}/write?db=${svc.db}&precision=ms`, { method: 'POST', body: `waste_bin,device_id=other,district=x temperature="warm" ${Date.now()}` });
    expect(res.status).toBe(204);
    const c = await connectDevice(svc.mqttUrl, bin);
    cleanups.push(() => c.endAsync());
    const batch = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? { seq: i, fillingLevel: 0.5, temperature: 20 } : { seq: i, fillingLevel: 0.5 }));
    await c.publishAsync(telemetryTopic(bin), JSON.stringify(batch), { qos: 1 });
    const good = batch.filter((r) => !('temperature' in r)).map((r) => r.seq);
    const bad = batch.filter((r) => 'temperature' in r).map((r) => r.seq);
    await expectAllAcked(influxUrl, svc.db, 'waste_bin', bin, good);
    expect((await seqsIn(influxUrl, svc.db, 'waste_bin', bin.record.id)).sort((a, b) => a - b)).toEqual(good);
    const dl = await waitFor('influx_rejected dead letters', async () => {
      const r = (await (await fetch(`${svc.httpUrl}/api/dead-letters?reason=influx_rejected`)).json()) as { items: { message: string; payload: string; deviceId: string }[] };
      return r.items.length === bad.length ? r.items : undefined;
    });
    for (const d of dl) {
      expect(d.deviceId).toBe(bin.record.id);
      expect(d.message).toMatch(/field type conflict/);
    }
    const stats = await waitFor('pending drained', async () => {
      const s = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { pending: number; received: number; written: number; deadLettered: number };
      return s.pending === 0 ? s : undefined;
    });
    expect(stats).toMatchObject({ received: 40, written: 30, deadLettered: 10 });
  });
});

describe('a full spool', () => {
  it('refuses publishes (no PUBACK) at the cap without losing what it holds, and resumes by itself below it', async () => {
    const bin = testDevice('waste-bin', 'oost');
    let influxUp = false;
    const proxy: TestHttpProxy = await startHttpProxy((req) => (req.url.startsWith('/write') && !influxUp ? { status: 503, body: '{"error":"down"}' } : 'forward'), influxUrl);
    cleanups.push(() => proxy.close());
    const svc = await startTestService(proxy.url, [bin], { CITYPIPE_SPOOL_MAX_BYTES: '16384', CITYPIPE_INFLUX_RETRY_MAX_MS: '300' });
    cleanups.push(() => svc.stop());
    const pub = startPublisher(svc.mqttUrl, bin, { intervalMs: 0, maxMs: SLOW_TEST_MS });
    cleanups.push(() => pub.stop());
    // Two refusals are two 5 s PUBACK timeouts: 10 s of the deadline are spoken for.
    await waitFor('publishes refused at the cap', () => pub.failures >= 2, 25_000);
    const ackedAtCap = pub.acked.length;
    expect(ackedAtCap).toBeGreaterThan(20);
    const ready = await fetch(`${svc.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toMatch(/spool full/);
    expect(await (await fetch(`${svc.httpUrl}/metrics`)).text()).toMatch(/citypipe_publishes_refused_total\{reason="spool_full"\} [1-9]/);
    await sleep(1000);
    expect(pub.acked.length).toBe(ackedAtCap); // still nothing accepted while full

    influxUp = true;
    await waitFor('publishes accepted again', () => pub.acked.length > ackedAtCap + 20, 25_000);
    await pub.stop();
    await expectAllAcked(influxUrl, svc.db, 'waste_bin', bin, pub.acked);
  }, SLOW_TEST_MS);
});

describe('a damaged spool', () => {
  it('starts with a torn record at the tail, keeps everything before it, and writes it', async () => {
    const bin = testDevice('waste-bin', 'centrum');
    let influxUp = false;
    const proxy = await startHttpProxy((req) => (req.url.startsWith('/write') && !influxUp ? { status: 503, body: '' } : 'forward'), influxUrl);
    cleanups.push(() => proxy.close());
    const dataDir = mkdtempSync(path.join(tmpdir(), 'citypipe-torn-'));
    const first: RunningService = await startTestService(proxy.url, [bin], { CITYPIPE_DATA_DIR: dataDir, CITYPIPE_STOP_TIMEOUT_MS: '300' });
    const c = await connectDevice(first.mqttUrl, bin);
    for (let seq = 0; seq < 25; seq++) await c.publishAsync(telemetryTopic(bin), JSON.stringify({ seq, fillingLevel: 0.25 }), { qos: 1 });
    await c.endAsync();
    await first.stop(); // InfluxDB is down: the 25 readings stay in the spool
    // A crash in the middle of an append leaves half a record at the end of the segment.
    const spoolDir = path.join(dataDir, 'spool');
    const segment = readdirSync(spoolDir).filter((f) => f.endsWith('.log')).sort().at(-1)!;
    appendFileSync(path.join(spoolDir, segment), Buffer.from([0x40, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]));

    influxUp = true;
    const second = await startTestService(proxy.url, [bin], { CITYPIPE_DATA_DIR: dataDir, CITYPIPE_INFLUX_BUCKET: first.db });
    cleanups.push(() => second.stop());
    await expectAllAcked(influxUrl, first.db, 'waste_bin', bin, Array.from({ length: 25 }, (_, i) => i));
    const c2 = await connectDevice(second.mqttUrl, bin);
    await c2.publishAsync(telemetryTopic(bin), JSON.stringify({ seq: 100, fillingLevel: 0.5 }), { qos: 1 });
    await c2.endAsync();
    await expectAllAcked(influxUrl, first.db, 'waste_bin', bin, [100]);
  });
});

describe('dead-letter replay', () => {
  it('writes readings of a device that was added to the catalog after they arrived', async () => {
    const known = testDevice('waste-bin', 'west');
    const late = testDevice('waste-bin', 'zuidoost');
    const devicesDir = writeCatalog([known]);
    const db = uniqueDbName('replay');
    await createDatabase(influxUrl, db);
    // Lab mode: an unregistered device can only publish there (anonymously); replay needs the token.
    const token = 'replay-test-token-0123456789';
    const svc = await startServiceProcess(testEnv(influxUrl, db, devicesDir, { CITYPIPE_FLUSH_INTERVAL_MS: '100', CITYPIPE_MQTT_OPEN: 'true', CITYPIPE_HTTP_TOKEN: token }));
    const http = `http://127.0.0.1:${svc.httpPort}`;
    const c = await connectClient(`mqtt://127.0.0.1:${svc.mqttPort}`, { clientId: late.record.id });
    const ts = Date.now() - 60_000;
    await c.publishAsync(telemetryTopic(late), JSON.stringify([{ ts, seq: 1, fillingLevel: 0.3 }, { ts: ts + 1, seq: 2, fillingLevel: 0.4 }]), { qos: 1 });
    await c.publishAsync(telemetryTopic(late), JSON.stringify({ ts: ts + 2, seq: 3, fillingLevel: 7 }), { qos: 1 });
    await c.endAsync();
    await waitFor('unknown_device dead letters', async () => {
      const r = (await (await fetch(`${http}/api/dead-letters?reason=unknown_device`)).json()) as { total: number };
      return r.total === 2;
    });

    // The city registers the device (the running service picks the catalog change up)…
    writeCatalog([known, late], devicesDir);
    await waitFor('the service to reload its catalog', async () => {
      const res = await fetch(`${http}/api/devices/${late.record.id}`, { headers: { authorization: `Bearer ${token}` } });
      return res.ok || undefined;
    });
    // …and replays what was refused.
    const replay = spawnCli(['dead-letters', 'replay', '--reason', 'unknown_device', '--url', http], { CITYPIPE_HTTP_TOKEN: token });
    expect(await replay.exited).toBe(0);
    expect(replay.stdout()).toMatch(/replayed 2 of 2 dead letters/);

    await expectAllAcked(influxUrl, db, 'waste_bin', late, [1, 2]);
    const rows = await influxQuery(influxUrl, db, `SELECT seq, district FROM waste_bin WHERE device_id = '${late.record.id}'`);
    expect(rows.map((r) => [r.time, r.district])).toEqual([
      [ts, 'zuidoost'],
      [ts + 1, 'zuidoost'],
    ]);
    // The reading that is still wrong comes back with its current reason.
    const after = (await (await fetch(`${http}/api/dead-letters?device_id=${late.record.id}`)).json()) as { items: { reason: string; path: string }[] };
    expect(after.items.map((d) => [d.reason, d.path])).toEqual([['out_of_range', 'fillingLevel']]);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
  }, SLOW_TEST_MS); // two processes of its own (the service and the CLI)
});
