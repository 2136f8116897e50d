/**
 * citypipe end to end: the service under test fed by the publishers, counted as points InfluxDB
 * returns afterwards.
 */
import path from 'node:path';
import { settledCount } from './influx-queries.js';
import { round, writeBytes } from './proc-stats.js';
import { fmt, HOST, perSecond, type BenchContext } from './run-context.js';
import { SyscallTrace, type SyscallSummary } from './syscall-trace.js';

/**
 * `variant` runs the same measurement under another name, in its own database, with extra service
 * configuration (the durability phase), optionally tracing the service's fdatasync calls, or with
 * `batch` readings per PUBLISH (a JSON array; the same readings per publisher in fewer PUBLISHes,
 * the QoS 1 window counting PUBLISHes).
 */
export async function endToEnd(
  ctx: BenchContext,
  qos: 0 | 1,
  variant?: { label: string; db: string; profile: string; env?: Record<string, string>; traceFdatasync?: boolean; batch?: number },
): Promise<{ readingsPerS: number; acceptedPerS: number; cpuUsPerReading: number; counted: number; diskBytesPerReading: number; fdatasync?: SyscallSummary }> {
  const { sizes } = ctx;
  const label = variant?.label ?? `citypipe end to end QoS ${qos}`;
  const db = variant?.db ?? `bench_e2e_qos${qos}`;
  const svc = await ctx.startService(variant?.profile ?? `e2e QoS ${qos}`, ctx.publisherCatalog, db, 4096, variant?.env);
  try {
    await ctx.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
    const batch = variant?.batch;
    const inPublishes = batch === undefined ? '' : ` in ${fmt(Math.ceil(sizes.messagesPerPublisher / batch))} PUBLISHes of up to ${fmt(batch)}`;
    ctx.log(`${label}: ${sizes.publishers} publishers × ${fmt(sizes.messagesPerPublisher)} readings${inPublishes}, counted in InfluxDB`);
    let trace: SyscallTrace | undefined;
    if (variant?.traceFdatasync) {
      const t = await SyscallTrace.start(svc.pid, 'fdatasync', path.join(ctx.workDir, `perf-${db}.txt`));
      if (typeof t === 'string') {
        if (!ctx.notes.includes(t)) ctx.note(t);
      } else trace = t;
    }
    const bytesBefore = writeBytes(svc.pid);
    const sampler = ctx.sampler({ citypipe: [svc.pid], generator: [ctx.main!.pid] });
    const r = await ctx.publishMax(qos, sizes.messagesPerPublisher, qos === 0, batch);
    // In readings, which is what the service counts (a batch counts each of its readings).
    const accepted = qos === 1 ? r.readingsAcked : r.readingsSent;
    const { doneAt, stats } = await ctx.waitWritten(svc, accepted, ctx.phaseMs, label);
    if (r.connectionsLost > 0) {
      ctx.note(
        `${label}: citypipe disconnected ${r.connectionsLost} of ${sizes.publishers} publishers (it refuses publishes while its buffer for ` +
          `InfluxDB is full, and MQTT 3.1.1 can only say so by closing the connection); it received ${fmt(stats.received)} of ${fmt(r.readingsSent)} sent`,
      );
    }
    const usage = sampler.stop();
    const diskBytes = writeBytes(svc.pid) - bytesBefore;
    const fdatasync = await trace?.stop('fdatasync');
    ctx.processes[label] = usage;
    ctx.writes[label] = await svc.writeMetrics();
    const counted = await settledCount(ctx.influx!.url, db, stats.received, 300, 30_000);
    if (counted < stats.received) ctx.note(`${label}: citypipe received ${fmt(stats.received)} readings but InfluxDB returns ${fmt(counted)}`);
    // Readings of one batch that shared a (series, time) would be one point: the count shows it.
    if (batch !== undefined && counted !== r.readingsSent) {
      ctx.note(`${label}: ${fmt(r.readingsSent)} readings were sent in ${fmt(r.sent)} PUBLISHes but InfluxDB returns ${fmt(counted)}`);
    }
    if (r.timedOut) ctx.note(`${label}: publishing hit the phase timeout of ${sizes.phaseTimeoutS} s`);
    const readingsPerS = perSecond(counted, r.firstSendAt, doneAt);
    // What citypipe took per second while the publishers were sending: acknowledged (QoS 1), or
    // received by the time the barrier came back (QoS 0; sent would count what disconnected
    // publishers wrote into closed sockets).
    const acceptedPerS =
      qos === 1 ? ctx.brokerRate(r, qos, label, false) : perSecond(stats.received, r.firstSendAt, r.barrierAt || r.lastSendAt);
    ctx.noteGeneratorBound(label, usage);
    const cpuUsPerReading = counted > 0 ? round((usage.citypipe!.cpuS * 1e6) / counted, 1) : Number.NaN;
    const ofSent = batch === undefined ? '' : ` of ${fmt(r.readingsSent)} sent`;
    ctx.log(
      `    ${fmt(readingsPerS)} readings/s into InfluxDB (${fmt(counted)}${ofSent} in ${((doneAt - r.firstSendAt) / 1000).toFixed(1)} s; ` +
        `broker took ${fmt(acceptedPerS)} msgs/s; citypipe used ${cpuUsPerReading} µs CPU per reading)`,
    );
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000);
    const diskBytesPerReading = counted > 0 ? round(diskBytes / counted, 1) : Number.NaN;
    return { readingsPerS, acceptedPerS, cpuUsPerReading, counted, diskBytesPerReading, ...(fdatasync ? { fdatasync } : {}) };
  } finally {
    await ctx.stopService(svc);
  }
}
