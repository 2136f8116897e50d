/**
 * The state of one bench run that every phase uses (`BenchContext`), and the helpers they share.
 * `run.ts` orchestrates the phases and assembles the result; each phase is a file of its own.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashSecretAsync } from '../src/catalog/secrets.js';
import type { LocalInfluxd } from '../src/influxd/local-influxd.js';
import { packageRoot } from '../src/paths.js';
import { newestProfile, selfTimeByModule, topSelfTime, windowBeforeEnd, type SelfTime } from './cpu-profile.js';
import type { BenchDevice, Endpoint, PublishResult } from './generator-protocol.js';
import { createDatabase } from './influx-queries.js';
import { phasesToRun, sizesFromEnv, type BenchOptions, type BenchPhase } from './options.js';
import { BENCH_DEVICE_TYPES } from './payloads.js';
import { openFileLimits, ProcessSampler, round, type ProcUsage } from './proc-stats.js';
import { GeneratorProcess, ServiceProcess, type ServiceStats, type WriteMetrics } from './processes.js';

export const HOST = '127.0.0.1';
export const DISTRICTS = 8;
/** Latency resolution: how often the probes' readings are looked for in InfluxDB. */
export const PROBE_POLL_MS = 100;
export const KEEPALIVE_S = 60;
/** How long the service's `received` must stand still before a phase stops waiting for more. */
export const SETTLE_MS = 2000;

export function bench(rel: string): string {
  return path.join(packageRoot, 'dist', 'bench', rel);
}

export function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

export function perSecond(count: number, fromMs: number, toMs: number): number {
  return toMs > fromMs ? Math.round((count * 1000) / (toMs - fromMs)) : 0;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A device record for the catalog file (CONTRACT §3). */
export function catalogRecord(d: BenchDevice, i: number, secretHash: string | undefined): Record<string, unknown> {
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
export function makeDevices(prefix: string, n: number, secret: 'own' | 'shared'): BenchDevice[] {
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
export async function writeCatalog(dir: string, devices: readonly BenchDevice[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const hashes = new Map<string, Promise<string>>();
  for (const d of devices) if (d.password !== undefined && !hashes.has(d.password)) hashes.set(d.password, hashSecretAsync(d.password));
  const records = await Promise.all(
    devices.map(async (d, i) => catalogRecord(d, i, d.password === undefined ? undefined : await hashes.get(d.password)!)),
  );
  writeFileSync(path.join(dir, 'bench-fleet.json'), JSON.stringify(records));
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30, 1)} GiB RAM, Linux ${os.release()}`;
}

/**
 * What the phases share: the run's options and sizes, its influxd and load generator, the figures
 * they add to (processes, writes, profiles, notes), and the helpers to start and stop the service
 * under test, connect the publishers and wait until a service has written what it received.
 */
export class BenchContext {
  readonly opts: BenchOptions;
  readonly sizes: BenchOptions['sizes'];
  readonly log: (line: string) => void;
  readonly workDir: string;
  readonly notes: string[] = [];
  readonly processes: Record<string, Record<string, ProcUsage>> = {};
  readonly profiles: Record<string, SelfTime[]> = {};
  readonly writes: Record<string, WriteMetrics> = {};
  readonly started = Date.now();
  readonly phaseMs: number;
  readonly limits = openFileLimits();
  influx: LocalInfluxd | undefined;
  influxPid = 0;
  main: GeneratorProcess | undefined;
  readonly cleanups: (() => Promise<void>)[] = [];
  /** Stops of running services (with their profile collection), for the phase or the cleanup. */
  readonly serviceStops = new Map<ServiceProcess, () => Promise<void>>();
  /** Per service phase: parts of its run profiled on their own (wall-clock ms), e.g. the drain's backlog. */
  readonly profileWindows = new Map<string, { name: string; fromMs: number; toMs: number }[]>();
  publishers: BenchDevice[] = [];
  /** SERVICE_TUNING entries the build under test knows, as environment. */
  serviceTuning: Record<string, string> = {};
  publisherCatalog = '';

  /** Sizes BENCH_SIZES set (they have no command-line flag). */
  readonly envSizes: string[];
  readonly phases: ReadonlySet<BenchPhase>;

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

  note(text: string): void {
    this.notes.push(text);
    this.log(`  note: ${text}`);
  }

  /** Generators outlive no run: their lifetime is the run's worst case plus a margin. */
  get generatorLifetimeMs(): number {
    return this.phaseMs * 12 + 600_000;
  }

  async cleanup(): Promise<void> {
    for (const stop of this.serviceStops.values()) await stop().catch(() => undefined);
    this.serviceStops.clear();
    for (const c of this.cleanups.reverse()) await c().catch(() => undefined);
    this.cleanups.length = 0;
    if (this.opts.keepWorkDir) this.log(`kept ${this.workDir}`);
    else rmSync(this.workDir, { recursive: true, force: true });
  }

  sampler(roles: Record<string, readonly number[]>): ProcessSampler {
    const withInflux = this.influxPid ? { ...roles, influxd: [this.influxPid] } : roles;
    return new ProcessSampler(withInflux).start();
  }

  /** A saturated load generator measures itself: say so, since the figure is then a lower bound. */
  noteGeneratorBound(label: string, usage: Record<string, ProcUsage>): void {
    const cpu = usage.generator?.cpuPct ?? 0;
    if (cpu >= 90) this.note(`${label}: the load generator used ${cpu} % of a core, so this figure is a lower bound (the generator, not the broker, was the limit)`);
  }

  /** QoS 1: acknowledged per second; QoS 0: messages per second until the PINGREQ barrier came back. */
  brokerRate(r: PublishResult, qos: 0 | 1, label: string, noteLost = true): number {
    if (r.timedOut) this.note(`${label}: did not finish within the phase timeout; the rate covers what was done`);
    if (noteLost && r.connectionsLost > 0) this.note(`${label}: ${r.connectionsLost} connections were lost while publishing`);
    if (qos === 1) return perSecond(r.acked, r.firstSendAt, r.lastAckAt);
    return perSecond(r.sent, r.firstSendAt, r.barrierAt || r.lastSendAt);
  }

  async connectPublishers(endpoint: Endpoint, label: string): Promise<void> {
    const c = await this.main!.request(
      { cmd: 'connect', endpoint, devices: this.publishers, keepaliveS: KEEPALIVE_S, presence: false, parallel: 50, timeoutMs: 30_000 },
      120_000,
    );
    if (c.connected < this.publishers.length) {
      throw new Error(`${label}: only ${c.connected} of ${this.publishers.length} publishers could connect: ${JSON.stringify(c.errors)}`);
    }
  }

  /** `batch`: readings per PUBLISH (a JSON array); `perConnection` counts readings either way. */
  publishMax(qos: 0 | 1, perConnection: number, barrier: boolean, batch?: number): Promise<PublishResult> {
    return this.main!.request(
      { cmd: 'publish-max', qos, perConnection, ...(batch === undefined ? {} : { batch }), window: this.sizes.qos1Window, maxMs: this.phaseMs, drainMs: 60_000, barrier },
      this.phaseMs + 120_000,
    );
  }

  async startService(
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

  async stopService(svc: ServiceProcess): Promise<void> {
    const stop = this.serviceStops.get(svc);
    this.serviceStops.delete(svc);
    await stop?.();
  }

  /**
   * Waits until the service has written everything it received (pending 0, nothing in between) and
   * either received at least `expected` or stopped receiving for {@link SETTLE_MS} (publishers it
   * disconnected never deliver what they sent). Returns when that state was first seen.
   */
  async waitWritten(svc: ServiceProcess, expected: number, timeoutMs: number, label: string): Promise<{ doneAt: number; stats: ServiceStats }> {
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
}
