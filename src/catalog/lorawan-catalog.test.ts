/**
 * LoRaWAN devices in the catalog (CONTRACT §7): found by DevEUI in any case, one device per DevEUI,
 * a model of the record's type, and no MQTT secret. The models come from a registry given here, so
 * these tests do not depend on which codecs the device-type folders ship.
 */
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { createLogger } from '../observability/logger.js';
import { DeviceCatalog } from './catalog.js';
import { addDevice, revokeDevice, rotateSecret, validateNewDevice } from './catalog-edits.js';
import { modelRegistryOf } from './record-problems.js';
import { hashSecret } from './secrets.js';

const models = modelRegistryOf([
  { name: 'milesight-em400-udl', type: 'waste-bin' },
  { name: 'dragino-ldds75', type: 'waste-bin' },
  { name: 'nas-ul20xx', type: 'streetlight' },
]);

const sensor = (n: number, devEui: string, extra: Record<string, unknown> = {}) => ({
  id: `bin-${String(n).padStart(4, '0')}`,
  type: 'waste-bin' as const,
  location: { lat: 52.37, lon: 4.89 },
  district: 'centrum',
  attributes: { containerDepthMm: 1200 },
  lorawan: { devEui, model: 'milesight-em400-udl' },
  ...extra,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-lorawan-catalog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, content: unknown): Promise<void> {
  // Written beside the folder and renamed in, so a watcher never reads half a file.
  const staged = `${dir}.${name}.staged`;
  await writeFile(staged, JSON.stringify(content, null, 2));
  await rename(staged, path.join(dir, name));
}

async function loadError(): Promise<CitypipeError> {
  const err = await DeviceCatalog.load(dir, { models }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CitypipeError);
  return err as CitypipeError;
}

describe('a LoRaWAN device in the catalog', () => {
  it('is found by its DevEUI in either case, and is held in lowercase', async () => {
    await put('bins.json', [sensor(1, '24E124713C215987'), sensor(2, 'a84041000181c5f1', { lorawan: { devEui: 'a84041000181c5f1', model: 'dragino-ldds75' } })]);
    const catalog = await DeviceCatalog.load(dir, { models });
    expect(catalog.byDevEui('24e124713c215987')?.id).toBe('bin-0001');
    expect(catalog.byDevEui('24E124713C215987')?.id).toBe('bin-0001');
    expect(catalog.byDevEui('A84041000181C5F1')?.id).toBe('bin-0002');
    expect(catalog.get('bin-0001')?.lorawan).toEqual({ devEui: '24e124713c215987', model: 'milesight-em400-udl' });
    expect(Object.isFrozen(catalog.get('bin-0001')?.lorawan)).toBe(true);
    expect(catalog.byDevEui('0000000000000000')).toBeUndefined();
    // A device with a DevEUI connects through its network server, never over MQTT with a secret.
    expect(catalog.authenticate('bin-0001', 'anything')).toBe('no_secret');
  });

  it('leaves devices without lorawan out of the DevEUI index', () => {
    const catalog = DeviceCatalog.fromRecords([sensor(1, '24e124713c215987'), { ...sensor(2, 'x'), lorawan: undefined }], 'fixture', { models });
    expect(catalog.size).toBe(2);
    expect(catalog.byDevEui('24e124713c215987')?.id).toBe('bin-0001');
  });

  it('names both devices when a DevEUI appears twice, in any case', async () => {
    await put('a.json', [sensor(1, '24e124713c215987')]);
    await put('b.json', [sensor(2, '24E124713C215987')]);
    const err = await loadError();
    expect(err.code).toBe(ErrorCodes.CATALOG_DUPLICATE.code);
    expect(err.message).toBe(
      `LoRaWAN DevEUI 24e124713c215987 appears twice: bin-0001 (${path.join(dir, 'a.json')}[0]) and bin-0002 (${path.join(dir, 'b.json')}[0]); a DevEUI names one device`,
    );
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['a DevEUI that is not 16 hex digits', sensor(4, '24e124713c21598'), 'bins.json[0] (bin-0004): lorawan.devEui: must be 16 hex digits'],
    ['a DevEUI with a non-hex digit', sensor(4, '24e124713c21598g'), 'lorawan.devEui: must be 16 hex digits'],
    ['no model', { ...sensor(4, '24e124713c215987'), lorawan: { devEui: '24e124713c215987' } }, 'lorawan.model: is required'],
    ['an unknown key', { ...sensor(4, '24e124713c215987'), lorawan: { devEui: '24e124713c215987', model: 'dragino-ldds75', appKey: 'x' } }, 'unknown key lorawan.appKey'],
    [
      'a model citypipe has no codec for',
      { ...sensor(4, '24e124713c215987'), lorawan: { devEui: '24e124713c215987', model: 'milesight-em500' } },
      'bins.json[0] (bin-0004): lorawan.model: unknown LoRaWAN model "milesight-em500"; models of waste-bin: milesight-em400-udl, dragino-ldds75',
    ],
    [
      "a model of another type",
      { ...sensor(4, '24e124713c215987'), lorawan: { devEui: '24e124713c215987', model: 'nas-ul20xx' } },
      'lorawan.model: nas-ul20xx is a model of streetlight, not of waste-bin; models of waste-bin: milesight-em400-udl, dragino-ldds75',
    ],
    [
      'an MQTT secret',
      sensor(4, '24e124713c215987', { secretHash: hashSecret('s') }),
      'bins.json[0] (bin-0004): secretHash: a LoRaWAN device has no MQTT secret (its uplinks come through the network server and are matched by DevEUI)',
    ],
  ];
  it.each(invalid)('is refused with %s, naming the file, record and key', async (_name, record, expected) => {
    await put('bins.json', [record]);
    const err = await loadError();
    expect(err.code).toBe(ErrorCodes.CATALOG_INVALID.code);
    expect(err.message).toContain(expected.replace(/^bins\.json/, path.join(dir, 'bins.json')));
  });

  it('says when a type has no LoRaWAN model at all', () => {
    expect(() => DeviceCatalog.fromRecords([sensor(1, '24e124713c215987')], 'fixture', { models: modelRegistryOf([]) })).toThrow(
      'fixture[0] (bin-0001): lorawan.model: unknown LoRaWAN model "milesight-em400-udl"; citypipe has no LoRaWAN model of waste-bin yet',
    );
  });

  it('is found by DevEUI in the catalog a watch reloads, checked against the same models', async () => {
    await put('bins.json', [sensor(1, '24e124713c215987')]);
    const catalog = await DeviceCatalog.load(dir, { models });
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const seen: DeviceCatalog[] = [];
    const stop = catalog.watch((next) => seen.push(next), log, { debounceMs: 20 });
    try {
      await put('bins.json', [sensor(1, '24e124713c215987'), sensor(2, '24e124713c2159a4', { lorawan: { devEui: '24E124713C2159A4', model: 'dragino-ldds75' } })]);
      // Generous for a loaded machine; a reload normally lands within ~50 ms.
      await vi.waitFor(() => expect(seen.at(-1)?.byDevEui('24e124713c2159a4')?.id).toBe('bin-0002'), { timeout: 10_000 });
      expect(seen.at(-1)?.byDevEui('24E124713C215987')?.id).toBe('bin-0001');
      // Error level: a reload the models refused would be logged and the old catalog kept.
      expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
    } finally {
      stop();
    }
  });
});

describe('addDevice of a LoRaWAN device', () => {
  it('stores it without a secret', async () => {
    const added = await addDevice(dir, sensor(1, '24E124713C215987'), { models });
    expect(added.secret).toBeUndefined();
    expect(added.record.lorawan?.devEui).toBe('24e124713c215987');
    const stored = JSON.parse(await readFile(added.file, 'utf8')) as Array<Record<string, unknown>>;
    expect(stored).toHaveLength(1);
    expect(stored[0]).not.toHaveProperty('secretHash');
    expect((await DeviceCatalog.load(dir, { models })).byDevEui('24e124713c215987')?.id).toBe('bin-0001');
  });

  it('refuses a DevEUI another device has, naming it, and writes nothing', async () => {
    await addDevice(dir, sensor(1, '24e124713c215987'), { models });
    const before = await readFile(path.join(dir, 'registered.json'), 'utf8');
    const err = await addDevice(dir, sensor(2, '24E124713C215987'), { models }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CitypipeError);
    expect((err as CitypipeError).code).toBe(ErrorCodes.CATALOG_DUPLICATE.code);
    expect((err as CitypipeError).message).toBe(
      `LoRaWAN DevEUI 24e124713c215987 of bin-0002 is already registered to device bin-0001 in ${path.join(dir, 'registered.json')}`,
    );
    expect(await readFile(path.join(dir, 'registered.json'), 'utf8')).toBe(before);
  });

  it('validateNewDevice names an unknown model and the known ones', () => {
    const checked = validateNewDevice({ ...sensor(1, '24e124713c215987'), lorawan: { devEui: '24e124713c215987', model: 'em400' } }, { models });
    expect(checked).toEqual({
      ok: false,
      problems: ['new device (bin-0001): lorawan.model: unknown LoRaWAN model "em400"; models of waste-bin: milesight-em400-udl, dragino-ldds75'],
    });
  });
});

describe('rotateSecret of a LoRaWAN device', () => {
  it('is refused, saying why, and the file is left alone', async () => {
    await put('bins.json', [sensor(1, '24e124713c215987')]);
    const before = await readFile(path.join(dir, 'bins.json'), 'utf8');
    const err = await rotateSecret(dir, 'bin-0001', { models }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CitypipeError);
    expect((err as Error).message).toBe(
      'bin-0001 is a LoRaWAN device (DevEUI 24e124713c215987): it reaches citypipe through its network server and has no MQTT secret to rotate',
    );
    expect(await readFile(path.join(dir, 'bins.json'), 'utf8')).toBe(before);
  });

  it('revokeDevice still works: the record stays valid, with revokedAt', async () => {
    await put('bins.json', [sensor(1, '24e124713c215987')]);
    await revokeDevice(dir, 'bin-0001', new Date('2025-06-01T12:00:00.000Z'), { models });
    const record = (await DeviceCatalog.load(dir, { models })).byDevEui('24e124713c215987');
    expect(record?.revokedAt).toBe('2025-06-01T12:00:00.000Z');
  });
});
