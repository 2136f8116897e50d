/**
 * The residents' routes (CONTRACT §9): what one client process can get from the open data and the
 * status page, 200s and 304s, beside a bare node:http server answering the same bytes from memory
 * (raw-http-server.ts) with the same client (http-load.ts); and what serving them does to devices'
 * PUBACKs, timed by ten devices on a thread of the harness (puback-devices.ts).
 *
 * The service has a small city's catalog (20 parking zones of 10 bays, 20 meters, 40 of each type
 * residents see outages of: streetlights and bins as shipped), a reading from nearly every device and
 * 8 open public tickets per outage type, so the bodies are of a realistic size; the timed devices
 * publish throughout, so a new snapshot is made every second.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { hashSecretAsync } from '../src/catalog/secrets.js';
import { deviceTypeModules, type DeviceTypeName } from '../src/device-types/registry.js';
import type { DeviceTypeModule } from '../src/device-types/module.js';
import { buildKnows } from './durability.js';
import type { HttpLoadConfig, HttpLoadResult } from './http-load.js';
import { spawnWithNofile, stopChild } from './processes.js';
import { median, pubackP99, pubackP99PerSlice, startPubackDevices, type PubackDevices, type PubackSample, type TimedDevice } from './puback-devices.js';
import type { RawAnswer } from './raw-http-server.js';
import { round } from './proc-stats.js';
import { PUBACK_SLICE_MS, RESIDENT_URLS, type ResidentsRun, type Throughput } from './residents-figures.js';
import { bench, fmt, HOST, sleep, type BenchContext } from './run-context.js';

/** The issue's load: 1,000 requests/s from one client, in windows of 1 s with 1 s of none between. */
const RATE = 1000;
const WINDOW_MS = 1000;
/** Connections of the client's keep-alive pool at 1,000 requests/s. */
const CONNECTIONS = 8;
/** Connections when the client takes all it can: enough that the client, not the wait for answers, is the limit. */
const MAX_CONNECTIONS = 64;
/** Timed devices, each publishing every PUBLISH_MS: 500 PUBACKs/s. */
const TIMED = 10;
const PUBLISH_MS = 20;
const SECRET = 'bench-residents-secret';
const LABEL = "residents' routes";

interface CityDevice {
  id: string;
  type: DeviceTypeName;
  district: string;
  attributes: Record<string, string | number>;
  /** The reading it sends once before the measurement; undefined for none. */
  seed: ((i: number) => Record<string, unknown>) | undefined;
}

/** Broken or full devices seeded per outage type: each opens a public ticket. */
const OUTAGES_PER_TYPE = 8;
/** Open public tickets the seeding makes: OUTAGES_PER_TYPE of each type residents see outages of. */
const SEEDED_OUTAGES = OUTAGES_PER_TYPE * deviceTypeModules.filter((m) => m.definition.outages !== undefined).length;

/**
 * The catalog, from the registry's capabilities rather than type names: 200 bays in zones of 10 (the
 * types with `occupancy`), 20 meters (`capacity`), 40 devices of each type residents see outages of
 * (`outages`; the first 8 send the reading of their bench payload that raises a rule), in 4
 * districts, with the attributes of the type's first demo device. The last few of each publish
 * throughout.
 */
function city(): { records: CityDevice[]; timed: TimedDevice[] } {
  const records: CityDevice[] = [];
  const groups: CityDevice[][] = [];
  const add = (mod: DeviceTypeModule, n: number, attributes: (i: number) => Record<string, string | number>, seed: (i: number) => ((j: number) => Record<string, unknown>) | undefined) => {
    const type = mod.definition.name as DeviceTypeName;
    const group: CityDevice[] = [];
    for (let i = 0; i < n; i++) {
      group.push({ id: `res-${type}-${i}`, type, district: `bench-d${i % 4}`, attributes: { ...(mod.demo.devices[0]?.attributes ?? {}), ...attributes(i) }, seed: seed(i) });
    }
    records.push(...group);
    groups.push(group);
  };
  for (const mod of deviceTypeModules) {
    const { occupancy, capacity, outages } = mod.definition;
    if (occupancy) {
      add(mod, 200, (i) => ({ [occupancy.zoneAttribute]: `Zone ${String(Math.floor(i / 10)).padStart(2, '0')}` }), () => (j) => ({ [occupancy.field]: j % 3 ? occupancy.occupied : occupancy.free }));
    } else if (capacity) {
      add(mod, 20, () => ({}), () => (j) => ({ [capacity.totalField]: 24, [capacity.availableField]: j % 5 }));
    } else if (outages) {
      add(mod, 40, () => ({}), (i) => (i < OUTAGES_PER_TYPE ? () => mod.bench.rules.flip(1) : undefined));
    }
  }
  // The last devices of each group publish throughout (TIMED in all, dealt round the groups).
  const timed: CityDevice[] = [];
  for (let k = 0; timed.length < TIMED; k++) {
    const group = groups[k % groups.length]!;
    const d = group[group.length - 1 - Math.floor(k / groups.length)];
    if (d) timed.push(d);
  }
  return { records, timed: timed.map((r) => ({ id: r.id, type: r.type, secret: SECRET })) };
}

async function seed(port: number, records: readonly CityDevice[], timed: ReadonlySet<string>): Promise<void> {
  const todo = records.flatMap((r, i) => {
    // One reading from every device that does not publish throughout: bays, meters, the seeded outages.
    const reading = timed.has(r.id) ? undefined : r.seed?.(i);
    return reading ? [{ r, reading }] : [];
  });
  let next = 0;
  const lane = async () => {
    for (let k = next++; k < todo.length; k = next++) {
      const { r, reading } = todo[k]!;
      const c = await mqtt.connectAsync(`mqtt://${HOST}:${port}`, { clientId: r.id, username: r.id, password: SECRET, protocolVersion: 4, reconnectPeriod: 0 });
      await c.publishAsync(`city/${r.type}/${r.id}/telemetry`, JSON.stringify({ seq: 1, ...reading }), { qos: 1 });
      await c.endAsync();
    }
  };
  await Promise.all(Array.from({ length: 20 }, lane));
}

/** Runs http-load.js once; stopped if it has not finished well after its schedule. */
function httpLoad(ctx: BenchContext, cfg: HttpLoadConfig): { pid: number; done: Promise<HttpLoadResult> } {
  const child = spawnWithNofile(1024, process.execPath, [bench('http-load.js'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'], env: {} });
  const done = new Promise<HttpLoadResult>((resolve, reject) => {
    let line = '';
    createInterface({ input: child.stdout! }).on('line', (l) => (line = l));
    child.once('exit', (code) => (code === 0 && line ? resolve(JSON.parse(line) as HttpLoadResult) : reject(new Error(`http-load exited with ${code}`))));
    const timer = setTimeout(() => {
      reject(new Error('http-load did not finish'));
      void stopChild(child, 2000);
    }, cfg.windows * (cfg.onMs + cfg.offMs) + cfg.offMs + ctx.phaseMs);
    timer.unref();
  });
  return { pid: child.pid!, done };
}

/** The raw baseline: raw-http-server.js answering what citypipe answered at `base`, headers and all. */
async function startRawServer(ctx: BenchContext, base: string): Promise<{ proc: ChildProcess; base: string; bodyBytes: number[] }> {
  const answers: RawAnswer[] = [];
  for (const url of RESIDENT_URLS) {
    const res = await fetch(base + url);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = v;
    });
    answers.push({ url, body: Buffer.from(await res.arrayBuffer()).toString('base64'), headers });
  }
  const file = path.join(ctx.workDir, 'residents-answers.json');
  writeFileSync(file, JSON.stringify(answers));
  const proc = spawnWithNofile(1024, process.execPath, [bench('raw-http-server.js'), file], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { port: number }).port));
      proc.once('exit', (code) => reject(new Error(`the raw HTTP server exited with ${code}`)));
    });
    return { proc, base: `http://${HOST}:${port}`, bodyBytes: answers.map((a) => Buffer.from(a.body, 'base64').length) };
  } catch (err) {
    await stopChild(proc, 2000);
    throw err;
  }
}

/** What one client gets from `target` as fast as it can for residentsSeconds, and what it costs `server`. */
async function fastest(ctx: BenchContext, name: string, target: string, revalidateEvery: number, server: { role: string; pid: number }): Promise<Throughput> {
  const onMs = ctx.sizes.residentsSeconds * 1000;
  const run = httpLoad(ctx, { targets: [target], urls: [...RESIDENT_URLS], connections: MAX_CONNECTIONS, rate: 0, windows: 1, onMs, offMs: 0, revalidateEvery });
  const sampler = ctx.sampler({ [server.role]: [server.pid], generator: [run.pid] });
  const r = await run.done;
  const usage = sampler.stop();
  const w = r.windows[0]!;
  const ms = w.to - w.from;
  const a = r.answers[target]!;
  const t: Throughput = {
    perS: Math.round((w.answered * 1000) / ms),
    statuses: a.statuses,
    cpuUsPerAnswer: Math.round((usage[server.role]!.cpuS * 1e6) / w.answered),
    clientCpuPct: Math.round((r.cpuMs / ms) * 100),
    p50Ms: round(a.p50Ms, 2),
    p99Ms: round(a.p99Ms, 2),
    from: w.from,
    to: w.to,
  };
  ctx.processes[`${LABEL}: ${name}`] = usage;
  if (r.firstError) ctx.note(`${LABEL}: ${name}: ${r.firstError}`);
  if (t.clientCpuPct >= 90) ctx.note(`${LABEL}: ${name}: the client used ${t.clientCpuPct} % of a core, so this figure is a lower bound (the client was the limit)`);
  ctx.log(`  ${name}: ${fmt(t.perS)} answers/s ${JSON.stringify(t.statuses)}, ${t.cpuUsPerAnswer} µs server CPU each, client ${t.clientCpuPct} % of a core`);
  return t;
}

export async function residentsPhase(ctx: BenchContext): Promise<ResidentsRun | undefined> {
  if (!(await buildKnows(ctx, 'CITYPIPE_OPEN_RATE'))) {
    ctx.note(`${LABEL}: the build under test has no residents' routes (CITYPIPE_OPEN_RATE); not measured`);
    return undefined;
  }
  const { records, timed } = city();
  const dir = path.join(ctx.workDir, 'catalog-residents');
  mkdirSync(dir, { recursive: true });
  const secretHash = await hashSecretAsync(SECRET);
  writeFileSync(
    path.join(dir, 'residents-fleet.json'),
    JSON.stringify(records.map((r, i) => ({ ...r, location: { lat: 52.36 + (i % 50) / 2000, lon: 4.88 + Math.floor(i / 50) / 500 }, reportingIntervalS: 600, secretHash }))),
  );
  // One client stands for the many residents a city's proxy forwards from one address: the
  // per-address limit (2,000/s by default) would otherwise be what the client measures.
  const svc = await ctx.startService(LABEL, dir, 'bench_residents', 1024, { CITYPIPE_OPEN_RATE: '1000000' });
  let raw: { proc: ChildProcess; base: string; bodyBytes: number[] } | undefined;
  let devices: PubackDevices | undefined;
  try {
    const base = `http://${HOST}:${svc.httpPort}`;
    await seed(svc.mqttPort, records, new Set(timed.map((t) => t.id)));
    const deadline = Date.now() + 30_000;
    let outages = 0;
    while (Date.now() < deadline && outages < SEEDED_OUTAGES) {
      outages = ((await (await fetch(`${base}/open/v1/outages.geojson`)).json()) as { features: unknown[] }).features.length;
      if (outages < SEEDED_OUTAGES) await sleep(200);
    }
    if (outages < SEEDED_OUTAGES) ctx.note(`${LABEL}: only ${outages} of the ${SEEDED_OUTAGES} seeded outages were in the feed after 30 s`);
    raw = await startRawServer(ctx, base);
    const { bodyBytes } = raw;
    ctx.log(`${LABEL}: ${records.length} devices, ${outages} outages; bodies ${RESIDENT_URLS.map((u, i) => `${u} ${fmt(bodyBytes[i]!)} B`).join(', ')}`);

    devices = await startPubackDevices(`mqtt://${HOST}:${svc.mqttPort}`, timed, PUBLISH_MS, 10);
    const warm = Date.now() + 60_000;
    while ((await devices.samples()).length < 500 && Date.now() < warm) await sleep(200);

    // What one client gets, as fast as it can: raw and citypipe in turn, 200s then 304s.
    const rawServer = { role: 'raw server', pid: raw.proc.pid! };
    const citypipe = { role: 'citypipe', pid: svc.pid };
    const raw200 = await fastest(ctx, 'raw, 200', raw.base, 0, rawServer);
    const res200 = await fastest(ctx, 'citypipe, 200', base, 0, citypipe);
    const raw304 = await fastest(ctx, 'raw, 304', raw.base, 1, rawServer);
    const res304 = await fastest(ctx, 'citypipe, 304', base, 1, citypipe);

    // The issue's load, 1,000 requests/s, in windows of 1 s with 1 s of none before, between and
    // after them; every other window goes to the raw server instead, which puts the same load on the
    // machine (client and server) while citypipe does nothing but take readings.
    const windows = ctx.sizes.residentsWindows;
    ctx.log(`${LABEL}: ${fmt(RATE)} requests/s in ${windows} windows of 1 s to citypipe and ${windows} to the raw server, in turn, 1 s of none between`);
    const paced = httpLoad(ctx, { targets: [base, raw.base], urls: [...RESIDENT_URLS], connections: CONNECTIONS, rate: RATE, windows: 2 * windows, onMs: WINDOW_MS, offMs: WINDOW_MS, revalidateEvery: 2 });
    const sampler = ctx.sampler({ citypipe: [svc.pid], 'raw server': [rawServer.pid], generator: [paced.pid] });
    const p = await paced.done;
    ctx.processes[`${LABEL}: ${fmt(RATE)} requests/s`] = sampler.stop();
    const samples = await devices.samples();
    const totals = await devices.stop();
    devices = undefined;
    if (totals.failures > 0 || totals.acked < totals.sent) ctx.note(`${LABEL}: the timed devices had ${totals.failures} failures, ${fmt(totals.acked)} of ${fmt(totals.sent)} PUBLISHes acknowledged`);
    const all = p.windows;
    const quiet = [{ from: p.startedAt, to: all[0]!.from }, ...all.slice(1).map((w, i) => ({ from: all[i]!.to, to: w.from })), { from: all.at(-1)!.to, to: p.endedAt }];
    const ours = all.filter((w) => w.target === base);
    const answered = ours.reduce((a, w) => a + w.answered, 0);
    const loadedMs = ours.reduce((a, w) => a + w.to - w.from, 0);
    const answersOurs = p.answers[base]!;
    const run: ResidentsRun = {
      devices: records.length,
      outages,
      bodyBytes,
      maxConnections: MAX_CONNECTIONS,
      connections: CONNECTIONS,
      raw200,
      res200,
      raw304,
      res304,
      rate: RATE,
      windows,
      achievedPerS: Math.round((answered * 1000) / loadedMs),
      pacedStatuses: answersOurs.statuses,
      pacedP50Ms: round(answersOurs.p50Ms, 2),
      pacedP99Ms: round(answersOurs.p99Ms, 2),
      pubackWithout: pubackP99PerSlice(samples, quiet, PUBACK_SLICE_MS),
      pubackWith: pubackP99PerSlice(samples, ours, PUBACK_SLICE_MS),
      pubackWithRaw: pubackP99PerSlice(samples, all.filter((w) => w.target === raw!.base), PUBACK_SLICE_MS),
      pubackAtMax200: round(pubackP99(samples, res200).p99, 2),
      pubackAtRawMax200: round(pubackP99(samples, raw200).p99, 2),
    };
    logPuback(ctx, run, samples);
    return run;
  } finally {
    await devices?.stop().catch(() => undefined);
    if (raw) await stopChild(raw.proc, 2000);
    await ctx.stopService(svc);
  }
}

function logPuback(ctx: BenchContext, r: ResidentsRun, samples: readonly PubackSample[]): void {
  const p99 = (ws: { p99: number }[]) => median(ws.map((w) => w.p99)).toFixed(1);
  ctx.log(
    `  ${fmt(r.achievedPerS)} answers/s ${JSON.stringify(r.pacedStatuses)}, p50 ${r.pacedP50Ms} ms, p99 ${r.pacedP99Ms} ms; ` +
      `devices' PUBACK p99 (median of the windows' slices of ${PUBACK_SLICE_MS} ms; ${fmt(samples.length)} PUBACKs) ${p99(r.pubackWithout)} ms without, ${p99(r.pubackWith)} ms with, ` +
      `${p99(r.pubackWithRaw)} ms with the raw server's; ${r.pubackAtMax200} ms while the client took all it could (${r.pubackAtRawMax200} ms from the raw server)`,
  );
}
