/**
 * How big a bench run is. Two presets: the full run and `--quick` (under 5 minutes on the 2-core
 * build machine); every size can be overridden from the command line, which the smoke test does to
 * run the whole harness in seconds.
 */

export interface BenchSizes {
  /** Concurrent publishers of the throughput and latency phases (the issue asks for ≥ 100). */
  publishers: number;
  /** Readings per publisher in each end-to-end throughput phase (QoS 0, QoS 1 and QoS 1 batched). */
  messagesPerPublisher: number;
  /**
   * Readings per PUBLISH of the batched end-to-end variant (QoS 1, a JSON array like a device
   * uploading its buffer): ⌈messagesPerPublisher ÷ e2eBatch⌉ PUBLISHes per publisher. At most
   * {@link MAX_E2E_BATCH}, the contract's largest batch.
   */
  e2eBatch: number;
  /** LoRaWAN uplinks of the uplink phase (ChirpStack `up` events over one network-server connection, QoS 1). */
  uplinks: number;
  /** Messages per publisher in each broker-only phase (aedes and mosquitto, QoS 0 and QoS 1). */
  brokerMessagesPerPublisher: number;
  /** Unacknowledged QoS 1 messages a publisher may have in flight. */
  qos1Window: number;
  /** Points of the raw InfluxDB baseline, written in 5,000-line batches. */
  rawPoints: number;
  /** Readings per second of the latency phase (the target is stated at 10,000). */
  latencyRate: number;
  /** Measured seconds of the latency phase, after the warm-up. */
  latencySeconds: number;
  latencyWarmupSeconds: number;
  /** Idle device connections of the connection test (capped by the open-files limit). */
  connections: number;
  /** Readings each device uploads in one batch when the burst reconnects it. */
  burstBatch: number;
  /** Upper bound of any one phase, seconds: a phase that has not finished by then reports what it has. */
  phaseTimeoutS: number;
  /**
   * Cost of durability: QoS 1 end to end with the spool's fdatasync and without it, this many times
   * each, in A B B A order so that a drift of the machine's load hits both alike.
   */
  durabilityRounds: number;
  /** Drain after an outage: live QoS 1 readings/s from all publishers, before, during and after it. */
  drainRate: number;
  /** Seconds of live ingest before InfluxDB is stopped (the live level of pending is measured here). */
  drainWarmupSeconds: number;
  /** Seconds InfluxDB is stopped while the publishers go on. */
  outageSeconds: number;
  /** Seconds of live ingest after the backlog is drained (live latency once caught up). */
  drainAfterSeconds: number;
  /** Soak (bench/soak.ts): devices of the generated fleet, driven by `citypipe simulate`. */
  soakDevices: number;
  /** Soak: readings per second of the whole fleet (each device reports every devices ÷ rate seconds). */
  soakReadingsPerS: number;
  /** Soak: measured seconds per connection mode (multiplexed, then per device). */
  soakSeconds: number;
  /** Soak: seconds before the slope is measured (allocations that fill once: caches, pools, first tickets). */
  soakWarmupSeconds: number;
  /** Soak: seconds between two samples of the service's memory (each forces a full collection). */
  soakSampleSeconds: number;
  /**
   * Cluster (bench/cluster.ts): QoS 1 readings per publisher through Mosquitto, in each of its three
   * modes (the broker alone, one citypipe worker, two workers).
   */
  clusterMessagesPerPublisher: number;
  /** Cluster: MQTT connections per worker on the shared subscription (CITYPIPE_BROKER_CONNECTIONS), and the consumer's. */
  clusterConnections: number;
  /** Residents (bench/residents.ts): seconds of each as-fast-as-answered run (raw and citypipe, 200s and 304s). */
  residentsSeconds: number;
  /** Residents: windows of 1 s at 1,000 requests/s, each between two of none. */
  residentsWindows: number;
}

export const FULL: Readonly<BenchSizes> = Object.freeze({
  publishers: 100,
  messagesPerPublisher: 10_000,
  e2eBatch: 10,
  uplinks: 300_000,
  brokerMessagesPerPublisher: 5_000,
  qos1Window: 64,
  rawPoints: 2_000_000,
  latencyRate: 10_000,
  latencySeconds: 60,
  latencyWarmupSeconds: 5,
  connections: 20_000,
  burstBatch: 10,
  phaseTimeoutS: 300,
  durabilityRounds: 2,
  drainRate: 2_000,
  drainWarmupSeconds: 20,
  outageSeconds: 300,
  drainAfterSeconds: 15,
  soakDevices: 5_000,
  soakReadingsPerS: 1_000,
  soakSeconds: 480,
  soakWarmupSeconds: 120,
  soakSampleSeconds: 30,
  clusterMessagesPerPublisher: 3_000,
  clusterConnections: 4,
  residentsSeconds: 5,
  residentsWindows: 10,
});

export const QUICK: Readonly<BenchSizes> = Object.freeze({
  publishers: 100,
  messagesPerPublisher: 3_000,
  e2eBatch: 10,
  uplinks: 100_000,
  brokerMessagesPerPublisher: 2_000,
  qos1Window: 64,
  rawPoints: 500_000,
  latencyRate: 10_000,
  latencySeconds: 10,
  latencyWarmupSeconds: 3,
  connections: 20_000,
  burstBatch: 5,
  // Bounds a collapsing reconnect burst too, which is what keeps the quick run under 5 minutes.
  phaseTimeoutS: 60,
  durabilityRounds: 1,
  drainRate: 2_000,
  drainWarmupSeconds: 10,
  outageSeconds: 45,
  drainAfterSeconds: 10,
  soakDevices: 5_000,
  soakReadingsPerS: 1_000,
  soakSeconds: 180,
  soakWarmupSeconds: 60,
  soakSampleSeconds: 15,
  clusterMessagesPerPublisher: 1_000,
  clusterConnections: 4,
  residentsSeconds: 3,
  residentsWindows: 6,
});

/** Most readings one PUBLISH may carry (the product contract: a batch is at most 1000 readings). */
export const MAX_E2E_BATCH = 1000;

/**
 * Sizes the command line has no flag for (the drain phase's, the durability rounds, `e2eBatch`) can
 * be set with `BENCH_SIZES='{"outageSeconds":60}'` in the environment: any key of {@link BenchSizes},
 * a whole number ≥ 1 (`e2eBatch` at most {@link MAX_E2E_BATCH}). The smoke test uses it for a
 * seconds-long outage.
 */
export function sizesFromEnv(sizes: BenchSizes, env: NodeJS.ProcessEnv = process.env): { sizes: BenchSizes; overridden: string[] } {
  const raw = env.BENCH_SIZES;
  if (!raw) return { sizes, overridden: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`BENCH_SIZES is not JSON: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('BENCH_SIZES must be a JSON object of sizes');
  const out: BenchSizes = { ...sizes };
  const overridden: string[] = [];
  for (const [k, v] of Object.entries(parsed)) {
    if (!(k in sizes)) throw new Error(`BENCH_SIZES: unknown size "${k}" (sizes: ${Object.keys(sizes).join(', ')})`);
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`BENCH_SIZES: ${k} must be a whole number ≥ 1`);
    if (k === 'e2eBatch' && (v as number) > MAX_E2E_BATCH) throw new Error(`BENCH_SIZES: e2eBatch must be at most ${MAX_E2E_BATCH} (the contract's largest batch)`);
    out[k as keyof BenchSizes] = v as number;
    overridden.push(k);
  }
  return { sizes: out, overridden };
}

/** Connections one load-generator process holds at most (each needs one open file). */
export const CONNECTIONS_PER_GENERATOR = 5_000;

/** Files the service needs besides its MQTT connections: listeners, InfluxDB sockets, SQLite, logs. */
export const SERVICE_FILE_RESERVE = 200;

/**
 * The parts of a run; `--only` picks some (for profiling one of them). A full run runs all of them;
 * a quick run (`--quick` without `--only`) leaves out {@link SLOW_PHASES}: the drain phase alone
 * takes its outage plus the drain, the soak its minutes per connection mode, and the cluster its
 * three modes, which would not fit in 5 minutes.
 */
export const BENCH_PHASES = ['raw', 'brokers', 'e2e', 'uplinks', 'latency', 'connections', 'durability', 'drain', 'soak', 'cluster', 'residents'] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

/**
 * Phases a quick run leaves out unless `--only` names them (`--quick --only durability,drain`). The
 * cluster phase's three modes take about 2 minutes even at quick sizes (a worker stores a few
 * thousand readings/s on this machine).
 */
export const SLOW_PHASES: readonly BenchPhase[] = ['durability', 'drain', 'soak', 'cluster'];

/** The phases a run actually runs: a quick run's default set leaves out {@link SLOW_PHASES}. */
export function phasesToRun(mode: 'full' | 'quick' | 'custom', phases: ReadonlySet<BenchPhase>): ReadonlySet<BenchPhase> {
  // `--only` makes a run custom, so a quick run's phases are always the default set.
  if (mode !== 'quick') return phases;
  return new Set([...phases].filter((p) => !SLOW_PHASES.includes(p)));
}

export interface BenchOptions {
  /** `custom` when sizes were overridden; it decides which block of the report is replaced. */
  mode: 'full' | 'quick' | 'custom';
  sizes: BenchSizes;
  phases: ReadonlySet<BenchPhase>;
  /** bin/citypipe.js of the build under test. */
  cli: string;
  /** influxd executable (PATH lookup when a bare name). */
  influxd: string;
  /** mosquitto executable. */
  mosquitto: string;
  /** Profile the service with `node --cpu-prof` and report its top self-time functions. */
  cpuProf: boolean;
  /** Extra Node.js flags for the service process (e.g. `--max-semi-space-size=64`), to try a tuning. */
  serviceNodeArgs: readonly string[];
  /** Keep the run's temporary folder (influxd data, catalogs, profiles) instead of deleting it. */
  keepWorkDir: boolean;
  /** Progress lines (to stderr from the CLI). */
  progress: (line: string) => void;
}
