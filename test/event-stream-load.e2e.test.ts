/**
 * The event stream under load, end to end: the real service, a real MQTT device publishing QoS 1
 * readings, and 20 clients replaying a large event log from id 0 at once. Replays are paged and
 * yield to the event loop, so the device's PUBACKs stay fast; streams need the token and are capped.
 *
 * The stream clients run in a child process at the lowest CPU priority (nice 19), as real clients
 * run on other machines: parsing 20 × the log in the service's process, or at the service's priority
 * on a 2-core machine, would measure the test, not the service. The device runs on its own thread.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventLog } from '../src/events/event-log.js';
import type { AppliedEvent } from '../src/tickets/ticket-store.js';
import { waitFor } from './helpers/wait.js';
import { quantile, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';

const influxUrl = inject('influxUrl');
const TOKEN = 'event-stream-load-token-0123456789';
const EVENTS = 50_000;
const STREAMS = 20;

const bin = testDevice('waste-bin', 'centrum');
let svc: RunningService;

/** Fills the service's event log through the log's own API, on a second connection to its database. */
function seedEventLog(dataDir: string, count: number): number {
  const db = new Database(path.join(dataDir, 'dispatch.db'));
  db.pragma('busy_timeout = 5000');
  const log = new EventLog({ db, maxRows: count * 2 });
  log.start();
  const batch: AppliedEvent[] = [];
  for (let i = 0; i < count; i++) {
    batch.push({
      event: {
        rule: i % 2 ? 'waste.collect' : 'device.battery',
        serviceCode: 'waste.collect',
        deviceId: `bin-${i % 500}`,
        district: 'centrum',
        type: 'waste-bin',
        severity: 'info',
        at: Date.now() - (count - i) * 1000,
        value: (i % 100) / 100,
        message: `waste.collect raised: fillingLevel ${(i % 100) / 100} ≥ 0.8 (seeded event ${i})`,
        late: false,
        state: i % 2 ? 'raised' : 'cleared',
      },
      ticketId: String(i),
      transition: 'opened',
    });
    if (batch.length === 5000) log.append(batch.splice(0));
  }
  if (batch.length) log.append(batch.splice(0));
  // They are test data, not annotations: keep the service from writing 100k points to InfluxDB meanwhile.
  const last = log.lastId();
  for (let from = 0; from < last; from += 10_000) log.markWritten(Array.from({ length: Math.min(10_000, last - from) }, (_, k) => from + k + 1));
  log.stop();
  db.close();
  return last;
}

/** What the worker reports for one stream. */
interface StreamResult {
  status: number;
  events: number;
  lastId: number;
  ms: number;
  body?: string;
}

/**
 * Opens `count` streams from id 0 in a child process (nice 19), reads each until `lastId`, then
 * keeps them open until told `close`. Sends `{ done: StreamResult[] }` once every stream has read to
 * `lastId` (or was refused).
 */
function replayInChild(url: string, headers: Record<string, string>, count: number, lastId: number): { done: Promise<StreamResult[]>; close(): Promise<void> } {
  // String.raw: the child's source keeps its own escapes (\n in its strings and regular expressions).
  const code = String.raw`
    const http = require('node:http');
    const { url, headers, count, lastId } = JSON.parse(process.env.CITYPIPE_TEST_STREAMS);
    const parentPort = { postMessage: (m) => process.send(m), on: (e, f) => process.on(e, f) };
    const results = new Array(count);
    const open = [];
    let finished = 0;
    const finish = (i, r) => {
      if (results[i]) return;
      results[i] = r;
      if (++finished === count) parentPort.postMessage({ done: results });
    };
    for (let i = 0; i < count; i++) {
      const t0 = Date.now();
      const req = http.get(url, { headers, agent: false }, (res) => {
        open.push(res);
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => finish(i, { status: res.statusCode, events: 0, lastId: 0, ms: Date.now() - t0, body }));
          return;
        }
        let tail = '';
        let events = 0;
        let last = 0;
        res.on('data', (chunk) => {
          // Only whole frames (up to the last blank line) are counted; the rest waits for the next chunk.
          const s = tail + chunk;
          const cut = s.lastIndexOf('\n\n');
          if (cut === -1) { tail = s; return; }
          const whole = s.slice(0, cut);
          tail = s.slice(cut + 2);
          let at = whole.indexOf('\ndata: ');
          while (at !== -1) { events++; at = whole.indexOf('\ndata: ', at + 7); }
          const lastFrame = whole.lastIndexOf('id: ');
          if (lastFrame !== -1) last = Number(/^id: (\d+)/.exec(whole.slice(lastFrame))[1]);
          if (last >= lastId) finish(i, { status: 200, events, lastId: last, ms: Date.now() - t0 });
        });
        res.on('close', () => finish(i, { status: 200, events, lastId: last, ms: Date.now() - t0 }));
      });
      req.on('error', (err) => finish(i, { status: 0, events: 0, lastId: 0, ms: Date.now() - t0, body: String(err) }));
    }
    parentPort.on('message', (m) => {
      if (m === 'close') {
        for (const res of open) res.destroy();
        parentPort.postMessage({ closed: true });
        process.disconnect();
      }
    });
  `;
  const child = spawn('nice', ['-n', '19', process.execPath, '-e', code], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CITYPIPE_TEST_STREAMS: JSON.stringify({ url, headers, count, lastId }) },
  });
  let closed: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const done = new Promise<StreamResult[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the stream client exited (${code}) before every stream was read`)));
    child.on('message', (m: { done?: StreamResult[]; closed?: boolean }) => {
      if (m.done) resolve(m.done);
      if (m.closed) closed();
    });
  });
  return {
    done,
    close: async () => {
      if (child.exitCode === null && child.connected) {
        await new Promise<void>((resolve) => {
          closed = resolve;
          child.send('close');
        });
      }
      await exited;
    },
  };
}

/**
 * One request on its own connection (no pool: a pooled client may keep a spare connection open that
 * holds up the service's stop): the status, headers and, for a stream, its first chunk.
 */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (chunk: string) => {
        body += chunk;
        if (res.statusCode === 200) res.destroy();
      });
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** One PUBACK round trip as the device saw it: when it published (epoch ms) and how long the PUBACK took. */
interface Sample {
  at: number;
  ms: number;
}

/**
 * A device on its own thread, as a real device is on its own machine: it publishes a QoS 1 reading
 * every `intervalMs` on schedule, whether or not earlier PUBACKs are back, and times each PUBACK.
 * On the service's thread a blocked event loop would also delay the publishes and hide the stall.
 */
function deviceInWorker(mqttUrl: string, device: TestDevice, intervalMs: number): { samples(): Promise<{ samples: Sample[]; failures: number }>; stop(): Promise<void> } {
  const code = String.raw`
    const { parentPort, workerData } = require('node:worker_threads');
    const mqtt = require('mqtt');
    const { url, id, secret, topic, intervalMs } = workerData;
    const samples = [];
    let failures = 0;
    let seq = 0;
    const client = mqtt.connect(url, { protocolVersion: 4, clientId: id, username: id, password: secret, reconnectPeriod: 0, connectTimeout: 5000 });
    client.on('error', () => failures++);
    client.on('connect', () => {
      const timer = setInterval(() => {
        const at = Date.now();
        const t0 = performance.now();
        const s = seq++;
        client.publish(topic, JSON.stringify({ seq: s, fillingLevel: (s % 100) / 100 }), { qos: 1 }, (err) => {
          if (err) failures++;
          else samples.push({ at, ms: performance.now() - t0 });
        });
      }, intervalMs);
      parentPort.on('message', (m) => {
        if (m === 'samples') parentPort.postMessage({ samples, failures });
        if (m === 'stop') {
          clearInterval(timer);
          client.end(false, {}, () => parentPort.postMessage({ stopped: true }));
        }
      });
    });
  `;
  const worker = new Worker(code, { eval: true, workerData: { url: mqttUrl, id: device.record.id, secret: device.secret, topic: telemetryTopic(device), intervalMs } });
  const ask = <T>(message: string, key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (!(key in m)) return;
        worker.off('message', onMessage);
        resolve(m as T);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.postMessage(message);
    });
  return {
    samples: () => ask('samples', 'samples'),
    stop: async () => {
      await ask('stop', 'stopped');
      await worker.terminate();
    },
  };
}

beforeAll(async () => {
  svc = await startTestService(influxUrl, [bin], {
    CITYPIPE_HTTP_TOKEN: TOKEN,
    CITYPIPE_HTTP_MAX_STREAMS: String(STREAMS),
    // Every client here is 127.0.0.1: the service-wide cap is the one this test meets (the per-address
    // cap is tested in src/http/event-stream.test.ts).
    CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS: String(STREAMS + 10),
    CITYPIPE_EVENTS_MAX: String(EVENTS * 2),
  });
}, 60_000);
afterAll(async () => {
  await svc?.stop();
});

describe('GET /api/events/stream under load', () => {
  it(`${STREAMS} replays of ${EVENTS} events from id 0 keep a device's PUBACK p99 under 200 ms (or 5× its p99 alone); more streams are refused; no token, no stream`, async () => {
    const seedStart = Date.now();
    const lastId = seedEventLog(svc.service.config.dataDir, EVENTS);
    console.log(`seeded ${lastId} events in ${Date.now() - seedStart} ms`);
    expect(lastId).toBeGreaterThanOrEqual(EVENTS);
    const url = `${svc.httpUrl}/api/events/stream`;

    // Without the token: 401, before any replay work.
    const anonymous = await get(url, { 'last-event-id': '0' });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ code: 'CP_ERR_HTTP_UNAUTHORIZED' });

    // A device publishing a QoS 1 reading every 20 ms, timing each PUBACK.
    const device = deviceInWorker(svc.mqttUrl, bin, 20);
    try {
      // Baseline: the same device with nothing else going on, until 100 PUBACKs are back (about 2 s).
      await waitFor('100 PUBACKs before the replays', async () => (await device.samples()).samples.length >= 100, 120_000, 200);
      const loadFrom = Date.now();
      const replays = replayInChild(url, { authorization: `Bearer ${TOKEN}`, 'last-event-id': '0' }, STREAMS, lastId);
      try {
        const results = await replays.done;
        const loadTo = Date.now();
        const { samples, failures } = await device.samples();
        const baseline = samples.filter((s) => s.at < loadFrom).map((s) => s.ms);
        const during = samples.filter((s) => s.at >= loadFrom && s.at <= loadTo).map((s) => s.ms);

        // A distribution of PUBACK round trips measured while the replays ran (one every 20 ms, on the
        // device's schedule), not one timer firing on time. The bound: 200 ms (> 10× the unloaded p99
        // here), or 5× the p99 of the same device just before when the machine is busy with other
        // work (a CPU hog, a parallel build): an unpaged replay held the event loop for seconds
        // (PUBACK p99 3.3 s against 6 ms alone), far beyond either.
        const p99 = quantile(during, 0.99);
        console.log(
          `PUBACK p99: ${quantile(baseline, 0.99).toFixed(1)} ms alone (n=${baseline.length}), ` +
            `${p99.toFixed(1)} ms during ${STREAMS} replays of ${lastId} events (n=${during.length}, ${loadTo - loadFrom} ms); max ${Math.max(...during).toFixed(1)} ms`,
        );
        // Every stream got the whole log, in full.
        for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ status: 200, lastId, events: lastId });
        expect(baseline.length).toBeGreaterThanOrEqual(100);
        expect(during.length).toBeGreaterThanOrEqual(50);
        expect(failures).toBe(0);
        expect(p99).toBeLessThan(Math.max(200, 5 * quantile(baseline, 0.99)));

        // The streams are still open: one more is refused, saying which limit and which setting.
        const over = await get(url, { authorization: `Bearer ${TOKEN}`, 'last-event-id': '0' });
        expect(over.status).toBe(503);
        expect(over.headers['retry-after']).toMatch(/^\d+$/);
        const refusal = JSON.parse(over.body) as { code: string; message: string };
        expect(refusal.code).toBe('CP_ERR_HTTP_STREAM_LIMIT');
        expect(refusal.message).toMatch(/CITYPIPE_HTTP_MAX_STREAMS\b/);
      } finally {
        await replays.close();
      }

      // Closed streams free their slots.
      const again = await get(url, { authorization: `Bearer ${TOKEN}` });
      expect(again.status).toBe(200);
      expect(again.body).toMatch(/: connected/);
    } finally {
      await device.stop();
    }
  }, 300_000);
});
