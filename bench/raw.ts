/**
 * (a) raw InfluxDB: line protocol straight into the run's influxd, 5,000 lines per request; the
 * baseline the end-to-end figures are read against.
 */
import { createDatabase, settledCount } from './influx-queries.js';
import { fmt, perSecond, type BenchContext } from './run-context.js';

/** A fresh influxd is slower for its first writes (shards, series index); that is not the baseline. */
export async function warmUpInflux(ctx: BenchContext): Promise<void> {
  const db = 'bench_warmup';
  await createDatabase(ctx.influx!.url, db);
  await ctx.main!.request(
    { cmd: 'influx-write', url: ctx.influx!.url, db, devices: ctx.publishers, points: Math.min(50_000, Math.ceil(ctx.sizes.rawPoints / 10)), batch: 5000, concurrency: 2, maxMs: ctx.phaseMs },
    ctx.phaseMs + 60_000,
  );
}

export async function rawInflux(ctx: BenchContext, db: string): Promise<number> {
  const { sizes } = ctx;
  ctx.log(`(a) raw InfluxDB: ${fmt(sizes.rawPoints)} points in 5,000-line batches, 2 requests in flight`);
  await createDatabase(ctx.influx!.url, db);
  const sampler = ctx.sampler({ generator: [ctx.main!.pid] });
  const r = await ctx.main!.request(
    { cmd: 'influx-write', url: ctx.influx!.url, db, devices: ctx.publishers, points: sizes.rawPoints, batch: 5000, concurrency: 2, maxMs: ctx.phaseMs },
    ctx.phaseMs + 60_000,
  );
  ctx.processes[`raw InfluxDB (${db.replace('bench_raw_', '')})`] = sampler.stop();
  if (r.failures > 0) ctx.note(`raw InfluxDB: ${r.failures} write requests failed (last: ${r.lastError})`);
  const counted = await settledCount(ctx.influx!.url, db, r.points, 300, 30_000);
  if (counted < r.points) ctx.note(`raw InfluxDB: ${fmt(r.points)} points written but ${fmt(counted)} queryable`);
  const rate = perSecond(counted, r.firstAt, r.lastAt);
  ctx.log(`    ${fmt(rate)} points/s (${fmt(counted)} points in ${((r.lastAt - r.firstAt) / 1000).toFixed(1)} s)`);
  return rate;
}
