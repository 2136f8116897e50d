/**
 * `citypipe devices add | import | list | rotate-secret | revoke | account | generate`: registering
 * devices in the catalog folder (`import`, of a network server's export, is in devices-import.ts),
 * revoking them, making operator accounts, and generating a fleet for simulation.
 *
 * The command functions take their folder, their options as commander hands them (strings) and an
 * output sink, and return the exit code, so tests call them directly instead of spawning processes.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../fs/write-file-atomic.js';
import type { Command } from 'commander';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { addDevice, revokeDevice, rotateSecret, validateNewDevice, type NewDevice } from '../../catalog/catalog-edits.js';
import { generateSecret, hashSecretAsync } from '../../catalog/secrets.js';
import { ACCOUNT_ROLES, accountEntry, type AccountRole } from '../../security/accounts.js';
import { registeredModels, type ModelRegistry } from '../../catalog/record-problems.js';
import { DEV_EUI, DEVICE_ID, type DeviceRecord } from '../../catalog/types.js';
import { deviceTypeModules, deviceTypeNames, lorawanModels } from '../../device-types/registry.js';
import { cities, cityNamed } from '../../../simulators/cities.js';
import { credentialsFileFor, writeCredentialsFile } from '../../../simulators/credentials.js';
import { generateFleet, MAX_GENERATED_DEVICES } from '../../../simulators/generate-fleet.js';
import { plain } from '../colour.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { collect, parseAttributes, parseInterval, parseNumber, requireOption, run, UsageError, processIo, type CatalogDeps, type DevicesIo } from './devices-common.js';
import { registerDevicesImportCommand } from './devices-import.js';

export { processIo, type DevicesIo } from './devices-common.js';

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
  /** A LoRaWAN device's DevEUI (with `model`): the device gets no MQTT secret. */
  devEui?: string;
  /** Its LoRaWAN model, e.g. `milesight-em400-udl`. */
  model?: string;
  json?: boolean;
}

/** The device a command names is not in the catalog: exit 4. */
function notInCatalog(id: string, dir: string): CliError {
  return new CliError(ExitCode.notFound, `no device ${id} in the catalog at ${dir}; \`citypipe devices list\` shows the registered ids`);
}

/**
 * Adds a device; prints its secret once, or for a LoRaWAN device (`--dev-eui`, `--model`) what it
 * was registered as. Exit 0, 2 for bad options, 1 when the catalog refuses.
 */
export async function devicesAdd(devicesDir: () => string, opts: DevicesAddOptions, io: DevicesIo, deps: CatalogDeps = {}): Promise<number> {
  return run(io, async () => {
    const input = newDeviceFrom(opts, deps);
    const checked = validateNewDevice(input, deps);
    if (!checked.ok) throw new UsageError(checked.problems.join('\n'));
    const dir = devicesDir();
    const { record, secret, file } = await addDevice(dir, input, deps);
    if (secret === undefined) {
      if (opts.json) io.out(JSON.stringify(record) + '\n');
      else io.out(lorawanNotice(record, file));
    } else if (opts.json) io.out(JSON.stringify({ id: record.id, password: secret }) + '\n');
    else io.out(secretNotice(`Registered ${record.id} (${record.type}, ${record.district}) in ${file}.`, record.id, secret));
  });
}

/** Lists the catalog: a table, or with `--json` an array of records (hashes left out). */
export async function devicesList(devicesDir: () => string, opts: { json?: boolean }, io: DevicesIo, deps: CatalogDeps = {}): Promise<number> {
  return run(io, async () => {
    const catalog = await DeviceCatalog.load(devicesDir(), deps);
    const devices = catalog.all();
    if (opts.json) {
      const rows = devices.map(({ secretHash, ...rest }) => ({ ...rest, hasSecret: secretHash !== undefined, revoked: rest.revokedAt !== undefined, file: catalog.fileOf(rest.id) }));
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
  deps: CatalogDeps = {},
): Promise<number> {
  return run(io, async () => {
    if (id === undefined || !DEVICE_ID.test(id)) throw new UsageError(`device id: must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(id ?? '')}`);
    const dir = devicesDir();
    const rotated = await rotateSecret(dir, id, deps);
    if (rotated === undefined) throw notInCatalog(id, dir);
    if (opts.json) io.out(JSON.stringify({ id, password: rotated.secret }) + '\n');
    else io.out(secretNotice(`New secret for ${id} (hash replaced in ${rotated.file}); the old one no longer works.`, id, rotated.secret));
  });
}

/**
 * Revokes a device: it can no longer connect (a running service disconnects it within a second of
 * the catalog change). `rotate-secret` reinstates it with a new secret.
 */
export async function devicesRevoke(
  devicesDir: () => string,
  id: string | undefined,
  opts: { json?: boolean },
  io: DevicesIo,
  deps: CatalogDeps = {},
): Promise<number> {
  return run(io, async () => {
    if (id === undefined || !DEVICE_ID.test(id)) throw new UsageError(`device id: must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(id ?? '')}`);
    const dir = devicesDir();
    const revoked = await revokeDevice(dir, id, undefined, deps);
    if (revoked === undefined) throw notInCatalog(id, dir);
    if (opts.json) io.out(JSON.stringify({ id, revokedAt: revoked.record.revokedAt }) + '\n');
    else if (revoked.record.lorawan !== undefined) {
      io.out(
        [
          `Revoked ${id} (LoRaWAN, DevEUI ${revoked.record.lorawan.devEui}) in ${revoked.file}: its record is marked revokedAt.`,
          'Its record stays, so its district and history remain. It has no MQTT secret: to reinstate it,',
          `remove revokedAt from its record in ${revoked.file}.`,
          '',
        ].join('\n'),
      );
    } else {
      io.out(
        [
          `Revoked ${id} in ${revoked.file}: its secret hash is removed and it can no longer connect, by secret or certificate.`,
          'A running service disconnects it as soon as it sees the change. Its record stays, so its district and history remain.',
          `To let it back in with a new secret: \`citypipe devices rotate-secret ${id}\`.`,
          '',
        ].join('\n'),
      );
    }
  });
}

/**
 * Makes the credentials of an account (not a device): a new secret, printed once, and its entry for
 * CITYPIPE_MQTT_ACCOUNTS. An operator or integration account may subscribe to rule events; a
 * network-server account (ChirpStack's MQTT integration) may publish uplink events; a worker account
 * is what citypipe's workers log in to a broker cluster with. Nothing is written.
 */
export async function devicesAccount(name: string | undefined, opts: { json?: boolean; role?: string }, io: DevicesIo): Promise<number> {
  return run(io, async () => {
    if (name === undefined || !DEVICE_ID.test(name)) throw new UsageError(`account name: must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(name ?? '')}`);
    const role = (opts.role ?? 'operator') as AccountRole;
    if (!ACCOUNT_ROLES.includes(role)) throw new UsageError(`--role: must be one of ${ACCOUNT_ROLES.join(', ')}, got ${JSON.stringify(opts.role)}`);
    const secret = generateSecret();
    const entry = accountEntry(name, role, await hashSecretAsync(secret));
    if (opts.json) {
      io.out(JSON.stringify({ name, role, password: secret, entry }) + '\n');
      return;
    }
    const may =
      role === 'network-server'
        ? `MQTT account ${name} (network server): it may publish uplink events on application/+/device/+/event/+ (ChirpStack's MQTT integration) and nothing else.`
        : role === 'worker'
          ? `MQTT account ${name} (citypipe worker on a broker cluster): it may subscribe under city/ and application/ (shared subscriptions included) and publish rule events under city/events/. Give its name and password to the workers as CITYPIPE_BROKER_USERNAME and CITYPIPE_BROKER_PASSWORD.`
          : `MQTT account ${name}: it may subscribe to city/events/# (rule events) and nothing else.`;
    io.out(
      [
        may,
        '',
        `  MQTT username: ${name}`,
        `  MQTT password: ${secret}`,
        '',
        'Add this entry to CITYPIPE_MQTT_ACCOUNTS (entries separated by commas; quote it in a shell, it holds $):',
        '',
        `  ${entry}`,
        '',
        'Store the password now: only its hash is in the entry. For a new password, run this again and replace the entry.',
        ...(role === 'network-server' ? ['', 'In ChirpStack\'s [integration.mqtt]: server="tcp://<citypipe host>:1883/", username and password as above, qos=1 (README, "Connect ChirpStack").'] : []),
        '',
      ].join('\n'),
    );
  });
}

/** `devices generate` options, as strings the way commander passes them. */
export interface DevicesGenerateOptions {
  count?: string;
  districts?: string;
  seed?: string;
  city?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
}

/** Catalog file `devices generate` writes unless told otherwise, inside the catalog folder. */
export const GENERATED_FILE = 'generated.json';

/**
 * Generates a fleet: a catalog file (secret hashes only) and, beside it, the plaintext credentials
 * the simulator needs (see `credentialsFileFor`). Exit 0, 2 for bad options, 1 when the catalog
 * folder refuses it (an id already there). `hash` replaces scrypt in tests.
 */
export async function devicesGenerate(
  devicesDir: () => string,
  opts: DevicesGenerateOptions,
  io: DevicesIo,
  deps: { hash?: (secret: string) => Promise<string> } = {},
): Promise<number> {
  return run(io, async () => {
    const count = parseWhole(opts.count, '--count', 1, MAX_GENERATED_DEVICES);
    const districts = parseWhole(opts.districts, '--districts', 1, count);
    const seed = opts.seed === undefined ? 1 : parseWhole(opts.seed, '--seed', 0, 2 ** 32 - 1);
    const cityName = opts.city ?? 'amsterdam';
    const city = cityNamed(cityName);
    if (!city) throw new UsageError(`--city: unknown city ${JSON.stringify(cityName)}; one of ${Object.keys(cities).join(', ')}`);
    const out = path.resolve(opts.out ?? path.join(devicesDir(), GENERATED_FILE));
    // The catalog loader reads only *.json files, and skips dot files.
    if (!out.endsWith('.json') || path.basename(out).startsWith('.')) {
      throw new UsageError(`--out: the catalog file must be named *.json and not start with a dot (the catalog loader skips others), got ${out}`);
    }
    if (existsSync(out) && !opts.force) throw new UsageError(`--out: ${out} exists; choose another file or pass --force to replace it`);
    const inCatalogFolder = isCatalogFolder(path.dirname(out), devicesDir);

    const started = Date.now();
    // Each secret is a scrypt hash of ~1 ms CPU; worth a word before a large fleet.
    if (count >= 2000) io.err((io.errColours ?? plain).dim(`hashing ${count} device secrets (scrypt, about ${Math.ceil(count / 1000)} s on two idle cores)…`) + '\n');
    const fleet = await generateFleet({ count, districts, seed, city, ...(deps.hash ? { hash: deps.hash } : {}) });
    // A bug here must not leave the service a catalog it refuses.
    DeviceCatalog.fromRecords(fleet.records, out);
    if (inCatalogFolder && existsSync(path.dirname(out))) {
      const existing = await DeviceCatalog.load(path.dirname(out));
      for (const r of fleet.records) {
        const file = existing.fileOf(r.id);
        if (file !== undefined && path.resolve(file) !== out) {
          throw new Error(`device id ${r.id} already exists in ${file}; generate into another folder (--out), or with another --city prefix`);
        }
      }
    }
    await mkdir(path.dirname(out), { recursive: true });
    // Credentials first: a service watching the folder may start right away on the catalog, and the
    // simulator looks for the credentials beside it.
    const credentialsFile = credentialsFileFor(out);
    await writeCredentialsFile(credentialsFile, fleet.credentials);
    await writeFileAtomic(out, JSON.stringify(fleet.records, null, 2) + '\n');
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    if (opts.json) {
      io.out(JSON.stringify({ catalog: out, credentials: credentialsFile, devices: count, districts: fleet.districts.map((d) => d.name) }) + '\n');
      return;
    }
    const byType = deviceTypeNames.map((t) => `${fleet.records.filter((r) => r.type === t).length} ${t}`).join(', ');
    const dir = path.dirname(out);
    io.out(
      [
        `Generated ${count} devices in ${districts} districts around ${cityName} (seed ${seed}) in ${seconds} s: ${byType}.`,
        `  catalog      ${out}   (secret hashes only)`,
        `  credentials  ${credentialsFile}`,
        '               plaintext secrets of every device, FOR SIMULATION ONLY: anyone who can read',
        '               this file can connect as these devices. Never give them to real devices;',
        '               delete the file when the simulation is over.',
        '',
        inCatalogFolder
          ? `The service loads it with the rest of ${dir} (a running one reloads on its own). Simulate it:`
          : `Point the service at its folder (CITYPIPE_DEVICES_DIR=${dir}), then simulate it:`,
        `  npx citypipe simulate${inCatalogFolder ? '' : ` --catalog ${out}`}   (finds the credentials beside the catalog)`,
        '',
      ].join('\n'),
    );
  });
}

/** True when `dir` is the catalog folder citypipe loads (CITYPIPE_DEVICES_DIR). */
function isCatalogFolder(dir: string, devicesDir: () => string): boolean {
  try {
    return path.resolve(devicesDir()) === path.resolve(dir);
  } catch {
    // No usable configuration: then it is not the configured folder either.
    return false;
  }
}


function parseWhole(text: string | undefined, name: string, min: number, max: number): number {
  if (text === undefined || text === '') throw new UsageError(`${name} is required`);
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name}: expected a whole number ${min}..${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** Adds `devices` and its subcommands to the program; `deps` replaces the registry's LoRaWAN models (tests). */
export function registerDevicesCommand(program: Command, devicesDir: () => string, io: DevicesIo = processIo, deps: CatalogDeps = {}): void {
  const devices = program
    .command('devices')
    .description('register, list, re-key and revoke the devices in the catalog (CITYPIPE_DEVICES_DIR); make operator accounts')
    .addHelpText(
      'after',
      `
They change the catalog files directly; a running service reloads them on its own. With --json each
prints one JSON document on stdout and nothing else.`,
    );

  devices
    .command('add')
    .description('register a device and print its new MQTT secret (shown once); a LoRaWAN device (--dev-eui, --model) gets none')
    .requiredOption('--id <id>', 'device id, [A-Za-z0-9_.-]{1,64}; also its MQTT username')
    .requiredOption('--type <type>', `device type: ${deviceTypeNames.join(', ')}`)
    .requiredOption('--district <district>', 'district (stadsdeel), written as a tag with every reading')
    .requiredOption('--lat <lat>', 'latitude, decimal degrees')
    .requiredOption('--lon <lon>', 'longitude, decimal degrees')
    .option('--address <address>', 'street address, for tickets')
    .option('--interval <seconds>', 'reporting interval in seconds (default 900); silence for 3 intervals raises device.offline')
    .option('--attr <key=value>', 'an attribute, e.g. powerRating=60 (repeatable)', collect, [] as string[])
    .option('--dev-eui <hex>', 'a LoRaWAN device: its DevEUI, 16 hex digits (with --model); it gets no MQTT secret')
    .option('--model <name>', `its LoRaWAN model (with --dev-eui)${lorawanModels.length > 0 ? `: ${lorawanModels.map((m) => m.model.name).join(', ')}` : ''}`)
    .option('--json', 'print {"id":…,"password":…} only; for a LoRaWAN device, the stored record')
    .addHelpText('after', `\nExamples\n${addExamples()}`)
    .action(async (opts: DevicesAddOptions) => io.exit(await devicesAdd(devicesDir, opts, io, deps)));

  registerDevicesImportCommand(devices, devicesDir, io, deps);

  devices
    .command('list')
    .description('list the devices in the catalog')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples
  npx citypipe devices list
  CITYPIPE_DEVICES_DIR=fleets/big npx citypipe devices list --json | jq length`)
    .action(async (opts: { json?: boolean }) => io.exit(await devicesList(devicesDir, opts, io, deps)));

  devices
    .command('rotate-secret')
    .description('give a device a new secret (the old one stops working) and print it once')
    .argument('<id>', 'device id')
    .option('--json', 'print {"id":…,"password":…} only')
    .addHelpText('after', `
Examples
  npx citypipe devices rotate-secret bin-0042
  npx citypipe devices rotate-secret bin-0042 --json
Exit 4 when the id is not in the catalog.`)
    .action(async (id: string, opts: { json?: boolean }) => io.exit(await devicesRotateSecret(devicesDir, id, opts, io, deps)));

  devices
    .command('revoke')
    .description('revoke a device: it can no longer connect (a running service drops it at once); rotate-secret reinstates it')
    .argument('<id>', 'device id')
    .option('--json', 'print {"id":…,"revokedAt":…} only')
    .addHelpText('after', `
Examples
  npx citypipe devices revoke bin-0042
Exit 4 when the id is not in the catalog.`)
    .action(async (id: string, opts: { json?: boolean }) => io.exit(await devicesRevoke(devicesDir, id, opts, io, deps)));

  devices
    .command('account')
    .description('make an account (not a device): an operator or integration account that may subscribe to city/events/#, or a network server that may publish uplink events; prints its secret and its CITYPIPE_MQTT_ACCOUNTS entry')
    .argument('<name>', 'account name, [A-Za-z0-9_.-]{1,64}; its MQTT username (must not be a device id)')
    .option('--role <role>', `${ACCOUNT_ROLES.join(' or ')} (default operator)`)
    .option('--json', 'print {"name":…,"role":…,"password":…,"entry":…} only')
    .addHelpText('after', `
Examples
  npx citypipe devices account grafana
  npx citypipe devices account ops --json
  npx citypipe devices account chirpstack --role network-server`)
    .action(async (name: string, opts: { json?: boolean; role?: string }) => io.exit(await devicesAccount(name, opts, io)));

  devices
    .command('generate')
    .description('generate a fleet for simulation: a catalog file of N devices of all types over K districts of a real city, and their plaintext credentials (simulation only)')
    .requiredOption('--count <N>', `devices, 1..${MAX_GENERATED_DEVICES}`)
    .requiredOption('--districts <K>', 'districts, 1..N (a city\'s real districts first where known, e.g. Amsterdam\'s seven)')
    .option('--seed <S>', 'random seed: the same seed gives the same fleet (secrets excepted)', '1')
    .option('--city <name>', `${Object.keys(cities).join(', ')}`, 'amsterdam')
    .option('--out <file>', `catalog file to write (default: ${GENERATED_FILE} in CITYPIPE_DEVICES_DIR)`)
    .option('--force', 'replace an existing file')
    .option('--json', 'print {"catalog","credentials","devices","districts"} only')
    .addHelpText(
      'after',
      `
Writes two files:
  <out>                          the catalog: device records with scrypt hashes of their secrets
  .<name>.credentials.json       beside it: { "<device id>": "<secret>" } in PLAIN TEXT, mode 0600,
                                 FOR SIMULATION ONLY (\`citypipe simulate\` reads it). The leading dot
                                 keeps the catalog loader from reading it as device records.
Each secret costs one scrypt hash (~1 ms of CPU): 20 000 devices take about 20 s on two cores.

Examples
  npx citypipe devices generate --count 200 --districts 7
  npx citypipe devices generate --count 20000 --districts 12 --city berlin --out fleets/big/devices.json`,
    )
    .action(async (opts: DevicesGenerateOptions) => io.exit(await devicesGenerate(devicesDir, opts, io)));
}

function newDeviceFrom(opts: DevicesAddOptions, deps: CatalogDeps): NewDevice {
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
  if (opts.interval !== undefined) input.reportingIntervalS = parseInterval(opts.interval);
  if (opts.attr && opts.attr.length > 0) input.attributes = parseAttributes(opts.attr);
  if (opts.devEui !== undefined || opts.model !== undefined) input.lorawan = lorawanFrom(opts, type, deps.models ?? registeredModels);
  return input;
}

/** `--dev-eui` and `--model`, which come together. */
function lorawanFrom(opts: DevicesAddOptions, type: string, models: ModelRegistry): { devEui: string; model: string } {
  const known = models.modelsOf(type);
  const modelHint = known.length > 0 ? `models of ${type}: ${known.join(', ')}` : `citypipe has no LoRaWAN model of ${type} yet`;
  if (opts.devEui === undefined || opts.devEui === '') throw new UsageError(`--dev-eui is required with --model: the device's DevEUI, 16 hex digits`);
  if (opts.model === undefined || opts.model === '') throw new UsageError(`--model is required with --dev-eui (${modelHint})`);
  const devEui = opts.devEui.replace(/[-:\s]/g, '');
  if (!DEV_EUI.test(devEui)) throw new UsageError(`--dev-eui: expected 16 hex digits, got ${JSON.stringify(opts.devEui)}`);
  return { devEui, model: opts.model };
}

function lorawanNotice(record: DeviceRecord, file: string): string {
  const lorawan = record.lorawan!;
  return [
    `Registered ${record.id} (${record.type}, ${record.district}) in ${file}`,
    `as a LoRaWAN device: DevEUI ${lorawan.devEui}, model ${lorawan.model}.`,
    '',
    'It has no MQTT secret: its uplinks reach citypipe through the network server (ChirpStack or The',
    'Things Stack) and are matched to it by DevEUI. Register the same DevEUI there.',
    '',
  ].join('\n');
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
  const rows = devices.map((d) => [d.id, d.type, d.district, `${d.reportingIntervalS}s`, d.revokedAt ? 'revoked' : d.secretHash ? 'yes' : d.lorawan ? 'LoRaWAN' : 'no', d.address ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

/**
 * `devices add` examples: the first demo device of each registered type, with its attributes, and
 * one LoRaWAN device of the first registered model.
 */
function addExamples(): string {
  const line = (type: string, id: string, d: { district: string; lat: number; lon: number; attributes?: Readonly<Record<string, string | number>> }) => {
    const attrs = Object.entries(d.attributes ?? {}).map(([k, v]) => ` --attr ${k}=${v}`).join('');
    return `  npx citypipe devices add --id ${id} --type ${type} --district ${d.district} --lat ${d.lat} --lon ${d.lon}${attrs}`;
  };
  const examples = deviceTypeModules.flatMap((m) =>
    m.demo.devices.slice(0, 1).map((d, i) => line(m.definition.name, `ams-${m.fleet.idPart}-00042`, d) + (i === 0 && m === deviceTypeModules[1] ? ' --json' : '')),
  );
  const [lorawan] = lorawanModels;
  const demo = lorawan?.type.demo.devices[0];
  if (lorawan !== undefined && demo !== undefined) {
    const type = lorawan.type.definition.name;
    examples.push(`${line(type, `ams-${lorawan.type.fleet.idPart}-00043`, demo)} --dev-eui 24e124713c215987 --model ${lorawan.model.name}`);
  }
  return examples.join('\n');
}
