/**
 * What the cluster phase (cluster.ts) makes of its runs: rates, CPU per reading and ratios to the
 * broker alone, the flat figures of `bench --json`, and the report's rows with the delivery promise
 * of each mode beside its figure. No I/O here.
 */
import { round } from './proc-stats.js';

/** (a) the broker alone, (b) one citypipe worker behind it, (c) two. */
export const CLUSTER_MODES = ['broker-only', 'one-worker', 'two-workers'] as const;
export type ClusterMode = (typeof CLUSTER_MODES)[number];

/** Where the workers kept their dispatch state in a run. */
export type DispatchState = 'postgres' | 'sqlite' | 'none';

/**
 * What a device's PUBACK means in each mode. In every mode the device's PUBACK comes from the
 * broker; what differs is what happens to the message after that.
 */
const WORKER_PROMISE =
  "each worker's PUBACK to Mosquitto comes after its spool's fsync; the device's PUBACK still comes from Mosquitto on receipt, so a message in a broker that dies before handing it on is lost unless the broker persists it (Mosquitto `persistence true`, EMQX durable sessions)";

export const CLUSTER_PROMISES: Readonly<Record<ClusterMode, string>> = {
  'broker-only':
    "the device's PUBACK from Mosquitto means Mosquitto has the message in memory (persistence off); the consumer acknowledges on receipt and keeps nothing",
  'one-worker': WORKER_PROMISE,
  'two-workers': WORKER_PROMISE,
};

/** One measured mode. Rates count from the first publish until the last message was delivered (a) or written to InfluxDB (b, c). */
export interface ClusterRun {
  mode: ClusterMode;
  /** citypipe workers (0 for the broker alone). */
  workers: number;
  /** MQTT connections per worker on the shared subscription (the consumer's in mode a). */
  connections: number;
  /** PUBLISHes the devices sent and Mosquitto acknowledged to them. */
  sent: number;
  acked: number;
  /** Messages the consumer received (a), points InfluxDB returns afterwards (b, c). */
  delivered: number;
  /** Seconds from the first publish to the last delivery or write. */
  seconds: number;
  /** delivered ÷ seconds: messages/s (a), readings/s stored (b, c). */
  readingsPerS: number;
  /** The devices' PUBACKs per second (Mosquitto's, in every mode). */
  ackedPerS: number;
  /** CPU µs per delivered reading: the workers together (the consumer in a), Mosquitto, PostgreSQL (b, c). */
  cpuUsPerReading: { workers: number; broker: number; postgres: number };
  /** readingsPerS ÷ the broker alone's, same run (1 for the broker alone). */
  vsBrokerOnly: number;
  dispatchState: DispatchState;
  promise: string;
}

/** The flat figures of `bench --json` (NaN = not measured; null in JSON). */
export interface ClusterFigures {
  cluster_broker_only_msgs_per_s: number;
  cluster_broker_only_broker_cpu_us_per_msg: number;
  cluster_one_worker_readings_per_s: number;
  cluster_one_worker_vs_broker_only: number;
  cluster_one_worker_cpu_us_per_reading: number;
  cluster_one_worker_broker_cpu_us_per_reading: number;
  cluster_two_workers_readings_per_s: number;
  cluster_two_workers_vs_broker_only: number;
  /** The two workers' CPU together, per reading. */
  cluster_two_workers_cpu_us_per_reading: number;
  cluster_two_workers_broker_cpu_us_per_reading: number;
  /** Two workers' rate ÷ one worker's. On a machine with fewer cores than processes this is not scaling. */
  cluster_two_vs_one_worker: number;
  cluster_connections_per_worker: number;
  /** CPU cores of the machine, for reading the two-worker figure. */
  cluster_cores: number;
  cluster_runs: ClusterRun[];
}

/** Per second over `ms`, rounded; 0 for an empty span. */
export function ratePerS(count: number, ms: number): number {
  return ms > 0 ? Math.round((count * 1000) / ms) : 0;
}

/** CPU seconds per reading, in µs with one decimal; NaN without readings. */
export function usPerReading(cpuS: number, readings: number): number {
  return readings > 0 ? round((cpuS * 1e6) / readings, 1) : Number.NaN;
}

/** a ÷ b to 3 decimals; NaN when either was not measured or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 3) : Number.NaN;
}

/**
 * Whether a machine of `cores` can show what adding a worker gives: each worker, the broker, InfluxDB
 * and the load generator each want a core of their own.
 */
export function canShowScaling(cores: number, workers: number): boolean {
  return cores >= workers + 3;
}

export function clusterFigures(runs: readonly ClusterRun[] | undefined, cores: number): ClusterFigures {
  const get = (mode: ClusterMode) => runs?.find((r) => r.mode === mode);
  const a = get('broker-only');
  const b = get('one-worker');
  const c = get('two-workers');
  const NA = Number.NaN;
  return {
    cluster_broker_only_msgs_per_s: a?.readingsPerS ?? NA,
    cluster_broker_only_broker_cpu_us_per_msg: a?.cpuUsPerReading.broker ?? NA,
    cluster_one_worker_readings_per_s: b?.readingsPerS ?? NA,
    cluster_one_worker_vs_broker_only: b?.vsBrokerOnly ?? NA,
    cluster_one_worker_cpu_us_per_reading: b?.cpuUsPerReading.workers ?? NA,
    cluster_one_worker_broker_cpu_us_per_reading: b?.cpuUsPerReading.broker ?? NA,
    cluster_two_workers_readings_per_s: c?.readingsPerS ?? NA,
    cluster_two_workers_vs_broker_only: c?.vsBrokerOnly ?? NA,
    cluster_two_workers_cpu_us_per_reading: c?.cpuUsPerReading.workers ?? NA,
    cluster_two_workers_broker_cpu_us_per_reading: c?.cpuUsPerReading.broker ?? NA,
    cluster_two_vs_one_worker: ratio(c?.readingsPerS ?? NA, b?.readingsPerS ?? NA),
    cluster_connections_per_worker: b?.connections ?? c?.connections ?? NA,
    cluster_cores: runs && runs.length > 0 ? cores : NA,
    cluster_runs: runs ? [...runs] : [],
  };
}

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)} %` : '–');
const dec = (v: number) => (Number.isFinite(v) ? String(v) : '–');

function stateText(s: DispatchState): string {
  return s === 'postgres' ? 'dispatch state in PostgreSQL' : s === 'sqlite' ? 'dispatch state in SQLite per worker (the build does not use CITYPIPE_DATABASE_URL)' : '';
}

/**
 * The report's rows (one per mode, for the main table) and the paragraph under it: what each mode's
 * PUBACK promises, and, when the machine has too few cores, that two workers cannot show scaling.
 */
export function formatCluster(r: ClusterFigures, publishers: number, perPublisher: number): { rows: string[]; details: string[] } {
  const rows: string[] = [];
  const details: string[] = [];
  if (r.cluster_runs.length === 0) return { rows, details };
  const cores = r.cluster_cores;
  for (const run of r.cluster_runs) {
    const load = `${publishers} publishers × ${n(perPublisher)} QoS 1 readings through Mosquitto (\`max_queued_messages 0\`)`;
    if (run.mode === 'broker-only') {
      rows.push(
        `| cluster (a): ${load} to a shared subscription of ${run.connections} MQTT 5 connections that acknowledge on receipt (no disk) | ${n(run.readingsPerS)} msgs/s delivered | ` +
          `baseline of the cluster rows; devices' PUBACKs ${n(run.ackedPerS)}/s; Mosquitto ${dec(run.cpuUsPerReading.broker)} µs CPU per message, consumer ${dec(run.cpuUsPerReading.workers)} µs. ` +
          `Promise: ${run.promise} |`,
      );
    } else {
      const who = run.workers === 1 ? 'one citypipe worker' : `${run.workers} citypipe workers (one share group, one database)`;
      const scaling =
        run.workers > 1 && !canShowScaling(cores, run.workers)
          ? ` **This machine has ${cores} cores shared by the ${run.workers} workers, Mosquitto, InfluxDB, PostgreSQL and the load generator: this figure cannot show scaling, only what a second worker costs when it has no core of its own.**`
          : '';
      rows.push(
        `| cluster (${run.workers === 1 ? 'b' : 'c'}): the same load into ${who}, ${run.connections} connections each, ${stateText(run.dispatchState)}; counted in InfluxDB | ${n(run.readingsPerS)} readings/s | ` +
          `${pct(run.vsBrokerOnly)} of cluster (a); devices' PUBACKs ${n(run.ackedPerS)}/s; ${dec(run.cpuUsPerReading.workers)} µs worker CPU + ${dec(run.cpuUsPerReading.broker)} µs Mosquitto ` +
          `(+ ${dec(run.cpuUsPerReading.postgres)} µs PostgreSQL) per reading. Promise: ${run.promise}.${scaling} |`,
      );
    }
  }
  if (Number.isFinite(r.cluster_two_vs_one_worker)) {
    details.push(
      `Cluster: two workers stored ${pct(r.cluster_two_vs_one_worker)} of one worker's rate on ${cores} cores` +
        (canShowScaling(cores, 2) ? '.' : ` — on ${cores} shared cores a second worker competes with the first for the same CPU, so this says what it costs, not how the cluster scales.`),
    );
  }
  return { rows, details };
}
