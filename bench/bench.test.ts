/**
 * A seconds-long run of the real bench harness (`citypipe bench` with tiny sizes): its own influxd,
 * mosquitto, aedes alone, the service as `citypipe start`, and generator processes. It asserts that
 * the run completes and reports every figure, not how fast anything is: this machine is shared.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'bin', 'citypipe.js');
const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-bench-smoke-'));
const reportFile = path.join(dir, 'BENCHMARKS.md');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TINY = [
  '--publishers', '20',
  '--messages', '50',
  '--broker-messages', '50',
  '--raw-points', '10000',
  '--latency-rate', '500',
  '--latency-seconds', '2',
  '--latency-warmup', '1',
  '--connections', '200',
  '--burst-batch', '2',
  '--phase-timeout', '30',
  '--soak-devices', '40',
  '--soak-rate', '40',
  '--soak-seconds', '6',
];

/**
 * The sizes without a command-line flag: a 3-second outage at 500 readings/s, one durability round,
 * batches of 7 in the batched end-to-end variant (50 readings: 7 PUBLISHes of 7 and a last of 1),
 * a soak sampled every 2 s after a 2 s warm-up, 400 readings through Mosquitto in each mode of
 * the cluster phase, 2 connections per worker, and the residents' routes for 1 s per server and
 * answer, then in 2 windows of 1 s at 1,000 requests/s.
 */
const E2E_BATCH = 7;
const TINY_ENV_SIZES = {
  durabilityRounds: 1,
  drainRate: 500,
  drainWarmupSeconds: 2,
  outageSeconds: 3,
  drainAfterSeconds: 1,
  e2eBatch: E2E_BATCH,
  uplinks: 300,
  soakWarmupSeconds: 2,
  soakSampleSeconds: 2,
  clusterMessagesPerPublisher: 20,
  clusterConnections: 2,
  residentsSeconds: 1,
  residentsWindows: 2,
};

/** Keys the issue requires of `bench --json`, each a measured number above zero. */
const REQUIRED_POSITIVE = [
  'raw_influx_points_per_s',
  'broker_only_msgs_per_s',
  'mosquitto_msgs_per_s',
  'e2e_qos0_readings_per_s',
  'e2e_qos1_readings_per_s',
  'p50_latency_ms_at_10k',
  'p99_latency_ms_at_10k',
  'connections',
] as const;

/** Further figures the report builds on; also measured, so also above zero. */
const ALSO_POSITIVE = [
  'broker_only_qos0_msgs_per_s',
  'mosquitto_qos0_msgs_per_s',
  'e2e_qos0_vs_raw_influx',
  'e2e_qos1_vs_raw_influx',
  'e2e_qos0_vs_broker_only',
  'e2e_qos1_vs_broker_only',
  'e2e_qos1_batch_readings_per_s',
  'e2e_batch_readings',
  'e2e_qos1_batch_accepted_msgs_per_s',
  'e2e_qos1_batch_cpu_us_per_reading',
  'uplink_qos1_readings_per_s',
  'uplink_qos1_acked_per_s',
  'uplink_qos1_cpu_us_per_reading',
  'uplink_vs_e2e_qos1',
  'latency_samples',
  'latency_offered_rate_per_s',
  'connect_rate_per_s',
  'burst_devices',
  'burst_readings',
  'burst_queryable_s',
  'burst_readings_per_s',
  'durability_qos1_readings_per_s_fsync',
  'durability_qos1_readings_per_s_nofsync',
  'durability_qos1_acked_per_s_fsync',
  'durability_cpu_us_per_reading_fsync',
  'durability_disk_fdatasync_p50_ms',
  'drain_live_rate_per_s',
  'drain_outage_s',
  'drain_backlog_readings',
  'drain_caught_up_s',
  'drain_readings_per_s',
  'drain_live_delay_ms_p99',
  'drain_readings_acked',
  'drain_readings_in_influx',
  'soak_multiplexed_readings_per_s',
  'soak_multiplexed_heap_live_mb_end',
  'soak_multiplexed_external_live_mb_end',
  'soak_multiplexed_rss_mb_end',
  'soak_per_device_readings_per_s',
  'soak_per_device_heap_live_mb_end',
  'soak_per_device_external_live_mb_end',
  'soak_per_device_rss_mb_end',
  'cluster_broker_only_msgs_per_s',
  'cluster_broker_only_broker_cpu_us_per_msg',
  'cluster_one_worker_readings_per_s',
  'cluster_one_worker_vs_broker_only',
  'cluster_one_worker_cpu_us_per_reading',
  'cluster_one_worker_broker_cpu_us_per_reading',
  'cluster_two_workers_readings_per_s',
  'cluster_two_workers_vs_broker_only',
  'cluster_two_workers_cpu_us_per_reading',
  'cluster_two_vs_one_worker',
  'residents_200_per_s',
  'residents_304_per_s',
  'residents_raw_200_per_s',
  'residents_raw_304_per_s',
  'residents_200_vs_raw',
  'residents_304_vs_raw',
  'residents_cpu_us_per_200',
  'residents_cpu_us_per_304',
  'residents_paced_achieved_per_s',
  'residents_paced_p99_ms',
  'residents_puback_p99_ms_without',
  'residents_puback_p99_ms_with',
  'residents_puback_p99_ms_with_raw',
  'residents_puback_p99_ms_at_max',
] as const;

/**
 * How long the whole run may take. It starts a dozen processes and services one after another: 108 s
 * measured beside two CPU hogs and the rest of the suite, and once over 170 s. Each phase has its own
 * `--phase-timeout`, so a phase that hangs still fails on its own; this only bounds the sum.
 */
const BENCH_RUN_MS = 420_000;

function runBench(args: readonly string[] = ['--json', '--report', reportFile, ...TINY]): Promise<{ stdout: string; stderr: string }> {
  if (!existsSync(path.join(root, 'dist', 'bench', 'load-generator.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
  }
  return new Promise((resolve, reject) => {
    const env = { ...process.env, BENCH_SIZES: JSON.stringify(TINY_ENV_SIZES) };
    execFile(process.execPath, [cli, 'bench', ...args], { env, timeout: BENCH_RUN_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`citypipe bench failed: ${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

describe('citypipe bench (smoke)', () => {
  it("prints its report and leaves the checkout's docs/BENCHMARKS.md alone unless --write-docs", { timeout: BENCH_RUN_MS }, async () => {
    const docs = path.join(root, 'docs', 'BENCHMARKS.md');
    const before = readFileSync(docs, 'utf8');
    const { stdout, stderr } = await runBench(['--only', 'raw', '--raw-points', '2000', '--phase-timeout', '30']);
    expect(stdout).toContain('| raw InfluxDB');
    expect(stderr).not.toContain('report written');
    expect(readFileSync(docs, 'utf8')).toBe(before);
  });

  it('runs every phase and reports every figure as JSON and in the Markdown report', { timeout: BENCH_RUN_MS + 10_000 }, async () => {
    const { stdout } = await runBench();
    const result = JSON.parse(stdout) as Record<string, unknown>;

    for (const key of [...REQUIRED_POSITIVE, ...ALSO_POSITIVE]) {
      expect(typeof result[key], key).toBe('number');
      expect(result[key] as number, key).toBeGreaterThan(0);
    }
    // RSS per connection is a difference of two RSS readings: with 200 connections it is a number,
    // but its sign is up to the garbage collector.
    expect(Number.isFinite(result.rss_per_connection_kb), 'rss_per_connection_kb').toBe(true);
    expect(Number.isFinite(result.mosquitto_rss_per_connection_kb), 'mosquitto_rss_per_connection_kb').toBe(true);
    expect(result.connections).toBe(200);
    expect(result.burst_devices).toBe(200);
    expect(result.burst_readings).toBe(400);
    expect(result.latency_lost).toBe(0);
    // The outage's backlog is in InfluxDB afterwards, every acknowledged reading exactly once.
    expect(result.drain_exactly_once).toBe(true);
    expect(result.drain_readings_missing).toBe(0);
    expect(result.drain_readings_in_influx).toBe(result.drain_readings_acked);
    expect(Number.isFinite(result.durability_cost_pct), 'durability_cost_pct').toBe(true);
    // The batched variant: N from BENCH_SIZES, and every reading of every batch its own point (the
    // run notes any difference between readings sent and points InfluxDB returns).
    const batchLabel = `citypipe end to end QoS 1, ${E2E_BATCH} readings per PUBLISH`;
    expect(result.e2e_batch_readings).toBe(E2E_BATCH);
    expect((result.notes as string[]).filter((note) => note.startsWith(batchLabel))).toEqual([]);

    const targets = result.targets as { name: string; met: boolean }[];
    expect(targets.map((t) => typeof t.met)).toEqual(Array(11).fill('boolean'));
    // The soak: both modes, each with its samples; its slope and growth are numbers (their sign is
    // up to the collector over a few seconds).
    for (const mode of ['multiplexed', 'per_device']) {
      expect(Number.isFinite(result[`soak_${mode}_slope_mb_per_min`]), mode).toBe(true);
      expect(Number.isFinite(result[`soak_${mode}_growth_after_warmup_mb`]), mode).toBe(true);
    }
    expect((result.soak_runs as { mode: string; samples: unknown[] }[]).map((r) => [r.mode, r.samples.length >= 3])).toEqual([
      ['multiplexed', true],
      ['per-device', true],
    ]);
    // Cluster: every reading Mosquitto acknowledged reached the consumer (a) or InfluxDB through the
    // workers (b, c), and both workers of (c) took a share of them.
    const clusterRuns = result.cluster_runs as { mode: string; acked: number; delivered: number; dispatchState: string }[];
    expect(clusterRuns.map((r) => [r.mode, r.acked, r.delivered])).toEqual([
      ['broker-only', 400, 400],
      ['one-worker', 400, 400],
      ['two-workers', 400, 400],
    ]);
    // Residents: only 200s and 304s; a run that revalidates gets 304s, one that does not gets none.
    const residents = result.residents_run as { res200: { statuses: object }; res304: { statuses: Record<string, number> }; pacedStatuses: object; outages: number };
    expect(Object.keys(residents.res200.statuses)).toEqual(['200']);
    expect(residents.res304.statuses['304']).toBeGreaterThan(0);
    expect(Object.keys(residents.res304.statuses).every((s) => s === '200' || s === '304')).toBe(true);
    expect(Object.keys(residents.pacedStatuses).every((s) => s === '200' || s === '304')).toBe(true);
    expect(residents.outages).toBe(16);
    const processes = result.processes as Record<string, Record<string, { cpuPct: number; rssPeakMb: number }>>;
    expect(processes['citypipe end to end QoS 1']?.citypipe?.rssPeakMb).toBeGreaterThan(0);
    expect(processes['citypipe end to end QoS 1']?.influxd?.rssPeakMb).toBeGreaterThan(0);
    expect(processes['(c) mosquitto QoS 1']?.broker?.rssPeakMb).toBeGreaterThan(0);
    expect(processes[batchLabel]?.citypipe?.rssPeakMb).toBeGreaterThan(0);
    expect((result.writes as Record<string, { requests: number }>)[batchLabel]?.requests).toBeGreaterThan(0);

    const report = readFileSync(reportFile, 'utf8');
    expect(report).toContain('<!-- bench:custom:begin');
    expect(report).toContain('| citypipe end to end, QoS 1');
    expect(report).toContain(`| citypipe end to end, QoS 1, ${E2E_BATCH} readings per PUBLISH`);
    expect(report).toContain('(information, not a target)');
    expect(report).not.toContain(root);
    expect(report).toContain('| cost of durability');
    expect(report).toContain('| drain after a ');
    expect(report).toContain('| soak, multiplexed: 40 devices');
    expect(report).toContain('| soak, per-device: 40 devices');
    expect(report).toContain('Soak samples');
    expect(report).toContain('| cluster (a): 20 publishers × 20 QoS 1 readings through Mosquitto');
    expect(report).toContain("| cluster (c): the same load into 2 citypipe workers");
    expect(report).toContain("each worker's PUBACK to Mosquitto comes after its spool's fsync");
    expect(report).toContain("| residents' routes, 200: one client");
    expect(report).toContain("| residents' routes at 1,000 requests/s");
    expect(report).toContain('<!-- bench:custom:end -->');
  });
});
