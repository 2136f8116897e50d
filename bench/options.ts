/**
 * How big a bench run is. Two presets: the full run and `--quick` (under 5 minutes on the 2-core
 * build machine); every size can be overridden from the command line, which the smoke test does to
 * run the whole harness in seconds.
 */

export interface BenchSizes {
  /** Concurrent publishers of the throughput and latency phases (the issue asks for ≥ 100). */
  publishers: number;
  /** Readings per publisher in each end-to-end throughput phase (QoS 0 and QoS 1). */
  messagesPerPublisher: number;
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
}

export const FULL: Readonly<BenchSizes> = Object.freeze({
  publishers: 100,
  messagesPerPublisher: 10_000,
  brokerMessagesPerPublisher: 5_000,
  qos1Window: 64,
  rawPoints: 2_000_000,
  latencyRate: 10_000,
  latencySeconds: 60,
  latencyWarmupSeconds: 5,
  connections: 20_000,
  burstBatch: 10,
  phaseTimeoutS: 300,
});

export const QUICK: Readonly<BenchSizes> = Object.freeze({
  publishers: 100,
  messagesPerPublisher: 3_000,
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
});

/** Connections one load-generator process holds at most (each needs one open file). */
export const CONNECTIONS_PER_GENERATOR = 5_000;

/** Files the service needs besides its MQTT connections: listeners, InfluxDB sockets, SQLite, logs. */
export const SERVICE_FILE_RESERVE = 200;

/** The parts of a run; `--only` picks some (for profiling one of them), the default is all. */
export const BENCH_PHASES = ['raw', 'brokers', 'e2e', 'latency', 'connections'] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

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
