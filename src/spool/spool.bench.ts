/**
 * What the spool's durability costs: appends/s with fsync on and off, and how it copes with a fixed
 * 50,000 appends/s (the target: one fdatasync per few ms, the event loop never stalled by the disk).
 *
 *   npm run build && node dist/src/spool/spool.bench.js [--seconds 3] [--size 150] [--dir /path]
 *   node --import ./src/spool/testing/register-ts.mjs src/spool/spool.bench.ts      (no build)
 *
 * `--dir` should be on the disk the service will use: the numbers are the disk's more than the code's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { nodeSpoolFs, type SpoolFs } from './spool-fs.js';
import { Spool } from './spool.js';

interface Result {
  readonly scenario: string;
  readonly appendsPerS: number;
  readonly fsyncsPerS: number;
  readonly recordsPerGroup: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly loopP99Ms: number;
  readonly fdatasyncP50Ms: number;
  readonly fdatasyncP99Ms: number;
}

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    size: { type: 'string', default: '150' },
    dir: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const size = Number(values.size);
const base = values.dir ?? tmpdir();

/**
 * Runs one scenario. `rate` undefined: closed loop, `window` appends always outstanding (devices
 * waiting for PUBACK). `rate` set: open loop, that many appends per second in 1 ms ticks.
 */
async function run(scenario: string, fsync: boolean, opts: { window?: number; rate?: number }): Promise<Result> {
  const dir = await mkdtemp(path.join(base, 'citypipe-spool-bench-'));
  // The real fs, with each fdatasync timed: the disk's latency is what bounds the group size.
  const syncMs: number[] = [];
  const fs: SpoolFs = {
    ...nodeSpoolFs,
    fdatasync: async (fd) => {
      const t0 = performance.now();
      await nodeSpoolFs.fdatasync(fd);
      syncMs.push(performance.now() - t0);
    },
  };
  const spool = new Spool({ dir, maxBytes: 4 * 1024 * 1024 * 1024, fsync, fs });
  await spool.start();
  const payload = Buffer.alloc(size, 0x61);
  const latencies: number[] = [];
  let done = 0;
  let outstanding = 0;
  let running = true;

  // A consumer that acknowledges everything, as the InfluxDB writer would when it keeps up.
  const consumer = (async () => {
    for (;;) {
      const records = await spool.read(5000);
      if (records.length === 0) return;
      for (const r of records) spool.ack(r.seq);
    }
  })();

  const appendOne = () => {
    const t0 = performance.now();
    outstanding++;
    spool.append(payload, (err) => {
      outstanding--;
      if (err) throw err;
      done++;
      if ((done & 15) === 0) latencies.push(performance.now() - t0);
      if (opts.window !== undefined && running) refill();
    });
  };
  const refill = () => {
    while (outstanding < opts.window!) appendOne();
  };

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const fsyncsBefore = spool.stats().fsyncs;
  const groupsBefore = spool.stats().groups;
  const started = performance.now();
  let ticker: NodeJS.Timeout | undefined;
  if (opts.rate !== undefined) {
    let sent = 0;
    ticker = setInterval(() => {
      // Catch up to the schedule, so timer jitter does not lower the offered load.
      const due = Math.floor(((performance.now() - started) / 1000) * opts.rate!);
      while (sent < due) {
        appendOne();
        sent++;
      }
    }, 1);
  } else {
    refill();
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  clearInterval(ticker);
  const elapsedS = (performance.now() - started) / 1000;
  const doneAtEnd = done;
  const stats = spool.stats();
  loop.disable();
  await spool.stop();
  await consumer;
  await rm(dir, { recursive: true, force: true });

  const pct = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN).toFixed(2));
  };
  const groups = stats.groups - groupsBefore;
  return {
    scenario: `${scenario}, fsync ${fsync ? 'on' : 'off'}`,
    appendsPerS: Math.round(doneAtEnd / elapsedS),
    fsyncsPerS: Math.round((stats.fsyncs - fsyncsBefore) / elapsedS),
    recordsPerGroup: Math.round(stats.appended / Math.max(1, groups)),
    p50Ms: pct(latencies, 0.5),
    p99Ms: pct(latencies, 0.99),
    loopP99Ms: Number((loop.percentile(99) / 1e6).toFixed(2)),
    fdatasyncP50Ms: pct(syncMs, 0.5),
    fdatasyncP99Ms: pct(syncMs, 0.99),
  };
}

console.log(`spool benchmark: ${size}-byte records, ${seconds} s per scenario, dir ${base}, node ${process.version}`);
const results: Result[] = [];
for (const fsync of [true, false]) results.push(await run('max throughput (2,000 outstanding)', fsync, { window: 2000 }));
results.push(await run('offered 50,000/s', true, { rate: 50_000 }));
console.table(results);
