/**
 * Publish → queryable latency at a fixed rate.
 */
import { probeRows } from './influx-queries.js';
import { BENCH_DEVICE_TYPES } from './payloads.js';
import { ProcessSampler } from './proc-stats.js';
import { fmt, HOST, percentile, PROBE_POLL_MS, sleep, type BenchContext } from './run-context.js';

export async function latencyAtRate(ctx: BenchContext): Promise<{ p50: number; p99: number; max: number; samples: number; lost: number; offered: number }> {
  const { sizes } = ctx;
  const label = `publish → queryable at ${fmt(sizes.latencyRate)} readings/s`;
  const db = 'bench_latency';
  const svc = await ctx.startService('latency', ctx.publisherCatalog, db, 4096);
  try {
    await ctx.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
    // One probe device per type; their readings are a fair sample of the stream (same path, same
    // batches) and few enough to look up every 100 ms without loading InfluxDB.
    const probes = BENCH_DEVICE_TYPES.map((t) => ctx.publishers.find((p) => p.type === t)!.id);
    ctx.log(`${label}: ${sizes.latencyWarmupSeconds} s warm-up + ${sizes.latencySeconds} s, QoS 1, ${sizes.publishers} publishers, probes ${probes.join(', ')}`);
    const durationMs = (sizes.latencyWarmupSeconds + sizes.latencySeconds) * 1000;
    const startedAt = Date.now();
    const measureFrom = startedAt + sizes.latencyWarmupSeconds * 1000;
    let sampler: ProcessSampler | undefined;
    const warmupTimer = setTimeout(() => (sampler = ctx.sampler({ citypipe: [svc.pid], generator: [ctx.main!.pid] })), sizes.latencyWarmupSeconds * 1000);
    const publishing = ctx.main!.request(
      { cmd: 'publish-rate', qos: 1, ratePerS: sizes.latencyRate, durationMs, window: ctx.sizes.qos1Window, drainMs: 60_000, probeIds: probes },
      durationMs + 120_000,
    );
    let published: Awaited<typeof publishing> | undefined;
    let publishError: unknown;
    publishing.then(
      (r) => (published = r),
      (err: unknown) => (publishError = err ?? new Error('publish-rate failed')),
    );

    // Per probe: seq → time of every reading seen, and the highest seq up to which all were seen.
    const seen = new Map<string, Map<number, number>>(probes.map((p) => [p, new Map<number, number>()]));
    const contiguous = new Map<string, { seq: number; timeMs: number }>(probes.map((p) => [p, { seq: -1, timeMs: startedAt - 1 }]));
    const latencies: number[] = [];
    const hardDeadline = startedAt + durationMs + ctx.phaseMs;
    for (;;) {
      const t0 = Date.now();
      // Only readings after the oldest gap are asked for, so each poll returns a few hundred rows.
      const watermark = Math.min(...[...contiguous.values()].map((c) => c.timeMs));
      const rows = await probeRows(ctx.influx!.url, db, probes, watermark);
      const answeredAt = Date.now();
      for (const row of rows) {
        const s = seen.get(row.deviceId);
        if (!s || s.has(row.seq)) continue;
        s.set(row.seq, row.timeMs);
        // The answer's arrival is when a client polling every PROBE_POLL_MS learned it: an upper
        // bound on the true time, by at most one poll interval.
        if (row.timeMs >= measureFrom && row.timeMs < startedAt + durationMs) latencies.push(answeredAt - row.timeMs);
      }
      for (const [p, c] of contiguous) {
        const s = seen.get(p)!;
        while (s.has(c.seq + 1)) c.timeMs = s.get(++c.seq)!;
      }
      if (publishError) throw publishError;
      if (published && probes.every((p) => contiguous.get(p)!.seq >= published!.probeSeqs[p]![1])) break;
      if (Date.now() >= hardDeadline) {
        ctx.note(`${label}: not every probe reading was queryable within the phase timeout`);
        break;
      }
      await sleep(Math.max(0, PROBE_POLL_MS - (Date.now() - t0)));
    }
    clearTimeout(warmupTimer);
    const usage = sampler?.stop();
    if (usage) ctx.processes[label] = usage;
    const r = published ?? (await publishing);
    await ctx.waitWritten(svc, r.acked, 60_000, label);
    ctx.writes[label] = await svc.writeMetrics();

    let expected = 0;
    let got = 0;
    for (const p of probes) {
      const [first, last] = r.probeSeqs[p]!;
      expected += last - first + 1;
      got += seen.get(p)!.size;
    }
    const lost = Math.max(0, expected - got);
    if (lost > 0) ctx.note(`${label}: ${lost} probe readings never became queryable`);
    const offered = Math.round((r.sent * 1000) / durationMs);
    if (offered < sizes.latencyRate * 0.95) ctx.note(`${label}: the generator offered only ${fmt(offered)} readings/s (largest backlog ${fmt(r.maxBehind)}): the machine could not sustain the target rate`);
    if (r.timedOut) ctx.note(`${label}: QoS 1 acknowledgements were still missing when the phase ended`);
    latencies.sort((a, b) => a - b);
    const out = {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? 0,
      samples: latencies.length,
      lost,
      offered,
    };
    ctx.log(`    p50 ${fmt(out.p50)} ms, p99 ${fmt(out.p99)} ms, max ${fmt(out.max)} ms (${fmt(out.samples)} samples; offered ${fmt(offered)}/s)`);
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000);
    return out;
  } finally {
    await ctx.stopService(svc);
  }
}
