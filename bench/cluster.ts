/**
 * Beyond one machine (CONTRACT §8), measured on one: the same QoS 1 load from the bench's publishers
 * through a real Mosquitto (`max_queued_messages 0`: it queues for a slow consumer rather than drop)
 * to a shared subscription, in three modes, each with a fresh Mosquitto:
 *
 *   (a) a consumer process that acknowledges every message on receipt (shared-consumer.ts): the
 *       broker's own limit on this machine;
 *   (b) one citypipe worker (`CITYPIPE_BROKER_URL`, its connections on the share group, dispatch
 *       state in a private PostgreSQL the phase starts), counted as points InfluxDB returns;
 *   (c) two workers: the same share group and database, their own worker ids and data folders.
 *
 * Each rate runs from the first publish to the last delivery (a) or the last write (b, c); CPU comes
 * from /proc for Mosquitto, the workers (or the consumer) and PostgreSQL's processes.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createPgDatabase, startLocalPostgres, type LocalPostgres } from '../src/postgres/local-postgres.js';
import { CLUSTER_PROMISES, ratePerS, ratio, usPerReading, type ClusterMode, type ClusterRun, type DispatchState } from './cluster-figures.js';
import { settledCount } from './influx-queries.js';
import { findDescendantPid, TreeCpu } from './proc-stats.js';
import { ConsumerProcess, startMosquitto, type BrokerProcess, type ServiceProcess, type ServiceStats } from './processes.js';
import { bench, fmt, HOST, sleep, type BenchContext } from './run-context.js';

/** The share group of the workers (citypipe's default) and the consumer. */
const SHARE_GROUP = 'citypipe';
/** How long delivery may stand still before a mode stops waiting for the rest (what the broker acknowledged). */
const STALL_MS = 5000;

export async function clusterPhase(ctx: BenchContext): Promise<ClusterRun[]> {
  let pg: LocalPostgres | undefined;
  try {
    pg = await startLocalPostgres();
  } catch (err) {
    ctx.note(`cluster: no PostgreSQL for the workers (${(err as Error).message}); they keep dispatch state in SQLite each`);
  }
  const pgPid = pg ? (findDescendantPid(process.pid, 'postgres') ?? 0) : 0;
  if (pg && !pgPid) ctx.note('cluster: could not find the pid of PostgreSQL; its CPU is not reported');
  try {
    const runs: ClusterRun[] = [];
    const alone = await brokerOnly(ctx);
    runs.push(alone);
    runs.push(await intoWorkers(ctx, 1, pg, pgPid, alone.readingsPerS));
    runs.push(await intoWorkers(ctx, 2, pg, pgPid, alone.readingsPerS));
    return runs;
  } finally {
    await pg?.stop();
  }
}

function startBroker(ctx: BenchContext): Promise<BrokerProcess> {
  return startMosquitto(ctx.opts.mosquitto, ctx.workDir, 4096, ['max_queued_messages 0']);
}

/** (a): Mosquitto to a consumer that acknowledges on receipt. */
async function brokerOnly(ctx: BenchContext): Promise<ClusterRun> {
  const { sizes } = ctx;
  const label = 'cluster (a) Mosquitto alone, shared subscription';
  const broker = await startBroker(ctx);
  let consumer: ConsumerProcess | undefined;
  try {
    consumer = await ConsumerProcess.start(bench('shared-consumer.js'), broker.port, sizes.clusterConnections, `$share/${SHARE_GROUP}/city/+/+/telemetry`, ctx.generatorLifetimeMs);
    await ctx.connectPublishers({ host: HOST, port: broker.port }, label);
    ctx.log(`${label}: ${sizes.publishers} publishers × ${fmt(sizes.clusterMessagesPerPublisher)} QoS 1 → ${sizes.clusterConnections} consumer connections`);
    const c = consumer;
    const sampler = ctx.sampler({ broker: [broker.pid], consumer: [c.pid], generator: [ctx.main!.pid] });
    const r = await ctx.publishMax(1, sizes.clusterMessagesPerPublisher, false);
    const deadline = Date.now() + ctx.phaseMs;
    let stats = await c.stats();
    let last = -1;
    let since = Date.now();
    while (stats.received < r.acked && Date.now() < deadline) {
      if (stats.received !== last) [last, since] = [stats.received, Date.now()];
      if (Date.now() - since >= STALL_MS) break;
      await sleep(100);
      stats = await c.stats();
    }
    const usage = sampler.stop();
    ctx.processes[label] = usage;
    if (stats.received < r.acked) ctx.note(`${label}: Mosquitto acknowledged ${fmt(r.acked)} messages but delivered ${fmt(stats.received)}`);
    if (r.timedOut) ctx.note(`${label}: publishing hit the phase timeout of ${sizes.phaseTimeoutS} s`);
    ctx.noteGeneratorBound(label, usage);
    const ms = stats.lastAt - r.firstSendAt;
    const run: ClusterRun = {
      mode: 'broker-only',
      workers: 0,
      connections: sizes.clusterConnections,
      sent: r.sent,
      acked: r.acked,
      delivered: stats.received,
      seconds: ms / 1000,
      readingsPerS: ratePerS(stats.received, ms),
      ackedPerS: ratePerS(r.acked, r.lastAckAt - r.firstSendAt),
      cpuUsPerReading: { workers: usPerReading(usage.consumer!.cpuS, stats.received), broker: usPerReading(usage.broker!.cpuS, stats.received), postgres: Number.NaN },
      vsBrokerOnly: 1,
      dispatchState: 'none',
      promise: CLUSTER_PROMISES['broker-only'],
    };
    ctx.log(`    ${fmt(run.readingsPerS)} msgs/s delivered (${fmt(stats.received)} in ${run.seconds.toFixed(1)} s; devices' PUBACKs ${fmt(run.ackedPerS)}/s; Mosquitto ${run.cpuUsPerReading.broker} µs CPU per message)`);
    return run;
  } finally {
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000).catch(() => undefined);
    await consumer?.stop();
    await broker.stop();
  }
}

/** (b) and (c): Mosquitto into `workers` citypipe workers of one share group. */
async function intoWorkers(ctx: BenchContext, workers: number, pg: LocalPostgres | undefined, pgPid: number, brokerOnlyPerS: number): Promise<ClusterRun> {
  const { sizes } = ctx;
  const mode: ClusterMode = workers === 1 ? 'one-worker' : 'two-workers';
  const label = `cluster (${workers === 1 ? 'b' : 'c'}) Mosquitto → ${workers} citypipe worker${workers === 1 ? '' : 's'}`;
  const db = `bench_cluster_${workers}w`;
  const broker = await startBroker(ctx);
  const svcs: ServiceProcess[] = [];
  try {
    const databaseUrl = pg ? await createPgDatabase(pg.url, 'bench_cluster') : undefined;
    for (let i = 1; i <= workers; i++) {
      const dataDir = path.join(ctx.workDir, `data-${db}-worker-${i}`);
      mkdirSync(dataDir, { recursive: true });
      svcs.push(
        await ctx.startService(`${label}, worker ${i}`, ctx.publisherCatalog, db, 1024, {
          CITYPIPE_DATA_DIR: dataDir,
          CITYPIPE_BROKER_URL: `mqtt://${HOST}:${broker.port}`,
          CITYPIPE_BROKER_CONNECTIONS: String(sizes.clusterConnections),
          CITYPIPE_SHARE_GROUP: SHARE_GROUP,
          CITYPIPE_WORKER_ID: `bench-worker-${i}`,
          ...(databaseUrl ? { CITYPIPE_DATABASE_URL: databaseUrl } : {}),
        }),
      );
    }
    // A message published before a shared subscription exists has nobody to go to, and Mosquitto drops it.
    await Promise.all(svcs.map((s, i) => subscribed(s, sizes.clusterConnections, `${label}, worker ${i + 1}`)));
    const dispatchState: DispatchState = databaseUrl && svcs.every((s) => s.output.includes('dispatch state in PostgreSQL')) ? 'postgres' : 'sqlite';
    const sqliteNote = 'cluster: the workers were given CITYPIPE_DATABASE_URL but did not log "dispatch state in PostgreSQL": the build under test keeps dispatch state in SQLite per worker';
    if (databaseUrl && dispatchState !== 'postgres' && !ctx.notes.includes(sqliteNote)) ctx.note(sqliteNote);
    await ctx.connectPublishers({ host: HOST, port: broker.port }, label);
    ctx.log(`${label}: ${sizes.publishers} publishers × ${fmt(sizes.clusterMessagesPerPublisher)} QoS 1, ${sizes.clusterConnections} connections per worker, counted in InfluxDB`);
    const sampler = ctx.sampler({ citypipe: svcs.map((s) => s.pid), broker: [broker.pid], generator: [ctx.main!.pid] });
    const pgCpu = pgPid ? new TreeCpu(pgPid) : undefined;
    const r = await ctx.publishMax(1, sizes.clusterMessagesPerPublisher, false);
    const { doneAt, stats } = await allWritten(ctx, svcs, r.acked, label);
    const usage = sampler.stop();
    const pgUsage = pgCpu?.stop();
    ctx.processes[label] = pgUsage ? { ...usage, postgres: pgUsage } : usage;
    for (const [i, s] of svcs.entries()) ctx.writes[`${label}, worker ${i + 1}`] = await s.writeMetrics();
    const counted = await settledCount(ctx.influx!.url, db, stats.received, 300, 30_000);
    if (counted < r.acked) ctx.note(`${label}: Mosquitto acknowledged ${fmt(r.acked)} readings to the devices but InfluxDB returns ${fmt(counted)}`);
    if (r.timedOut) ctx.note(`${label}: publishing hit the phase timeout of ${sizes.phaseTimeoutS} s`);
    if (r.connectionsLost > 0) ctx.note(`${label}: ${r.connectionsLost} publisher connections were lost`);
    ctx.noteGeneratorBound(label, usage);
    const ms = doneAt - r.firstSendAt;
    const readingsPerS = ratePerS(counted, ms);
    const run: ClusterRun = {
      mode,
      workers,
      connections: sizes.clusterConnections,
      sent: r.sent,
      acked: r.acked,
      delivered: counted,
      seconds: ms / 1000,
      readingsPerS,
      ackedPerS: ratePerS(r.acked, r.lastAckAt - r.firstSendAt),
      cpuUsPerReading: { workers: usPerReading(usage.citypipe!.cpuS, counted), broker: usPerReading(usage.broker!.cpuS, counted), postgres: usPerReading(pgUsage?.cpuS ?? Number.NaN, counted) },
      vsBrokerOnly: ratio(readingsPerS, brokerOnlyPerS),
      dispatchState,
      promise: CLUSTER_PROMISES[mode],
    };
    const perWorker = svcs.length > 1 ? ` (${stats.perWorker.map((n) => fmt(n)).join(' + ')} received)` : '';
    ctx.log(
      `    ${fmt(readingsPerS)} readings/s into InfluxDB (${fmt(counted)} in ${run.seconds.toFixed(1)} s${perWorker}; devices' PUBACKs ${fmt(run.ackedPerS)}/s; ` +
        `${run.cpuUsPerReading.workers} µs worker CPU + ${run.cpuUsPerReading.broker} µs Mosquitto + ${run.cpuUsPerReading.postgres} µs PostgreSQL per reading)`,
    );
    return run;
  } finally {
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000).catch(() => undefined);
    for (const s of svcs) await ctx.stopService(s);
    await broker.stop();
  }
}

/** Waits until the worker has all its connections subscribed (`citypipe_mqtt_connections`). */
async function subscribed(svc: ServiceProcess, connections: number, label: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const n = await svc.connections();
    if (n >= connections) return;
    if (Date.now() >= deadline) throw new Error(`${label}: only ${n} of its ${connections} connections to Mosquitto subscribed within 30 s. Its last output:\n${svc.output}`);
    await sleep(100);
  }
}

/**
 * Waits until the workers together have written everything they received, nothing is pending, and
 * either `expected` readings arrived or none arrived for {@link STALL_MS}. Returns when that state
 * was first seen, with the workers' stats summed.
 */
async function allWritten(
  ctx: BenchContext,
  svcs: readonly ServiceProcess[],
  expected: number,
  label: string,
): Promise<{ doneAt: number; stats: ServiceStats & { perWorker: number[] } }> {
  const deadline = Date.now() + ctx.phaseMs;
  let lastReceived = -1;
  let receivedSince = Date.now();
  let idleSince = 0;
  for (;;) {
    const each = await Promise.all(svcs.map((s) => s.stats()));
    const sum = (k: keyof ServiceStats) => each.reduce((a, s) => a + s[k], 0);
    const stats = { received: sum('received'), written: sum('written'), deadLettered: sum('deadLettered'), pending: sum('pending'), perWorker: each.map((s) => s.received) };
    const now = Date.now();
    if (stats.received !== lastReceived) [lastReceived, receivedSince, idleSince] = [stats.received, now, 0];
    const idle = stats.pending === 0 && stats.received === stats.written + stats.deadLettered;
    if (idle && idleSince === 0) idleSince = now;
    if (!idle) idleSince = 0;
    if (idle && (stats.received >= expected || now - receivedSince >= STALL_MS)) {
      if (stats.deadLettered > 0) ctx.note(`${label}: ${fmt(stats.deadLettered)} readings were dead-lettered: the bench's payloads or catalog are wrong`);
      return { doneAt: idleSince, stats };
    }
    if (now >= deadline) {
      ctx.note(`${label}: not everything was written within ${Math.round(ctx.phaseMs / 1000)} s (stats ${JSON.stringify(stats)})`);
      return { doneAt: now, stats };
    }
    await sleep(100);
  }
}

/** Cores of this machine, for reading the two-worker figure. */
export function clusterCores(): number {
  return os.cpus().length;
}
