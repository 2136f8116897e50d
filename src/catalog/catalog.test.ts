import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { createLogger } from '../observability/logger.js';
import { DeviceCatalog } from './catalog.js';
import { addDevice, revokeDevice, rotateSecret, validateNewDevice, type NewDevice } from './catalog-edits.js';
import { generateSecret, hashSecret } from './secrets.js';
import { deviceTypeNames } from '../device-types/registry.js';

const bin = (n: number, extra: Record<string, unknown> = {}) => ({
  id: `bin-${String(n).padStart(4, '0')}`,
  type: 'waste-bin',
  location: { lat: 52.37, lon: 4.89 },
  district: 'centrum',
  ...extra,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-catalog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, content: unknown): Promise<void> {
  await writeFile(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
}

/**
 * Like `put`, but the file appears whole, in one rename (written beside the folder, not in it). For
 * the watch tests: a plain write truncates first, and a reload that a slow machine lets run between
 * the truncation and the write reads an empty, invalid file; and it may fire more than one change.
 */
async function putWhole(name: string, content: unknown): Promise<void> {
  const staged = `${dir}.${name}.staged`;
  await writeFile(staged, JSON.stringify(content, null, 2));
  await rename(staged, path.join(dir, name));
}

async function loadError(d = dir): Promise<CitypipeError> {
  try {
    await DeviceCatalog.load(d);
  } catch (err) {
    expect(err).toBeInstanceOf(CitypipeError);
    return err as CitypipeError;
  }
  throw new Error('expected DeviceCatalog.load to fail');
}

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('info', stream), lines };
}

describe('DeviceCatalog.load', () => {
  it('loads every JSON file, applies defaults, keeps file then array order', async () => {
    await put('b.json', [bin(3), { ...bin(4), type: 'streetlight', id: 'light-1', attributes: { powerRating: 60 } }]);
    await put('a.json', [bin(1, { reportingIntervalS: 300, address: 'Dam 1' })]);
    await put('notes.txt', 'not a catalog file');
    await put('.registered.json.123.abc.tmp', '[half a');
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.size).toBe(3);
    expect(catalog.all().map((d) => d.id)).toEqual(['bin-0001', 'bin-0003', 'light-1']);
    expect(catalog.get('bin-0003')).toMatchObject({ reportingIntervalS: 900, attributes: {} });
    expect(catalog.get('bin-0001')).toMatchObject({ reportingIntervalS: 300, address: 'Dam 1' });
    expect(catalog.get('light-1')?.attributes).toEqual({ powerRating: 60 });
    expect(catalog.get('nope')).toBeUndefined();
    expect(catalog.fileOf('light-1')).toBe(path.join(dir, 'b.json'));
  });

  it('hands out frozen records, so no stage can change the catalog for the others', async () => {
    await put('a.json', [bin(1)]);
    const record = (await DeviceCatalog.load(dir)).get('bin-0001')!;
    expect(Object.isFrozen(record)).toBe(true);
    expect(Object.isFrozen(record.location)).toBe(true);
    expect(Object.isFrozen(record.attributes)).toBe(true);
  });

  it('accepts an empty folder and empty files', async () => {
    expect((await DeviceCatalog.load(dir)).size).toBe(0);
    await put('empty.json', []);
    expect((await DeviceCatalog.load(dir)).size).toBe(0);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['latitude out of range', bin(4, { location: { lat: 95, lon: 4.89 } }), 'bins.json[1] (bin-0004): location.lat: must be ≤ 90, got 95'],
    ['missing district', { id: 'bin-0004', type: 'waste-bin', location: { lat: 52, lon: 4 } }, 'bins.json[1] (bin-0004): district: is required'],
    ['unknown type', bin(4, { type: 'toaster' }), `bins.json[1] (bin-0004): type: must be one of ${deviceTypeNames.join(', ')}, got "toaster"`],
    ['number as string', bin(4, { location: { lat: '52.1', lon: 4 } }), 'bins.json[1] (bin-0004): location.lat: must be a number, got "52.1"'],
    ['unknown key', bin(4, { colour: 'green' }), 'bins.json[1] (bin-0004): unknown key colour (known: id, type,'],
    ['unknown nested key', bin(4, { location: { lat: 52, lon: 4, alt: 3 } }), 'bins.json[1] (bin-0004): unknown key location.alt'],
    ['bad id', bin(4, { id: 'bin 4/x' }), 'bins.json[1] (bin 4/x): id: must match [A-Za-z0-9_.-]{1,64}, got "bin 4/x"'],
    ['no id at all', { type: 'waste-bin', location: { lat: 52, lon: 4 }, district: 'west' }, 'bins.json[1]: id: is required'],
    ['fractional interval', bin(4, { reportingIntervalS: 1.5 }), 'bins.json[1] (bin-0004): reportingIntervalS: must be an integer, got 1.5'],
    ['attribute of a wrong type', bin(4, { attributes: { binCapacity: null } }), 'attributes.binCapacity: must be a string, a number or a boolean, got null'],
    ['not an object', 'bin-0004', 'bins.json[1]: must be an object, got "bin-0004"'],
    ['bad secretHash', bin(4, { secretHash: 'plaintext' }), 'bins.json[1] (bin-0004): secretHash:'],
  ];
  it.each(invalid)('names the file, index, id and key: %s', async (_name, record, expected) => {
    await put('bins.json', [bin(1), record]);
    const err = await loadError();
    expect(err.code).toBe(ErrorCodes.CATALOG_INVALID.code);
    expect(err.message).toContain(expected.replace(/^bins\.json/, path.join(dir, 'bins.json')));
  });

  it('lists every problem in every file, not just the first', async () => {
    await put('a.json', [bin(1, { location: { lat: 91, lon: 181 } })]);
    await put('b.json', [bin(2, { district: 7 })]);
    const err = await loadError();
    expect(err.message).toContain('(3 problems)');
    expect(err.message).toContain(`${path.join(dir, 'a.json')}[0] (bin-0001): location.lat: must be ≤ 90, got 91`);
    expect(err.message).toContain(`${path.join(dir, 'a.json')}[0] (bin-0001): location.lon: must be ≤ 180, got 181`);
    expect(err.message).toContain(`${path.join(dir, 'b.json')}[0] (bin-0002): district: must be a string, got 7`);
  });

  it('names a file that is not JSON, or not an array', async () => {
    await put('broken.json', '[{"id": "bin-1",]');
    await put('object.json', { id: 'bin-1' });
    const err = await loadError();
    expect(err.code).toBe(ErrorCodes.CATALOG_INVALID.code);
    expect(err.message).toContain(`${path.join(dir, 'broken.json')}: is not valid JSON`);
    expect(err.message).toContain(`${path.join(dir, 'object.json')}: must be a JSON array of device records, got an object`);
  });

  it('names both places of a duplicate id', async () => {
    await put('bins.json', [bin(1), bin(2)]);
    await put('registered.json', [bin(2, { district: 'west' })]);
    const err = await loadError();
    expect(err.code).toBe(ErrorCodes.CATALOG_DUPLICATE.code);
    expect(err.message).toBe(`device id bin-0002 appears twice: ${path.join(dir, 'bins.json')}[1] and ${path.join(dir, 'registered.json')}[0]`);
  });

  it('says which folder is missing and how to fix it', async () => {
    const missing = path.join(dir, 'no-such-folder');
    const err = await loadError(missing);
    expect(err.code).toBe(ErrorCodes.CATALOG_INVALID.code);
    expect(err.message).toContain(`device catalog folder ${missing} does not exist`);
    expect(err.message).toContain('CITYPIPE_DEVICES_DIR');
  });

  it('says so when the folder is a file', async () => {
    await put('a.json', []);
    const err = await loadError(path.join(dir, 'a.json'));
    expect(err.message).toContain('is a file, not a folder');
    expect(err.message).toContain('CITYPIPE_DEVICES_DIR');
  });
});

describe('DeviceCatalog.fromRecords', () => {
  it('validates records held in memory', () => {
    expect(DeviceCatalog.fromRecords([bin(1), bin(2)]).size).toBe(2);
    expect(() => DeviceCatalog.fromRecords([bin(1), bin(1)])).toThrow(/bin-0001 appears twice/);
    expect(() => DeviceCatalog.fromRecords([bin(1, { district: 7 })], 'fixture')).toThrow('fixture[0] (bin-0001): district: must be a string, got 7');
  });
});

describe('authenticate', () => {
  const secret = generateSecret();
  const catalog = DeviceCatalog.fromRecords([bin(1, { secretHash: hashSecret(secret) }), bin(2)]);

  it.each([
    ['bin-0001', secret, 'ok'],
    ['bin-0001', Buffer.from(secret), 'ok'],
    ['bin-0001', generateSecret(), 'bad_secret'],
    ['bin-0001', undefined, 'bad_secret'],
    ['bin-0002', secret, 'no_secret'],
    ['bin-0009', secret, 'unknown_device'],
  ] as const)('%s with %s → %s', async (id, password, expected) => {
    expect(catalog.authenticate(id, password)).toBe(expected);
    expect(await catalog.authenticateAsync(id, password)).toBe(expected);
  });
});

describe('watch', () => {
  it('reloads on change, keeps the old catalog on a bad edit, and stops', async () => {
    await put('bins.json', [bin(1)]);
    const catalog = await DeviceCatalog.load(dir);
    const { log, lines } = captureLog();
    const seen: DeviceCatalog[] = [];
    const stop = catalog.watch((next) => seen.push(next), log, { debounceMs: 20 });
    // Deadlines are generous for a loaded machine; each reload normally lands within ~50 ms.
    try {
      await putWhole('bins.json', [bin(1), bin(2)]);
      await vi.waitFor(() => expect(seen.at(-1)?.size).toBe(2), { timeout: 10_000 });
      expect(lines.filter((l) => l['level'] === 50)).toEqual([]);

      const before = seen.length;
      await putWhole('bins.json', [bin(1), bin(2, { location: { lat: 100, lon: 4 } })]);
      const failure = await vi.waitFor(
        () => {
          const line = lines.find((l) => l['level'] === 50);
          expect(line).toBeDefined();
          return line!;
        },
        { timeout: 10_000 },
      );
      expect(failure['code']).toBe(ErrorCodes.CATALOG_INVALID.code);
      expect(failure['msg']).toContain('keeping the previous catalog');
      expect(JSON.stringify(failure['err'])).toContain('location.lat: must be ≤ 90, got 100');
      expect(seen.length).toBe(before);

      await putWhole('bins.json', [bin(1), bin(2), bin(3)]);
      await vi.waitFor(() => expect(seen.at(-1)?.size).toBe(3), { timeout: 10_000 });
    } finally {
      stop();
    }
    const after = seen.length;
    await putWhole('bins.json', [bin(1)]);
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.length).toBe(after);
  });

  it('survives a throwing listener', async () => {
    await put('bins.json', [bin(1)]);
    const catalog = await DeviceCatalog.load(dir);
    const { log, lines } = captureLog();
    let calls = 0;
    const stop = catalog.watch(
      () => {
        calls++;
        throw new Error('listener bug');
      },
      log,
      { debounceMs: 20 },
    );
    try {
      await putWhole('bins.json', [bin(1), bin(2)]);
      await vi.waitFor(() => expect(lines.some((l) => l['code'] === 'CP_ERR_CATALOG_LISTENER')).toBe(true), { timeout: 10_000 });
      await putWhole('bins.json', [bin(1), bin(2), bin(3)]);
      await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    } finally {
      stop();
    }
  });
});

describe('addDevice', () => {
  const input: NewDevice = {
    id: 'light-0100',
    type: 'streetlight',
    location: { lat: 52.36, lon: 4.9 },
    district: 'oost',
    address: 'Linnaeusstraat 2',
    attributes: { powerRating: 40 },
  };

  it('appends to registered.json with only the hash, and the secret authenticates', async () => {
    await put('bins.json', [bin(1)]);
    await put('registered.json', [bin(2)]);
    const { record, secret, file } = await addDevice(dir, input);
    expect(file).toBe(path.join(dir, 'registered.json'));
    expect(record).toMatchObject({ id: 'light-0100', reportingIntervalS: 900, secretHash: expect.stringMatching(/^scrypt\$/) });

    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(secret);
    const stored = JSON.parse(text) as Array<Record<string, unknown>>;
    expect(stored.map((r) => r['id'])).toEqual(['bin-0002', 'light-0100']);

    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.size).toBe(3);
    expect(catalog.authenticate('light-0100', secret)).toBe('ok');
    expect(catalog.authenticate('light-0100', generateSecret())).toBe('bad_secret');
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('creates registered.json when there is none', async () => {
    const { secret } = await addDevice(dir, input);
    expect((await DeviceCatalog.load(dir)).authenticate('light-0100', secret)).toBe('ok');
  });

  it('refuses an id that exists in any file', async () => {
    await put('streetlights.json', [{ ...input, id: 'light-0100' }]);
    const err = await addDevice(dir, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CitypipeError);
    expect((err as CitypipeError).code).toBe(ErrorCodes.CATALOG_DUPLICATE.code);
    expect((err as CitypipeError).message).toContain(`already exists in ${path.join(dir, 'streetlights.json')}`);
    await expect(readFile(path.join(dir, 'registered.json'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses an invalid device and leaves the folder alone', async () => {
    const err = await addDevice(dir, { ...input, location: { lat: 52, lon: 200 } }).catch((e: unknown) => e);
    expect((err as CitypipeError).code).toBe(ErrorCodes.CATALOG_INVALID.code);
    expect((err as CitypipeError).message).toBe('new device (light-0100): location.lon: must be ≤ 180, got 200');
    expect(await readdir(dir)).toEqual([]);
  });

  it('never stores a secretHash passed in', async () => {
    const { record } = await addDevice(dir, { ...input, secretHash: 'scrypt$forged' } as NewDevice);
    expect(record.secretHash).not.toBe('scrypt$forged');
  });

  it('refuses to write into a catalog that is already invalid', async () => {
    await put('bins.json', [bin(1, { location: { lat: 99, lon: 4 } })]);
    await expect(addDevice(dir, input)).rejects.toThrow(/bins\.json\[0\] \(bin-0001\): location\.lat/);
  });

  it('keeps every device when registrations run concurrently', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `meter-${i}`);
    await Promise.all(ids.map((id) => addDevice(dir, { ...input, id, type: 'parking-meter' })));
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.all().map((d) => d.id).sort()).toEqual(ids);
  });

  it('validateNewDevice reports every problem without touching disk', () => {
    const r = validateNewDevice({ ...input, id: 'a b', location: { lat: 95, lon: 4 } });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toEqual([
        'new device (a b): id: must match [A-Za-z0-9_.-]{1,64}, got "a b"',
        'new device (a b): location.lat: must be ≤ 90, got 95',
      ]);
    }
  });
});

describe('rotateSecret', () => {
  it('replaces only the hash, in the file that holds the device', async () => {
    const oldSecret = generateSecret();
    const oldHash = hashSecret(oldSecret);
    const handWritten = [bin(1), bin(2, { secretHash: oldHash, attributes: { binCapacity: 240 } })];
    await put('bins.json', handWritten);
    const rotated = await rotateSecret(dir, 'bin-0002');
    expect(rotated?.file).toBe(path.join(dir, 'bins.json'));

    const stored = JSON.parse(await readFile(path.join(dir, 'bins.json'), 'utf8')) as Array<Record<string, unknown>>;
    // Untouched records stay as written: no defaults (reportingIntervalS, attributes) filled in.
    expect(stored[0]).toEqual(bin(1));
    expect({ ...stored[1], secretHash: undefined }).toEqual({ ...handWritten[1], secretHash: undefined });
    expect(stored[1]!['secretHash']).not.toBe(oldHash);

    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.authenticate('bin-0002', rotated!.secret)).toBe('ok');
    expect(catalog.authenticate('bin-0002', oldSecret)).toBe('bad_secret');
  });

  it('gives a device without a secret its first one', async () => {
    await put('bins.json', [bin(1)]);
    const rotated = await rotateSecret(dir, 'bin-0001');
    expect((await DeviceCatalog.load(dir)).authenticate('bin-0001', rotated!.secret)).toBe('ok');
  });

  it('returns undefined for an unknown device', async () => {
    await put('bins.json', [bin(1)]);
    expect(await rotateSecret(dir, 'bin-0099')).toBeUndefined();
  });
});

describe('revokeDevice', () => {
  it('removes the hash, records when, refuses the device afterwards, and keeps its record', async () => {
    const secret = generateSecret();
    await put('bins.json', [bin(1), bin(2, { secretHash: hashSecret(secret), address: 'Dam 1' })]);
    const at = new Date('2025-06-01T12:00:00.000Z');
    const revoked = await revokeDevice(dir, 'bin-0002', at);
    expect(revoked?.record.revokedAt).toBe('2025-06-01T12:00:00.000Z');
    const stored = JSON.parse(await readFile(path.join(dir, 'bins.json'), 'utf8')) as Array<Record<string, unknown>>;
    expect(stored[0]).toEqual(bin(1));
    expect(stored[1]).toEqual(bin(2, { address: 'Dam 1', revokedAt: '2025-06-01T12:00:00.000Z' }));
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.get('bin-0002')?.district).toBe('centrum');
    expect(catalog.authenticate('bin-0002', secret)).toBe('revoked');
    expect(await catalog.authenticateAsync('bin-0002', secret)).toBe('revoked');
  });

  it('is lifted by rotateSecret, which issues a new secret', async () => {
    await put('bins.json', [bin(1, { secretHash: hashSecret('old') })]);
    await revokeDevice(dir, 'bin-0001');
    const rotated = await rotateSecret(dir, 'bin-0001');
    const catalog = await DeviceCatalog.load(dir);
    expect(catalog.get('bin-0001')?.revokedAt).toBeUndefined();
    expect(catalog.authenticate('bin-0001', rotated!.secret)).toBe('ok');
    expect(catalog.authenticate('bin-0001', 'old')).toBe('bad_secret');
  });

  it('returns undefined for an unknown device, and a bad revokedAt is a catalog error', async () => {
    await put('bins.json', [bin(1)]);
    expect(await revokeDevice(dir, 'bin-0099')).toBeUndefined();
    await put('bins.json', [bin(1, { revokedAt: 'yesterday' })]);
    expect((await loadError()).message).toMatch(/revokedAt/);
  });
});
