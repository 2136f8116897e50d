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
 *   durability (QoS 1 with and without the spool's fdatasync); the drain after an InfluxDB
 *   outage (influxd stopped while live ingest goes on, then started again); the soak
 *   (soak.ts): a generated fleet for minutes, the service's memory after full collections; and the
 *   residents' routes (residents.ts) beside a bare node:http server, and devices' PUBACKs meanwhile.
 *
 * The service under test is `node bin/citypipe.js start` with CITYPIPE_* configuration and shipped
 * defaults otherwise; the load comes from separate generator processes (load-generator.ts).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { deviceType } from '../src/device-types/registry.js';
import { startLocalInfluxd } from '../src/influxd/local-influxd.js';
import { postgresBinDir } from '../src/postgres/local-postgres.js';
import { brokerAlone } from './brokers.js';
import { clusterCores, clusterPhase } from './cluster.js';
import { clusterFigures, type ClusterFigures } from './cluster-figures.js';
import { connectionsAndBurst, mosquittoConnections } from './connections.js';
import type { SelfTime } from './cpu-profile.js';
import { drainAfterOutage } from './drain.js';
import { durability } from './durability.js';
import { endToEnd } from './e2e.js';
import { uplinksEndToEnd } from './uplinks.js';
import { latencyAtRate } from './latency.js';
import type { BenchOptions, BenchPhase } from './options.js';
import { BENCH_DEVICE_TYPES, readingBuilder } from './payloads.js';
import { findChildPid, round, type ProcUsage } from './proc-stats.js';
import { GeneratorProcess, type WriteMetrics } from './processes.js';
import { rawInflux, warmUpInflux } from './raw.js';
import { residentsPhase } from './residents.js';
import { residentsFigures, residentsTargets, type ResidentsFigures } from './residents-figures.js';
import { bench, BenchContext, fmt, machine, makeDevices, writeCatalog } from './run-context.js';
import { soakFigures, soakTargets, type SoakFigures, type SoakRun } from './soak-figures.js';
import { soakPhase } from './soak.js';

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

/**
 * Everything a run reports. The snake_case keys are the JSON contract of `bench --json` (the soak's:
 * {@link SoakFigures}; the cluster's: {@link ClusterFigures}; the residents' routes':
 * {@link ResidentsFigures}).
 */
export interface BenchResult extends SoakFigures, ClusterFigures, ResidentsFigures {
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
  /** LoRaWAN uplinks (ChirpStack `up` events, one network-server connection, QoS 1) into InfluxDB. */
  uplink_qos1_readings_per_s: number;
  uplink_qos1_acked_per_s: number;
  uplink_qos1_cpu_us_per_reading: number;
  /** Uplinks/s ÷ direct devices' QoS 1 readings/s, same run. */
  uplink_vs_e2e_qos1: number;
  uplinks: number;
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

const TARGET_E2E_VS_RAW = 0.5;
const TARGET_P99_MS = 1500;
const TARGET_RSS_PER_CONN_KB = 40;
const TARGET_DURABILITY_COST_PCT = 15;
const TARGET_DRAIN_PER_S = 50_000;

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

/** The PostgreSQL the cluster phase starts (`postgres (PostgreSQL) 15.x`), or unknown. */
function postgresVersion(): string {
  try {
    return versionOf(path.join(postgresBinDir(), 'postgres'), ['--version']).replace(/^postgres \(PostgreSQL\) /, '');
  } catch {
    return 'unknown';
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

/** The orchestration: the phases in order, then the result assembled from their figures. */
class BenchRun extends BenchContext {
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
    if (want('raw')) await warmUpInflux(this);
    if (want('raw')) rawRuns.push(await rawInflux(this, 'bench_raw_before'));
    const aedes = want('brokers') ? await brokerAlone(this, 'aedes') : { qos0: NA, qos1: NA };
    const mosq = want('brokers') ? await brokerAlone(this, 'mosquitto') : { qos0: NA, qos1: NA };
    const e2e0 = want('e2e') ? await endToEnd(this, 0) : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    const e2e1 = want('e2e') ? await endToEnd(this, 1) : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    const e2e1Batch = want('e2e')
      ? await endToEnd(this, 1, {
          label: `citypipe end to end QoS 1, ${sizes.e2eBatch} readings per PUBLISH`,
          db: 'bench_e2e_qos1_batch',
          profile: `e2e QoS 1, ${sizes.e2eBatch} readings per PUBLISH`,
          batch: sizes.e2eBatch,
        })
      : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA };
    const up = want('uplinks') ? await uplinksEndToEnd(this, sizes.uplinks) : { readingsPerS: NA, acceptedPerS: NA, cpuUsPerReading: NA, counted: NA };
    if (want('raw')) rawRuns.push(await rawInflux(this, 'bench_raw_after'));
    const raw = rawRuns.length > 0 ? Math.round(rawRuns.reduce((a, b) => a + b, 0) / rawRuns.length) : NA;
    if (rawRuns.length === 2 && Math.abs(rawRuns[0]! - rawRuns[1]!) > 0.25 * raw) {
      this.note(`raw InfluxDB: the baseline moved from ${fmt(rawRuns[0]!)} to ${fmt(rawRuns[1]!)} points/s during the run (other load on the machine); ratios to it are rough`);
    }
    const latency = want('latency') ? await latencyAtRate(this) : { p50: NA, p99: NA, max: NA, samples: NA, lost: NA, offered: NA };
    const conn = want('connections')
      ? await connectionsAndBurst(this)
      : {
          connections: NA,
          rssPerConnKb: NA,
          connectRate: NA,
          listenOverflows: NA,
          burst: { devices: NA, readings: NA, allConnectedS: NA, allAckedS: NA, queryableS: NA, readingsPerS: NA, failed: NA, retries: NA, listenOverflows: NA },
        };
    const mosqConn = want('connections') ? await mosquittoConnections(this, conn.connections) : NA;
    const dur = want('durability') ? await durability(this) : undefined;
    const drain = want('drain') ? await drainAfterOutage(this) : undefined;
    const soak = want('soak') ? await this.soak() : undefined;
    const cluster = want('cluster') ? await clusterPhase(this) : undefined;
    const residents = want('residents') ? await residentsPhase(this) : undefined;

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
      uplink_qos1_readings_per_s: up.readingsPerS,
      uplink_qos1_acked_per_s: up.acceptedPerS,
      uplink_qos1_cpu_us_per_reading: up.cpuUsPerReading,
      uplink_vs_e2e_qos1: ratio(up.readingsPerS, e2e1.readingsPerS),
      uplinks: sizes.uplinks,
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
      ...clusterFigures(cluster, clusterCores()),
      ...residentsFigures(residents),
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
          ...(cluster ? { postgres: postgresVersion() } : {}),
        },
        sizes,
        serviceConfig: Object.fromEntries(Object.keys(this.serviceTuning).map((k) => [k, SERVICE_TUNING[k]!])),
      },
    };
    result.targets = checkTargets(result);
    result.run.durationS = Math.round((Date.now() - this.started) / 1000);
    return result;
  }

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
    ...residentsTargets(r),
  ];
}
