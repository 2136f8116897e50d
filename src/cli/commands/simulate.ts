/**
 * `citypipe simulate`: a device catalog (the service's, or a generated one) driven as a fleet over
 * real MQTT, in real time or faster, with a progress display.
 *
 * `planSimulation` turns the command's options into fleet options without side effects beyond
 * reading the catalog and credentials files, so tests call it directly.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { loadConfig, type Config } from '../../config/config.js';
import { createLogger } from '../../observability/logger.js';
import { demoCredentialsFile } from '../../paths.js';
import { credentialsFileFor, loadCredentials } from '../../../simulators/credentials.js';
import { SimulatedFleet, type FleetOptions } from '../../../simulators/fleet.js';
import { ProgressDisplay } from '../../../simulators/progress.js';
import { formatDuration, parseStartTime, planClock, START_AGE_MARGIN_MS, type AtNow, type StartTime } from '../../../simulators/sim-clock.js';
import { stdoutColours } from '../colour.js';
import { stopOnSignals } from '../run.js';

/** `simulate` options, as commander passes them (strings). */
export interface SimulateOptions {
  mqttUrl?: string;
  catalog?: string;
  /** Extra credentials files; none = the demo fleet's. */
  credentials?: string[];
  connections?: string;
  speed?: string;
  from?: string;
  atNow?: string;
  interval?: string;
  faultRate?: string;
  qos?: string;
  seed?: string;
  progress?: boolean;
  /** `NAME:SECRET` of a network-server account: LoRaWAN devices send through it. */
  networkServer?: string;
}

/** A bad option: the command exits 2 with this message. */
export class SimulateUsageError extends Error {}

/** What `planSimulation` decided. */
export interface SimulationPlan {
  /** Fleet options, without a logger. */
  readonly fleet: FleetOptions;
  /** Where the devices came from. */
  readonly catalogSource: string;
  /** Credentials files that held a secret of a simulated device. */
  readonly credentialsFiles: readonly string[];
  /** Devices with no secret in any credentials file. */
  readonly withoutSecret: number;
}

const HELP_AFTER = `
Time
  Every reading carries ts = the simulated time it was taken. At --speed 1 (the default) that is
  now. Faster than real time, the simulated clock starts in the past (--from, default 24 h ago) and
  runs towards the present at --speed; it never passes the wall clock, so no reading is from the
  future, and --from may reach back at most citypipe's maximum age (7 days, CITYPIPE_TS_MAX_AGE_S)
  less ${START_AGE_MARGIN_MS / 60_000} minutes, so none is too old. When the simulated clock reaches the present:
    --at-now live  (default) the fleet carries on in real time, until Ctrl-C;
    --at-now stop  the run ends: the command exits 0 once every reading was acknowledged.

Connections
  By default every device has its own MQTT connection, authenticating with its own id and secret
  and leaving a Last Will, as real devices do. --connections K multiplexes the fleet over K
  connections instead, for load tests of fleets too large for one process's sockets. Those
  connections are anonymous: a gateway cannot authenticate as each device, so citypipe accepts
  them only in lab mode (CITYPIPE_MQTT_OPEN=true); the per-device topic ACLs refuse them otherwise. Over a gateway devices have no Last Will.

LoRaWAN devices
  Catalog devices with \`lorawan\` (a DevEUI and a model) have no MQTT secret: they reach citypipe
  through a network server. With --network-server NAME:SECRET (an account made with
  \`npx citypipe devices account NAME --role network-server\`) their readings are encoded into their
  model's frames and sent as ChirpStack \`up\` events over that one connection, as ChirpStack's MQTT
  integration does; without it they are left out.

Lost connections
  A device whose connection drops keeps its readings (up to 10 000) and uploads them as one batch
  when it reconnects (at most CITYPIPE_MAX_BATCH readings and CITYPIPE_MAX_PAYLOAD_BYTES per payload),
  before anything newer. Use QoS 1 (the default) for no loss at all.

Credentials
  Files of plaintext secrets, { "<device id>": "<secret>" }: FOR SIMULATION ONLY. By default the
  demo fleet's (simulators/demo-credentials.json) and, for every catalog file, the
  .<name>.credentials.json that \`citypipe devices generate\` wrote beside it.

Progress
  On a terminal one status line (devices connected, readings/s, sent, buffered, errors, simulated
  time); piped, a plain key=value line every 10 s. Logs go to stderr.

Exit codes
  0 when --at-now stop caught up, or when Ctrl-C/SIGTERM ends a live run; 130 (143 for SIGTERM) when
  a --at-now stop run is interrupted before it caught up; 2 for a bad option.

Examples
  npx citypipe simulate
  npx citypipe simulate --speed 60 --from -12h --at-now stop
  npx citypipe devices generate --count 20000 --districts 12 --out fleets/big/devices.json
  CITYPIPE_DEVICES_DIR=fleets/big npx citypipe simulate --connections 50 --speed 10
`;

/** Adds `simulate` to the program. */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('simulate a device catalog over real MQTT: every device on its own connection (or --connections K), in real time or faster')
    .option('--mqtt-url <url>', 'broker to publish to (default: mqtt://127.0.0.1:CITYPIPE_MQTT_PORT)')
    .option('--catalog <file|dir>', 'the devices: a catalog folder, or one catalog file such as `devices generate` writes (default: CITYPIPE_DEVICES_DIR)')
    .option('--credentials <file>', 'plaintext secrets { "<device id>": "<secret>" }, for simulation only; repeatable (default: the demo fleet\'s)', collect)
    .option('--connections <K>', 'multiplex the fleet over K anonymous MQTT connections (load tests; see below)')
    .option('--speed <N>', 'simulated seconds per real second, ≥ 1', '1')
    .option('--from <time>', 'start of simulated time: ISO 8601 with offset, or -24h, -90m, -3d (default: now at speed 1, -24h when faster)')
    .option('--at-now <live|stop>', 'when the simulated clock reaches the present: carry on in real time, or end the run', 'live')
    .option('--interval <seconds>', "simulated seconds between readings (default: each device's reportingIntervalS)")
    .option('--fault-rate <x>', 'multiply the rate of every fault: fires, tipped bins, coin jams, lamp failures, day-burners, voltage dips (0 = none)', '1')
    .option('--qos <0|1>', 'MQTT QoS of readings', '1')
    .option('--seed <n>', 'random seed of the behaviour models, for reproducible runs', '1')
    .option('--network-server <name:secret>', 'a network-server account (devices account NAME --role network-server): the catalog\'s LoRaWAN devices send their readings as their models\' frames in ChirpStack uplinks over it (default: LoRaWAN devices are left out)')
    .option('--no-progress', 'no progress display')
    .addHelpText('after', HELP_AFTER)
    .action(async (opts: SimulateOptions, cmd: Command) => {
      const config = loadConfig(process.env);
      let plan: SimulationPlan;
      try {
        plan = await planSimulation(opts, config, Date.now());
      } catch (err) {
        if (err instanceof SimulateUsageError) cmd.error(`citypipe simulate: ${err.message}`, { exitCode: 2, code: 'citypipe.usage' });
        throw err;
      }
      // stdout is for the person watching (progress); the log goes to stderr.
      const log = createLogger(config.logLevel, pino.destination(2));
      const fleet = new SimulatedFleet({ ...plan.fleet, log });
      const colours = stdoutColours();
      const progress = opts.progress === false ? undefined : new ProgressDisplay(process.stdout, () => fleet.stats(), { colour: colours.enabled });
      const stop = async (): Promise<void> => {
        await fleet.stop();
        progress?.stop();
      };
      // A live run ends with Ctrl-C by design; a run to the present that has not got there was cut short.
      stopOnSignals(stop, { unfinished: () => plan.fleet.atNow === 'stop' && !fleet.stats().caughtUp });

      const f = plan.fleet;
      const fromText = f.from === undefined || typeof f.from === 'number' || 'atMs' in f.from ? new Date(startOf(f.from)).toISOString() : `${formatDuration(f.from.agoMs)} ago`;
      process.stdout.write(
        `simulating ${f.devices.length} devices from ${plan.catalogSource} on ${f.connections === undefined ? 'one MQTT connection each' : `${f.connections} multiplexed connections`} to ${f.mqttUrl}` +
          `${f.speed !== undefined && f.speed > 1 ? `, ×${f.speed} from ${fromText}, then ${f.atNow === 'stop' ? 'stop' : 'live'}` : ''}\n`,
      );
      if (plan.withoutSecret > 0) {
        process.stdout.write(colours.yellow(`  ${plan.withoutSecret} devices have no secret in ${plan.credentialsFiles.join(', ') || 'any credentials file'}: they connect with their id only`) + '\n');
      }
      progress?.start();
      await fleet.start();
      const end = await fleet.finished;
      if (end === 'caught-up') await stop();
    });
}

/** Checks the options and reads the catalog and credentials. Throws {@link SimulateUsageError} for bad options. */
export async function planSimulation(opts: SimulateOptions, config: Config, nowMs: number): Promise<SimulationPlan> {
  const qos = opts.qos === undefined || opts.qos === '1' ? 1 : opts.qos === '0' ? 0 : usage(`--qos: expected 0 or 1, got ${opts.qos}`);
  const speed = number(opts.speed ?? '1', '--speed', 'simulated seconds per real second, ≥ 1', (n) => n >= 1);
  const atNow = (opts.atNow ?? 'live') as AtNow;
  if (atNow !== 'live' && atNow !== 'stop') usage(`--at-now: expected live or stop, got ${opts.atNow}`);
  if (atNow === 'stop' && !(speed > 1)) usage('--at-now stop: at --speed 1 the simulated clock never reaches the present from a start in the past; give a --speed above 1');
  let from: StartTime;
  try {
    // Planned here so a bad start is a usage error naming the option; the fleet checks it again when it starts.
    from = planClock({ speed, from: opts.from === undefined ? undefined : parseStartTime(opts.from), atNow, nowMs, maxAgeMs: config.ingest.maxAgeMs }).from;
  } catch (err) {
    usage(`--from: ${(err as Error).message.replace(/^from: /, '')}`);
  }
  const intervalS = opts.interval === undefined ? undefined : number(opts.interval, '--interval', 'seconds > 0', (n) => n > 0);
  const connections = opts.connections === undefined ? undefined : number(opts.connections, '--connections', 'a whole number ≥ 1', (n) => Number.isInteger(n) && n >= 1);
  const faultRate = number(opts.faultRate ?? '1', '--fault-rate', 'a number ≥ 0', (n) => n >= 0);
  const seed = number(opts.seed ?? '1', '--seed', 'a whole number', Number.isInteger);

  const source = path.resolve(opts.catalog ?? config.devicesDir);
  const { catalog, files } = await readCatalog(source);
  const credentialsFiles = [...(opts.credentials && opts.credentials.length > 0 ? opts.credentials : [demoCredentialsFile]), ...files.map(credentialsFileFor)];
  const devices = catalog.all();
  const credentials = new Map<string, string>();
  // Files that gave a simulated device its secret, for the start-up message.
  const used: string[] = [];
  for (const file of new Set(credentialsFiles)) {
    if (!existsSync(file)) {
      if (opts.credentials?.includes(file)) usage(`--credentials: ${file} does not exist`);
      continue;
    }
    let useful = false;
    for (const [id, secret] of loadCredentials(file)) {
      if (catalog.get(id) === undefined) continue;
      credentials.set(id, secret);
      useful = true;
    }
    if (useful) used.push(file);
  }
  let networkServer: { username: string; password: string } | undefined;
  if (opts.networkServer !== undefined) {
    const colon = opts.networkServer.indexOf(':');
    if (colon <= 0 || colon === opts.networkServer.length - 1) usage('--network-server: expected NAME:SECRET of a network-server account (`npx citypipe devices account NAME --role network-server`)');
    networkServer = { username: opts.networkServer.slice(0, colon), password: opts.networkServer.slice(colon + 1) };
  }
  return {
    fleet: {
      mqttUrl: opts.mqttUrl ?? `mqtt://127.0.0.1:${config.mqtt.port}`,
      devices,
      credentials,
      qos,
      seed,
      speed,
      atNow,
      faultRate,
      maxAgeMs: config.ingest.maxAgeMs,
      maxBatch: config.ingest.maxBatch,
      maxPayloadBytes: config.ingest.maxPayloadBytes,
      from,
      ...(intervalS !== undefined ? { intervalS } : {}),
      ...(connections !== undefined ? { connections } : {}),
      ...(networkServer !== undefined ? { networkServer } : {}),
    },
    catalogSource: source,
    credentialsFiles: used,
    withoutSecret: devices.filter((d) => d.lorawan === undefined && !credentials.has(d.id)).length,
  };
}

/** A catalog folder (as the service loads it) or a single catalog file; and the files it came from. */
async function readCatalog(source: string): Promise<{ catalog: DeviceCatalog; files: string[] }> {
  let isFile = false;
  try {
    isFile = statSync(source).isFile();
  } catch {
    // a missing folder: DeviceCatalog.load says so, naming CITYPIPE_DEVICES_DIR
  }
  if (!isFile) {
    const catalog = await DeviceCatalog.load(source);
    const files = new Set<string>();
    for (const d of catalog.all()) {
      const f = catalog.fileOf(d.id);
      if (f !== undefined) files.add(path.resolve(f));
    }
    return { catalog, files: [...files] };
  }
  let records: unknown;
  try {
    records = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    usage(`--catalog: ${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(records)) usage(`--catalog: ${source} must be a JSON array of device records`);
  return { catalog: DeviceCatalog.fromRecords(records, source), files: [source] };
}

function startOf(from: FleetOptions['from']): number {
  if (from === undefined) return Date.now();
  if (typeof from === 'number') return from;
  return 'atMs' in from ? from.atMs : Date.now() - from.agoMs;
}

function usage(message: string): never {
  throw new SimulateUsageError(message);
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function number(text: string, name: string, what: string, ok: (n: number) => boolean): number {
  const n = DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n) || !ok(n)) usage(`${name}: expected ${what}, got ${JSON.stringify(text)}`);
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
