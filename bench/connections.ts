/**
 * Idle connections and RSS per connection (citypipe and mosquitto), then the burst in which every
 * device reconnects at once and uploads its buffered batch.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchDevice } from './generator-protocol.js';
import { countPoints, settledCount } from './influx-queries.js';
import { CONNECTIONS_PER_GENERATOR, SERVICE_FILE_RESERVE } from './options.js';
import { readProc, round, tcpCounters } from './proc-stats.js';
import { GeneratorProcess, startMosquitto } from './processes.js';
import { bench, fmt, HOST, KEEPALIVE_S, makeDevices, median, perSecond, sleep, writeCatalog, type BenchContext } from './run-context.js';

/** How many connections this machine lets the broker hold, and why not more. */
export function connectionBudget(ctx: BenchContext): number {
  const requested = ctx.sizes.connections;
  let n = requested;
  const byFiles = ctx.limits.hard - SERVICE_FILE_RESERVE;
  if (n > byFiles) {
    n = byFiles;
    ctx.note(
      `connections: asked for ${fmt(requested)}, but the hard open-files limit here is ${fmt(ctx.limits.hard)} (ulimit -Hn) and the broker ` +
        `needs about ${SERVICE_FILE_RESERVE} files besides its connections, so ${fmt(n)} were opened. To measure ${fmt(requested)}, raise the ` +
        `hard limit (as root: \`ulimit -Hn 65536\` in the shell that runs the bench, or LimitNOFILE= for a systemd unit).`,
    );
  }
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = hi! - lo! + 1;
    if (n > ports - 1000) {
      n = ports - 1000;
      ctx.note(`connections: capped at ${fmt(n)} by the local port range ${lo}-${hi} (one port per loopback connection)`);
    }
  } catch {
    // not Linux-like; the connect errors will say it
  }
  return Math.max(1, n);
}

export async function connectionsAndBurst(ctx: BenchContext): Promise<{
  connections: number;
  rssPerConnKb: number;
  connectRate: number;
  listenOverflows: number;
  burst: {
    devices: number;
    readings: number;
    allConnectedS: number;
    allAckedS: number;
    queryableS: number;
    readingsPerS: number;
    failed: number;
    retries: number;
    listenOverflows: number;
  };
}> {
  const { sizes } = ctx;
  const n = connectionBudget(ctx);
  // Every device authenticates with a secret, as in production: a reconnect storm then costs the
  // scrypt verifications it costs in the field.
  const devices = makeDevices('bench-dev', n, 'shared');
  const catalog = path.join(ctx.workDir, 'catalog-idle');
  await writeCatalog(catalog, devices);
  const db = 'bench_burst';
  const svc = await ctx.startService('connections + burst', catalog, db, Math.min(ctx.limits.hard, n + SERVICE_FILE_RESERVE));
  const gens: GeneratorProcess[] = [];
  try {
    const slices: BenchDevice[][] = [];
    for (let i = 0; i < n; i += CONNECTIONS_PER_GENERATOR) slices.push(devices.slice(i, i + CONNECTIONS_PER_GENERATOR));
    for (const [i] of slices.entries()) {
      const g = GeneratorProcess.start(`connection generator ${i + 1}`, bench('load-generator.js'), Math.min(ctx.limits.hard, CONNECTIONS_PER_GENERATOR + 100), ctx.generatorLifetimeMs);
      gens.push(g);
    }
    const genPids = gens.map((g) => g.pid);
    await sleep(1000);
    const baseline = await steadyRssKb(svc.pid);

    ctx.log(`idle connections: ${fmt(n)} devices (keep alive ${KEEPALIVE_S} s, Last Will and retained status), ${gens.length} generator processes`);
    const endpoint = { host: HOST, port: svc.mqttPort };
    let sampler = ctx.sampler({ citypipe: [svc.pid], generator: genPids });
    let overflowsBefore = tcpCounters().ListenOverflows ?? 0;
    const results = await Promise.all(
      gens.map((g, i) =>
        g.request({ cmd: 'connect', endpoint, devices: slices[i]!, keepaliveS: KEEPALIVE_S, presence: true, parallel: 100, timeoutMs: 30_000 }, ctx.phaseMs + 60_000),
      ),
    );
    ctx.processes['idle connections: connecting'] = sampler.stop();
    const listenOverflows = (tcpCounters().ListenOverflows ?? 0) - overflowsBefore;
    const connected = results.reduce((s, r) => s + r.connected, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    const connectStart = Math.min(...results.map((r) => r.startAt));
    const connectEnd = Math.max(...results.map((r) => r.endAt));
    const connectRate = perSecond(connected, connectStart, connectEnd);
    if (failed > 0) {
      const errors: Record<string, number> = {};
      for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
      ctx.note(`idle connections: ${fmt(failed)} of ${fmt(n)} could not connect: ${JSON.stringify(errors)}`);
    }
    await sleep(3000);
    const brokerCount = await svc.connections();
    if (brokerCount !== connected) ctx.note(`idle connections: the broker counts ${fmt(brokerCount)} clients, the generators ${fmt(connected)}`);
    const loaded = await steadyRssKb(svc.pid);
    const rssPerConnKb = connected > 0 ? round((loaded - baseline) / connected, 1) : 0;
    ctx.log(
      `    ${fmt(connected)} connected at ${fmt(connectRate)}/s; citypipe RSS ${fmt(baseline / 1024)} → ${fmt(loaded / 1024)} MiB = ${rssPerConnKb} KiB per connection`,
    );

    // The burst: every device drops off the network at once (TCP RST), then all come back at once
    // and upload what they buffered meanwhile.
    await Promise.all(gens.map((g) => g.request({ cmd: 'drop' }, 60_000)));
    const goneBy = Date.now() + 60_000;
    while ((await svc.connections()) > 0 && Date.now() < goneBy) await sleep(200);
    await ctx.waitWritten(svc, 0, 30_000, 'burst (before)');
    const before = await countPoints(ctx.influx!.url, db);
    const writesBefore = await svc.writeMetrics();
    ctx.log(`burst: ${fmt(connected)} devices reconnect at once, each uploads ${sizes.burstBatch} buffered readings (QoS 1)`);
    sampler = ctx.sampler({ citypipe: [svc.pid], generator: genPids });
    overflowsBefore = tcpCounters().ListenOverflows ?? 0;
    const bursts = await Promise.all(
      gens.map((g) =>
        g.request(
          {
            cmd: 'burst',
            endpoint,
            batch: sizes.burstBatch,
            keepaliveS: KEEPALIVE_S,
            timeoutMs: ctx.phaseMs,
            // Like the simulator's devices (and mqtt.js' defaults scaled down): 10 s for a CONNACK,
            // then a jittered pause of 1 to 5 s before the next attempt.
            attemptTimeoutMs: 10_000,
            retryMinMs: 1000,
            retryMaxMs: 5000,
          },
          ctx.phaseMs + 60_000,
        ),
      ),
    );
    const burstOverflows = (tcpCounters().ListenOverflows ?? 0) - overflowsBefore;
    const delivered = bursts.reduce((s, b) => s + b.delivered, 0);
    const expected = delivered * sizes.burstBatch;
    const { stats } = await ctx.waitWritten(svc, expected, ctx.phaseMs, 'burst');
    const doneAt = Date.now();
    ctx.processes['burst'] = sampler.stop();
    const writesAfter = await svc.writeMetrics();
    ctx.writes['burst'] = {
      requests: writesAfter.requests - writesBefore.requests,
      meanMs: writesAfter.meanMs,
      meanLines: writesAfter.meanLines,
    };
    const counted = (await settledCount(ctx.influx!.url, db, before + expected, 300, 30_000)) - before;
    if (counted < expected) ctx.note(`burst: ${fmt(expected)} readings acknowledged but ${fmt(counted)} queryable (service stats ${JSON.stringify(stats)})`);
    const start = Math.min(...bursts.map((b) => b.startAt));
    const allConnected = bursts.every((b) => b.allConnectedAt > 0) ? Math.max(...bursts.map((b) => b.allConnectedAt)) : 0;
    const allAcked = Math.max(...bursts.map((b) => b.allAckedAt));
    const burstFailed = bursts.reduce((s, b) => s + b.failed, 0);
    const retries = bursts.reduce((s, b) => s + b.retries, 0);
    if (burstFailed > 0) {
      const errors: Record<string, number> = {};
      for (const b of bursts) for (const [k, v] of Object.entries(b.errors)) errors[k] = (errors[k] ?? 0) + v;
      ctx.note(`burst: ${fmt(burstFailed)} devices could not deliver their batch in time: ${JSON.stringify(errors)}`);
    }
    const burst = {
      devices: connected,
      readings: counted,
      allConnectedS: allConnected ? round((allConnected - start) / 1000, 2) : Number.NaN,
      allAckedS: round((allAcked - start) / 1000, 2),
      queryableS: round((doneAt - start) / 1000, 2),
      readingsPerS: perSecond(counted, start, doneAt),
      failed: burstFailed,
      retries,
      listenOverflows: burstOverflows,
    };
    ctx.log(
      `    ${Number.isNaN(burst.allConnectedS) ? 'not all connected' : `all connected after ${burst.allConnectedS} s`}, all batches acknowledged after ${burst.allAckedS} s, queryable after ${burst.queryableS} s ` +
        `(${fmt(burst.readingsPerS)} readings/s; ${fmt(retries)} retries; ${fmt(burstOverflows)} SYNs dropped by a full accept queue)`,
    );
    await Promise.all(gens.map((g) => g.request({ cmd: 'disconnect' }, 60_000)));
    return { connections: connected, rssPerConnKb, connectRate, listenOverflows, burst };
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await ctx.stopService(svc);
  }
}

/** The same idle connections against mosquitto, for scale. */
export async function mosquittoConnections(ctx: BenchContext, n: number): Promise<number> {
  if (n <= 0) return 0;
  const devices = makeDevices('bench-dev', n, 'shared');
  const broker = await startMosquitto(ctx.opts.mosquitto, ctx.workDir, Math.min(ctx.limits.hard, n + SERVICE_FILE_RESERVE));
  const gens: GeneratorProcess[] = [];
  try {
    await sleep(500);
    const baseline = await steadyRssKb(broker.pid);
    const slices: BenchDevice[][] = [];
    for (let i = 0; i < n; i += CONNECTIONS_PER_GENERATOR) slices.push(devices.slice(i, i + CONNECTIONS_PER_GENERATOR));
    for (const [i] of slices.entries()) {
      gens.push(GeneratorProcess.start(`mosquitto connection generator ${i + 1}`, bench('load-generator.js'), Math.min(ctx.limits.hard, CONNECTIONS_PER_GENERATOR + 100), ctx.generatorLifetimeMs));
    }
    ctx.log(`(c) mosquitto idle connections: ${fmt(n)}`);
    const endpoint = { host: HOST, port: broker.port };
    const results = await Promise.all(
      gens.map((g, i) =>
        g.request({ cmd: 'connect', endpoint, devices: slices[i]!, keepaliveS: KEEPALIVE_S, presence: true, parallel: 100, timeoutMs: 30_000 }, ctx.phaseMs + 60_000),
      ),
    );
    const connected = results.reduce((s, r) => s + r.connected, 0);
    await sleep(2000);
    const loaded = await steadyRssKb(broker.pid);
    const perConn = connected > 0 ? round((loaded - baseline) / connected, 1) : 0;
    ctx.log(`    ${fmt(connected)} connected; mosquitto RSS ${fmt(baseline / 1024)} → ${fmt(loaded / 1024)} MiB = ${perConn} KiB per connection`);
    await Promise.all(gens.map((g) => g.request({ cmd: 'disconnect' }, 60_000)));
    return perConn;
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await broker.stop();
  }
}

/** RSS in KiB as the median of a few samples, so that one GC pause does not decide it. */
export async function steadyRssKb(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(readProc(pid)?.rssKb ?? 0);
    await sleep(300);
  }
  return median(samples);
}
