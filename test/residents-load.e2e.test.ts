/**
 * The residents' routes under load, end to end (CONTRACT §9): the real service with a city's worth of
 * parking bays, meters, streetlights and bins; devices publishing QoS 1 readings throughout; and one
 * client process sending 1,000 requests/s to the open data and the status page for 10 s in all.
 * Every request is answered (200, or 304 for a current ETag; no 429 at the default
 * CITYPIPE_OPEN_RATE, no 5xx), and the devices' PUBACK p99 stays where it is without that load.
 * Between the loaded windows the same load goes to a bare node:http server on the service's
 * thread, answering the same bytes: what serving these requests costs the devices at that moment
 * however little is done per request.
 *
 * The HTTP client runs in a child process of its own, as real clients run on other machines; its CPU
 * is not the service's. It runs at normal priority: it needs about a tenth of a core, and at nice 19
 * beside a CPU hog the scheduler gave it so little that it fell ten seconds behind its schedule
 * (470 requests/s), which measured the test, not the service; what its own wake-ups cost the service
 * is in the control, which uses the same client. The devices run on their own thread
 * (bench/puback-devices.ts); the bound on their PUBACKs is the bench's (bench/residents-figures.ts),
 * which says why it has an absolute part.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { median, pubackP99PerSlice, startPubackDevices } from '../bench/puback-devices.js';
import { PUBACK_ALLOWANCE_MS, PUBACK_RATIO, PUBACK_SLICE_MS, pubackWithinBound, RESIDENT_URLS as URLS } from '../bench/residents-figures.js';
import { waitFor } from './helpers/wait.js';
import { connectDevice, quantile, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';

const influxUrl = inject('influxUrl');

const RATE = 1000;
/**
 * Ten windows of 1 s with the load on citypipe's routes (10 s in all) and ten with it on the bare
 * server, each after one without load: A B A C A B A C … A. Measured here, the machine's other load
 * comes and goes within seconds (the disk's fsyncs switch between ~1 ms and ~20 ms, other test runs
 * take the cores in bursts); windows of 1 s spread that over every kind alike. Devices' PUBACK p99
 * is taken per quarter of a second of each window, 40 or more of each kind (bench/residents-figures.ts
 * says why).
 */
const LOADED_WINDOWS = 10;
const WINDOW_MS = 1000;
/** Devices timing their PUBACKs, each publishing every `PUBLISH_MS`: 500 PUBACKs/s, ~125 per slice of 250 ms. */
const PUBLISH_MS = 20;
/** The client sends its requests 10 at a time, every 10 ms. */
const TICK_MS = 10;

// A city's catalog in small: 20 zones of 10 bays, meters, streetlights and bins in 4 districts.
const DISTRICTS = ['centrum', 'noord', 'oost', 'west'];
const bays = Array.from({ length: 200 }, (_, i) => testDevice('parking-spot', DISTRICTS[i % 4]!, { zone: `Zone ${String(Math.floor(i / 10)).padStart(2, '0')}` }));
const meters = Array.from({ length: 20 }, (_, i) => testDevice('parking-meter', DISTRICTS[i % 4]!));
const lights = Array.from({ length: 40 }, (_, i) => testDevice('streetlight', DISTRICTS[i % 4]!, { powerRating: 60 }));
const bins = Array.from({ length: 40 }, (_, i) => testDevice('waste-bin', DISTRICTS[i % 4]!));
/** Out of order (a light's repair ticket) or full (a bin's collection ticket): the outages residents see. */
const BROKEN_LIGHTS = lights.slice(0, 8);
const FULL_BINS = bins.slice(0, 8);
/** The devices that publish throughout and time their PUBACKs: ten, of all four types, none of those seeded. */
const timed = [...bays.slice(196), meters[19]!, ...lights.slice(37), ...bins.slice(38)];

let svc: RunningService;

beforeAll(async () => {
  svc = await startTestService(influxUrl, [...bays, ...meters, ...lights, ...bins]);
}, 60_000);
afterAll(async () => {
  await svc?.stop();
});

/** One reading from each of `devices`, 20 connections at a time. */
async function publishOnce(devices: readonly TestDevice[], reading: (i: number) => Record<string, unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < devices.length; i = next++) {
      const d = devices[i]!;
      const client = await connectDevice(svc.mqttUrl, d);
      await client.publishAsync(telemetryTopic(d), JSON.stringify({ seq: 1, ...reading(i) }), { qos: 1 });
      await client.endAsync();
    }
  };
  await Promise.all(Array.from({ length: 20 }, lane));
}

/** What the client process reports for one stretch of load. */
interface LoadResult {
  /** First request sent and last answer read, epoch ms. */
  from: number;
  to: number;
  sent: number;
  statuses: Record<string, number>;
  /** Request sent → answer read, ms, per answered request. */
  latencies: number[];
  /** A 200 without a body or a 304 with one. */
  malformed: number;
  errors: string[];
  /** The client's own CPU time in the run. */
  clientCpuMs: number;
}

/**
 * One client process with a keep-alive pool of 8 connections, as a city's proxy or a busy
 * app backend would hold. Each `run` sends `rate` requests/s for `ms` (10 every 10 ms, caught up
 * when a tick comes late), the four URLs in turn; every other round of four revalidates with the
 * ETag it last got for its URL, as a client with a cached copy does. A run ends once every answer
 * is read.
 */
function httpLoadInChild(): { run(base: string, ms: number, rate: number): Promise<LoadResult>; close(): Promise<void> } {
  const code = String.raw`
    const http = require('node:http');
    const { urls, tickMs } = JSON.parse(process.env.CITYPIPE_TEST_HTTP_LOAD);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const etags = new Map();
    let n = 0;
    function one(base, done) {
      const url = base + urls[n % urls.length];
      const revalidate = Math.floor(n / urls.length) % 2 === 1;
      n++;
      const headers = {};
      const tag = etags.get(url);
      if (revalidate && tag) headers['if-none-match'] = tag;
      const t0 = performance.now();
      const req = http.get(url, { agent, headers }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () => {
          if (res.headers.etag) etags.set(url, res.headers.etag);
          const malformed = (res.statusCode === 200 && bytes === 0) || (res.statusCode === 304 && bytes > 0);
          done(res.statusCode, performance.now() - t0, malformed);
        });
      });
      req.on('error', (err) => done(0, performance.now() - t0, false, String(err)));
    }
    function run(base, ms, rate) {
      return new Promise((resolve) => {
        const total = Math.round((rate * ms) / 1000);
        const r = { from: Date.now(), to: 0, sent: 0, statuses: {}, latencies: [], malformed: 0, errors: [], clientCpuMs: 0 };
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        let answered = 0;
        const done = (status, latency, malformed, error) => {
          r.statuses[status] = (r.statuses[status] || 0) + 1;
          r.latencies.push(latency);
          if (malformed) r.malformed++;
          if (error && r.errors.length < 5) r.errors.push(error);
          if (++answered === total) {
            r.to = Date.now();
            const cpu = process.cpuUsage(cpu0);
            r.clientCpuMs = (cpu.user + cpu.system) / 1000;
            resolve(r);
          }
        };
        const tick = () => {
          const due = Math.min(total, Math.floor((rate * (performance.now() - t0)) / 1000) + Math.max(1, Math.round((rate * tickMs) / 1000)));
          while (r.sent < due) {
            r.sent++;
            one(base, done);
          }
          if (r.sent < total) setTimeout(tick, tickMs);
        };
        tick();
      });
    }
    process.on('message', (m) => {
      if (m.run) run(m.run.base, m.run.ms, m.run.rate).then((result) => process.send({ result }));
      if (m.close) {
        agent.destroy();
        process.disconnect();
      }
    });
  `;
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CITYPIPE_TEST_HTTP_LOAD: JSON.stringify({ urls: URLS, tickMs: TICK_MS }) },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    run: (base, ms, rate) =>
      new Promise<LoadResult>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`the HTTP client exited (${code}) during a run`));
        child.once('exit', onExit);
        child.once('message', (m: { result: LoadResult }) => {
          child.off('exit', onExit);
          resolve(m.result);
        });
        child.send({ run: { base, ms, rate } });
      }),
    close: async () => {
      if (child.exitCode === null && child.connected) child.send({ close: true });
      await exited;
    },
  };
}

/**
 * A bare node:http server on the service's thread (this process), answering what citypipe answered
 * (bytes and headers; 304 for the current ETag) from memory: what serving these requests costs the
 * devices however little is done per request.
 */
async function bareServer(httpUrl: string): Promise<{ base: string; stop(): Promise<void> }> {
  const answers = new Map<string, { body: Buffer; headers: Record<string, string> }>();
  for (const url of URLS) {
    const res = await fetch(httpUrl + url);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = v;
    });
    answers.set(url, { body: Buffer.from(await res.arrayBuffer()), headers });
  }
  const server = http.createServer((req, res) => {
    const a = answers.get(req.url ?? '');
    if (!a) return void res.writeHead(404).end();
    if (req.headers['if-none-match'] === a.headers.etag) return void res.writeHead(304, a.headers).end();
    res.writeHead(200, { ...a.headers, 'content-length': a.body.length }).end(a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A window of the run: its wall-clock bounds (epoch ms) and this process's CPU time in it. */
interface Window {
  from: number;
  to: number;
  cpuMs: number;
}

function cpuMsSince(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

/** CPU time per wall-clock time over `windows`. */
function cpuShare(windows: readonly Window[]): number {
  return windows.reduce((a, w) => a + w.cpuMs, 0) / windows.reduce((a, w) => a + w.to - w.from, 0);
}

describe('residents’ routes under load', () => {
  it(`${RATE} requests/s for ${(LOADED_WINDOWS * WINDOW_MS) / 1000} s from one client: all 200 or 304, and devices' PUBACK p99 within ${Math.round((PUBACK_RATIO - 1) * 100)} % (or ${PUBACK_ALLOWANCE_MS} ms) of the higher of its value without that load and with it on a bare server`, async () => {
    // Readings from every bay and meter, broken lights and full bins: the feeds have something in them.
    await publishOnce(bays.slice(0, 190), (i) => ({ status: i % 3 ? 'occupied' : 'free' }));
    await publishOnce(meters.slice(0, 19), (i) => ({ totalSpotNumber: 24, availableSpotNumber: i % 5 }));
    await publishOnce(BROKEN_LIGHTS, () => ({ powerState: 'on', status: 'defectiveLamp' }));
    await publishOnce(FULL_BINS, () => ({ fillingLevel: 0.95 }));
    await waitFor(
      'the broken lights and full bins in the outages feed',
      async () => ((await (await fetch(`${svc.httpUrl}/open/v1/outages.geojson`)).json()) as { features: unknown[] }).features.length === BROKEN_LIGHTS.length + FULL_BINS.length,
      30_000,
      200,
    );
    const sizes = await Promise.all(URLS.map(async (u) => (await (await fetch(svc.httpUrl + u)).arrayBuffer()).byteLength));
    console.log(`bodies: ${URLS.map((u, i) => `${u} ${sizes[i]} B`).join(', ')}`);

    const bare = await bareServer(svc.httpUrl);
    const devices = await startPubackDevices(svc.mqttUrl, timed.map((d) => ({ id: d.record.id, type: d.record.type, secret: d.secret })), PUBLISH_MS, 10);
    const client = httpLoadInChild();
    try {
      // Warm-up, not measured: the devices' first PUBACKs, then a second of load on each server (JIT, the pool's connections).
      await waitFor('500 PUBACKs before measuring', async () => (await devices.samples()).length >= 500, 60_000, 200);
      await client.run(svc.httpUrl, 1000, RATE);
      await client.run(bare.base, 1000, RATE);

      // A B A C A B A C … A: none, citypipe's routes, none, the bare server. A loaded window is where
      // the client actually sent its first request and read its last answer; its CPU time is
      // counted from the command to the result.
      const quiet: Window[] = [];
      const runs: LoadResult[] = [];
      const busy: Window[] = [];
      const elsewhere: LoadResult[] = [];
      const unloaded = async () => {
        const from = Date.now();
        const cpu0 = process.cpuUsage();
        await sleep(WINDOW_MS);
        quiet.push({ from, to: Date.now(), cpuMs: cpuMsSince(cpu0) });
      };
      for (let w = 0; w < LOADED_WINDOWS; w++) {
        await unloaded();
        const from = Date.now();
        const cpu0 = process.cpuUsage();
        runs.push(await client.run(svc.httpUrl, WINDOW_MS, RATE));
        busy.push({ from, to: Date.now(), cpuMs: cpuMsSince(cpu0) });
        await unloaded();
        elsewhere.push(await client.run(bare.base, WINDOW_MS, RATE));
      }
      await unloaded();
      const samples = await devices.samples();

      const statuses: Record<string, number> = {};
      for (const r of runs) for (const [status, n] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
      const latencies = runs.flatMap((r) => r.latencies);
      const loadedMs = runs.reduce((a, r) => a + r.to - r.from, 0);
      const rate = (latencies.length * 1000) / loadedMs;
      const without = pubackP99PerSlice(samples, quiet, PUBACK_SLICE_MS);
      const withLoad = pubackP99PerSlice(samples, runs, PUBACK_SLICE_MS);
      const withBare = pubackP99PerSlice(samples, elsewhere, PUBACK_SLICE_MS);
      const p99Without = median(without.map((w) => w.p99));
      const p99With = median(withLoad.map((w) => w.p99));
      const p99Bare = median(withBare.map((w) => w.p99));
      // This process is the service, the devices' thread and the test: what it spends beyond its
      // unloaded share, per answer, is what an answer costs the service.
      const cpuUsPerAnswer = ((cpuShare(busy) - cpuShare(quiet)) * busy.reduce((a, w) => a + w.to - w.from, 0) * 1000) / latencies.length;
      const list = (ws: { p99: number; n: number }[]) => ws.map((w) => `${w.p99.toFixed(1)} (${w.n})`).join(', ');
      const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${((a / b - 1) * 100).toFixed(0)} %`;
      console.log(
        `HTTP: ${latencies.length} answers in ${loadedMs} ms = ${rate.toFixed(0)}/s, ${JSON.stringify(statuses)}; ` +
          `latency p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ` +
          `service CPU ${(cpuShare(quiet) * 100).toFixed(0)} % of a core without the load, ${(cpuShare(busy) * 100).toFixed(0)} % with it: ${cpuUsPerAnswer.toFixed(0)} µs per answer; ` +
          `client CPU ${((runs.reduce((a, r) => a + r.clientCpuMs, 0) * 100) / busy.reduce((a, w) => a + w.to - w.from, 0)).toFixed(0)} % of a core\n` +
          `PUBACK p99 per ${PUBACK_SLICE_MS} ms of each window, ms (samples): no load ${list(without)}; citypipe's routes ${list(withLoad)}; the bare server ${list(withBare)}\n` +
          `PUBACK p99, median of the slices: ${p99Without.toFixed(2)} ms without load, ${p99Bare.toFixed(2)} ms with the load on the bare server (${pct(p99Bare, p99Without)}), ` +
          `${p99With.toFixed(2)} ms with it on citypipe's routes (${pct(p99With, p99Without)} on none, ${pct(p99With, p99Bare)} on the bare server)`,
      );

      for (const r of [...runs, ...elsewhere]) {
        expect(r.errors).toEqual([]);
        expect(r.malformed).toBe(0);
      }
      // Only 200 and 304, and both: revalidation works under load.
      expect(Object.keys(statuses).sort()).toEqual(['200', '304']);
      // About 125 PUBACKs in each slice; fewer than 50 would make its p99 the slice's slowest PUBACK.
      for (const w of [...without, ...withLoad, ...withBare]) expect(w.n).toBeGreaterThanOrEqual(50);

      // The issue's bound on the medians of the slices (bench/residents-figures.ts says why it has an
      // absolute part, and why slices of 250 ms): a stall of other work on a shared machine moves none of them.
      expect(pubackWithinBound(p99Without, p99Bare, p99With), `PUBACK p99 ${p99Without.toFixed(2)} → ${p99With.toFixed(2)} ms (bare server ${p99Bare.toFixed(2)} ms)`).toBe(true);
      expect(rate).toBeGreaterThanOrEqual(900);
      // Work per request too small to show in PUBACKs shows here: an answer from memory cost the
      // service 125–211 µs of CPU in this test (beside a CPU hog included), one that read the stores
      // first (a SQLite query and the latest readings) 350–475 µs, a snapshot per request 1,400 µs.
      expect(cpuUsPerAnswer).toBeLessThan(300);
    } finally {
      await client.close();
      await bare.stop();
      const totals = await devices.stop();
      expect(totals.failures).toBe(0);
      expect(totals.acked).toBe(totals.sent);
    }
  }, 180_000);
});
