/**
 * The cost of durability: QoS 1 end to end with and without the spool's fdatasync.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { endToEnd } from './e2e.js';
import { round } from './proc-stats.js';
import { fmt, type BenchContext } from './run-context.js';
import type { DurabilityRun } from './run.js';
import { probeFdatasync, type SyscallSummary } from './syscall-trace.js';

/**
 * QoS 1 end to end, as the e2e phase measures it, with the spool's fdatasync (the shipped default)
 * and with CITYPIPE_SPOOL_FSYNC=false (records go to the page cache only): the same build, the
 * same run, in A B B A order over the rounds. A build without that setting (before the spool) is
 * measured once, as "without".
 */
export async function durability(ctx: BenchContext): Promise<{
  fsync: { readingsPerS: number; ackedPerS: number; cpuUsPerReading: number; diskBytesPerReading: number };
  nofsync: { readingsPerS: number; ackedPerS: number; cpuUsPerReading: number; diskBytesPerReading: number };
  trace: SyscallSummary;
  fsyncReadings: number;
  disk: { p50Ms: number; p99Ms: number };
  runs: DurabilityRun[];
}> {
  const { sizes } = ctx;
  const NA = Number.NaN;
  const hasFsyncKey = await buildKnows(ctx, 'CITYPIPE_SPOOL_FSYNC');
  const disk = probeFdatasync(ctx.workDir);
  ctx.log(`cost of durability: one 64 KiB append + fdatasync on this disk takes ${disk.p50Ms} ms (p50), ${disk.p99Ms} ms (p99)`);
  const order: boolean[] = [];
  if (!hasFsyncKey) {
    ctx.note('durability: the build under test has no CITYPIPE_SPOOL_FSYNC (no spool): measured once, as "without"');
    order.push(false);
  } else {
    for (let i = 0; i < sizes.durabilityRounds; i++) order.push(...(i % 2 === 0 ? [true, false] : [false, true]));
  }
  const runs: DurabilityRun[] = [];
  const traces: SyscallSummary[] = [];
  let fsyncReadings = 0;
  for (const [i, fsync] of order.entries()) {
    const name = fsync ? 'with fdatasync' : 'without fdatasync';
    const r = await endToEnd(ctx, 1, {
      label: `durability QoS 1 ${name} (${i + 1}/${order.length})`,
      db: `bench_durability_${i + 1}`,
      profile: `durability ${name} ${i + 1}`,
      env: hasFsyncKey ? { CITYPIPE_SPOOL_FSYNC: fsync ? 'true' : 'false' } : {},
      traceFdatasync: true,
    });
    runs.push({
      fsync,
      readingsPerS: r.readingsPerS,
      ackedPerS: r.acceptedPerS,
      cpuUsPerReading: r.cpuUsPerReading,
      diskBytesPerReading: r.diskBytesPerReading,
      fdatasyncs: r.fdatasync?.calls ?? NA,
    });
    if (fsync && r.fdatasync) {
      traces.push(r.fdatasync);
      fsyncReadings += r.counted;
    }
  }
  const mean = (fsync: boolean, key: 'readingsPerS' | 'ackedPerS' | 'cpuUsPerReading' | 'diskBytesPerReading') => {
    const v = runs.filter((r) => r.fsync === fsync).map((r) => r[key]);
    return v.length ? round(v.reduce((a, b) => a + b, 0) / v.length, key === 'readingsPerS' || key === 'ackedPerS' ? 0 : 1) : NA;
  };
  const summary = (fsync: boolean) => ({
    readingsPerS: mean(fsync, 'readingsPerS'),
    ackedPerS: mean(fsync, 'ackedPerS'),
    cpuUsPerReading: mean(fsync, 'cpuUsPerReading'),
    diskBytesPerReading: mean(fsync, 'diskBytesPerReading'),
  });
  const calls = traces.reduce((a, t) => a + t.calls, 0);
  const totalMs = traces.reduce((a, t) => a + t.totalMs, 0);
  const trace: SyscallSummary = {
    calls: traces.length ? calls : NA,
    totalMs: traces.length ? totalMs : NA,
    meanMs: calls > 0 ? round(totalMs / calls, 2) : NA,
    maxMs: traces.length ? Math.max(...traces.map((t) => t.maxMs)) : NA,
  };
  const out = { fsync: summary(true), nofsync: summary(false), trace, fsyncReadings, disk, runs };
  ctx.log(
    `    with fdatasync ${fmt(out.fsync.readingsPerS)} readings/s (${out.fsync.cpuUsPerReading} µs CPU each), without ${fmt(out.nofsync.readingsPerS)} ` +
      `(${out.nofsync.cpuUsPerReading} µs); ${fmt(trace.calls)} fdatasyncs, ${trace.meanMs} ms mean`,
  );
  return out;
}

/** Whether the build under test accepts a configuration key. */
export async function buildKnows(ctx: BenchContext, key: string): Promise<boolean> {
  const configModule = path.join(path.dirname(path.dirname(ctx.opts.cli)), 'dist', 'src', 'config', 'config.js');
  try {
    return ((await import(pathToFileURL(configModule).href)) as { CONFIG_KEYS: readonly string[] }).CONFIG_KEYS.includes(key);
  } catch {
    return false;
  }
}
