import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { deviceTypeNames } from '../../device-types/registry.js';
import { CitypipeError, ErrorCodes } from '../../errors/catalog.js';
import { loadCredentials } from '../../../simulators/credentials.js';
import { devicesAccount, devicesAdd, devicesGenerate, devicesList, devicesRevoke, devicesRotateSecret, registerDevicesCommand, type DevicesAddOptions, type DevicesIo } from './devices.js';
import { parseAccounts } from '../../security/accounts.js';
import { verifySecret } from '../../catalog/secrets.js';
import { modelRegistryOf } from '../../catalog/record-problems.js';

function memoryIo() {
  const io = { stdout: '', stderr: '', codes: [] as number[] } as { stdout: string; stderr: string; codes: number[] } & DevicesIo;
  io.out = (t) => void (io.stdout += t);
  io.err = (t) => void (io.stderr += t);
  io.exit = (c) => void io.codes.push(c);
  return io;
}

const addOpts: DevicesAddOptions = {
  id: 'bin-0100',
  type: 'waste-bin',
  district: 'noord',
  lat: '52.3905',
  lon: '4.9185',
  address: 'Van der Pekstraat 1',
};

let dir: string;
const devicesDir = () => dir;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-devices-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('devices add', () => {
  it('registers the device and prints its secret once, with a warning to store it', async () => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, addOpts, io)).toBe(0);
    expect(io.stderr).toBe('');
    const password = /MQTT password: (\S+)/.exec(io.stdout)?.[1];
    expect(password).toBeDefined();
    expect(io.stdout).toContain('MQTT username: bin-0100');
    expect(io.stdout).toContain('Store this password now');
    expect(io.stdout).toContain('cannot show it again');
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.get('bin-0100')).toMatchObject({ district: 'noord', location: { lat: 52.3905, lon: 4.9185 }, address: 'Van der Pekstraat 1' });
    expect(catalog.authenticate('bin-0100', password!)).toBe('ok');
    expect(await readFile(path.join(dir, 'registered.json'), 'utf8')).not.toContain(password!);
  });

  it('with --json prints exactly {"id","password"} on stdout', async () => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, { ...addOpts, json: true, interval: '600', attr: ['binCapacity=1100', 'wasteKind=paper', 'underground=true'] }, io)).toBe(0);
    expect(io.stdout).toMatch(/^\{"id":"bin-0100","password":"[A-Za-z0-9_-]+"\}\n$/);
    const { id, password } = JSON.parse(io.stdout) as { id: string; password: string };
    expect(Object.keys(JSON.parse(io.stdout) as object)).toEqual(['id', 'password']);
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.authenticate(id, password)).toBe('ok');
    expect(catalog.get(id)).toMatchObject({ reportingIntervalS: 600, attributes: { binCapacity: 1100, wasteKind: 'paper', underground: true } });
  });

  const usage: Array<[string, DevicesAddOptions, string]> = [
    ['a latitude that is not a number', { ...addOpts, lat: 'north' }, '--lat: expected latitude in decimal degrees, -90..90, got "north"'],
    ['a hex longitude', { ...addOpts, lon: '0x4' }, '--lon: expected longitude'],
    ['an empty latitude', { ...addOpts, lat: '' }, '--lat is required'],
    ['a latitude out of range', { ...addOpts, lat: '95' }, 'new device (bin-0100): location.lat: must be ≤ 90, got 95'],
    ['an unknown type', { ...addOpts, type: 'toaster' }, `--type: unknown device type "toaster"; one of ${deviceTypeNames.join(', ')}`],
    ['a bad id', { ...addOpts, id: 'bin/1' }, 'id: must match [A-Za-z0-9_.-]{1,64}'],
    ['a fractional interval', { ...addOpts, interval: '1.5' }, '--interval: expected whole seconds ≥ 1, got "1.5"'],
    ['an attribute without =', { ...addOpts, attr: ['powerRating'] }, '--attr: expected key=value, got "powerRating"'],
    ['a missing district', { ...addOpts, district: undefined }, '--district is required'],
  ];
  it.each(usage)('exits 2 on %s and writes nothing', async (_name, opts, message) => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, opts, io)).toBe(2);
    expect(io.stdout).toBe('');
    expect(io.stderr).toContain(message);
    expect(await readdir(dir)).toEqual([]);
  });

  it('exits 1 when the id is already taken', async () => {
    expect(await devicesAdd(devicesDir, addOpts, memoryIo())).toBe(0);
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, { ...addOpts, json: true }, io)).toBe(1);
    expect(io.stdout).toBe('');
    expect(io.stderr).toContain('device id bin-0100 already exists in');
    expect(io.stderr).toContain(ErrorCodes.CATALOG_DUPLICATE.code);
  });

  it('exits 1 when the catalog folder is missing, saying how to fix it', async () => {
    const io = memoryIo();
    expect(await devicesAdd(() => path.join(dir, 'missing'), addOpts, io)).toBe(1);
    expect(io.stderr).toContain('CITYPIPE_DEVICES_DIR');
  });

  it('exits 2 when the configuration is invalid', async () => {
    const io = memoryIo();
    const badConfig = () => {
      throw new CitypipeError(ErrorCodes.CONFIG_INVALID, 'CITYPIPE_DEVICES_DIR: must not be empty');
    };
    expect(await devicesAdd(badConfig, addOpts, io)).toBe(2);
    expect(io.stderr).toContain('CITYPIPE_DEVICES_DIR: must not be empty');
  });
});

describe('devices add of a LoRaWAN device (--dev-eui, --model)', () => {
  const deps = {
    models: modelRegistryOf([
      { name: 'milesight-em400-udl', type: 'waste-bin' },
      { name: 'dragino-ldds75', type: 'waste-bin' },
      { name: 'nas-ul20xx', type: 'streetlight' },
    ]),
  };
  const lorawanOpts: DevicesAddOptions = { ...addOpts, devEui: '24E1-2471-3C21-5987', model: 'milesight-em400-udl', attr: ['containerDepthMm=1650', 'fullDistanceMm=250'] };

  it('registers it without a secret and says how its uplinks arrive', async () => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, lorawanOpts, io, deps)).toBe(0);
    expect(io.stderr).toBe('');
    expect(io.stdout).not.toMatch(/password/i);
    expect(io.stdout).toContain('as a LoRaWAN device: DevEUI 24e124713c215987, model milesight-em400-udl');
    expect(io.stdout).toContain('no MQTT secret');
    const catalog = await DeviceCatalog.load(dir, deps);
    expect(catalog.byDevEui('24E124713C215987')).toMatchObject({ id: 'bin-0100', attributes: { containerDepthMm: 1650, fullDistanceMm: 250 } });
    expect(catalog.get('bin-0100')?.secretHash).toBeUndefined();
    expect(await readFile(path.join(dir, 'registered.json'), 'utf8')).not.toContain('secretHash');

    const list = memoryIo();
    expect(await devicesList(devicesDir, {}, list, deps)).toBe(0);
    expect(list.stdout).toMatch(/^bin-0100\s+waste-bin\s+noord\s+900s\s+LoRaWAN\s+Van der Pekstraat 1$/m);
  });

  it('with --json prints the stored record', async () => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, { ...lorawanOpts, json: true }, io, deps)).toBe(0);
    const printed = JSON.parse(io.stdout) as Record<string, unknown>;
    expect(printed).toEqual({
      id: 'bin-0100',
      type: 'waste-bin',
      location: { lat: 52.3905, lon: 4.9185 },
      district: 'noord',
      address: 'Van der Pekstraat 1',
      reportingIntervalS: 900,
      attributes: { containerDepthMm: 1650, fullDistanceMm: 250 },
      lorawan: { devEui: '24e124713c215987', model: 'milesight-em400-udl' },
    });
  });

  const usage: Array<[string, DevicesAddOptions, string]> = [
    ['a DevEUI without a model', { ...addOpts, devEui: '24e124713c215987' }, '--model is required with --dev-eui (models of waste-bin: milesight-em400-udl, dragino-ldds75)'],
    ['a model without a DevEUI', { ...addOpts, model: 'dragino-ldds75' }, '--dev-eui is required with --model'],
    ['a DevEUI of 15 digits', { ...lorawanOpts, devEui: '24e124713c21598' }, '--dev-eui: expected 16 hex digits, got "24e124713c21598"'],
    ['an unknown model', { ...lorawanOpts, model: 'em400' }, 'lorawan.model: unknown LoRaWAN model "em400"; models of waste-bin: milesight-em400-udl, dragino-ldds75'],
    ['a model of another type', { ...lorawanOpts, type: 'streetlight' }, 'lorawan.model: milesight-em400-udl is a model of waste-bin, not of streetlight; models of streetlight: nas-ul20xx'],
  ];
  it.each(usage)('exits 2 on %s and writes nothing', async (_name, opts, message) => {
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, opts, io, deps)).toBe(2);
    expect(io.stdout).toBe('');
    expect(io.stderr).toContain(message);
    expect(await readdir(dir)).toEqual([]);
  });

  it('exits 1 when another device has the DevEUI, naming it', async () => {
    expect(await devicesAdd(devicesDir, lorawanOpts, memoryIo(), deps)).toBe(0);
    const io = memoryIo();
    expect(await devicesAdd(devicesDir, { ...lorawanOpts, id: 'bin-0101', devEui: '24e124713c215987' }, io, deps)).toBe(1);
    expect(io.stderr).toContain('LoRaWAN DevEUI 24e124713c215987 of bin-0101 is already registered to device bin-0100');
    expect(io.stderr).toContain(ErrorCodes.CATALOG_DUPLICATE.code);
  });

  it('rotate-secret refuses it; revoke marks it and says how to reinstate it', async () => {
    expect(await devicesAdd(devicesDir, lorawanOpts, memoryIo(), deps)).toBe(0);
    const rotate = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'bin-0100', {}, rotate, deps)).toBe(1);
    expect(rotate.stdout).toBe('');
    expect(rotate.stderr).toContain('bin-0100 is a LoRaWAN device (DevEUI 24e124713c215987): it reaches citypipe through its network server and has no MQTT secret to rotate');
    const revoke = memoryIo();
    expect(await devicesRevoke(devicesDir, 'bin-0100', {}, revoke, deps)).toBe(0);
    expect(revoke.stdout).toContain('remove revokedAt from its record');
    expect(revoke.stdout).not.toContain('rotate-secret');
  });
});

describe('devices list', () => {
  it('prints a table, or JSON without hashes', async () => {
    await devicesAdd(devicesDir, addOpts, memoryIo());
    await writeFile(
      path.join(dir, 'lights.json'),
      JSON.stringify([{ id: 'light-1', type: 'streetlight', location: { lat: 52.37, lon: 4.89 }, district: 'centrum', reportingIntervalS: 600 }]),
    );
    const io = memoryIo();
    expect(await devicesList(devicesDir, {}, io)).toBe(0);
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+DISTRICT\s+INTERVAL\s+SECRET\s+ADDRESS$/);
    expect(lines[1]).toMatch(/^light-1\s+streetlight\s+centrum\s+600s\s+no$/);
    expect(lines[2]).toMatch(/^bin-0100\s+waste-bin\s+noord\s+900s\s+yes\s+Van der Pekstraat 1$/);
    expect(lines.at(-1)).toBe(`2 devices in ${dir}`);

    const json = memoryIo();
    expect(await devicesList(devicesDir, { json: true }, json)).toBe(0);
    expect(json.stdout).not.toContain('scrypt$');
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r['id'], r['hasSecret'], r['file']])).toEqual([
      ['light-1', false, path.join(dir, 'lights.json')],
      ['bin-0100', true, path.join(dir, 'registered.json')],
    ]);
  });

  it('exits 1 with the catalog error when a file is invalid', async () => {
    await writeFile(path.join(dir, 'bad.json'), '{}');
    const io = memoryIo();
    expect(await devicesList(devicesDir, {}, io)).toBe(1);
    expect(io.stderr).toContain('bad.json: must be a JSON array');
  });
});

describe('devices rotate-secret', () => {
  it('prints a new secret and the old one stops working', async () => {
    const first = memoryIo();
    await devicesAdd(devicesDir, { ...addOpts, json: true }, first);
    const old = (JSON.parse(first.stdout) as { password: string }).password;

    const io = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'bin-0100', { json: true }, io)).toBe(0);
    const { id, password } = JSON.parse(io.stdout) as { id: string; password: string };
    expect(id).toBe('bin-0100');
    expect(password).not.toBe(old);
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.authenticate(id, password)).toBe('ok');
    expect(catalog.authenticate(id, old)).toBe('bad_secret');

    const human = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'bin-0100', {}, human)).toBe(0);
    expect(human.stdout).toContain('Store this password now');
  });

  it('exits 4 (not found) for an unknown device and 2 for an impossible id', async () => {
    const unknown = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'bin-0404', {}, unknown)).toBe(4);
    expect(unknown.stderr).toContain('no device bin-0404 in the catalog');
    const bad = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'a b', {}, bad)).toBe(2);
  });
});

describe('devices revoke', () => {
  it('revokes the device (its secret stops working, its record stays) and rotate-secret reinstates it', async () => {
    const first = memoryIo();
    await devicesAdd(devicesDir, { ...addOpts, json: true }, first);
    const secret = (JSON.parse(first.stdout) as { password: string }).password;

    const io = memoryIo();
    expect(await devicesRevoke(devicesDir, 'bin-0100', {}, io)).toBe(0);
    expect(io.stdout).toContain('Revoked bin-0100');
    expect(io.stdout).toContain('citypipe devices rotate-secret bin-0100');
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.authenticate('bin-0100', secret)).toBe('revoked');
    expect(catalog.get('bin-0100')?.district).toBe('noord');

    const list = memoryIo();
    await devicesList(devicesDir, {}, list);
    expect(list.stdout).toMatch(/bin-0100 .* revoked/);

    const rotated = memoryIo();
    expect(await devicesRotateSecret(devicesDir, 'bin-0100', { json: true }, rotated)).toBe(0);
    expect((await DeviceCatalog.load(dir)).authenticate('bin-0100', (JSON.parse(rotated.stdout) as { password: string }).password)).toBe('ok');
  });

  it('exits 4 (not found) for an unknown device and 2 for an impossible id', async () => {
    expect(await devicesRevoke(devicesDir, 'bin-0404', {}, memoryIo())).toBe(4);
    expect(await devicesRevoke(devicesDir, 'a b', {}, memoryIo())).toBe(2);
  });
});

describe('devices account', () => {
  it('prints a secret and a CITYPIPE_MQTT_ACCOUNTS entry that verifies it', async () => {
    const io = memoryIo();
    expect(await devicesAccount('grafana', { json: true }, io)).toBe(0);
    const { name, password, entry } = JSON.parse(io.stdout) as { name: string; password: string; entry: string };
    expect(name).toBe('grafana');
    const parsed = parseAccounts(entry);
    expect(parsed.ok).toBe(true);
    const [account] = (parsed as { accounts: { name: string; secretHash: string }[] }).accounts;
    expect(account!.name).toBe('grafana');
    expect(verifySecret(password, account!.secretHash)).toBe(true);
    expect(entry).not.toContain(password);

    const human = memoryIo();
    expect(await devicesAccount('ops', {}, human)).toBe(0);
    expect(human.stdout).toMatch(/CITYPIPE_MQTT_ACCOUNTS/);
    expect(human.stdout).toMatch(/^  ops:scrypt\$/m);
    expect(await devicesAccount('bad name', {}, memoryIo())).toBe(2);
  });

  it('makes a network-server account whose entry carries its role', async () => {
    const io = memoryIo();
    expect(await devicesAccount('chirpstack', { json: true, role: 'network-server' }, io)).toBe(0);
    const { role, password, entry } = JSON.parse(io.stdout) as { role: string; password: string; entry: string };
    expect(role).toBe('network-server');
    const parsed = parseAccounts(entry) as { ok: true; accounts: { name: string; role: string; secretHash: string }[] };
    expect(parsed.accounts).toEqual([{ name: 'chirpstack', role: 'network-server', secretHash: expect.stringMatching(/^scrypt\$/) }]);
    expect(verifySecret(password, parsed.accounts[0]!.secretHash)).toBe(true);
    const human = memoryIo();
    expect(await devicesAccount('chirpstack', { role: 'network-server' }, human)).toBe(0);
    expect(human.stdout).toMatch(/publish uplink events on application\/\+\/device\/\+\/event\/\+/);
    const bad = memoryIo();
    expect(await devicesAccount('gw', { role: 'gateway' }, bad)).toBe(2);
    expect(bad.stderr).toMatch(/--role: must be one of operator, network-server/);
  });
});

describe('registerDevicesCommand', () => {
  function program(io: DevicesIo) {
    const p = new Command().exitOverride().configureOutput({ writeErr: (t) => io.err(t), writeOut: (t) => io.out(t) });
    registerDevicesCommand(p, devicesDir, io);
    return p;
  }
  const argv = (...args: string[]) => ['node', 'citypipe', 'devices', ...args];

  it('wires the options through commander', async () => {
    const io = memoryIo();
    await program(io).parseAsync(
      argv('add', '--id', 'light-7', '--type', 'streetlight', '--district', 'zuid', '--lat', '52.35', '--lon', '4.88', '--attr', 'powerRating=60', '--attr', 'lampType=LED', '--json'),
    );
    expect(io.codes).toEqual([0]);
    expect(JSON.parse(io.stdout)).toMatchObject({ id: 'light-7' });
    expect((await DeviceCatalog.load(dir)).get('light-7')?.attributes).toEqual({ powerRating: 60, lampType: 'LED' });

    const list = memoryIo();
    await program(list).parseAsync(argv('list', '--json'));
    expect(list.codes).toEqual([0]);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(1);
  });

  it('leaves a missing mandatory option to commander as a usage error', async () => {
    const io = memoryIo();
    const err = await program(io)
      .parseAsync(argv('add', '--id', 'x', '--type', 'streetlight', '--district', 'zuid', '--lat', '52'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    expect(io.stderr).toContain("required option '--lon <lon>' not specified");
    expect(io.codes).toEqual([]);
  });
});

describe('devices generate', () => {
  /** scrypt costs ~1 ms a device; where the hash is not under test, a stand-in. */
  const cheap = { hash: async (secret: string) => `scrypt$1024$8$1$c2FsdHNhbHQ$${Buffer.from(secret).toString('base64url')}` };

  it('writes a catalog into the catalog folder and its plaintext credentials beside it, which the catalog loader skips', async () => {
    await devicesAdd(devicesDir, addOpts, memoryIo());
    const io = memoryIo();
    expect(await devicesGenerate(devicesDir, { count: '60', districts: '4', seed: '3' }, io)).toBe(0);
    const catalogFile = path.join(dir, 'generated.json');
    const credentialsFile = path.join(dir, '.generated.credentials.json');
    expect(io.stdout).toContain(`catalog      ${catalogFile}`);
    expect(io.stdout).toContain(`credentials  ${credentialsFile}`);
    expect(io.stdout).toContain('FOR SIMULATION ONLY');
    expect(io.stdout).toMatch(/Generated 60 devices in 4 districts around amsterdam \(seed 3\)/);

    // The service's loader still reads the folder: the generated devices plus the registered one.
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.size).toBe(61);
    const credentials = loadCredentials(credentialsFile);
    expect(credentials.size).toBe(60);
    for (const [id, secret] of [...credentials].slice(0, 5)) expect(await catalog.authenticateAsync(id, secret)).toBe('ok');
    expect((await stat(credentialsFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(catalogFile, 'utf8')).not.toContain([...credentials.values()][0]!);
  });

  it('with --out elsewhere says how to point the service at it; --json prints the paths', async () => {
    const io = memoryIo();
    const out = path.join(dir, 'fleets', 'berlin.json');
    expect(await devicesGenerate(devicesDir, { count: '30', districts: '3', city: 'Berlin', out, json: true }, io, cheap)).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual({
      catalog: out,
      credentials: path.join(dir, 'fleets', '.berlin.credentials.json'),
      devices: 30,
      districts: ['district-1', 'district-2', 'district-3'],
    });
    const human = memoryIo();
    expect(await devicesGenerate(devicesDir, { count: '30', districts: '3', out, force: true }, human, cheap)).toBe(0);
    expect(human.stdout).toContain(`CITYPIPE_DEVICES_DIR=${path.dirname(out)}`);
    expect(human.stdout).toContain(`npx citypipe simulate --catalog ${out}`);
  });

  it('refuses to overwrite without --force, and ids that already exist in the folder', async () => {
    expect(await devicesGenerate(devicesDir, { count: '10', districts: '2' }, memoryIo(), cheap)).toBe(0);
    const again = memoryIo();
    expect(await devicesGenerate(devicesDir, { count: '10', districts: '2' }, again, cheap)).toBe(2);
    expect(again.stderr).toContain('exists; choose another file or pass --force');
    expect(await devicesGenerate(devicesDir, { count: '12', districts: '2', force: true }, memoryIo(), cheap)).toBe(0);
    expect((await DeviceCatalog.load(dir)).size).toBe(12);

    const clash = memoryIo();
    expect(await devicesGenerate(devicesDir, { count: '10', districts: '2', out: path.join(dir, 'second.json') }, clash, cheap)).toBe(1);
    expect(clash.stderr).toMatch(/device id ams-\w+-00001 already exists in .*generated\.json/);
    expect(await readdir(dir)).not.toContain('second.json');
  });

  const usage: Array<[string, Parameters<typeof devicesGenerate>[1], string]> = [
    ['no count', { districts: '2' }, '--count is required'],
    ['a count of 0', { count: '0', districts: '1' }, '--count: expected a whole number 1..200000, got "0"'],
    ['more districts than devices', { count: '5', districts: '6' }, '--districts: expected a whole number 1..5, got "6"'],
    ['an unknown city', { count: '5', districts: '1', city: 'atlantis' }, '--city: unknown city "atlantis"; one of amsterdam, rotterdam'],
    ['an out file the loader would skip', { count: '5', districts: '1', out: 'fleet.txt' }, '--out: the catalog file must be named *.json'],
  ];
  it.each(usage)('exits 2 on %s and writes nothing', async (_name, opts, message) => {
    const io = memoryIo();
    expect(await devicesGenerate(devicesDir, opts, io, cheap)).toBe(2);
    expect(io.stderr).toContain(message);
    expect(await readdir(dir)).toEqual([]);
  });
});
