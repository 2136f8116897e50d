/**
 * `citypipe devices import FILE --format chirpstack|tts`: onboards the LoRaWAN devices of a network
 * server's export (hundreds at once) into the catalog. Each device is checked on its own and against
 * the catalog; the rows with problems are listed by row number, and nothing is written unless every
 * row is fine (or `--skip-invalid` says to leave those rows out). Devices already in the catalog under
 * the same id and DevEUI are left as they are, so an export can be imported again after devices were
 * added to the network server.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { addDevices } from '../../catalog/catalog-edits.js';
import { parseChirpStackExport } from '../../catalog/import/chirpstack-export.js';
import { ExportFileError, type ParsedExport } from '../../catalog/import/export-file.js';
import type { ImportDefaults } from '../../catalog/import/exported-device.js';
import { planImport, type ImportPlan, type RowProblem } from '../../catalog/import/import-plan.js';
import { parseTtsExport } from '../../catalog/import/tts-export.js';
import { registeredModels } from '../../catalog/record-problems.js';
import type { DeviceRecord } from '../../catalog/types.js';
import { deviceTypeNames } from '../../device-types/registry.js';
import { plain } from '../colour.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { collect, parseAttributes, parseInterval, run, UsageError, type CatalogDeps, type DevicesIo } from './devices-common.js';

/** The exports `--format` names, and how each is read. */
const FORMATS: Readonly<Record<string, { readonly server: string; readonly parse: (text: string) => ParsedExport }>> = {
  chirpstack: { server: 'ChirpStack v4', parse: parseChirpStackExport },
  tts: { server: 'The Things Stack v3', parse: parseTtsExport },
};

/** `devices import` options, as strings the way commander passes them. */
export interface DevicesImportOptions {
  format?: string;
  type?: string;
  district?: string;
  model?: string;
  interval?: string;
  attr?: string[];
  dryRun?: boolean;
  skipInvalid?: boolean;
  json?: boolean;
}

/**
 * Imports an export. Exit 0 when the devices were added (or, with `--dry-run`, would be); 1 when rows
 * have problems (nothing written) or the catalog refuses; 2 for bad options or a file that is not an
 * export of the given format.
 */
export async function devicesImport(
  devicesDir: () => string,
  file: string | undefined,
  opts: DevicesImportOptions,
  io: DevicesIo,
  deps: CatalogDeps = {},
): Promise<number> {
  return run(io, async () => {
    if (file === undefined || file === '') throw new UsageError('FILE is required: the network server export to import');
    const format = FORMATS[opts.format ?? ''];
    if (format === undefined) throw new UsageError(`--format: expected one of ${Object.keys(FORMATS).join(', ')}, got ${JSON.stringify(opts.format ?? '')}`);
    const defaults = defaultsFrom(opts);
    const models = deps.models ?? registeredModels;

    const parsed = await readExport(file, format);
    const dir = devicesDir();
    const catalog = await DeviceCatalog.load(dir, { models });
    const plan = planImport(parsed, defaults, catalog, models);
    const dim = (io.errColours ?? plain).dim;
    for (const note of parsed.notes) io.err(dim(`note: ${note}`) + '\n');

    if (plan.problems.length > 0 && !opts.skipInvalid) {
      io.err(problemLines(plan.problems));
      throw new CliError(
        ExitCode.failure,
        `nothing was imported: ${plan.problems.length} of ${parsed.devices.length} rows have problems (above). Fix them in the network server or the file and run this again${
          plan.ready.length > 0 ? `, or pass --skip-invalid to import the other ${plan.ready.length}` : ''
        }.`,
      );
    }
    if (plan.problems.length > 0 && !opts.json) io.err(problemLines(plan.problems));

    let written: { records: readonly DeviceRecord[]; file: string | undefined };
    if (opts.dryRun || plan.ready.length === 0) written = { records: plan.ready.map((r) => r.record), file: undefined };
    else {
      const { added, file: into } = await addDevices(dir, plan.ready.map((r) => r.record), { models });
      written = { records: added.map((a) => a.record), file: into };
    }

    if (opts.json) {
      io.out(
        JSON.stringify({
          format: opts.format,
          dryRun: opts.dryRun === true,
          file: written.file ?? null,
          imported: written.records,
          alreadyPresent: plan.present.map((p) => p.id),
          skipped: plan.problems.map((p) => ({ row: p.row, problems: p.problems })),
        }) + '\n',
      );
      return;
    }
    io.out(summary(plan, written, format.server, file, opts.dryRun === true));
  });
}

function defaultsFrom(opts: DevicesImportOptions): ImportDefaults {
  if (opts.type !== undefined && !(deviceTypeNames as readonly string[]).includes(opts.type)) {
    throw new UsageError(`--type: unknown device type ${JSON.stringify(opts.type)}; one of ${deviceTypeNames.join(', ')}`);
  }
  return {
    ...(opts.type !== undefined ? { type: opts.type } : {}),
    ...(opts.district !== undefined && opts.district !== '' ? { district: opts.district } : {}),
    ...(opts.model !== undefined && opts.model !== '' ? { model: opts.model } : {}),
    ...(opts.interval !== undefined ? { reportingIntervalS: parseInterval(opts.interval) } : {}),
    ...(opts.attr && opts.attr.length > 0 ? { attributes: parseAttributes(opts.attr) } : {}),
  };
}

async function readExport(file: string, format: (typeof FORMATS)[string]): Promise<ParsedExport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file} cannot be read: ${(err as Error).message}`);
  }
  try {
    const parsed = format.parse(text);
    if (parsed.devices.length === 0) throw new ExportFileError('the export lists no devices');
    return parsed;
  } catch (err) {
    if (err instanceof ExportFileError) throw new UsageError(`${file} is not a ${format.server} export: ${err.message}`);
    throw err;
  }
}

function problemLines(problems: readonly RowProblem[]): string {
  return problems.map((p) => `${p.label}: ${p.problems.join('; ')}\n`).join('');
}

function summary(plan: ImportPlan, written: { records: readonly DeviceRecord[]; file: string | undefined }, server: string, file: string, dryRun: boolean): string {
  const n = written.records.length;
  const devices = (k: number) => `${k} LoRaWAN device${k === 1 ? '' : 's'}`;
  const lines: string[] = [];
  if (dryRun) lines.push(`Would import ${devices(n)} from ${file} (${server}); nothing was written (--dry-run).`);
  else if (n === 0) lines.push(`Nothing to import from ${file} (${server}).`);
  else lines.push(`Imported ${devices(n)} from ${file} (${server}) into ${written.file}.`);
  const byModel = new Map<string, number>();
  for (const r of written.records) {
    const key = `${r.type} ${r.lorawan?.model ?? ''}`;
    byModel.set(key, (byModel.get(key) ?? 0) + 1);
  }
  for (const [key, count] of byModel) lines.push(`  ${String(count).padStart(5)}  ${key}`);
  if (plan.present.length > 0) lines.push(`${plan.present.length} already in the catalog (same id and DevEUI), left as they are.`);
  if (plan.problems.length > 0) lines.push(`${plan.problems.length} row${plan.problems.length === 1 ? '' : 's'} skipped for the problems above (--skip-invalid).`);
  if (n > 0 && !dryRun) {
    lines.push('', 'They have no MQTT secrets: their uplinks reach citypipe through the network server and are matched by DevEUI.');
  }
  return lines.join('\n') + '\n';
}

/** Adds `devices import` to the `devices` command. */
export function registerDevicesImportCommand(devices: Command, devicesDir: () => string, io: DevicesIo, deps: CatalogDeps = {}): void {
  devices
    .command('import')
    .description('onboard the LoRaWAN devices of a ChirpStack or The Things Stack export into the catalog, all at once or none')
    .argument('<file>', 'the export: ChirpStack GET /api/devices JSON; The Things Stack end-devices JSON or bulk-import CSV')
    .requiredOption('--format <format>', `the network server it came from: ${Object.keys(FORMATS).join(', ')}`)
    .option('--type <type>', `device type for devices that do not say (default: their model's): ${deviceTypeNames.join(', ')}`)
    .option('--district <district>', 'district for devices without a district tag or attribute')
    .option('--model <name>', 'LoRaWAN model for devices without a model tag or attribute')
    .option('--interval <seconds>', 'reporting interval in seconds for devices without a reportingIntervalS tag (default 900); silence for 3 intervals raises device.offline')
    .option('--attr <key=value>', 'an attribute every device gets unless it has its own (repeatable)', collect, [] as string[])
    .option('--dry-run', 'check everything and say what would be imported; write nothing')
    .option('--skip-invalid', 'import the rows without problems and list the others, instead of importing nothing')
    .option('--json', 'print {"format","dryRun","file","imported":[records],"alreadyPresent":[ids],"skipped":[{row,problems}]} only')
    .addHelpText(
      'after',
      `
Each device's name (ChirpStack) or device id (The Things Stack) becomes its catalog id (characters
outside [A-Za-z0-9_.-] become -). Its tags (ChirpStack), attributes (The Things Stack JSON) or extra
columns (The Things Stack CSV) give model, type, district, address, latitude, longitude and
reportingIntervalS; every other one becomes an attribute (container-depth-mm → containerDepthMm).
The options above are defaults beneath them. A device needs a location: The Things Stack's
locations.user, or latitude and longitude tags/columns (ChirpStack keeps none).

Exports
  ChirpStack v4       curl -H "Authorization: Bearer $TOKEN" \\
                        "$CHIRPSTACK/api/devices?applicationId=$APP&limit=1000" > devices.json
  The Things Stack    ttn-lw-cli end-devices list $APP --name --attributes --locations --limit 1000 > devices.json
                      or the Console's bulk-import CSV (id;dev_eui;join_eui;…) with latitude;longitude columns

Examples
  npx citypipe devices import devices.json --format chirpstack --district noord --dry-run
  npx citypipe devices import bins.csv --format tts --type waste-bin --district west --attr containerDepthMm=1100
  npx citypipe devices import devices.json --format tts --skip-invalid --json`,
    )
    .action(async (file: string, opts: DevicesImportOptions) => io.exit(await devicesImport(devicesDir, file, opts, io, deps)));
}
