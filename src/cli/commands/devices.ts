/**
 * `citypipe devices add | list | rotate-secret`: registering devices in the catalog folder.
 *
 * The command functions take their folder, their options as commander hands them (strings) and an
 * output sink, and return the exit code, so tests call them directly instead of spawning processes.
 */
import type { Command } from 'commander';
import { addDevice, DeviceCatalog, rotateSecret, validateNewDevice, type NewDevice } from '../../catalog/catalog.js';
import { DEVICE_ID, type DeviceRecord } from '../../catalog/types.js';
import { deviceTypeNames } from '../../device-types/registry.js';
import { CitypipeError } from '../../errors/catalog.js';

/** Where a command writes, and how it reports its exit code. */
export interface DevicesIo {
  /** stdout: results (the new secret, the list). */
  out(text: string): void;
  /** stderr: errors. */
  err(text: string): void;
  /** Called once with the command's exit code. */
  exit(code: number): void;
}

/** The real process: stdout, stderr, `process.exitCode` (the process ends on its own). */
export const processIo: DevicesIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  exit: (code) => {
    process.exitCode = code;
  },
};

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** `devices add` options, as strings the way commander passes them. */
export interface DevicesAddOptions {
  id?: string;
  type?: string;
  district?: string;
  lat?: string;
  lon?: string;
  address?: string;
  interval?: string;
  /** `key=value` pairs for `attributes` (numbers and true/false are typed). */
  attr?: string[];
  json?: boolean;
}

class UsageError extends Error {}

/** Adds a device; prints its secret once. Exit 0, 2 for bad options, 1 when the catalog refuses. */
export async function devicesAdd(devicesDir: () => string, opts: DevicesAddOptions, io: DevicesIo): Promise<number> {
  return run(io, async () => {
    const input = newDeviceFrom(opts);
    const checked = validateNewDevice(input);
    if (!checked.ok) throw new UsageError(checked.problems.join('\n'));
    const dir = devicesDir();
    const { record, secret, file } = await addDevice(dir, input);
    if (opts.json) io.out(JSON.stringify({ id: record.id, password: secret }) + '\n');
    else io.out(secretNotice(`Registered ${record.id} (${record.type}, ${record.district}) in ${file}.`, record.id, secret));
  });
}

/** Lists the catalog: a table, or with `--json` an array of records (hashes left out). */
export async function devicesList(devicesDir: () => string, opts: { json?: boolean }, io: DevicesIo): Promise<number> {
  return run(io, async () => {
    const catalog = await DeviceCatalog.load(devicesDir());
    const devices = catalog.all();
    if (opts.json) {
      const rows = devices.map(({ secretHash, ...rest }) => ({ ...rest, hasSecret: secretHash !== undefined, file: catalog.fileOf(rest.id) }));
      io.out(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    io.out(table(devices) + `${devices.length} device${devices.length === 1 ? '' : 's'} in ${catalog.dir}\n`);
  });
}

/** Issues a new secret for an existing device, replacing its hash where it is stored. */
export async function devicesRotateSecret(
  devicesDir: () => string,
  id: string | undefined,
  opts: { json?: boolean },
  io: DevicesIo,
): Promise<number> {
  return run(io, async () => {
    if (id === undefined || !DEVICE_ID.test(id)) throw new UsageError(`device id: must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(id ?? '')}`);
    const dir = devicesDir();
    const rotated = await rotateSecret(dir, id);
    if (rotated === undefined) {
      throw new Error(`no device ${id} in the catalog at ${dir}; \`citypipe devices list\` shows the registered ids`);
    }
    if (opts.json) io.out(JSON.stringify({ id, password: rotated.secret }) + '\n');
    else io.out(secretNotice(`New secret for ${id} (hash replaced in ${rotated.file}); the old one no longer works.`, id, rotated.secret));
  });
}

/** Adds `devices` and its subcommands to the program. */
export function registerDevicesCommand(program: Command, devicesDir: () => string, io: DevicesIo = processIo): void {
  const devices = program.command('devices').description('register and list the devices in the catalog (CITYPIPE_DEVICES_DIR)');

  devices
    .command('add')
    .description('register a device and print its new MQTT secret (shown once)')
    .requiredOption('--id <id>', 'device id, [A-Za-z0-9_.-]{1,64}; also its MQTT username')
    .requiredOption('--type <type>', `device type: ${deviceTypeNames.join(', ')}`)
    .requiredOption('--district <district>', 'district (stadsdeel), written as a tag with every reading')
    .requiredOption('--lat <lat>', 'latitude, decimal degrees')
    .requiredOption('--lon <lon>', 'longitude, decimal degrees')
    .option('--address <address>', 'street address, for tickets')
    .option('--interval <seconds>', 'reporting interval in seconds (default 900); silence for 3 intervals raises device.offline')
    .option('--attr <key=value>', 'an attribute, e.g. powerRating=60 (repeatable)', collect, [] as string[])
    .option('--json', 'print {"id":…,"password":…} only')
    .action(async (opts: DevicesAddOptions) => io.exit(await devicesAdd(devicesDir, opts, io)));

  devices
    .command('list')
    .description('list the devices in the catalog')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => io.exit(await devicesList(devicesDir, opts, io)));

  devices
    .command('rotate-secret')
    .description('give a device a new secret (the old one stops working) and print it once')
    .argument('<id>', 'device id')
    .option('--json', 'print {"id":…,"password":…} only')
    .action(async (id: string, opts: { json?: boolean }) => io.exit(await devicesRotateSecret(devicesDir, id, opts, io)));
}

async function run(io: DevicesIo, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`citypipe devices: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CitypipeError) {
      io.err(`citypipe devices: ${err.message} [${err.code}]\n`);
      // A bad CITYPIPE_* value is the caller's usage error, as in the other commands.
      return err.code.startsWith('CP_ERR_CONFIG') ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.err(`citypipe devices: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

function newDeviceFrom(opts: DevicesAddOptions): NewDevice {
  const id = requireOption(opts.id, '--id');
  const type = requireOption(opts.type, '--type');
  if (!(deviceTypeNames as readonly string[]).includes(type)) {
    throw new UsageError(`--type: unknown device type ${JSON.stringify(type)}; one of ${deviceTypeNames.join(', ')}`);
  }
  const input: NewDevice = {
    id,
    type: type as NewDevice['type'],
    district: requireOption(opts.district, '--district'),
    location: {
      lat: parseNumber(requireOption(opts.lat, '--lat'), '--lat', 'latitude in decimal degrees, -90..90'),
      lon: parseNumber(requireOption(opts.lon, '--lon'), '--lon', 'longitude in decimal degrees, -180..180'),
    },
  };
  if (opts.address !== undefined) input.address = opts.address;
  if (opts.interval !== undefined) {
    const s = parseNumber(opts.interval, '--interval', 'whole seconds ≥ 1');
    if (!Number.isInteger(s) || s < 1) throw new UsageError(`--interval: expected whole seconds ≥ 1, got ${JSON.stringify(opts.interval)}`);
    input.reportingIntervalS = s;
  }
  if (opts.attr && opts.attr.length > 0) input.attributes = parseAttributes(opts.attr);
  return input;
}

function requireOption(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`${name} is required`);
  return value;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(text: string, name: string, what: string): number {
  // Number('') is 0 and Number('0x1') is 1: accept plain decimals only.
  const n = DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${name}: expected ${what}, got ${JSON.stringify(text)}`);
  return n;
}

function parseAttributes(pairs: readonly string[]): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--attr: expected key=value, got ${JSON.stringify(pair)}`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    attributes[key] = raw === 'true' ? true : raw === 'false' ? false : DECIMAL.test(raw) ? Number(raw) : raw;
  }
  return attributes;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function secretNotice(headline: string, id: string, secret: string): string {
  return [
    headline,
    '',
    `  MQTT username: ${id}`,
    `  MQTT password: ${secret}`,
    '',
    'Store this password now (in the device configuration or your secrets manager): citypipe keeps',
    `only a hash and cannot show it again. If it is lost, issue a new one with`,
    `\`citypipe devices rotate-secret ${id}\`.`,
    '',
  ].join('\n');
}

function table(devices: readonly DeviceRecord[]): string {
  const header = ['ID', 'TYPE', 'DISTRICT', 'INTERVAL', 'SECRET', 'ADDRESS'];
  const rows = devices.map((d) => [d.id, d.type, d.district, `${d.reportingIntervalS}s`, d.secretHash ? 'yes' : 'no', d.address ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}
