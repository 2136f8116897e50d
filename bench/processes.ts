/**
 * The processes of a bench run besides influxd: the citypipe service (`node bin/citypipe.js start`,
 * exactly what `npm start` runs), the reference brokers (aedes alone, Debian's mosquitto) and the
 * load generators. Each is started with its open-files limit raised for the connection test, and
 * every one of them is stopped by pid when the run ends, however it ends.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { GeneratorRequest, GeneratorResults, ReplyEnvelope } from './generator-protocol.js';
import { stopChild } from '../src/process/stop-child.js';

/** Exit status of the ulimit wrapper when the limit could not be set. */
const ULIMIT_FAILED = 97;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whatever way the bench process ends, nothing it started keeps running. */
function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  return child;
}

/**
 * Spawns `file args…` with its soft open-files limit set to `nofile` (through `ulimit -n` in a shell
 * that then execs the program, so the pid is the program's). Fails with exit status 97 if the hard
 * limit is lower.
 */
export function spawnWithNofile(nofile: number, file: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const script = `ulimit -n "$0" 2>/dev/null || exit ${ULIMIT_FAILED}; exec "$@"`;
  // --norc: bash reads ~/.bashrc when its stdin is a socket (it takes that for rshd), and Node's pipes are sockets.
  return track(spawn('/bin/bash', ['--norc', '--noprofile', '-c', script, String(nofile), file, ...args], options));
}

function ulimitMessage(what: string, nofile: number): string {
  return `${what} could not get ${nofile} open files (ulimit -n ${nofile} failed: the hard limit is lower; see \`ulimit -Hn\`)`;
}

export { stopChild };

/** Keeps the last lines a child wrote, for error messages. */
class Tail {
  private readonly lines: string[] = [];
  constructor(private readonly max = 30) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

/** A port the kernel just handed out on 127.0.0.1 and took back. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, alive: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Load generators

/** A load-generator process and its request/reply channel. */
export class GeneratorProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let reply: ReplyEnvelope;
      try {
        reply = JSON.parse(line) as ReplyEnvelope;
      } catch {
        return;
      }
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply.result);
      else w.reject(new Error(`${name}: ${reply.error}`));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        const why = code === ULIMIT_FAILED ? ulimitMessage(name, -1) : `${name} exited with ${code}`;
        for (const w of this.waiting.values()) w.reject(new Error(why));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  /**
   * Starts `script` (the compiled load-generator.js) with `nofile` open files allowed. `lifetimeMs`
   * bounds its life whatever happens to the harness.
   */
  static start(name: string, script: string, nofile: number, lifetimeMs: number): GeneratorProcess {
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
    const child = spawnWithNofile(nofile, process.execPath, [script, String(Math.round(lifetimeMs))], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {},
    });
    return new GeneratorProcess(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<C extends GeneratorRequest['cmd']>(request: Extract<GeneratorRequest, { cmd: C }>, timeoutMs: number): Promise<GeneratorResults[C]> {
    const id = this.nextId++;
    return new Promise<GeneratorResults[C]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: no answer to ${request.cmd} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as GeneratorResults[C]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, request }) + '\n');
    });
  }

  /** Closes its stdin (it exits by itself), then makes sure. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!gone) await stopChild(this.child, 2000);
  }
}

// ---------------------------------------------------------------------------------------------
// The citypipe service

/** `/api/stats`: the service's own accounting (received = written + deadLettered + pending). */
export interface ServiceStats {
  received: number;
  written: number;
  deadLettered: number;
  pending: number;
}

/** What the service's metrics say about its InfluxDB writes. */
export interface WriteMetrics {
  /** Successful write requests. */
  requests: number;
  meanMs: number;
  meanLines: number;
  /** The histograms' sums, for differences between two readings: seconds written, batches, lines. */
  durationSumS?: number;
  batches?: number;
  linesSum?: number;
}

/** The writes between two readings of {@link ServiceProcess.writeMetrics}. */
export function writesBetween(a: WriteMetrics, b: WriteMetrics): WriteMetrics {
  const requests = b.requests - a.requests;
  const dur = (b.durationSumS ?? 0) - (a.durationSumS ?? 0);
  const batches = (b.batches ?? 0) - (a.batches ?? 0);
  const lines = (b.linesSum ?? 0) - (a.linesSum ?? 0);
  return {
    requests,
    meanMs: requests > 0 ? Math.round((dur * 1000) / requests) : Number.NaN,
    meanLines: batches > 0 ? Math.round(lines / batches) : Number.NaN,
    durationSumS: dur,
    batches,
    linesSum: lines,
  };
}

export interface ServiceStartOptions {
  /** bin/citypipe.js of the build under test. */
  cli: string;
  /** CITYPIPE_* configuration, the only environment the service gets. */
  env: Record<string, string>;
  nofile: number;
  /** Write a V8 CPU profile into this folder when the service exits. */
  cpuProfDir?: string | undefined;
  /** Further flags for node itself, before the script. */
  nodeArgs?: readonly string[];
  startTimeoutMs: number;
}

/** A citypipe service process started with `citypipe start`. */
export class ServiceProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly mqttPort: number,
    readonly httpPort: number,
    private readonly tail: Tail,
  ) {}

  static async start(opts: ServiceStartOptions): Promise<ServiceProcess> {
    const nodeArgs = [...(opts.nodeArgs ?? []), ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [])];
    const child = spawnWithNofile(opts.nofile, process.execPath, [...nodeArgs, opts.cli, 'start'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env,
    });
    const tail = new Tail();
    // Both pipes are read to the end: a service blocked on a full stdout pipe would measure nothing.
    createInterface({ input: child.stderr! }).on('line', (l) => tail.push(l));
    const started = new Promise<{ mqttPort: number; httpPort: number }>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        tail.push(line);
        if (!line.includes('"citypipe started"')) return;
        try {
          const j = JSON.parse(line) as { mqttPort: number; httpPort: number };
          resolve({ mqttPort: j.mqttPort, httpPort: j.httpPort });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      child.once('exit', (code) =>
        reject(
          new Error(
            code === ULIMIT_FAILED
              ? ulimitMessage('the citypipe service', opts.nofile)
              : `the citypipe service exited with ${code} before it started. Its last output:\n${tail.toString()}`,
          ),
        ),
      );
      setTimeout(() => reject(new Error(`the citypipe service did not start within ${opts.startTimeoutMs / 1000} s. Its last output:\n${tail.toString()}`)), opts.startTimeoutMs).unref();
    });
    try {
      const { mqttPort, httpPort } = await started;
      return new ServiceProcess(child, mqttPort, httpPort, tail);
    } catch (err) {
      await stopChild(child, 2000);
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): string {
    return this.tail.toString();
  }

  async stats(): Promise<ServiceStats> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/api/stats`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`/api/stats answered ${res.status}`);
    return (await res.json()) as ServiceStats;
  }

  /** The broker's connected clients, from the `citypipe_mqtt_connections` gauge. */
  async connections(): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const m = /^citypipe_mqtt_connections\s+(\d+)/m.exec(text);
    if (!m) throw new Error('citypipe_mqtt_connections is missing from /metrics');
    return Number(m[1]);
  }

  /**
   * The service's InfluxDB writes so far, from its histograms: how many requests, their mean
   * duration and mean size. Where latency goes is read off these.
   */
  async writeMetrics(): Promise<WriteMetrics> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    // A histogram without observations yet has no samples at all: that is 0 requests.
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const durSum = value(/^citypipe_influx_write_duration_seconds_sum\{outcome="ok"\}\s+(\S+)/m);
    const durCount = value(/^citypipe_influx_write_duration_seconds_count\{outcome="ok"\}\s+(\S+)/m);
    const linesSum = value(/^citypipe_influx_batch_lines_sum\s+(\S+)/m);
    const linesCount = value(/^citypipe_influx_batch_lines_count\s+(\S+)/m);
    return {
      requests: durCount,
      meanMs: durCount > 0 ? Math.round((durSum * 1000) / durCount) : Number.NaN,
      meanLines: linesCount > 0 ? Math.round(linesSum / linesCount) : Number.NaN,
      durationSumS: durSum,
      batches: linesCount,
      linesSum,
    };
  }

  /** Graceful stop (SIGTERM: the service writes what it accepted), SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void> {
    return stopChild(this.child, timeoutMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Reference brokers

/** A broker process the bench started. */
export interface BrokerProcess {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Debian's mosquitto on 127.0.0.1, anonymous, no persistence, no logging; `extraConf` lines are
 * appended to its configuration.
 */
export async function startMosquitto(binary: string, workDir: string, nofile: number, extraConf: readonly string[] = []): Promise<BrokerProcess> {
  if (!existsSync(binary)) {
    throw new Error(`${binary} not found: install Debian's broker with \`sudo apt-get install mosquitto\` (or \`npm run setup -- --with-test-tools\`), or pass --mosquitto <path>`);
  }
  const port = await freePort();
  const conf = path.join(workDir, `mosquitto-${port}.conf`);
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest none',
      // No cap on connections: the connection test opens as many as the open-files limit allows.
      'max_connections -1',
      ...extraConf,
      '',
    ].join('\n'),
  );
  const tail = new Tail();
  const child = spawnWithNofile(nofile, binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
  createInterface({ input: child.stderr! }).on('line', (l) => tail.push(l));
  const ok = await waitForPort(port, 10_000, () => child.exitCode === null);
  if (!ok) {
    await stopChild(child, 2000);
    throw new Error(
      child.exitCode === ULIMIT_FAILED ? ulimitMessage('mosquitto', nofile) : `mosquitto did not listen on ${port}: ${tail.toString() || `exit ${child.exitCode}`}`,
    );
  }
  return { pid: child.pid!, port, stop: () => stopChild(child, 5000) };
}

/** The aedes broker alone (aedes-only.js): citypipe's broker without its pipeline. */
export async function startAedesOnly(script: string, nofile: number): Promise<BrokerProcess> {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  const child = spawnWithNofile(nofile, process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: {} });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    child.once('exit', (code) => reject(new Error(code === ULIMIT_FAILED ? ulimitMessage('the aedes-only broker', nofile) : `the aedes-only broker exited with ${code}`)));
  });
  return { pid: child.pid!, port, stop: () => stopChild(child, 5000) };
}

/** The cluster phase's broker-only consumer (shared-consumer.js): what it has received so far. */
export interface ConsumerStats {
  received: number;
  /** When it read its first and its last message (ms since the epoch; 0 before the first). */
  firstAt: number;
  lastAt: number;
}

/** A shared-subscription consumer process that acknowledges every message at once. */
export class ConsumerProcess {
  private readonly replies: ((line: string) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    lines: ReturnType<typeof createInterface>,
  ) {
    lines.on('line', (line) => this.replies.shift()?.(line));
  }

  /** Starts it and resolves once each of its `connections` has the subscription to `filter`. */
  static async start(script: string, port: number, connections: number, filter: string, lifetimeMs: number): Promise<ConsumerProcess> {
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
    const child = track(spawn(process.execPath, [script, String(port), String(connections), filter, String(Math.round(lifetimeMs))], { stdio: ['pipe', 'pipe', 'inherit'], env: {} }));
    const lines = createInterface({ input: child.stdout! });
    try {
      await new Promise<void>((resolve, reject) => {
        lines.once('line', (line) => {
          const j = JSON.parse(line) as { ready?: boolean; error?: string };
          if (j.ready) resolve();
          else reject(new Error(`the shared-subscription consumer failed: ${j.error ?? line}`));
        });
        child.once('exit', (code) => reject(new Error(`the shared-subscription consumer exited with ${code} before it was subscribed`)));
        setTimeout(() => reject(new Error('the shared-subscription consumer was not subscribed within 30 s')), 30_000).unref();
      });
    } catch (err) {
      await stopChild(child, 2000);
      throw err;
    }
    return new ConsumerProcess(child, lines);
  }

  get pid(): number {
    return this.child.pid!;
  }

  stats(): Promise<ConsumerStats> {
    return new Promise<ConsumerStats>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the shared-subscription consumer did not answer within 10 s')), 10_000);
      this.replies.push((line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as ConsumerStats);
      });
      this.child.stdin!.write('stats\n');
    });
  }

  /** Closes its stdin (it exits by itself), then makes sure. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    await stopChild(this.child, 3000);
  }
}
