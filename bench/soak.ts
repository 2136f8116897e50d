/**
 * The soak: a generated city fleet at a steady rate for minutes, with the rules and webhook delivery
 * running, while the service's memory is sampled. It answers one question: does anything grow with
 * time rather than with load? A leak grows the memory that survives a full garbage collection, so
 * the service runs with `node --expose-gc` and every `/metrics` scrape first forces a full
 * collection (src/observability/live-heap.ts): `citypipe_nodejs_heap_live_bytes` and
 * `citypipe_nodejs_external_live_bytes` are then exact at the moment they are read, where the
 * ordinary heap figures saw-tooth by tens of MB between collections.
 *
 * One soak per connection mode, one after the other, on the same fleet:
 * - multiplexed: the fleet over {@link SOAK_GATEWAYS} anonymous gateway connections (lab mode), the
 *   way a network server or gateway forwards many devices;
 * - per device: every device on its own connection, authenticating with its own secret (scrypt on
 *   every CONNECT), with a Last Will and a retained status, the service not in lab mode.
 * The load is `citypipe simulate` of the build under test, a process of its own; the generated
 * fleet's faults (raised by {@link SOAK_FAULT_RATE}) and full bins open tickets, and every ticket
 * transition is delivered to a webhook receiver in this process that answers 200.
 *
 * Used by the bench (`citypipe bench --only soak`) and by test/soak.e2e.test.ts.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { writeFileAtomic } from '../src/fs/write-file-atomic.js';
import { credentialsFileFor, writeCredentialsFile } from '../simulators/credentials.js';
import { generateFleet } from '../simulators/generate-fleet.js';
import { round } from './proc-stats.js';
import { spawnWithNofile, stopChild, type ServiceProcess } from './processes.js';
import { SOAK_GATEWAYS, SOAK_MODES, summarise, type SoakMode, type SoakRun, type SoakSample } from './soak-figures.js';

/**
 * × every fault rate of the simulator's models. At 1 a fleet of 5,000 has a few faults an hour; at
 * 100 a few tickets open or close every minute (voltage dips, damaged bins, coin jams), so
 * delivery works the whole time rather than only at the start (bins already full).
 */
export const SOAK_FAULT_RATE = 100;

/** Files the service needs besides its MQTT connections; the simulator likewise. */
const FILE_RESERVE = 200;

/** Signed with this; the receiver does not check it (it only has to answer). */
const WEBHOOK_SECRET = 'citypipe-soak-webhook-secret';

/** MB = 10^6 bytes, as the gauges' bytes ÷ 10^6. */
const MB = 1e6;

/** A generated fleet on disk: the catalog folder the service loads, and the simulator's secrets. */
export interface SoakFleet {
  devices: number;
  catalogDir: string;
  catalogFile: string;
  credentialsFile: string;
}

/**
 * Generates `devices` devices as `citypipe devices generate` does (simulators/generate-fleet.ts:
 * scrypt hashes in the catalog, plaintext secrets beside it) into `dir`/catalog.
 */
export async function writeSoakFleet(dir: string, devices: number): Promise<SoakFleet> {
  const catalogDir = path.join(dir, 'catalog');
  mkdirSync(catalogDir, { recursive: true });
  const catalogFile = path.join(catalogDir, 'soak-fleet.json');
  const fleet = await generateFleet({ count: devices, districts: Math.max(1, Math.min(12, Math.floor(devices / 10))) });
  const credentialsFile = credentialsFileFor(catalogFile);
  await writeCredentialsFile(credentialsFile, fleet.credentials);
  await writeFileAtomic(catalogFile, JSON.stringify(fleet.records));
  return { devices, catalogDir, catalogFile, credentialsFile };
}

/** How the caller starts and stops the service (the bench with its InfluxDB and profiles; the test with the suite's). */
export interface SoakServices {
  /**
   * `citypipe start` of the build under test with `nodeArgs` before the script and `env` on top of
   * the caller's settings (InfluxDB with database `db`, loopback ports 0, a fresh data folder),
   * loading the catalog folder `devicesDir`, allowed `nofile` open files.
   */
  start(spec: { name: string; db: string; devicesDir: string; env: Record<string, string>; nofile: number; nodeArgs: readonly string[] }): Promise<ServiceProcess>;
  /** Graceful stop. */
  stop(svc: ServiceProcess): Promise<void>;
}

export interface SoakOptions {
  mode: SoakMode;
  /** bin/citypipe.js of the build under test: the service and the simulator. */
  cli: string;
  fleet: SoakFleet;
  readingsPerS: number;
  /** Measured seconds after the fleet connected. */
  seconds: number;
  warmupSeconds: number;
  sampleSeconds: number;
  /** × the simulator's fault rates; default {@link SOAK_FAULT_RATE}. */
  faultRate?: number;
  /** The hard open-files limit of this process (the per-device mode needs one file per device, twice). */
  hardNofile: number;
  services: SoakServices;
  /** Extra Node.js flags for the service (besides --expose-gc). */
  serviceNodeArgs?: readonly string[];
  log: (line: string) => void;
  note: (text: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bench's phase: both connection modes, one after the other, on one fleet generated into `dir`. */
export async function soakPhase(
  dir: string,
  sizes: { soakDevices: number; soakReadingsPerS: number; soakSeconds: number; soakWarmupSeconds: number; soakSampleSeconds: number },
  o: Pick<SoakOptions, 'cli' | 'hardNofile' | 'services' | 'serviceNodeArgs' | 'log' | 'note'>,
): Promise<SoakRun[]> {
  o.log(`soak: generating ${sizes.soakDevices.toLocaleString('en-US')} devices as \`citypipe devices generate\` does (a scrypt hash each)`);
  const fleet = await writeSoakFleet(dir, sizes.soakDevices);
  const runs: SoakRun[] = [];
  for (const mode of SOAK_MODES) {
    const soak = { mode, fleet, readingsPerS: sizes.soakReadingsPerS, seconds: sizes.soakSeconds, warmupSeconds: sizes.soakWarmupSeconds, sampleSeconds: sizes.soakSampleSeconds };
    runs.push(await runSoak({ ...o, ...soak }));
  }
  return runs;
}

/** Runs one soak. Throws when it cannot run at all (the service or the simulator would not start). */
export async function runSoak(o: SoakOptions): Promise<SoakRun> {
  const label = `soak, ${o.mode}`;
  let devices = o.fleet.devices;
  if (o.mode === 'per-device' && devices + FILE_RESERVE > o.hardNofile) {
    devices = o.hardNofile - FILE_RESERVE;
    o.note(`${label}: ${devices} of the ${o.fleet.devices} devices connect (one file each in the service and in the simulator; the hard open-files limit is ${o.hardNofile})`);
  }
  // The rate stays the asked one whatever the number of devices: the interval follows.
  const intervalS = devices / o.readingsPerS;
  const receiver = await WebhookReceiver.start();
  const env: Record<string, string> = {
    CITYPIPE_WEBHOOK_URLS: `soak=${receiver.url}`,
    CITYPIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...(o.mode === 'multiplexed'
      ? // Lab mode: anonymous gateways, each carrying hundreds of devices, so no per-connection limits.
        { CITYPIPE_MQTT_OPEN: 'true', CITYPIPE_MQTT_CLIENT_RATE: '0', CITYPIPE_MQTT_CLIENT_READING_RATE: '0', CITYPIPE_MQTT_IP_CONNECT_RATE: '0' }
      : // Every device connects from 127.0.0.1, where a city's come from thousands of addresses.
        { CITYPIPE_MQTT_IP_CONNECT_RATE: '1000000' }),
  };
  const nofile = Math.min(o.hardNofile, (o.mode === 'per-device' ? devices : SOAK_GATEWAYS) + FILE_RESERVE);
  const svc = await o.services.start({
    name: label,
    db: `bench_soak_${o.mode.replace('-', '_')}`,
    devicesDir: o.fleet.catalogDir,
    env,
    nofile,
    nodeArgs: ['--expose-gc', ...(o.serviceNodeArgs ?? [])],
  });
  let sim: SimulatorProcess | undefined;
  try {
    const idle = await sample(svc, Number.NaN, receiver);
    if (!Number.isFinite(idle.heapLiveMb)) o.note(`${label}: the build under test has no citypipe_nodejs_heap_live_bytes gauge; live memory is not measured`);
    const expected = o.mode === 'multiplexed' ? Math.min(SOAK_GATEWAYS, devices) : devices;
    o.log(
      `${label}: ${devices.toLocaleString('en-US')} devices on ${o.mode === 'multiplexed' ? `${expected} gateway connections (lab mode)` : 'their own authenticated connections'}, ` +
        `a reading every ${round(intervalS, 3)} s each (${o.readingsPerS.toLocaleString('en-US')}/s), ${o.seconds} s sampled every ${o.sampleSeconds} s; ` +
        `idle: heap ${idle.heapLiveMb} MB, external ${idle.externalLiveMb} MB, RSS ${idle.rssMb} MB`,
    );
    sim = SimulatorProcess.start(o, simulatedCatalog(o, devices), svc.mqttPort, intervalS, nofile);
    // t = 0 when the broker holds the whole fleet; connecting 5,000 authenticated devices takes seconds.
    const connectStart = Date.now();
    const connectBy = connectStart + 60_000 + devices * 10;
    let connected = 0;
    while (Date.now() < connectBy) {
      sim.check();
      connected = await svc.connections().catch(() => connected);
      if (connected >= expected) break;
      await sleep(250);
    }
    if (connected < expected) o.note(`${label}: only ${connected} of ${expected} connections were up after ${Math.round((Date.now() - connectStart) / 1000)} s; sampling anyway`);
    const t0 = Date.now();
    const samples: SoakSample[] = [];
    for (let k = 0; ; k++) {
      // Each sample is placed at its own measured time: a late one is late, not misplaced.
      const due = t0 + k * o.sampleSeconds * 1000;
      if (due > t0 + o.seconds * 1000) break;
      await sleep(Math.max(0, due - Date.now()));
      sim.check();
      const s = await sample(svc, (Date.now() - t0) / 1000, receiver);
      samples.push(s);
      o.log(
        `    ${String(Math.round(s.t)).padStart(4)} s: heap ${s.heapLiveMb} + external ${s.externalLiveMb} = ${round(s.heapLiveMb + s.externalLiveMb, 1)} MB live, RSS ${s.rssMb} MB; ` +
          `${s.received.toLocaleString('en-US')} received, ${s.pending.toLocaleString('en-US')} pending, ${s.ticketTransitions} ticket transitions, ${s.webhooksDelivered} webhooks delivered`,
      );
    }
    await sim.stop();
    await waitWritten(svc, 60_000);
    const run = summarise(
      { mode: o.mode, devices, offeredPerS: Math.round(devices / intervalS), seconds: o.seconds, warmupSeconds: o.warmupSeconds },
      idle,
      samples,
      receiver.count,
    );
    o.log(
      `    ${label}: heap + external ${run.slopeMbPerMin} MB/min after the ${o.warmupSeconds} s warm-up, ${run.growthAfterWarmupMb} MB from its end to the last sample ` +
        `(heap ${run.heapSlopeMbPerMin}, external ${run.externalSlopeMbPerMin}, RSS ${run.rssSlopeMbPerMin} MB/min; ` +
        `${run.slopeBesideBacklogMbPerMin} MB/min beside the backlog, which held ${run.backlogMbPerThousand} MB per 1,000 pending); ${run.readingsPerS.toLocaleString('en-US')} readings/s received`,
    );
    if (run.readingsPerS < o.readingsPerS * 0.9) o.note(`${label}: ${run.readingsPerS} readings/s received of ${o.readingsPerS} offered: the machine did not sustain the rate`);
    if (run.end.connections < expected) o.note(`${label}: ${run.end.connections} of ${expected} connections were up at the end (${sim.disconnects} disconnects in the simulator's log)`);
    if (run.webhooksReceived === 0) o.note(`${label}: no webhook was delivered (no ticket transition in ${o.seconds} s): delivery was idle`);
    return run;
  } finally {
    await sim?.stop();
    await o.services.stop(svc);
    await receiver.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Scrapes `/metrics` (which forces the full collection first) and `/api/stats`. */
async function sample(svc: ServiceProcess, t: number, receiver: WebhookReceiver): Promise<SoakSample> {
  const res = await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  const stats = await svc.stats();
  const one = (name: string) => {
    const m = new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  const sum = (name: string, filter = '') => {
    let total = 0;
    for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\}\\s+(\\S+)`, 'gm'))) if (m[1]!.includes(filter)) total += Number(m[2]);
    return total;
  };
  return {
    t: Number.isNaN(t) ? -1 : round(t, 1),
    heapLiveMb: round(one('citypipe_nodejs_heap_live_bytes') / MB, 1),
    externalLiveMb: round(one('citypipe_nodejs_external_live_bytes') / MB, 1),
    rssMb: round(one('citypipe_process_resident_memory_bytes') / MB, 1),
    received: stats.received,
    written: stats.written,
    pending: stats.pending,
    connections: one('citypipe_mqtt_connections'),
    ticketTransitions: sum('citypipe_ticket_transitions_total'),
    webhooksDelivered: sum('citypipe_deliveries_total', 'outcome="delivered"'),
  };
}

/**
 * The catalog file the simulator drives: the fleet's, or the first `devices` of it (outside the
 * service's catalog folder, which keeps the whole fleet) when the open-files limit allows fewer.
 */
function simulatedCatalog(o: SoakOptions, devices: number): string {
  if (devices >= o.fleet.devices) return o.fleet.catalogFile;
  const file = path.join(path.dirname(o.fleet.catalogDir), `soak-fleet-first-${devices}.json`);
  const records = JSON.parse(readFileSync(o.fleet.catalogFile, 'utf8')) as unknown[];
  writeFileSync(file, JSON.stringify(records.slice(0, devices)));
  return file;
}

/** Until the service has written what it received (the simulator has stopped). */
async function waitWritten(svc: ServiceProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await svc.stats();
    if (s.pending === 0 && s.received === s.written + s.deadLettered) return;
    await sleep(200);
  }
}

/** `citypipe simulate` of the build under test, live, until stopped. */
class SimulatorProcess {
  private readonly tail: string[] = [];
  disconnects = 0;

  private constructor(private readonly child: ChildProcess) {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (line.includes('CP_SIM_DISCONNECTED')) this.disconnects++;
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
      });
    }
  }

  static start(o: SoakOptions, catalogFile: string, mqttPort: number, intervalS: number, nofile: number): SimulatorProcess {
    const args = [
      o.cli,
      'simulate',
      '--catalog', catalogFile,
      '--credentials', o.fleet.credentialsFile,
      '--mqtt-url', `mqtt://127.0.0.1:${mqttPort}`,
      '--interval', String(intervalS),
      '--fault-rate', String(o.faultRate ?? SOAK_FAULT_RATE),
      '--no-progress',
      ...(o.mode === 'multiplexed' ? ['--connections', String(SOAK_GATEWAYS)] : []),
    ];
    const child = spawnWithNofile(nofile, process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { CITYPIPE_LOG_LEVEL: 'warn' } });
    return new SimulatorProcess(child);
  }

  /** Throws if the simulator has exited: the soak would measure an idle service. */
  check(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new Error(`citypipe simulate exited with ${this.child.exitCode ?? this.child.signalCode}. Its last output:\n${this.tail.join('\n')}`);
    }
  }

  /** SIGTERM: the devices publish `offline` and disconnect cleanly. */
  stop(): Promise<void> {
    return stopChild(this.child, 30_000);
  }
}

/** A webhook receiver on loopback that answers 200 to every POST and counts them. */
class WebhookReceiver {
  count = 0;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    let self: WebhookReceiver | undefined;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && self) self.count++;
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    self = new WebhookReceiver(server, `http://127.0.0.1:${port}/citypipe`);
    return self;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
