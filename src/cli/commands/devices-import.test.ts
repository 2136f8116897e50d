import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { modelRegistryOf } from '../../catalog/record-problems.js';
import type { DeviceRecord } from '../../catalog/types.js';
import type { DevicesIo } from './devices-common.js';
import { devicesImport, type DevicesImportOptions } from './devices-import.js';
import { devicesAdd, registerDevicesCommand } from './devices.js';

const fixtures = fileURLToPath(new URL('./testing/network-server-exports/', import.meta.url));
const fixture = (name: string) => path.join(fixtures, name);

/** The models of the fixtures, so that these tests do not depend on which codecs the type folders ship. */
const deps = {
  models: modelRegistryOf([
    { name: 'milesight-em400-udl', type: 'waste-bin' },
    { name: 'dragino-ldds75', type: 'waste-bin' },
    { name: 'nas-ul20xx', type: 'streetlight' },
  ]),
};

function memoryIo() {
  const io = { stdout: '', stderr: '', codes: [] as number[] } as { stdout: string; stderr: string; codes: number[] } & DevicesIo;
  io.out = (t) => void (io.stdout += t);
  io.err = (t) => void (io.stderr += t);
  io.exit = (c) => void io.codes.push(c);
  return io;
}

let dir: string;
let scratch: string;
const devicesDir = () => dir;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-import-catalog-'));
  scratch = await mkdtemp(path.join(tmpdir(), 'citypipe-import-exports-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

async function importFile(file: string, opts: DevicesImportOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = memoryIo();
  const code = await devicesImport(devicesDir, file, opts, io, deps);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** The ChirpStack fixture with `edit` applied to its parsed JSON, written to a scratch file. */
async function chirpstackVariant(edit: (list: { totalCount: number; result: Array<Record<string, unknown>> }) => void): Promise<string> {
  const list = JSON.parse(await readFile(fixture('chirpstack-v4-list-devices.json'), 'utf8')) as { totalCount: number; result: Array<Record<string, unknown>> };
  edit(list);
  const file = path.join(scratch, 'devices.json');
  await writeFile(file, JSON.stringify(list, null, 2));
  return file;
}

const tagsOf = (item: Record<string, unknown> | undefined) => item!['tags'] as Record<string, string>;

describe('devices import --format chirpstack', () => {
  it('imports a ChirpStack v4 device list: names become ids, tags become fields and attributes, the model gives the type', async () => {
    const r = await importFile(fixture('chirpstack-v4-list-devices.json'), { format: 'chirpstack', district: 'centrum' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Imported 4 LoRaWAN devices from ${fixture('chirpstack-v4-list-devices.json')} (ChirpStack v4) into ${path.join(dir, 'registered.json')}.`);
    expect(r.stdout).toMatch(/^ +2 {2}waste-bin milesight-em400-udl$/m);
    expect(r.stdout).toMatch(/^ +1 {2}streetlight nas-ul20xx$/m);

    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.all().map((d) => d.id)).toEqual(['Bin-Dam-1', 'bin-damrak-14', 'ldds75-Nieuwmarkt', 'lamp-ns-0007']);
    expect(catalog.byDevEui('24E124713C215987')).toEqual({
      id: 'Bin-Dam-1',
      type: 'waste-bin',
      location: { lat: 52.37318, lon: 4.8933 },
      district: 'centrum',
      address: 'Dam 1',
      reportingIntervalS: 900,
      attributes: { containerDepthMm: 1650, fullDistanceMm: 250, wasteKind: 'rest' },
      lorawan: { devEui: '24e124713c215987', model: 'milesight-em400-udl' },
    });
    // No district tag: --district fills it in.
    expect(catalog.get('bin-damrak-14')?.district).toBe('centrum');
    expect(catalog.get('lamp-ns-0007')).toMatchObject({ type: 'streetlight', district: 'noord', reportingIntervalS: 3600, attributes: { powerRating: 60 } });
    expect(catalog.all().every((d) => d.secretHash === undefined)).toBe(true);
  });

  it('with --dry-run checks everything and writes nothing', async () => {
    const r = await importFile(fixture('chirpstack-v4-list-devices.json'), { format: 'chirpstack', district: 'centrum', dryRun: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Would import 4 LoRaWAN devices');
    expect(r.stdout).toContain('nothing was written (--dry-run)');
    expect(await readdir(dir)).toEqual([]);
  });

  it('imports nothing when a row has a problem, and names each such row and what to do', async () => {
    const file = await chirpstackVariant((list) => {
      delete tagsOf(list.result[2])['latitude'];
      delete tagsOf(list.result[2])['longitude'];
      tagsOf(list.result[3])['model'] = 'nas-ul2030';
    });
    const r = await importFile(file, { format: 'chirpstack', district: 'centrum' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      'row 3 ("ldds75 / Nieuwmarkt" → ldds75-Nieuwmarkt, DevEUI a84041000181c5f1): no location: ChirpStack keeps no device location: give the device latitude and longitude tags in ChirpStack (Devices → the device → Configuration → Tags), then export again',
      'row 4 (lamp-ns-0007, DevEUI 70b3d5e75e0021c4): unknown LoRaWAN model "nas-ul2030" (known: milesight-em400-udl, dragino-ldds75, nas-ul20xx); or pass --type',
      'citypipe devices: nothing was imported: 2 of 4 rows have problems (above). Fix them in the network server or the file and run this again, or pass --skip-invalid to import the other 2.',
    ]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('with --skip-invalid imports the other rows and lists the skipped ones', async () => {
    const file = await chirpstackVariant((list) => {
      delete tagsOf(list.result[2])['latitude'];
    });
    const r = await importFile(file, { format: 'chirpstack', district: 'centrum', skipInvalid: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('row 3 ("ldds75 / Nieuwmarkt" → ldds75-Nieuwmarkt, DevEUI a84041000181c5f1): longitude without latitude');
    expect(r.stdout).toContain('Imported 3 LoRaWAN devices');
    expect(r.stdout).toContain('1 row skipped for the problems above (--skip-invalid).');
    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.size).toBe(3);
    expect(catalog.byDevEui('a84041000181c5f1')).toBeUndefined();
  });

  it('checks DevEUIs and ids against the catalog and against the other rows', async () => {
    const lorawanBin = { id: 'bin-0042', type: 'waste-bin', district: 'west', lat: '52.38', lon: '4.87', devEui: '70B3D5E75E0021C4', model: 'dragino-ldds75' } as const;
    expect(await devicesAdd(devicesDir, lorawanBin, memoryIo(), deps)).toBe(0);
    expect(await devicesAdd(devicesDir, { id: 'bin-damrak-14', type: 'waste-bin', district: 'centrum', lat: '52.37', lon: '4.89' }, memoryIo(), deps)).toBe(0);
    const file = await chirpstackVariant((list) => {
      list.result[2]!['devEui'] = '24E124713C215987';
    });
    const r = await importFile(file, { format: 'chirpstack', district: 'centrum' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`row 2 (bin-damrak-14, DevEUI 24e124713c2159a4): device id bin-damrak-14 already exists in ${path.join(dir, 'registered.json')} with another DevEUI; rename the device in the network server`);
    expect(r.stderr).toContain('row 3 ("ldds75 / Nieuwmarkt" → ldds75-Nieuwmarkt, DevEUI 24e124713c215987): row 1 has the same DevEUI');
    expect(r.stderr).toContain(`row 4 (lamp-ns-0007, DevEUI 70b3d5e75e0021c4): DevEUI 70b3d5e75e0021c4 is already registered to device bin-0042 (${path.join(dir, 'registered.json')})`);
    expect((await DeviceCatalog.load(dir, deps)).size).toBe(2);
  });

  it('leaves devices that are already in the catalog as they are, so an export can be imported again', async () => {
    expect((await importFile(fixture('chirpstack-v4-list-devices.json'), { format: 'chirpstack', district: 'centrum' })).code).toBe(0);
    const before = await readFile(path.join(dir, 'registered.json'), 'utf8');
    const r = await importFile(fixture('chirpstack-v4-list-devices.json'), { format: 'chirpstack', district: 'centrum', json: true });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      format: 'chirpstack',
      dryRun: false,
      file: null,
      imported: [],
      alreadyPresent: ['Bin-Dam-1', 'bin-damrak-14', 'ldds75-Nieuwmarkt', 'lamp-ns-0007'],
      skipped: [],
    });
    expect(await readFile(path.join(dir, 'registered.json'), 'utf8')).toBe(before);
  });

  it('says when the list is one page of more, and refuses a list without devices with how to ask for them', async () => {
    const paged = await chirpstackVariant((list) => {
      list.totalCount = 212;
    });
    const r = await importFile(paged, { format: 'chirpstack', district: 'centrum', dryRun: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("note: the export holds 4 of the application's 212 devices (ChirpStack lists a page at a time: ask with a larger limit, or with offset=4 for the rest)");

    const countOnly = path.join(scratch, 'count-only.json');
    await writeFile(countOnly, '{"totalCount": 212, "result": []}');
    const empty = await importFile(countOnly, { format: 'chirpstack', district: 'centrum' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('lists none of its 212 devices: ChirpStack answers only the count when the request has no limit');
  });

  it('reads pages joined into one array, and GetDevice answers', async () => {
    const list = JSON.parse(await readFile(fixture('chirpstack-v4-list-devices.json'), 'utf8')) as { result: Array<Record<string, unknown>> };
    const pages = [
      { totalCount: 4, result: list.result.slice(0, 2) },
      { totalCount: 4, result: list.result.slice(2) },
    ];
    const paged = path.join(scratch, 'pages.json');
    await writeFile(paged, JSON.stringify(pages));
    const r = await importFile(paged, { format: 'chirpstack', district: 'centrum', dryRun: true, json: true });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { imported: DeviceRecord[] }).imported.map((d) => d.id)).toEqual(['Bin-Dam-1', 'bin-damrak-14', 'ldds75-Nieuwmarkt', 'lamp-ns-0007']);

    const gets = path.join(scratch, 'gets.json');
    await writeFile(gets, JSON.stringify(list.result.map(({ devEui, name, tags }) => ({ device: { devEui, name, tags, applicationId: 'f1c8…' }, deviceStatus: null }))));
    const g = await importFile(gets, { format: 'chirpstack', district: 'centrum', dryRun: true, json: true });
    expect((JSON.parse(g.stdout) as { imported: DeviceRecord[] }).imported).toHaveLength(4);
  });
});

describe('devices import --format tts', () => {
  it('imports `ttn-lw-cli end-devices list` JSON: device ids, user or other locations, dashed attributes in camelCase', async () => {
    const r = await importFile(fixture('tts-v3-end-devices-list.json'), { format: 'tts', district: 'west' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.byDevEui('24e124713c215a01')).toEqual({
      id: 'bin-westerpark-01',
      type: 'waste-bin',
      location: { lat: 52.38611, lon: 4.87453 },
      district: 'west',
      reportingIntervalS: 900,
      attributes: { containerDepthMm: 1150, wasteKind: 'glass' },
      lorawan: { devEui: '24e124713c215a01', model: 'milesight-em400-udl' },
    });
    expect(catalog.get('ldds75-spaarndammerbuurt')).toMatchObject({ location: { lat: 52.38951, lon: 4.88012 }, lorawan: { model: 'dragino-ldds75' } });
  });

  it('reads the Console import JSON (one object after another) and never copies its keys', async () => {
    const r = await importFile(fixture('tts-v3-console-import.json'), { format: 'tts' });
    expect(r.code).toBe(0);
    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.get('lamp-zuid-0101')).toMatchObject({ type: 'streetlight', district: 'zuid', attributes: { powerRating: 75 }, lorawan: { devEui: '70b3d5e75e0022a0' } });
    expect(catalog.size).toBe(2);
    expect(await readFile(path.join(dir, 'registered.json'), 'utf8')).not.toMatch(/5B7C2E1A9D3F40A6B8C1E2D3F4A5B6C7|root_keys|app_key/i);
  });

  it('says how to export locations when the list has none', async () => {
    const bare = path.join(scratch, 'bare.json');
    await writeFile(bare, JSON.stringify([{ ids: { device_id: 'bin-1', application_ids: { application_id: 'ams' }, dev_eui: '24E124713C215A09' }, created_at: '2025-02-11T10:02:13.404Z' }]));
    const r = await importFile(bare, { format: 'tts', district: 'west', model: 'dragino-ldds75' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('row 1 (bin-1, DevEUI 24e124713c215a09): no location: the export has no locations or attributes at all: ttn-lw-cli lists only ids unless asked, so export with `ttn-lw-cli end-devices list APP --name --attributes --locations`');
  });

  it('imports the Console bulk-import CSV: its own columns ignored, citypipe columns read, a missing id is eui-<deveui>', async () => {
    const r = await importFile(fixture('tts-v3-bulk-import.csv'), { format: 'tts', attr: ['collectionRound=tuesday'] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.all().map((d) => d.id)).toEqual(['bin-oost-01', 'eui-a84041000181c710', 'bin-oost-03']);
    expect(catalog.get('bin-oost-01')).toEqual({
      id: 'bin-oost-01',
      type: 'waste-bin',
      location: { lat: 52.36339, lon: 4.93817 },
      district: 'oost',
      address: 'Javaplein 1; by the tram stop',
      reportingIntervalS: 900,
      attributes: { collectionRound: 'tuesday', containerDepthMm: 1100, wasteKind: 'rest' },
      lorawan: { devEui: '24e124713c215b01', model: 'milesight-em400-udl' },
    });
    const stored = await readFile(path.join(dir, 'registered.json'), 'utf8');
    expect(stored).not.toContain('7F3A9C21D4E5B6A708192A3B4C5D6E7F');
    expect(stored).not.toContain('EU_863_870_TTN');
  });

  it('numbers CSV rows as a spreadsheet does (the header is row 1)', async () => {
    const csv = (await readFile(fixture('tts-v3-bulk-import.csv'), 'utf8')).replace('52.36145;4.92703', ';4.92703').replace(';24E124713C215B03;', ';24E124713C215B0;');
    const file = path.join(scratch, 'bins.csv');
    await writeFile(file, csv);
    const r = await importFile(file, { format: 'tts' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('row 3 (eui-a84041000181c710, DevEUI a84041000181c710): longitude without latitude');
    expect(r.stderr).toContain('row 4 (bin-oost-03, DevEUI 24E124713C215B0): DevEUI "24E124713C215B0": must be 16 hex digits');
  });

  it('refuses a file that is not an export of the format (exit 2)', async () => {
    const r = await importFile(fixture('chirpstack-v4-list-devices.json'), { format: 'tts' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not a The Things Stack v3 export: it looks like a ChirpStack device list ({"totalCount", "result"}); use --format chirpstack');
    const swapped = await importFile(fixture('tts-v3-end-devices-list.json'), { format: 'chirpstack' });
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain('is not a ChirpStack v4 export: it looks like The Things Stack end devices (ids.dev_eui); use --format tts');
    const csv = path.join(scratch, 'other.csv');
    await writeFile(csv, 'serial,eui\nA1,24E124713C215A09\n');
    const wrong = await importFile(csv, { format: 'tts' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is not a The Things Stack v3 export: no dev_eui column in the header (serial,eui); a The Things Stack CSV starts like id;dev_eui;join_eui;…');
    const asChirpstack = await importFile(fixture('tts-v3-bulk-import.csv'), { format: 'chirpstack' });
    expect(asChirpstack.code).toBe(2);
    expect(asChirpstack.stderr).toContain('is not a ChirpStack v4 export: not JSON');
  });
});

describe('devices import options', () => {
  const usage: Array<[string, string | undefined, DevicesImportOptions, string]> = [
    ['no file', undefined, { format: 'tts' }, 'FILE is required'],
    ['an unknown format', 'devices.json', { format: 'loriot' }, '--format: expected one of chirpstack, tts, got "loriot"'],
    ['an unknown type', 'devices.json', { format: 'tts', type: 'toaster' }, '--type: unknown device type "toaster"'],
    ['a bad attribute', 'devices.json', { format: 'tts', attr: ['depth'] }, '--attr: expected key=value, got "depth"'],
    ['a missing file', path.join('no', 'such', 'file.json'), { format: 'tts' }, 'cannot be read'],
  ];
  it.each(usage)('exits 2 on %s', async (_name, file, opts, message) => {
    const io = memoryIo();
    expect(await devicesImport(devicesDir, file, opts, io, deps)).toBe(2);
    expect(io.stderr).toContain(message);
    expect(await readdir(dir)).toEqual([]);
  });

  it('is wired through commander as `devices import FILE --format …`', async () => {
    const io = memoryIo();
    const program = new Command().exitOverride().configureOutput({ writeErr: (t) => io.err(t), writeOut: (t) => io.out(t) });
    registerDevicesCommand(program, devicesDir, io, deps);
    const argv = ['node', 'citypipe', 'devices', 'import', fixture('tts-v3-end-devices-list.json'), '--format', 'tts', '--district', 'west', '--attr', 'owner=city', '--attr', 'contract=2025-17'];
    await program.parseAsync([...argv, '--skip-invalid', '--json']);
    expect(io.codes).toEqual([0]);
    const out = JSON.parse(io.stdout) as { file: string; imported: DeviceRecord[] };
    expect(out.file).toBe(path.join(dir, 'registered.json'));
    expect(out.imported.map((d) => [d.id, d.attributes['owner'], d.attributes['contract']])).toEqual([
      ['bin-westerpark-01', 'city', '2025-17'],
      ['bin-westerpark-02', 'city', '2025-17'],
      ['ldds75-spaarndammerbuurt', 'city', '2025-17'],
    ]);
  });
});
