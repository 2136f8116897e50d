/**
 * One bench run, everything on this machine and measured in the same run, so that each figure can be
 * read as a ratio to a baseline that suffered the same noise:
 *
 *   (a) raw InfluxDB: line protocol straight into the run's influxd, 5,000 lines per request;
 *   (b) aedes alone and (c) Debian's mosquitto, with the same publishers and no pipeline;
 *   citypipe end to end at QoS 0 and QoS 1, and at QoS 1 with batched payloads (each PUBLISH a
 *   JSON array of readings), counted as points InfluxDB returns afterwards;
 *   publish → queryable latency at a fixed rate; idle connections and RSS per connection; a
 *   burst in which every device reconnects at once and uploads its buffered batch; the cost of
 *   durability (QoS 1 with and without the spool's fdatasync); and the drain after an InfluxDB
 *   outage (influxd stopped while live ingest goes on, then started again); and the soak
 *   (soak.ts): a generated fleet for minutes, the service's memory after full collections.
 *
 * The service under test is `node bin/citypipe.js start` with CITYPIPE_* configuration and shipped
 * defaults otherwise; the load comes from separate generator processes (load-generator.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hashSecretAsync } from '../src/catalog/secrets.js';
import { deviceType } from '../src/device-types/registry.js';
import { startLocalInfluxd, type LocalInfluxd } from '../src/influxd/local-influxd.js';
import { packageRoot } from '../src/paths.js';
import { newestProfile, selfTimeByModule, topSelfTime, windowBeforeEnd, type SelfTime } from './cpu-profile.js';
import type { BenchDevice, Endpoint, PublishResult } from './generator-protocol.js';
import { countPoints, createDatabase, probeRows, seqStatsByDevice, settledCount } from './influx-queries.js';
import { CONNECTIONS_PER_GENERATOR, phasesToRun, SERVICE_FILE_RESERVE, sizesFromEnv, type BenchOptions, type BenchPhase } from './options.js';
import { BENCH_DEVICE_TYPES, readingBuilder } from './payloads.js';
import { findChildPid, openFileLimits, ProcessSampler, readProc, round, tcpCounters, writeBytes, type ProcUsage } from './proc-stats.js';
import { probeFdatasync, SyscallTrace, type SyscallSummary } from './syscall-trace.js';
import { soakPhase } from './soak.js';
import { soakFigures, soakTargets, type SoakFigures, type SoakRun } from './soak-figures.js';
import { GeneratorProcess, ServiceProcess, startAedesOnly, startMosquitto, writesBetween, type BrokerProcess, type ServiceStats, type WriteMetrics } from './processes.js';

/** One QoS 1 run of the durability phase. */
export interface DurabilityRun {
  fsync: boolean;
  readingsPerS: number;
  ackedPerS: number;
  cpuUsPerReading: number;
  diskBytesPerReading: number;
  fdatasyncs: number;
}

/** A target of the issue and whether this run met it. */
export interface TargetCheck {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
}

/** Everything a run reports. The snake_case keys are the JSON contract of `bench --json` (the soak's: {@link SoakFigures}). */
export interface BenchResult extends SoakFigures {
  /** Mean of the raw baseline measured before and after the end-to-end phases. */
  raw_influx_points_per_s: number;
  raw_influx_runs_points_per_s: number[];
  broker_only_msgs_per_s: number;
  broker_only_qos0_msgs_per_s: number;
  mosquitto_msgs_per_s: number;
  mosquitto_qos0_msgs_per_s: number;
  e2e_qos0_readings_per_s: number;
  e2e_qos1_readings_per_s: number;
  /** End-to-end rate ÷ raw InfluxDB rate (target ≥ 0.5). */
  e2e_qos0_vs_raw_influx: number;
  e2e_qos1_vs_raw_influx: number;
  /** End-to-end rate ÷ aedes-alone rate at the same QoS. */
  e2e_qos0_vs_broker_only: number;
  e2e_qos1_vs_broker_only: number;
  /**
   * citypipe's CPU time per reading written, µs (all its threads: gzip and GC included). Unlike a
   * rate, this hardly depends on what else the machine is doing, so it is the figure to compare
   * before and after a change to the hot path.
   */
  e2e_qos0_cpu_us_per_reading: number;
  e2e_qos1_cpu_us_per_reading: number;
  /** Rate at which the broker acknowledged (QoS 1) or read (QoS 0) the end-to-end publishes. */
  e2e_qos0_accepted_msgs_per_s: number;
  e2e_qos1_accepted_msgs_per_s: number;
  /**
   * QoS 1 end to end with batched payloads: each PUBLISH a JSON array of `e2e_batch_readings`
   * readings (a device uploading its buffer); the same publishers, readings per publisher and
   * window (in PUBLISHes) as e2e QoS 1, counted the same way. Information, not one of the targets.
   */
  e2e_qos1_batch_readings_per_s: number;
  /** Readings per PUBLISH of that variant (the `e2eBatch` size). */
  e2e_batch_readings: number;
  /** PUBLISHes (batches) the broker acknowledged per second in that variant, and citypipe's CPU per reading. */
  e2e_qos1_batch_accepted_msgs_per_s: number;
  e2e_qos1_batch_cpu_us_per_reading: number;
  p50_latency_ms_at_10k: number;
  p99_latency_ms_at_10k: number;
  latency_max_ms: number;
  latency_samples: number;
  /** Readings never seen in InfluxDB among the probes' (should be 0). */
  latency_lost: number;
  latency_target_rate_per_s: number;
  latency_offered_rate_per_s: number;
  rss_per_connection_kb: number;
  connections: number;
  connections_requested: number;
  connect_rate_per_s: number;
  mosquitto_rss_per_connection_kb: number;
  burst_devices: number;
  burst_readings: number;
  burst_all_connected_s: number;
  burst_all_acked_s: number;
  burst_queryable_s: number;
  burst_readings_per_s: number;
  burst_failed_devices: number;
  burst_retries: number;
  /** Connection attempts the kernel dropped during the burst because the broker's accept queue was full. */
  burst_listen_overflows: number;
  /** The same while the idle connections were opened (100 handshakes in flight per generator). */
  connect_listen_overflows: number;
  /**
   * Cost of durability: QoS 1 end to end (readings/s into InfluxDB, as e2e) with the spool's
   * fdatasync (shipped default) and with CITYPIPE_SPOOL_FSYNC=false, the same build in the same run;
   * mean over the rounds.
   */
  durability_qos1_readings_per_s_fsync: number;
  durability_qos1_readings_per_s_nofsync: number;
  /** 100 × (1 − fsync ÷ nofsync): what durability costs in end-to-end QoS 1 throughput (target < 15). */
  durability_cost_pct: number;
  /** PUBACKs per second while publishing, both ways. */
  durability_qos1_acked_per_s_fsync: number;
  durability_qos1_acked_per_s_nofsync: number;
  durability_cpu_us_per_reading_fsync: number;
  durability_cpu_us_per_reading_nofsync: number;
  /** Bytes the service wrote to storage per reading (/proc/<pid>/io write_bytes), both ways. */
  durability_disk_bytes_per_reading_fsync: number;
  durability_disk_bytes_per_reading_nofsync: number;
  /** fdatasync calls of the service in the fsync runs (perf trace), readings per call, mean and max ms. */
  durability_fdatasyncs: number;
  durability_readings_per_fdatasync: number;
  durability_fdatasync_mean_ms: number;
  durability_fdatasync_max_ms: number;
  /** One 64 KiB append + fdatasync on the spool's filesystem, measured alone before the phase. */
  durability_disk_fdatasync_p50_ms: number;
  durability_disk_fdatasync_p99_ms: number;
  /** Every measured run of the durability phase, in order. */
  durability_runs: DurabilityRun[];
  /** Drain after an outage: live QoS 1 rate offered throughout, and how long InfluxDB was down. */
  drain_live_rate_per_s: number;
  drain_outage_s: number;
  /** Readings pending in the service when InfluxDB answered again (the backlog). */
  drain_backlog_readings: number;
  /** Pending during the warm-up (the live level the drain has to return to), highest value seen. */
  drain_live_pending: number;
  /** Restart → the first successful write (the writer's retry backoff, ≤ CITYPIPE_INFLUX_RETRY_MAX_MS). */
  drain_first_write_s: number;
  /** Restart → pending back at the live level. */
  drain_caught_up_s: number;
  /** Backlog ÷ drain_caught_up_s (target ≥ 50,000). */
  drain_readings_per_s: number;
  /** Readings written per second from the first write until caught up (backlog and live together). */
  drain_write_readings_per_s: number;
  /** Publish → queryable of live probe readings sent while the backlog drained (they wait behind it). */
  drain_live_delay_ms_p50: number;
  drain_live_delay_ms_p99: number;
  drain_live_delay_ms_max: number;
  /** The same for live readings sent before the outage and after the drain. */
  drain_live_delay_ms_p99_before: number;
  drain_live_delay_ms_p99_after: number;
  /** PUBACK delay (the publishers' view of live ingest) during the outage and the drain: mean and max. */
  drain_puback_ms_mean_outage: number;
  drain_puback_ms_max_outage: number;
  drain_puback_ms_mean_drain: number;
  drain_puback_ms_max_drain: number;
  /** Readings acknowledged in the phase, and what InfluxDB holds of them afterwards, by seq. */
  drain_readings_acked: number;
  drain_readings_in_influx: number;
  drain_readings_missing: number;
  /** Points beyond one per (device, seq): 0 unless a reading was stored twice under different times. */
  drain_readings_duplicated: number;
  drain_exactly_once: boolean;
  targets: TargetCheck[];
  /** Per phase, per role (citypipe, influxd, generator, broker): CPU % of one core and peak RSS. */
  processes: Record<string, Record<string, ProcUsage>>;
  /** Per phase: the service's InfluxDB write requests (count, mean duration, mean lines). */
  writes: Record<string, WriteMetrics>;
  /** With --cpu-prof: the service's top self-time functions per phase. */
  profiles: Record<string, SelfTime[]>;
  /** Anything that makes a figure less than it seems (limits hit, timeouts, dead letters). */
  notes: string[];
  run: {
    mode: string;
    date: string;
    durationS: number;
    machine: string;
    versions: Record<string, string>;
    sizes: BenchOptions['sizes'];
    /** Settings the service ran with that differ from its defaults, and why. */
    serviceConfig: Record<string, { value: string; why: string }>;
  };
}

const HOST = '127.0.0.1';
const DISTRICTS = 8;
const TARGET_E2E_VS_RAW = 0.5;
const TARGET_P99_MS = 1500;
const TARGET_RSS_PER_CONN_KB = 40;
const TARGET_DURABILITY_COST_PCT = 15;
const TARGET_DRAIN_PER_S = 50_000;
/** Latency resolution: how often the probes' readings are looked for in InfluxDB. */
const PROBE_POLL_MS = 100;
const KEEPALIVE_S = 60;
/**
 * The only settings in which the service under test differs from its shipped defaults (everything
 * else, batch size and flush interval included, is as shipped). Applied when the build knows them.
 */
export const SERVICE_TUNING: Readonly<Record<string, { value: string; why: string }>> = {
  CITYPIPE_MQTT_CLIENT_RATE: {
    value: '1000000',
    why: 'one bench publisher stands for many devices (100 publishers carry 10,000 readings/s and more); the limit stays on the hot path, just high',
  },
  CITYPIPE_MQTT_CLIENT_READING_RATE: {
    value: '10000000',
    why: 'the same: one bench publisher carries the readings of many devices',
  },
  CITYPIPE_MQTT_IP_CONNECT_RATE: {
    value: '1000000',
    why: 'every bench device connects from 127.0.0.1, where a city\'s devices come from thousands of addresses',
  },
};

/** How long the service's `received` must stand still before a phase stops waiting for more. */
const SETTLE_MS = 2000;

function bench(rel: string): string {
  return path.join(packageRoot, 'dist', 'bench', rel);
}

function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

function perSecond(count: number, fromMs: number, toMs: number): number {
  return toMs > fromMs ? Math.round((count * 1000) / (toMs - fromMs)) : 0;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A device record for the catalog file (CONTRACT §3). */
function catalogRecord(d: BenchDevice, i: number, secretHash: string | undefined): Record<string, unknown> {
  return {
    id: d.id,
    type: d.type,
    location: { lat: 52.3 + (i % 1000) / 10_000, lon: 4.8 + Math.floor(i / 1000) / 1000 },
    district: d.district,
    reportingIntervalS: 60,
    attributes: {},
    ...(secretHash ? { secretHash } : {}),
  };
}

/** Bench devices, types in turn; each with its own secret, or all sharing one. */
function makeDevices(prefix: string, n: number, secret: 'own' | 'shared'): BenchDevice[] {
  const width = String(n - 1).length;
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(width, '0')}`,
    type: BENCH_DEVICE_TYPES[i % BENCH_DEVICE_TYPES.length]!,
    district: `bench-d${i % DISTRICTS}`,
    password: secret === 'own' ? `bench-secret-${prefix}-${i}` : `bench-secret-${prefix}`,
  }));
}

/**
 * Writes a catalog folder; devices with a password get its scrypt hash, as `devices add` would.
 * Devices sharing a password share one hash: the service still verifies it on every CONNECT (it
 * caches nothing), so a connection costs what it costs in the field, while the bench hashes once
 * instead of spending ~40 s hashing 20,000 secrets.
 */
async function writeCatalog(dir: string, devices: readonly BenchDevice[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const hashes = new Map<string, Promise<string>>();
  for (const d of devices) if (d.password !== undefined && !hashes.has(d.password)) hashes.set(d.password, hashSecretAsync(d.password));
  const records = await Promise.all(
    devices.map(async (d, i) => catalogRecord(d, i, d.password === undefined ? undefined : await hashes.get(d.password)!)),
  );
  writeFileSync(path.join(dir, 'bench-fleet.json'), JSON.stringify(records));
}

/** Fails early, with the reason, if the bench's readings no longer pass citypipe's schemas. */
function checkPayloads(): void {
  for (const type of BENCH_DEVICE_TYPES) {
    const sample = readingBuilder(type)(Date.now(), 123);
    const parsed = deviceType(type)!.schema.safeParse(JSON.parse(sample));
    if (!parsed.success) throw new Error(`bench payload for ${type} no longer passes its schema (update its src/device-types/<type>/bench.ts): ${JSON.stringify(parsed.error.issues)}`);
  }
}

function versionOf(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return out.split('\n')[0]!.trim();
  } catch (err) {
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return out.split('\n')[0]!.trim() || 'unknown';
  }
}

/** Which citypipe was measured: the git commit of the build under test, or its folder. */
function describeBuild(cli: string): string {
  const dir = path.dirname(path.dirname(cli));
  const git = (args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const rev = git(['rev-parse', '--short', 'HEAD']);
    return git(['status', '--porcelain', '--untracked-files=no']) ? `${rev} + uncommitted changes` : rev;
  } catch {
    return `a copy outside git (${path.basename(dir)})`;
  }
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30, 1)} GiB RAM, Linux ${os.release()}`;
}

/**
 * The SERVICE_TUNING keys the build under test accepts: its config module refuses unknown keys, and
 * older builds do not have the newer limits.
 */
async function tuningFor(cli: string, note: (text: string) => void): Promise<Record<string, string>> {
  const configModule = path.join(path.dirname(path.dirname(cli)), 'dist', 'src', 'config', 'config.js');
  let keys: readonly string[];
  try {
    keys = ((await import(pathToFileURL(configModule).href)) as { CONFIG_KEYS: readonly string[] }).CONFIG_KEYS;
  } catch (err) {
    note(`could not read the configuration keys of the build under test (${configModule}: ${(err as Error).message}); the service runs with its defaults only`);
    return {};
  }
  const env: Record<string, string> = {};
  for (const [key, { value }] of Object.entries(SERVICE_TUNING)) if (keys.includes(key)) env[key] = value;
  return env;
}

/** Runs the whole bench. Throws only when it cannot run at all; partial trouble goes into `notes`. */
export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const run = new BenchRun(opts);
  try {
    return await run.execute();
  } finally {
    await run.cleanup();
  }
}

class BenchRun {
  private readonly opts: BenchOptions;
  private readonly sizes: BenchOptions['sizes'];
  private readonly log: (line: string) => void;
  private readonly workDir: string;
  private readonly notes: string[] = [];
  private readonly processes: Record<string, Record<string, ProcUsage>> = {};
  private readonly profiles: Record<string, SelfTime[]> = {};
  private readonly writes: Record<string, WriteMetrics> = {};
  private readonly started = Date.now();
  private readonly phaseMs: number;
  private readonly limits = openFileLimits();
  private influx: LocalInfluxd | undefined;
  private influxPid = 0;
  private main: GeneratorProcess | undefined;
  private readonly cleanups: (() => Promise<void>)[] = [];
  /** Stops of running services (with their profile collection), for the phase or the cleanup. */
  private readonly serviceStops = new Map<ServiceProcess, () => Promise<void>>();
  /** Per service phase: parts of its run profiled on their own (wall-clock ms), e.g. the drain's backlog. */
  private readonly profileWindows = new Map<string, { name: string; fromMs: number; toMs: number }[]>();
  private publishers: BenchDevice[] = [];
  /** SERVICE_TUNING entries the build under test knows, as environment. */
  private serviceTuning: Record<string, string> = {};
  private publisherCatalog = '';

  /** Sizes BENCH_SIZES set (they have no command-line flag). */
  private readonly envSizes: string[];
  private readonly phases: ReadonlySet<BenchPhase>;

  constructor(opts: BenchOptions) {
    this.opts = opts;
    const fromEnv = sizesFromEnv(opts.sizes);
    this.sizes = fromEnv.sizes;
    this.envSizes = fromEnv.overridden;
    this.phases = phasesToRun(opts.mode, opts.phases);
    // Every progress line says when, so a slow phase (or a slow stop) shows where the time went.
    this.log = (line) => opts.progress(`[${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
    this.phaseMs = this.sizes.phaseTimeoutS * 1000;
    this.workDir = mkdtempSync(path.join(os.tmpdir(), 'citypipe-bench-'));
  }

  private note(text: string): void {
    this.notes.push(text);
    this.log(`  note: ${text}`);
  }

  /** Generators outlive no run: their lifetime is the run's worst case plus a margin. */
  private get generatorLifetimeMs(): number {
    return this.phaseMs * 12 + 600_000;
  }

  async execute(): Promise<BenchResult> {
    const { sizes } = this;
    checkPayloads();
    this.log(`citypipe bench (${this.opts.mode}) in ${this.workDir}: ${[...this.phases].join(', ')}`);
    if (this.envSizes.length > 0) this.note(`sizes set by BENCH_SIZES: ${this.envSizes.map((k) => `${k}=${fmt(sizes[k as keyof typeof sizes])}`).join(', ')}`);
    this.serviceTuning = await tuningFor(this.opts.cli, (text) => this.note(text));
    this.influx = await startLocalInfluxd({ dataDir: path.join(this.workDir, 'influxdb'), binary: this.opts.influxd });
    this.cleanups.push(() => this.influx!.stop());
    this.influxPid = findChildPid(process.pid, 'influxd') ?? 0;
    if (!this.influxPid) this.note('could not find the pid of influxd; its CPU and RSS are not reported');

    this.publishers = makeDevices('bench-pub', sizes.publishers, 'own');
    this.publisherCatalog = path.join(this.workDir, 'catalog-publishers');
    await writeCatalog(this.publisherCatalog, this.publishers);
    this.main = GeneratorProcess.start('load generator', bench('load-generator.js'), Math.min(this.limits.hard, 4096), this.generatorLifetimeMs);
    this.cleanups.push(() => this.main!.stop());

    // A phase left out with --only reports NaN (null in JSON): "not measured", never a made-up 0.
    const want = (p: BenchPhase) => this.phases.has(p);
    const NA = Number.NaN;
    // The baseline is measured before and after the end-to-end phases and averaged: other work on
    // the machine comes and goes, and the two values show how much it moved meanwhile.
    const rawRuns: number[] = [];
    if (want('raw')) await this.warmUpInflux();
    if (want('raw')) rawRuns.push(await this.rawInflux('bench_raw_before'));
    const aedes = want('brokers') ? await this.brokerAlone('aedes') : { qos0: NA, qos1: NA };
    const mosq = want('brokers') ? await this.brokerAlone('mosquitto') : { qos0: NA, qos1: NA };
    const e2e0 = want('e2e') ? await this.endToEnd(0) : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    const e2e1 = want('e2e') ? await this.endToEnd(1) : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    const e2e1Batch = want('e2e')
      ? await this.endToEnd(1, {
          label: `citypipe end to end QoS 1, ${sizes.e2eBatch} readings per PUBLISH`,
          db: 'bench_e2e_qos1_batch',
          profile: `e2e QoS 1, ${sizes.e2eBatch} readings per PUBLISH`,
          batch: sizes.e2eBatch,
        })
      : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    if (want('raw')) rawRuns.push(await this.rawInflux('bench_raw_after'));
    const raw = rawRuns.length > 0 ? Math.round(rawRuns.reduce((a, b) => a + b, 0) / rawRuns.length) : NA;
    if (rawRuns.length === 2 && Math.abs(rawRuns[0]! - rawRuns[1]!) > 0.25 * raw) {
      this.note(`raw InfluxDB: the baseline moved from ${fmt(rawRuns[0]!)} to ${fmt(rawRuns[1]!)} points/s during the run (other load on the machine); ratios to it are rough`);
    }
    const latency = want('latency') ? await this.latency() : { p50: NA, p99: NA, max: NA, samples: NA, lost: NA, offered: NA };
    const conn = want('connections')
      ? await this.connectionsAndBurst()
      : {
          connections: NA,
          rssPerConnKb: NA,
          connectRate: NA,
          listenOverflows: NA,
          burst: { devices: NA, readings: NA, allConnectedS: NA, allAckedS: NA, queryableS: NA, readingsPerS: NA, failed: NA, retries: NA, listenOverflows: NA },
        };
    const mosqConn = want('connections') ? await this.mosquittoConnections(conn.connections) : NA;
    const dur = want('durability') ? await this.durability() : undefined;
    const drain = want('drain') ? await this.drainAfterOutage() : undefined;
    const soak = want('soak') ? await this.soak() : undefined;

    const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 3) : Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : 0);
    const result: BenchResult = {
      raw_influx_points_per_s: raw,
      raw_influx_runs_points_per_s: rawRuns,
      broker_only_msgs_per_s: aedes.qos1,
      broker_only_qos0_msgs_per_s: aedes.qos0,
      mosquitto_msgs_per_s: mosq.qos1,
      mosquitto_qos0_msgs_per_s: mosq.qos0,
      e2e_qos0_readings_per_s: e2e0.readingsPerS,
      e2e_qos1_readings_per_s: e2e1.readingsPerS,
      e2e_qos0_vs_raw_influx: ratio(e2e0.readingsPerS, raw),
      e2e_qos1_vs_raw_influx: ratio(e2e1.readingsPerS, raw),
      e2e_qos0_vs_broker_only: ratio(e2e0.readingsPerS, aedes.qos0),
      e2e_qos1_vs_broker_only: ratio(e2e1.readingsPerS, aedes.qos1),
      e2e_qos0_cpu_us_per_reading: e2e0.cpuUsPerReading,
      e2e_qos1_cpu_us_per_reading: e2e1.cpuUsPerReading,
      e2e_qos0_accepted_msgs_per_s: e2e0.acceptedPerS,
      e2e_qos1_accepted_msgs_per_s: e2e1.acceptedPerS,
      e2e_qos1_batch_readings_per_s: e2e1Batch.readingsPerS,
      e2e_batch_readings: sizes.e2eBatch,
      e2e_qos1_batch_accepted_msgs_per_s: e2e1Batch.acceptedPerS,
      e2e_qos1_batch_cpu_us_per_reading: e2e1Batch.cpuUsPerReading,
      p50_latency_ms_at_10k: latency.p50,
      p99_latency_ms_at_10k: latency.p99,
      latency_max_ms: latency.max,
      latency_samples: latency.samples,
      latency_lost: latency.lost,
      latency_target_rate_per_s: sizes.latencyRate,
      latency_offered_rate_per_s: latency.offered,
      rss_per_connection_kb: conn.rssPerConnKb,
      connections: conn.connections,
      connections_requested: sizes.connections,
      connect_rate_per_s: conn.connectRate,
      mosquitto_rss_per_connection_kb: mosqConn,
      burst_devices: conn.burst.devices,
      burst_readings: conn.burst.readings,
      burst_all_connected_s: conn.burst.allConnectedS,
      burst_all_acked_s: conn.burst.allAckedS,
      burst_queryable_s: conn.burst.queryableS,
      burst_readings_per_s: conn.burst.readingsPerS,
      burst_failed_devices: conn.burst.failed,
      burst_retries: conn.burst.retries,
      burst_listen_overflows: conn.burst.listenOverflows,
      connect_listen_overflows: conn.listenOverflows,
      durability_qos1_readings_per_s_fsync: dur?.fsync.readingsPerS ?? NA,
      durability_qos1_readings_per_s_nofsync: dur?.nofsync.readingsPerS ?? NA,
      durability_cost_pct: dur ? round(100 * (1 - dur.fsync.readingsPerS / dur.nofsync.readingsPerS), 1) : NA,
      durability_qos1_acked_per_s_fsync: dur?.fsync.ackedPerS ?? NA,
      durability_qos1_acked_per_s_nofsync: dur?.nofsync.ackedPerS ?? NA,
      durability_cpu_us_per_reading_fsync: dur?.fsync.cpuUsPerReading ?? NA,
      durability_cpu_us_per_reading_nofsync: dur?.nofsync.cpuUsPerReading ?? NA,
      durability_disk_bytes_per_reading_fsync: dur?.fsync.diskBytesPerReading ?? NA,
      durability_disk_bytes_per_reading_nofsync: dur?.nofsync.diskBytesPerReading ?? NA,
      durability_fdatasyncs: dur?.trace.calls ?? NA,
      durability_readings_per_fdatasync: dur && dur.trace.calls > 0 ? round(dur.fsyncReadings / dur.trace.calls, 1) : NA,
      durability_fdatasync_mean_ms: dur?.trace.meanMs ?? NA,
      durability_fdatasync_max_ms: dur?.trace.maxMs ?? NA,
      durability_disk_fdatasync_p50_ms: dur?.disk.p50Ms ?? NA,
      durability_disk_fdatasync_p99_ms: dur?.disk.p99Ms ?? NA,
      durability_runs: dur?.runs ?? [],
      drain_live_rate_per_s: drain?.liveRate ?? NA,
      drain_outage_s: drain?.outageS ?? NA,
      drain_backlog_readings: drain?.backlog ?? NA,
      drain_live_pending: drain?.livePending ?? NA,
      drain_first_write_s: drain?.firstWriteS ?? NA,
      drain_caught_up_s: drain?.caughtUpS ?? NA,
      drain_readings_per_s: drain?.readingsPerS ?? NA,
      drain_write_readings_per_s: drain?.writePerS ?? NA,
      drain_live_delay_ms_p50: drain?.live.drain.p50 ?? NA,
      drain_live_delay_ms_p99: drain?.live.drain.p99 ?? NA,
      drain_live_delay_ms_max: drain?.live.drain.max ?? NA,
      drain_live_delay_ms_p99_before: drain?.live.before.p99 ?? NA,
      drain_live_delay_ms_p99_after: drain?.live.after.p99 ?? NA,
      drain_puback_ms_mean_outage: drain?.puback.outage.meanMs ?? NA,
      drain_puback_ms_max_outage: drain?.puback.outage.maxMs ?? NA,
      drain_puback_ms_mean_drain: drain?.puback.drain.meanMs ?? NA,
      drain_puback_ms_max_drain: drain?.puback.drain.maxMs ?? NA,
      drain_readings_acked: drain?.acked ?? NA,
      drain_readings_in_influx: drain?.inInflux ?? NA,
      drain_readings_missing: drain?.missing ?? NA,
      drain_readings_duplicated: drain?.duplicated ?? NA,
      drain_exactly_once: drain?.exactlyOnce ?? false,
      ...soakFigures(soak, sizes),
      targets: [],
      processes: this.processes,
      writes: this.writes,
      profiles: this.profiles,
      notes: this.notes,
      run: {
        mode: this.opts.mode,
        date: new Date(this.started).toISOString(),
        durationS: 0,
        machine: machine(),
        versions: {
          citypipe: describeBuild(this.opts.cli),
          node: process.version,
          influxd: versionOf(this.opts.influxd, ['version']),
          mosquitto: versionOf(this.opts.mosquitto, ['-h']).replace(/^mosquitto version /, ''),
        },
        sizes,
        serviceConfig: Object.fromEntries(Object.keys(this.serviceTuning).map((k) => [k, SERVICE_TUNING[k]!])),
      },
    };
    result.targets = checkTargets(result);
    result.run.durationS = Math.round((Date.now() - this.started) / 1000);
    return result;
  }

  async cleanup(): Promise<void> {
    for (const stop of this.serviceStops.values()) await stop().catch(() => undefined);
    this.serviceStops.clear();
    for (const c of this.cleanups.reverse()) await c().catch(() => undefined);
    this.cleanups.length = 0;
    if (this.opts.keepWorkDir) this.log(`kept ${this.workDir}`);
    else rmSync(this.workDir, { recursive: true, force: true });
  }

  private sampler(roles: Record<string, readonly number[]>): ProcessSampler {
    const withInflux = this.influxPid ? { ...roles, influxd: [this.influxPid] } : roles;
    return new ProcessSampler(withInflux).start();
  }

  // -------------------------------------------------------------------------------------------
  // (a) raw InfluxDB

  /** A fresh influxd is slower for its first writes (shards, series index); that is not the baseline. */
  private async warmUpInflux(): Promise<void> {
    const db = 'bench_warmup';
    await createDatabase(this.influx!.url, db);
    await this.main!.request(
      { cmd: 'influx-write', url: this.influx!.url, db, devices: this.publishers, points: Math.min(50_000, Math.ceil(this.sizes.rawPoints / 10)), batch: 5000, concurrency: 2, maxMs: this.phaseMs },
      this.phaseMs + 60_000,
    );
  }

  private async rawInflux(db: string): Promise<number> {
    const { sizes } = this;
    this.log(`(a) raw InfluxDB: ${fmt(sizes.rawPoints)} points in 5,000-line batches, 2 requests in flight`);
    await createDatabase(this.influx!.url, db);
    const sampler = this.sampler({ generator: [this.main!.pid] });
    const r = await this.main!.request(
      { cmd: 'influx-write', url: this.influx!.url, db, devices: this.publishers, points: sizes.rawPoints, batch: 5000, concurrency: 2, maxMs: this.phaseMs },
      this.phaseMs + 60_000,
    );
    this.processes[`raw InfluxDB (${db.replace('bench_raw_', '')})`] = sampler.stop();
    if (r.failures > 0) this.note(`raw InfluxDB: ${r.failures} write requests failed (last: ${r.lastError})`);
    const counted = await settledCount(this.influx!.url, db, r.points, 300, 30_000);
    if (counted < r.points) this.note(`raw InfluxDB: ${fmt(r.points)} points written but ${fmt(counted)} queryable`);
    const rate = perSecond(counted, r.firstAt, r.lastAt);
    this.log(`    ${fmt(rate)} points/s (${fmt(counted)} points in ${((r.lastAt - r.firstAt) / 1000).toFixed(1)} s)`);
    return rate;
  }

  // -------------------------------------------------------------------------------------------
  // (b) aedes alone, (c) mosquitto

  private async brokerAlone(which: 'aedes' | 'mosquitto'): Promise<{ qos0: number; qos1: number }> {
    const { sizes } = this;
    const label = which === 'aedes' ? '(b) aedes alone' : '(c) mosquitto';
    const broker: BrokerProcess =
      which === 'aedes'
        ? await startAedesOnly(bench('aedes-only.js'), 4096)
        : await startMosquitto(this.opts.mosquitto, this.workDir, 4096);
    try {
      await this.connectPublishers({ host: HOST, port: broker.port }, label);
      const rates = { qos0: 0, qos1: 0 };
      for (const qos of [0, 1] as const) {
        this.log(`${label}, QoS ${qos}: ${sizes.publishers} publishers × ${fmt(sizes.brokerMessagesPerPublisher)} messages`);
        const sampler = this.sampler({ broker: [broker.pid], generator: [this.main!.pid] });
        const r = await this.publishMax(qos, sizes.brokerMessagesPerPublisher, true);
        const usage = sampler.stop();
        this.processes[`${label} QoS ${qos}`] = usage;
        this.noteGeneratorBound(`${label} QoS ${qos}`, usage);
        rates[qos === 0 ? 'qos0' : 'qos1'] = this.brokerRate(r, qos, `${label} QoS ${qos}`);
        this.log(`    ${fmt(rates[qos === 0 ? 'qos0' : 'qos1'])} msgs/s`);
      }
      await this.main!.request({ cmd: 'disconnect' }, 30_000);
      return rates;
    } finally {
      await broker.stop();
    }
  }

  /** A saturated load generator measures itself: say so, since the figure is then a lower bound. */
  private noteGeneratorBound(label: string, usage: Record<string, ProcUsage>): void {
    const cpu = usage.generator?.cpuPct ?? 0;
    if (cpu >= 90) this.note(`${label}: the load generator used ${cpu} % of a core, so this figure is a lower bound (the generator, not the broker, was the limit)`);
  }

  /** QoS 1: acknowledged per second; QoS 0: messages per second until the PINGREQ barrier came back. */
  private brokerRate(r: PublishResult, qos: 0 | 1, label: string, noteLost = true): number {
    if (r.timedOut) this.note(`${label}: did not finish within the phase timeout; the rate covers what was done`);
    if (noteLost && r.connectionsLost > 0) this.note(`${label}: ${r.connectionsLost} connections were lost while publishing`);
    if (qos === 1) return perSecond(r.acked, r.firstSendAt, r.lastAckAt);
    return perSecond(r.sent, r.firstSendAt, r.barrierAt || r.lastSendAt);
  }

  private async connectPublishers(endpoint: Endpoint, label: string): Promise<void> {
    const c = await this.main!.request(
      { cmd: 'connect', endpoint, devices: this.publishers, keepaliveS: KEEPALIVE_S, presence: false, parallel: 50, timeoutMs: 30_000 },
      120_000,
    );
    if (c.connected < this.publishers.length) {
      throw new Error(`${label}: only ${c.connected} of ${this.publishers.length} publishers could connect: ${JSON.stringify(c.errors)}`);
    }
  }

  /** `batch`: readings per PUBLISH (a JSON array); `perConnection` counts readings either way. */
  private publishMax(qos: 0 | 1, perConnection: number, barrier: boolean, batch?: number): Promise<PublishResult> {
    return this.main!.request(
      { cmd: 'publish-max', qos, perConnection, ...(batch === undefined ? {} : { batch }), window: this.sizes.qos1Window, maxMs: this.phaseMs, drainMs: 60_000, barrier },
      this.phaseMs + 120_000,
    );
  }

  // -------------------------------------------------------------------------------------------
  // citypipe end to end

  private async startService(
    phase: string,
    devicesDir: string,
    db: string,
    nofile: number,
    extraEnv: Record<string, string> = {},
    nodeArgs: readonly string[] = this.opts.serviceNodeArgs,
  ): Promise<ServiceProcess> {
    await createDatabase(this.influx!.url, db);
    const dataDir = path.join(this.workDir, `data-${db}`);
    mkdirSync(dataDir, { recursive: true });
    let cpuProfDir: string | undefined;
    if (this.opts.cpuProf) {
      cpuProfDir = path.join(this.workDir, 'profiles', db);
      mkdirSync(cpuProfDir, { recursive: true });
    }
    const svc = await ServiceProcess.start({
      cli: this.opts.cli,
      nofile,
      cpuProfDir,
      nodeArgs,
      startTimeoutMs: 60_000,
      env: {
        CITYPIPE_MQTT_HOST: HOST,
        CITYPIPE_MQTT_PORT: '0',
        CITYPIPE_HTTP_HOST: HOST,
        CITYPIPE_HTTP_PORT: '0',
        CITYPIPE_DATA_DIR: dataDir,
        CITYPIPE_DEVICES_DIR: devicesDir,
        CITYPIPE_INFLUX_URL: this.influx!.url,
        CITYPIPE_INFLUX_API: 'v1',
        CITYPIPE_INFLUX_BUCKET: db,
        // "citypipe started" (with the ports) is an info line; nothing is logged per message.
        CITYPIPE_LOG_LEVEL: 'info',
        ...this.serviceTuning,
        ...extraEnv,
      },
    });
    const stop = async () => {
      const t0 = Date.now();
      await svc.stop(120_000);
      // The profile ends when the process does: the clock its windows are placed by.
      const endedAt = Date.now();
      const stopS = (endedAt - t0) / 1000;
      // A graceful stop only has to flush what is pending; the phases wait until nothing is.
      if (stopS > 5) this.note(`${phase}: the service took ${stopS.toFixed(1)} s to stop after SIGTERM with nothing pending`);
      if (cpuProfDir) {
        const p = newestProfile(cpuProfDir);
        if (p) {
          this.profiles[phase] = topSelfTime(p.profile, 15);
          this.profiles[`${phase}, by module`] = selfTimeByModule(p.profile, 12);
          for (const w of this.profileWindows.get(phase) ?? []) {
            const win = windowBeforeEnd(p.profile, endedAt, w.fromMs, w.toMs);
            this.profiles[`${phase}: ${w.name}`] = topSelfTime(p.profile, 15, win);
            this.profiles[`${phase}: ${w.name}, by module`] = selfTimeByModule(p.profile, 12, win);
          }
        }
        else this.note(`${phase}: --cpu-prof wrote no profile (did the service exit gracefully?)`);
      }
    };
    this.serviceStops.set(svc, stop);
    return svc;
  }

  private async stopService(svc: ServiceProcess): Promise<void> {
    const stop = this.serviceStops.get(svc);
    this.serviceStops.delete(svc);
    await stop?.();
  }

  /**
   * Waits until the service has written everything it received (pending 0, nothing in between) and
   * either received at least `expected` or stopped receiving for {@link SETTLE_MS} (publishers it
   * disconnected never deliver what they sent). Returns when that state was first seen.
   */
  private async waitWritten(svc: ServiceProcess, expected: number, timeoutMs: number, label: string): Promise<{ doneAt: number; stats: ServiceStats }> {
    const deadline = Date.now() + timeoutMs;
    let stats: ServiceStats = { received: 0, written: 0, deadLettered: 0, pending: 0 };
    let lastReceived = -1;
    let receivedSince = Date.now();
    let idleSince = 0;
    for (;;) {
      stats = await svc.stats();
      const now = Date.now();
      if (stats.received !== lastReceived) {
        lastReceived = stats.received;
        receivedSince = now;
        idleSince = 0;
      }
      const idle = stats.pending === 0 && stats.received === stats.written + stats.deadLettered;
      if (idle && idleSince === 0) idleSince = now;
      if (!idle) idleSince = 0;
      if (idle && (stats.received >= expected || now - receivedSince >= SETTLE_MS)) {
        if (stats.deadLettered > 0) this.note(`${label}: ${fmt(stats.deadLettered)} readings were dead-lettered: the bench's payloads or catalog are wrong`);
        return { doneAt: idleSince, stats };
      }
      if (now >= deadline) {
        this.note(`${label}: not everything was written within ${Math.round(timeoutMs / 1000)} s (stats ${JSON.stringify(stats)})`);
        return { doneAt: now, stats };
      }
      await sleep(100);
    }
  }

  /**
   * `variant` runs the same measurement under another name, in its own database, with extra service
   * configuration (the durability phase), optionally tracing the service's fdatasync calls, or with
   * `batch` readings per PUBLISH (a JSON array; the same readings per publisher in fewer PUBLISHes,
   * the QoS 1 window counting PUBLISHes).
   */
  private async endToEnd(
    qos: 0 | 1,
    variant?: { label: string; db: string; profile: string; env?: Record<string, string>; traceFdatasync?: boolean; batch?: number },
  ): Promise<{ readingsPerS: number; acceptedPerS: number; cpuUsPerReading: number; counted: number; diskBytesPerReading: number; fdatasync?: SyscallSummary }> {
    const { sizes } = this;
    const label = variant?.label ?? `citypipe end to end QoS ${qos}`;
    const db = variant?.db ?? `bench_e2e_qos${qos}`;
    const svc = await this.startService(variant?.profile ?? `e2e QoS ${qos}`, this.publisherCatalog, db, 4096, variant?.env);
    try {
      await this.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
      const batch = variant?.batch;
      const inPublishes = batch === undefined ? '' : ` in ${fmt(Math.ceil(sizes.messagesPerPublisher / batch))} PUBLISHes of up to ${fmt(batch)}`;
      this.log(`${label}: ${sizes.publishers} publishers × ${fmt(sizes.messagesPerPublisher)} readings${inPublishes}, counted in InfluxDB`);
      let trace: SyscallTrace | undefined;
      if (variant?.traceFdatasync) {
        const t = await SyscallTrace.start(svc.pid, 'fdatasync', path.join(this.workDir, `perf-${db}.txt`));
        if (typeof t === 'string') {
          if (!this.notes.includes(t)) this.note(t);
        } else trace = t;
      }
      const bytesBefore = writeBytes(svc.pid);
      const sampler = this.sampler({ citypipe: [svc.pid], generator: [this.main!.pid] });
      const r = await this.publishMax(qos, sizes.messagesPerPublisher, qos === 0, batch);
      // In readings, which is what the service counts (a batch counts each of its readings).
      const accepted = qos === 1 ? r.readingsAcked : r.readingsSent;
      const { doneAt, stats } = await this.waitWritten(svc, accepted, this.phaseMs, label);
      if (r.connectionsLost > 0) {
        this.note(
          `${label}: citypipe disconnected ${r.connectionsLost} of ${sizes.publishers} publishers (it refuses publishes while its buffer for ` +
            `InfluxDB is full, and MQTT 3.1.1 can only say so by closing the connection); it received ${fmt(stats.received)} of ${fmt(r.readingsSent)} sent`,
        );
      }
      const usage = sampler.stop();
      const diskBytes = writeBytes(svc.pid) - bytesBefore;
      const fdatasync = await trace?.stop('fdatasync');
      this.processes[label] = usage;
      this.writes[label] = await svc.writeMetrics();
      const counted = await settledCount(this.influx!.url, db, stats.received, 300, 30_000);
      if (counted < stats.received) this.note(`${label}: citypipe received ${fmt(stats.received)} readings but InfluxDB returns ${fmt(counted)}`);
      // Readings of one batch that shared a (series, time) would be one point: the count shows it.
      if (batch !== undefined && counted !== r.readingsSent) {
        this.note(`${label}: ${fmt(r.readingsSent)} readings were sent in ${fmt(r.sent)} PUBLISHes but InfluxDB returns ${fmt(counted)}`);
      }
      if (r.timedOut) this.note(`${label}: publishing hit the phase timeout of ${sizes.phaseTimeoutS} s`);
      const readingsPerS = perSecond(counted, r.firstSendAt, doneAt);
      // What citypipe took per second while the publishers were sending: acknowledged (QoS 1), or
      // received by the time the barrier came back (QoS 0; sent would count what disconnected
      // publishers wrote into closed sockets).
      const acceptedPerS =
        qos === 1 ? this.brokerRate(r, qos, label, false) : perSecond(stats.received, r.firstSendAt, r.barrierAt || r.lastSendAt);
      this.noteGeneratorBound(label, usage);
      const cpuUsPerReading = counted > 0 ? round((usage.citypipe!.cpuS * 1e6) / counted, 1) : Number.NaN;
      const ofSent = batch === undefined ? '' : ` of ${fmt(r.readingsSent)} sent`;
      this.log(
        `    ${fmt(readingsPerS)} readings/s into InfluxDB (${fmt(counted)}${ofSent} in ${((doneAt - r.firstSendAt) / 1000).toFixed(1)} s; ` +
          `broker took ${fmt(acceptedPerS)} msgs/s; citypipe used ${cpuUsPerReading} µs CPU per reading)`,
      );
      await this.main!.request({ cmd: 'disconnect' }, 30_000);
      const diskBytesPerReading = counted > 0 ? round(diskBytes / counted, 1) : Number.NaN;
      return { readingsPerS, acceptedPerS, cpuUsPerReading, counted, diskBytesPerReading, ...(fdatasync ? { fdatasync } : {}) };
    } finally {
      await this.stopService(svc);
    }
  }

  // -------------------------------------------------------------------------------------------
  // cost of durability: the spool with and without fdatasync

  /**
   * QoS 1 end to end, as the e2e phase measures it, with the spool's fdatasync (the shipped default)
   * and with CITYPIPE_SPOOL_FSYNC=false (records go to the page cache only): the same build, the
   * same run, in A B B A order over the rounds. A build without that setting (before the spool) is
   * measured once, as "without".
   */
  private async durability(): Promise<{
    fsync: { readingsPerS: number; ackedPerS: number; cpuUsPerReading: number; diskBytesPerReading: number };
    nofsync: { readingsPerS: number; ackedPerS: number; cpuUsPerReading: number; diskBytesPerReading: number };
    trace: SyscallSummary;
    fsyncReadings: number;
    disk: { p50Ms: number; p99Ms: number };
    runs: DurabilityRun[];
  }> {
    const { sizes } = this;
    const NA = Number.NaN;
    const hasFsyncKey = await this.buildKnows('CITYPIPE_SPOOL_FSYNC');
    const disk = probeFdatasync(this.workDir);
    this.log(`cost of durability: one 64 KiB append + fdatasync on this disk takes ${disk.p50Ms} ms (p50), ${disk.p99Ms} ms (p99)`);
    const order: boolean[] = [];
    if (!hasFsyncKey) {
      this.note('durability: the build under test has no CITYPIPE_SPOOL_FSYNC (no spool): measured once, as "without"');
      order.push(false);
    } else {
      for (let i = 0; i < sizes.durabilityRounds; i++) order.push(...(i % 2 === 0 ? [true, false] : [false, true]));
    }
    const runs: DurabilityRun[] = [];
    const traces: SyscallSummary[] = [];
    let fsyncReadings = 0;
    for (const [i, fsync] of order.entries()) {
      const name = fsync ? 'with fdatasync' : 'without fdatasync';
      const r = await this.endToEnd(1, {
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
    this.log(
      `    with fdatasync ${fmt(out.fsync.readingsPerS)} readings/s (${out.fsync.cpuUsPerReading} µs CPU each), without ${fmt(out.nofsync.readingsPerS)} ` +
        `(${out.nofsync.cpuUsPerReading} µs); ${fmt(trace.calls)} fdatasyncs, ${trace.meanMs} ms mean`,
    );
    return out;
  }

  /** Whether the build under test accepts a configuration key. */
  private async buildKnows(key: string): Promise<boolean> {
    const configModule = path.join(path.dirname(path.dirname(this.opts.cli)), 'dist', 'src', 'config', 'config.js');
    try {
      return ((await import(pathToFileURL(configModule).href)) as { CONFIG_KEYS: readonly string[] }).CONFIG_KEYS.includes(key);
    } catch {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // drain after an InfluxDB outage

  /**
   * Live QoS 1 ingest at `drainRate` from every publisher; InfluxDB is stopped (SIGTERM: connection
   * refused, as in a real outage) for `outageSeconds` while the publishers go on, then started again
   * on the same port and data. Measured: the backlog when InfluxDB answers again, how long until
   * pending is back at its live level, how long live readings sent meanwhile wait to become
   * queryable (the spool is FIFO: behind the backlog), the publishers' PUBACK delays, and afterwards
   * that InfluxDB holds every acknowledged reading exactly once, by seq.
   */
  private async drainAfterOutage(): Promise<{
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
    const { sizes } = this;
    const NA = Number.NaN;
    const label = `drain after a ${fmt(sizes.outageSeconds)} s InfluxDB outage at ${fmt(sizes.drainRate)} readings/s`;
    const db = 'bench_drain';
    const svc = await this.startService('drain', this.publisherCatalog, db, 4096);
    // The probe poller and stats poller below run until the phase ends, however it ends.
    let polling = true;
    try {
      await this.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
      const probes = BENCH_DEVICE_TYPES.map((t) => this.publishers.find((p) => p.type === t)!.id);
      this.log(`${label}: QoS 1, ${sizes.publishers} publishers, ${sizes.drainWarmupSeconds} s live first; probes ${probes.join(', ')}`);
      const boundMs = (sizes.drainWarmupSeconds + sizes.outageSeconds + sizes.drainAfterSeconds) * 1000 + this.phaseMs + 60_000;
      const startedAt = Date.now();
      const publishing = this.main!.request(
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
            const rows = await probeRows(this.influx!.url, db, probes, watermark, 2000);
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
      const influxDataDir = this.influx!.dataDir;
      const influxPort = this.influx!.port;
      const outageAt = Date.now();
      this.writes['drain: live, before the outage'] = await svc.writeMetrics();
      const outageSampler = this.sampler({ citypipe: [svc.pid] });
      this.log(`    InfluxDB stopped (live pending level ${fmt(livePending)}); publishing goes on for ${fmt(sizes.outageSeconds)} s`);
      await this.influx!.stop();
      const stoppedAt = Date.now();
      let nextLog = Date.now() + 30_000;
      while (Date.now() < outageAt + sizes.outageSeconds * 1000) {
        await sleep(Math.min(1000, outageAt + sizes.outageSeconds * 1000 - Date.now()));
        check();
        if (Date.now() >= nextLog) {
          nextLog += 30_000;
          this.log(`    outage ${Math.round((Date.now() - outageAt) / 1000)} s: ${fmt(timeline.at(-1)?.pending ?? 0)} pending`);
        }
      }
      this.processes['drain: outage'] = outageSampler.stop();
      this.influx = await startLocalInfluxd({ dataDir: influxDataDir, port: influxPort, binary: this.opts.influxd });
      const readyAt = Date.now();
      this.influxPid = findChildPid(process.pid, 'influxd') ?? 0;
      const atReady = await svc.stats();
      const backlog = atReady.pending;
      const writesBefore = await svc.writeMetrics();
      const outageS = round((readyAt - outageAt) / 1000, 1);
      this.log(`    InfluxDB answers again after ${outageS} s (stopping it took ${((stoppedAt - outageAt) / 1000).toFixed(1)} s): backlog ${fmt(backlog)} readings`);
      const drainSampler = this.sampler({ citypipe: [svc.pid] });

      // The drain: until pending is back at the live level (at least one second of live ingest, so
      // that a batch that is only filling does not count as backlog).
      const liveLevel = Math.max(livePending, sizes.drainRate);
      let firstWriteAt = 0;
      let caughtUpAt = 0;
      const drainDeadline = readyAt + this.phaseMs;
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
          this.log(`    drain ${Math.round((Date.now() - readyAt) / 1000)} s: ${fmt(timeline.at(-1)?.pending ?? 0)} pending`);
        }
      }
      const drainUsage = drainSampler.stop();
      this.processes['drain: backlog'] = drainUsage;
      const writesDrain = await svc.writeMetrics();
      this.writes['drain: backlog'] = writesBetween(writesBefore, writesDrain);
      if (!caughtUpAt) {
        this.note(`drain: pending was not back at its live level (${fmt(liveLevel)}) within ${sizes.phaseTimeoutS} s of the restart (${fmt(await pendingNow())} pending)`);
        caughtUpAt = Date.now();
      }
      this.profileWindows.set('drain', [{ name: 'backlog (restart → caught up)', fromMs: readyAt, toMs: caughtUpAt }]);
      const atCaughtUp = timeline.filter((t) => t.at <= caughtUpAt).at(-1)!;
      const caughtUpS = round((caughtUpAt - readyAt) / 1000, 1);
      const firstWriteS = firstWriteAt ? round((firstWriteAt - readyAt) / 1000, 1) : NA;
      const readingsPerS = perSecond(backlog, readyAt, caughtUpAt);
      const writePerS = firstWriteAt ? perSecond(atCaughtUp.written - writtenAtFirst, firstWriteAt, caughtUpAt) : NA;
      this.log(
        `    caught up ${caughtUpS} s after the restart (first write after ${firstWriteS} s): ${fmt(readingsPerS)} readings/s of backlog, ` +
          `${fmt(writePerS)} written/s from the first write; citypipe ${drainUsage.citypipe?.cpuPct ?? '?'} % CPU`,
      );
      if (drainUsage.citypipe && atCaughtUp.written > writtenAtFirst) {
        this.note(
          `drain: citypipe used ${round((drainUsage.citypipe.cpuS * 1e6) / (atCaughtUp.written - atReady.written), 1)} µs CPU per reading written while draining ` +
            `(${drainUsage.citypipe.cpuPct} % of a core)`,
        );
      }

      // Live after the drain, then stop and account for every reading.
      await sleep(sizes.drainAfterSeconds * 1000);
      const endAt = Date.now();
      await this.main!.request({ cmd: 'stop-rate' }, 10_000);
      const r = await publishing;
      const { stats } = await this.waitWritten(svc, r.acked, 120_000, label);
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
      this.log(
        `    live readings sent during the drain became queryable after p50 ${fmt(live.drain.p50)} ms, p99 ${fmt(live.drain.p99)} ms (${fmt(live.drain.samples)} probe samples); ` +
          `before the outage p99 ${fmt(live.before.p99)} ms, after the drain p99 ${fmt(live.after.p99)} ms; PUBACK max ${fmt(puback.outage.maxMs)} ms during the outage`,
      );

      // Every acknowledged reading in InfluxDB exactly once, by device and seq.
      await settledCount(this.influx!.url, db, r.acked, 500, 60_000);
      const bySeq = await seqStatsByDevice(this.influx!.url, db);
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
        this.note(
          `drain: InfluxDB does not hold every reading exactly once: ${fmt(missing)} missing, ${fmt(duplicated)} duplicated, ${wrongRange} devices with other seqs than sent, ` +
            `${fmt(unacked)} sent but never acknowledged (service stats ${JSON.stringify(stats)})`,
        );
      }
      if (r.connectionsLost > 0) this.note(`drain: ${r.connectionsLost} publisher connections were lost`);
      const offered = Math.round((r.sent * 1000) / Math.max(1, endAt - startedAt));
      if (offered < sizes.drainRate * 0.95) this.note(`drain: the generator offered only ${fmt(offered)} readings/s of ${fmt(sizes.drainRate)} (largest backlog ${fmt(r.maxBehind)})`);
      this.log(`    ${fmt(r.acked)} readings acknowledged, ${fmt(inInflux)} distinct in InfluxDB: ${exactlyOnce ? 'every one exactly once' : 'NOT exactly once'}`);
      await this.main!.request({ cmd: 'disconnect' }, 30_000);
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
      await this.stopService(svc);
    }
  }

  // -------------------------------------------------------------------------------------------
  // the soak (soak.ts)

  /** Both connection modes, one after the other, on one generated fleet. */
  private soak(): Promise<SoakRun[]> {
    return soakPhase(path.join(this.workDir, 'soak'), this.sizes, {
      cli: this.opts.cli,
      hardNofile: this.limits.hard,
      serviceNodeArgs: this.opts.serviceNodeArgs,
      services: { start: (s) => this.startService(s.name, s.devicesDir, s.db, s.nofile, s.env, s.nodeArgs), stop: (svc) => this.stopService(svc) },
      log: this.log,
      note: (text) => this.note(text),
    });
  }

  // -------------------------------------------------------------------------------------------
  // latency at a fixed rate

  private async latency(): Promise<{ p50: number; p99: number; max: number; samples: number; lost: number; offered: number }> {
    const { sizes } = this;
    const label = `publish → queryable at ${fmt(sizes.latencyRate)} readings/s`;
    const db = 'bench_latency';
    const svc = await this.startService('latency', this.publisherCatalog, db, 4096);
    try {
      await this.connectPublishers({ host: HOST, port: svc.mqttPort }, label);
      // One probe device per type; their readings are a fair sample of the stream (same path, same
      // batches) and few enough to look up every 100 ms without loading InfluxDB.
      const probes = BENCH_DEVICE_TYPES.map((t) => this.publishers.find((p) => p.type === t)!.id);
      this.log(`${label}: ${sizes.latencyWarmupSeconds} s warm-up + ${sizes.latencySeconds} s, QoS 1, ${sizes.publishers} publishers, probes ${probes.join(', ')}`);
      const durationMs = (sizes.latencyWarmupSeconds + sizes.latencySeconds) * 1000;
      const startedAt = Date.now();
      const measureFrom = startedAt + sizes.latencyWarmupSeconds * 1000;
      let sampler: ProcessSampler | undefined;
      const warmupTimer = setTimeout(() => (sampler = this.sampler({ citypipe: [svc.pid], generator: [this.main!.pid] })), sizes.latencyWarmupSeconds * 1000);
      const publishing = this.main!.request(
        { cmd: 'publish-rate', qos: 1, ratePerS: sizes.latencyRate, durationMs, window: this.sizes.qos1Window, drainMs: 60_000, probeIds: probes },
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
      const hardDeadline = startedAt + durationMs + this.phaseMs;
      for (;;) {
        const t0 = Date.now();
        // Only readings after the oldest gap are asked for, so each poll returns a few hundred rows.
        const watermark = Math.min(...[...contiguous.values()].map((c) => c.timeMs));
        const rows = await probeRows(this.influx!.url, db, probes, watermark);
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
          this.note(`${label}: not every probe reading was queryable within the phase timeout`);
          break;
        }
        await sleep(Math.max(0, PROBE_POLL_MS - (Date.now() - t0)));
      }
      clearTimeout(warmupTimer);
      const usage = sampler?.stop();
      if (usage) this.processes[label] = usage;
      const r = published ?? (await publishing);
      await this.waitWritten(svc, r.acked, 60_000, label);
      this.writes[label] = await svc.writeMetrics();

      let expected = 0;
      let got = 0;
      for (const p of probes) {
        const [first, last] = r.probeSeqs[p]!;
        expected += last - first + 1;
        got += seen.get(p)!.size;
      }
      const lost = Math.max(0, expected - got);
      if (lost > 0) this.note(`${label}: ${lost} probe readings never became queryable`);
      const offered = Math.round((r.sent * 1000) / durationMs);
      if (offered < sizes.latencyRate * 0.95) this.note(`${label}: the generator offered only ${fmt(offered)} readings/s (largest backlog ${fmt(r.maxBehind)}): the machine could not sustain the target rate`);
      if (r.timedOut) this.note(`${label}: QoS 1 acknowledgements were still missing when the phase ended`);
      latencies.sort((a, b) => a - b);
      const out = {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? 0,
        samples: latencies.length,
        lost,
        offered,
      };
      this.log(`    p50 ${fmt(out.p50)} ms, p99 ${fmt(out.p99)} ms, max ${fmt(out.max)} ms (${fmt(out.samples)} samples; offered ${fmt(offered)}/s)`);
      await this.main!.request({ cmd: 'disconnect' }, 30_000);
      return out;
    } finally {
      await this.stopService(svc);
    }
  }

  // -------------------------------------------------------------------------------------------
  // idle connections, then the reconnect burst

  /** How many connections this machine lets the broker hold, and why not more. */
  private connectionBudget(): number {
    const requested = this.sizes.connections;
    let n = requested;
    const byFiles = this.limits.hard - SERVICE_FILE_RESERVE;
    if (n > byFiles) {
      n = byFiles;
      this.note(
        `connections: asked for ${fmt(requested)}, but the hard open-files limit here is ${fmt(this.limits.hard)} (ulimit -Hn) and the broker ` +
          `needs about ${SERVICE_FILE_RESERVE} files besides its connections, so ${fmt(n)} were opened. To measure ${fmt(requested)}, raise the ` +
          `hard limit (as root: \`ulimit -Hn 65536\` in the shell that runs the bench, or LimitNOFILE= for a systemd unit).`,
      );
    }
    try {
      const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
      const ports = hi! - lo! + 1;
      if (n > ports - 1000) {
        n = ports - 1000;
        this.note(`connections: capped at ${fmt(n)} by the local port range ${lo}-${hi} (one port per loopback connection)`);
      }
    } catch {
      // not Linux-like; the connect errors will say it
    }
    return Math.max(1, n);
  }

  private async connectionsAndBurst(): Promise<{
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
    const { sizes } = this;
    const n = this.connectionBudget();
    // Every device authenticates with a secret, as in production: a reconnect storm then costs the
    // scrypt verifications it costs in the field.
    const devices = makeDevices('bench-dev', n, 'shared');
    const catalog = path.join(this.workDir, 'catalog-idle');
    await writeCatalog(catalog, devices);
    const db = 'bench_burst';
    const svc = await this.startService('connections + burst', catalog, db, Math.min(this.limits.hard, n + SERVICE_FILE_RESERVE));
    const gens: GeneratorProcess[] = [];
    try {
      const slices: BenchDevice[][] = [];
      for (let i = 0; i < n; i += CONNECTIONS_PER_GENERATOR) slices.push(devices.slice(i, i + CONNECTIONS_PER_GENERATOR));
      for (const [i] of slices.entries()) {
        const g = GeneratorProcess.start(`connection generator ${i + 1}`, bench('load-generator.js'), Math.min(this.limits.hard, CONNECTIONS_PER_GENERATOR + 100), this.generatorLifetimeMs);
        gens.push(g);
      }
      const genPids = gens.map((g) => g.pid);
      await sleep(1000);
      const baseline = await this.steadyRssKb(svc.pid);

      this.log(`idle connections: ${fmt(n)} devices (keep alive ${KEEPALIVE_S} s, Last Will and retained status), ${gens.length} generator processes`);
      const endpoint = { host: HOST, port: svc.mqttPort };
      let sampler = this.sampler({ citypipe: [svc.pid], generator: genPids });
      let overflowsBefore = tcpCounters().ListenOverflows ?? 0;
      const results = await Promise.all(
        gens.map((g, i) =>
          g.request({ cmd: 'connect', endpoint, devices: slices[i]!, keepaliveS: KEEPALIVE_S, presence: true, parallel: 100, timeoutMs: 30_000 }, this.phaseMs + 60_000),
        ),
      );
      this.processes['idle connections: connecting'] = sampler.stop();
      const listenOverflows = (tcpCounters().ListenOverflows ?? 0) - overflowsBefore;
      const connected = results.reduce((s, r) => s + r.connected, 0);
      const failed = results.reduce((s, r) => s + r.failed, 0);
      const connectStart = Math.min(...results.map((r) => r.startAt));
      const connectEnd = Math.max(...results.map((r) => r.endAt));
      const connectRate = perSecond(connected, connectStart, connectEnd);
      if (failed > 0) {
        const errors: Record<string, number> = {};
        for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
        this.note(`idle connections: ${fmt(failed)} of ${fmt(n)} could not connect: ${JSON.stringify(errors)}`);
      }
      await sleep(3000);
      const brokerCount = await svc.connections();
      if (brokerCount !== connected) this.note(`idle connections: the broker counts ${fmt(brokerCount)} clients, the generators ${fmt(connected)}`);
      const loaded = await this.steadyRssKb(svc.pid);
      const rssPerConnKb = connected > 0 ? round((loaded - baseline) / connected, 1) : 0;
      this.log(
        `    ${fmt(connected)} connected at ${fmt(connectRate)}/s; citypipe RSS ${fmt(baseline / 1024)} → ${fmt(loaded / 1024)} MiB = ${rssPerConnKb} KiB per connection`,
      );

      // The burst: every device drops off the network at once (TCP RST), then all come back at once
      // and upload what they buffered meanwhile.
      await Promise.all(gens.map((g) => g.request({ cmd: 'drop' }, 60_000)));
      const goneBy = Date.now() + 60_000;
      while ((await svc.connections()) > 0 && Date.now() < goneBy) await sleep(200);
      await this.waitWritten(svc, 0, 30_000, 'burst (before)');
      const before = await countPoints(this.influx!.url, db);
      const writesBefore = await svc.writeMetrics();
      this.log(`burst: ${fmt(connected)} devices reconnect at once, each uploads ${sizes.burstBatch} buffered readings (QoS 1)`);
      sampler = this.sampler({ citypipe: [svc.pid], generator: genPids });
      overflowsBefore = tcpCounters().ListenOverflows ?? 0;
      const bursts = await Promise.all(
        gens.map((g) =>
          g.request(
            {
              cmd: 'burst',
              endpoint,
              batch: sizes.burstBatch,
              keepaliveS: KEEPALIVE_S,
              timeoutMs: this.phaseMs,
              // Like the simulator's devices (and mqtt.js' defaults scaled down): 10 s for a CONNACK,
              // then a jittered pause of 1 to 5 s before the next attempt.
              attemptTimeoutMs: 10_000,
              retryMinMs: 1000,
              retryMaxMs: 5000,
            },
            this.phaseMs + 60_000,
          ),
        ),
      );
      const burstOverflows = (tcpCounters().ListenOverflows ?? 0) - overflowsBefore;
      const delivered = bursts.reduce((s, b) => s + b.delivered, 0);
      const expected = delivered * sizes.burstBatch;
      const { stats } = await this.waitWritten(svc, expected, this.phaseMs, 'burst');
      const doneAt = Date.now();
      this.processes['burst'] = sampler.stop();
      const writesAfter = await svc.writeMetrics();
      this.writes['burst'] = {
        requests: writesAfter.requests - writesBefore.requests,
        meanMs: writesAfter.meanMs,
        meanLines: writesAfter.meanLines,
      };
      const counted = (await settledCount(this.influx!.url, db, before + expected, 300, 30_000)) - before;
      if (counted < expected) this.note(`burst: ${fmt(expected)} readings acknowledged but ${fmt(counted)} queryable (service stats ${JSON.stringify(stats)})`);
      const start = Math.min(...bursts.map((b) => b.startAt));
      const allConnected = bursts.every((b) => b.allConnectedAt > 0) ? Math.max(...bursts.map((b) => b.allConnectedAt)) : 0;
      const allAcked = Math.max(...bursts.map((b) => b.allAckedAt));
      const burstFailed = bursts.reduce((s, b) => s + b.failed, 0);
      const retries = bursts.reduce((s, b) => s + b.retries, 0);
      if (burstFailed > 0) {
        const errors: Record<string, number> = {};
        for (const b of bursts) for (const [k, v] of Object.entries(b.errors)) errors[k] = (errors[k] ?? 0) + v;
        this.note(`burst: ${fmt(burstFailed)} devices could not deliver their batch in time: ${JSON.stringify(errors)}`);
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
      this.log(
        `    ${Number.isNaN(burst.allConnectedS) ? 'not all connected' : `all connected after ${burst.allConnectedS} s`}, all batches acknowledged after ${burst.allAckedS} s, queryable after ${burst.queryableS} s ` +
          `(${fmt(burst.readingsPerS)} readings/s; ${fmt(retries)} retries; ${fmt(burstOverflows)} SYNs dropped by a full accept queue)`,
      );
      await Promise.all(gens.map((g) => g.request({ cmd: 'disconnect' }, 60_000)));
      return { connections: connected, rssPerConnKb, connectRate, listenOverflows, burst };
    } finally {
      await Promise.all(gens.map((g) => g.stop()));
      await this.stopService(svc);
    }
  }

  /** The same idle connections against mosquitto, for scale. */
  private async mosquittoConnections(n: number): Promise<number> {
    if (n <= 0) return 0;
    const devices = makeDevices('bench-dev', n, 'shared');
    const broker = await startMosquitto(this.opts.mosquitto, this.workDir, Math.min(this.limits.hard, n + SERVICE_FILE_RESERVE));
    const gens: GeneratorProcess[] = [];
    try {
      await sleep(500);
      const baseline = await this.steadyRssKb(broker.pid);
      const slices: BenchDevice[][] = [];
      for (let i = 0; i < n; i += CONNECTIONS_PER_GENERATOR) slices.push(devices.slice(i, i + CONNECTIONS_PER_GENERATOR));
      for (const [i] of slices.entries()) {
        gens.push(GeneratorProcess.start(`mosquitto connection generator ${i + 1}`, bench('load-generator.js'), Math.min(this.limits.hard, CONNECTIONS_PER_GENERATOR + 100), this.generatorLifetimeMs));
      }
      this.log(`(c) mosquitto idle connections: ${fmt(n)}`);
      const endpoint = { host: HOST, port: broker.port };
      const results = await Promise.all(
        gens.map((g, i) =>
          g.request({ cmd: 'connect', endpoint, devices: slices[i]!, keepaliveS: KEEPALIVE_S, presence: true, parallel: 100, timeoutMs: 30_000 }, this.phaseMs + 60_000),
        ),
      );
      const connected = results.reduce((s, r) => s + r.connected, 0);
      await sleep(2000);
      const loaded = await this.steadyRssKb(broker.pid);
      const perConn = connected > 0 ? round((loaded - baseline) / connected, 1) : 0;
      this.log(`    ${fmt(connected)} connected; mosquitto RSS ${fmt(baseline / 1024)} → ${fmt(loaded / 1024)} MiB = ${perConn} KiB per connection`);
      await Promise.all(gens.map((g) => g.request({ cmd: 'disconnect' }, 60_000)));
      return perConn;
    } finally {
      await Promise.all(gens.map((g) => g.stop()));
      await broker.stop();
    }
  }

  /** RSS in KiB as the median of a few samples, so that one GC pause does not decide it. */
  private async steadyRssKb(pid: number): Promise<number> {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(readProc(pid)?.rssKb ?? 0);
      await sleep(300);
    }
    return median(samples);
  }
}

function checkTargets(r: BenchResult): TargetCheck[] {
  const pct = (v: number) => (Number.isNaN(v) ? 'not run' : `${Math.round(v * 100)} %`);
  return [
    {
      name: 'end to end QoS 0 vs raw InfluxDB write rate',
      goal: `≥ ${pct(TARGET_E2E_VS_RAW)}`,
      measured: pct(r.e2e_qos0_vs_raw_influx),
      met: r.e2e_qos0_vs_raw_influx >= TARGET_E2E_VS_RAW,
    },
    {
      name: 'end to end QoS 1 vs raw InfluxDB write rate',
      goal: `≥ ${pct(TARGET_E2E_VS_RAW)}`,
      measured: pct(r.e2e_qos1_vs_raw_influx),
      met: r.e2e_qos1_vs_raw_influx >= TARGET_E2E_VS_RAW,
    },
    {
      name: `p99 publish → queryable at ${fmt(r.latency_target_rate_per_s)} readings/s`,
      goal: `≤ ${fmt(TARGET_P99_MS)} ms`,
      measured: Number.isNaN(r.p99_latency_ms_at_10k) ? 'not run' : `${fmt(r.p99_latency_ms_at_10k)} ms`,
      met: r.latency_samples > 0 && r.latency_lost === 0 && r.p99_latency_ms_at_10k <= TARGET_P99_MS,
    },
    {
      name: 'RSS per idle device connection',
      goal: `≤ ${TARGET_RSS_PER_CONN_KB} KiB`,
      measured: Number.isNaN(r.rss_per_connection_kb) ? 'not run' : `${r.rss_per_connection_kb} KiB`,
      met: r.connections > 0 && r.rss_per_connection_kb <= TARGET_RSS_PER_CONN_KB,
    },
    {
      name: 'cost of durability: QoS 1 end to end with the spool\'s fdatasync vs without',
      goal: `< ${TARGET_DURABILITY_COST_PCT} %`,
      measured: Number.isNaN(r.durability_cost_pct) ? 'not run' : `${r.durability_cost_pct} %`,
      met: r.durability_cost_pct < TARGET_DURABILITY_COST_PCT,
    },
    {
      name: `backlog drain after ${Number.isNaN(r.drain_outage_s) ? 'an' : `a ${r.drain_outage_s} s`} InfluxDB outage, live ingest going on`,
      goal: `≥ ${fmt(TARGET_DRAIN_PER_S)} readings/s`,
      measured: Number.isNaN(r.drain_readings_per_s) ? 'not run' : `${fmt(r.drain_readings_per_s)} readings/s`,
      met: r.drain_readings_per_s >= TARGET_DRAIN_PER_S && r.drain_exactly_once,
    },
    ...soakTargets(r),
  ];
}
