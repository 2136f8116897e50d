/**
 * The drain after an InfluxDB outage: influxd stopped while live ingest goes on, then started
 * again.
 */
import { startLocalInfluxd } from '../src/influxd/local-influxd.js';
import { probeRows, seqStatsByDevice, settledCount } from './influx-queries.js';
import { BENCH_DEVICE_TYPES } from './payloads.js';
import { findChildPid, round } from './proc-stats.js';
import { writesBetween } from './processes.js';
import { fmt, HOST, percentile, perSecond, PROBE_POLL_MS, sleep, type BenchContext } from './run-context.js';

/**
 * Live QoS 1 ingest at `drainRate` from every publisher; InfluxDB is stopped (SIGTERM: connection
 * refused, as in a real outage) for `outageSeconds` while the publishers go on, then started again
 * on the same port and data. Measured: the backlog when InfluxDB answers again, how long until
 * pending is back at its live level, how long live readings sent meanwhile wait to become
 * queryable (the spool is FIFO: behind the backlog), the publishers' PUBACK delays, and afterwards
 * that InfluxDB holds every acknowledged reading exactly once, by seq.
 */
export async function drainAfterOutage(ctx: BenchContext): Promise<{
  liveRate: number;
  outageS: number;
  backlog: number;
  livePending: number;
  firstWriteS: number;
  caughtUpS: number;
  readingsPerS: number;
  writePerS: number;
  live: Record<'before' | 'outage' | 'drain' | 'after', { p50: number; p99: number; max: number; samples: number }>;
  puback: Record<'before' | 'outage' | 'drain' | 'after', { meanMs: number; maxMs: number }>;
  acked: number;
  inInflux: number;
  missing: number;
  duplicated: number;
  exactlyOnce: boolean;
}> {
  const { sizes } = ctx;
  const NA = Number.NaN;
  const label = `drain after a ${fmt(sizes.outageSeconds)} s InfluxDB outage at ${fmt(sizes.drainRate)} readings/s`;
  const db = 'bench_drain';
  const svc = await ctx.startService('drain', ctx.publisherCatalog, db, 4096);
  // The probe poller and stats poller below run until the phase ends, however it ends.
  let polling = true;
  try {
    await ctx.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
    const probes = BENCH_DEVICE_TYPES.map((t) => ctx.publishers.find((p) => p.type === t)!.id);
    ctx.log(`${label}: QoS 1, ${sizes.publishers} publishers, ${sizes.drainWarmupSeconds} s live first; probes ${probes.join(', ')}`);
    const boundMs = (sizes.drainWarmupSeconds + sizes.outageSeconds + sizes.drainAfterSeconds) * 1000 + ctx.phaseMs + 60_000;
    const startedAt = Date.now();
    const publishing = ctx.main!.request(
      { cmd: 'publish-rate', qos: 1, ratePerS: sizes.drainRate, durationMs: boundMs, window: sizes.qos1Window, drainMs: 120_000, probeIds: probes, untilStopped: true, detailed: true },
      boundMs + 240_000,
    );
    let publishError: unknown;
    publishing.catch((err: unknown) => (publishError = err ?? new Error('publish-rate failed')));

    // Stats every 100 ms: the timeline the drain is read from.
    const timeline: { at: number; pending: number; written: number; received: number }[] = [];
    const statsLoop = (async () => {
      while (polling) {
        const t0 = Date.now();
        try {
          const st = await svc.stats();
          timeline.push({ at: Date.now(), pending: st.pending, written: st.written, received: st.received });
        } catch {
          // a slow answer under load: the next poll counts
        }
        await sleep(Math.max(0, 100 - (Date.now() - t0)));
      }
    })();
    // Probe readings: when each became queryable (first answer that had it) and when it was sent.
    const seen = new Map<string, Map<number, { sentAt: number; seenAt: number }>>(probes.map((p) => [p, new Map()]));
    const contiguous = new Map<string, { seq: number; timeMs: number }>(probes.map((p) => [p, { seq: -1, timeMs: startedAt - 1 }]));
    const probeLoop = (async () => {
      while (polling) {
        const t0 = Date.now();
        try {
          const watermark = Math.min(...[...contiguous.values()].map((c) => c.timeMs));
          const rows = await probeRows(ctx.influx!.url, db, probes, watermark, 2000);
          const answeredAt = Date.now();
          for (const row of rows) {
            const s = seen.get(row.deviceId);
            if (!s || s.has(row.seq)) continue;
            s.set(row.seq, { sentAt: row.timeMs, seenAt: answeredAt });
          }
          for (const [p, c] of contiguous) {
            const s = seen.get(p)!;
            while (s.has(c.seq + 1)) c.timeMs = s.get(++c.seq)!.sentAt;
          }
        } catch {
          // InfluxDB is down (the outage) or busy: try again
        }
        await sleep(Math.max(0, PROBE_POLL_MS - (Date.now() - t0)));
      }
    })();
    const pendingNow = async () => (await svc.stats()).pending;
    const check = () => {
      if (publishError) throw publishError instanceof Error ? publishError : new Error(String(publishError));
    };

    // Warm-up: the live level of pending (a batch fills for up to the flush interval, then is written).
    await sleep(sizes.drainWarmupSeconds * 1000);
    check();
    const settleFrom = startedAt + Math.min(3000, (sizes.drainWarmupSeconds * 1000) / 2);
    const livePending = Math.max(0, ...timeline.filter((t) => t.at >= settleFrom).map((t) => t.pending));

    // The outage: a real stop, so the writer meets connection refused.
    const influxDataDir = ctx.influx!.dataDir;
    const influxPort = ctx.influx!.port;
    const outageAt = Date.now();
    ctx.writes['drain: live, before the outage'] = await svc.writeMetrics();
    const outageSampler = ctx.sampler({ citypipe: [svc.pid] });
    ctx.log(`    InfluxDB stopped (live pending level ${fmt(livePending)}); publishing goes on for ${fmt(sizes.outageSeconds)} s`);
    await ctx.influx!.stop();
    const stoppedAt = Date.now();
    let nextLog = Date.now() + 30_000;
    while (Date.now() < outageAt + sizes.outageSeconds * 1000) {
      await sleep(Math.min(1000, outageAt + sizes.outageSeconds * 1000 - Date.now()));
      check();
      if (Date.now() >= nextLog) {
        nextLog += 30_000;
        ctx.log(`    outage ${Math.round((Date.now() - outageAt) / 1000)} s: ${fmt(timeline.at(-1)?.pending ?? 0)} pending`);
      }
    }
    ctx.processes['drain: outage'] = outageSampler.stop();
    ctx.influx = await startLocalInfluxd({ dataDir: influxDataDir, port: influxPort, binary: ctx.opts.influxd });
    const readyAt = Date.now();
    ctx.influxPid = findChildPid(process.pid, 'influxd') ?? 0;
    const atReady = await svc.stats();
    const backlog = atReady.pending;
    const writesBefore = await svc.writeMetrics();
    const outageS = round((readyAt - outageAt) / 1000, 1);
    ctx.log(`    InfluxDB answers again after ${outageS} s (stopping it took ${((stoppedAt - outageAt) / 1000).toFixed(1)} s): backlog ${fmt(backlog)} readings`);
    const drainSampler = ctx.sampler({ citypipe: [svc.pid] });

    // The drain: until pending is back at the live level (at least one second of live ingest, so
    // that a batch that is only filling does not count as backlog).
    const liveLevel = Math.max(livePending, sizes.drainRate);
    let firstWriteAt = 0;
    let caughtUpAt = 0;
    const drainDeadline = readyAt + ctx.phaseMs;
    let writtenAtFirst = 0;
    nextLog = Date.now() + 10_000;
    while (Date.now() < drainDeadline) {
      await sleep(100);
      check();
      for (const t of timeline) {
        if (t.at < readyAt) continue;
        if (!firstWriteAt && t.written > atReady.written) {
          firstWriteAt = t.at;
          writtenAtFirst = timeline[timeline.indexOf(t) - 1]?.written ?? atReady.written;
        }
        if (firstWriteAt && t.pending <= liveLevel) {
          caughtUpAt = t.at;
          break;
        }
      }
      if (caughtUpAt) break;
      if (Date.now() >= nextLog) {
        nextLog += 10_000;
        ctx.log(`    drain ${Math.round((Date.now() - readyAt) / 1000)} s: ${fmt(timeline.at(-1)?.pending ?? 0)} pending`);
      }
    }
    const drainUsage = drainSampler.stop();
    ctx.processes['drain: backlog'] = drainUsage;
    const writesDrain = await svc.writeMetrics();
    ctx.writes['drain: backlog'] = writesBetween(writesBefore, writesDrain);
    if (!caughtUpAt) {
      ctx.note(`drain: pending was not back at its live level (${fmt(liveLevel)}) within ${sizes.phaseTimeoutS} s of the restart (${fmt(await pendingNow())} pending)`);
      caughtUpAt = Date.now();
    }
    ctx.profileWindows.set('drain', [{ name: 'backlog (restart → caught up)', fromMs: readyAt, toMs: caughtUpAt }]);
    const atCaughtUp = timeline.filter((t) => t.at <= caughtUpAt).at(-1)!;
    const caughtUpS = round((caughtUpAt - readyAt) / 1000, 1);
    const firstWriteS = firstWriteAt ? round((firstWriteAt - readyAt) / 1000, 1) : NA;
    const readingsPerS = perSecond(backlog, readyAt, caughtUpAt);
    const writePerS = firstWriteAt ? perSecond(atCaughtUp.written - writtenAtFirst, firstWriteAt, caughtUpAt) : NA;
    ctx.log(
      `    caught up ${caughtUpS} s after the restart (first write after ${firstWriteS} s): ${fmt(readingsPerS)} readings/s of backlog, ` +
        `${fmt(writePerS)} written/s from the first write; citypipe ${drainUsage.citypipe?.cpuPct ?? '?'} % CPU`,
    );
    if (drainUsage.citypipe && atCaughtUp.written > writtenAtFirst) {
      ctx.note(
        `drain: citypipe used ${round((drainUsage.citypipe.cpuS * 1e6) / (atCaughtUp.written - atReady.written), 1)} µs CPU per reading written while draining ` +
          `(${drainUsage.citypipe.cpuPct} % of a core)`,
      );
    }

    // Live after the drain, then stop and account for every reading.
    await sleep(sizes.drainAfterSeconds * 1000);
    const endAt = Date.now();
    await ctx.main!.request({ cmd: 'stop-rate' }, 10_000);
    const r = await publishing;
    const { stats } = await ctx.waitWritten(svc, r.acked, 120_000, label);
    // Let the probe poller see the last readings (the live ones are queryable within seconds).
    const probeDeadline = Date.now() + 30_000;
    while (Date.now() < probeDeadline && probes.some((p) => contiguous.get(p)!.seq < r.probeSeqs[p]![1])) await sleep(200);
    polling = false;
    await Promise.all([statsLoop, probeLoop]);

    // Live latency by when the reading was sent.
    const windows = { before: [settleFrom, outageAt], outage: [outageAt, readyAt], drain: [readyAt, caughtUpAt], after: [caughtUpAt, endAt] } as const;
    const live = {} as Record<keyof typeof windows, { p50: number; p99: number; max: number; samples: number }>;
    for (const [w, [from, to]] of Object.entries(windows) as [keyof typeof windows, readonly [number, number]][]) {
      const ms: number[] = [];
      // "before": readings that became queryable before the outage; those sent just before it
      // that it caught count with the outage's.
      const inWindow = (v: { sentAt: number; seenAt: number }) =>
        w === 'before' ? v.sentAt >= from && v.seenAt < outageAt : w === 'outage' ? v.sentAt < to && v.seenAt >= outageAt && v.sentAt >= settleFrom : v.sentAt >= from && v.sentAt < to;
      for (const s of seen.values()) for (const v of s.values()) if (inWindow(v)) ms.push(v.seenAt - v.sentAt);
      ms.sort((a, b) => a - b);
      live[w] = { p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? NA, samples: ms.length };
    }
    const puback = {} as Record<keyof typeof windows, { meanMs: number; maxMs: number }>;
    for (const [w, [from, to]] of Object.entries(windows) as [keyof typeof windows, readonly [number, number]][]) {
      const secs = (r.ackDelays ?? []).filter((d) => d.at + 1000 > from && d.at < to);
      const count = secs.reduce((a, d) => a + d.count, 0);
      puback[w] = { meanMs: count ? Math.round(secs.reduce((a, d) => a + d.meanMs * d.count, 0) / count) : NA, maxMs: secs.length ? Math.max(...secs.map((d) => d.maxMs)) : NA };
    }
    ctx.log(
      `    live readings sent during the drain became queryable after p50 ${fmt(live.drain.p50)} ms, p99 ${fmt(live.drain.p99)} ms (${fmt(live.drain.samples)} probe samples); ` +
        `before the outage p99 ${fmt(live.before.p99)} ms, after the drain p99 ${fmt(live.after.p99)} ms; PUBACK max ${fmt(puback.outage.maxMs)} ms during the outage`,
    );

    // Every acknowledged reading in InfluxDB exactly once, by device and seq.
    await settledCount(ctx.influx!.url, db, r.acked, 500, 60_000);
    const bySeq = await seqStatsByDevice(ctx.influx!.url, db);
    let inInflux = 0;
    let missing = 0;
    let duplicated = 0;
    let wrongRange = 0;
    for (const [id, [first, last]] of Object.entries(r.deviceSeqs ?? {})) {
      const expected = last - first + 1;
      const got = bySeq.get(id) ?? { points: 0, distinct: 0, min: NA, max: NA };
      inInflux += got.distinct;
      missing += Math.max(0, expected - got.distinct);
      duplicated += got.points - got.distinct;
      if (expected > 0 && (got.min !== first || got.max !== last)) wrongRange++;
    }
    const unacked = r.sent - r.acked;
    const exactlyOnce = missing === 0 && duplicated === 0 && wrongRange === 0 && unacked === 0;
    if (!exactlyOnce) {
      ctx.note(
        `drain: InfluxDB does not hold every reading exactly once: ${fmt(missing)} missing, ${fmt(duplicated)} duplicated, ${wrongRange} devices with other seqs than sent, ` +
          `${fmt(unacked)} sent but never acknowledged (service stats ${JSON.stringify(stats)})`,
      );
    }
    if (r.connectionsLost > 0) ctx.note(`drain: ${r.connectionsLost} publisher connections were lost`);
    const offered = Math.round((r.sent * 1000) / Math.max(1, endAt - startedAt));
    if (offered < sizes.drainRate * 0.95) ctx.note(`drain: the generator offered only ${fmt(offered)} readings/s of ${fmt(sizes.drainRate)} (largest backlog ${fmt(r.maxBehind)})`);
    ctx.log(`    ${fmt(r.acked)} readings acknowledged, ${fmt(inInflux)} distinct in InfluxDB: ${exactlyOnce ? 'every one exactly once' : 'NOT exactly once'}`);
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000);
    return {
      liveRate: offered,
      outageS,
      backlog,
      livePending,
      firstWriteS,
      caughtUpS,
      readingsPerS,
      writePerS,
      live,
      puback,
      acked: r.acked,
      inInflux,
      missing,
      duplicated,
      exactlyOnce,
    };
  } finally {
    polling = false;
    await ctx.stopService(svc);
  }
}
