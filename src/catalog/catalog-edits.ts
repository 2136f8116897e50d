/**
 * Edits citypipe makes to the catalog folder (`citypipe devices add | rotate-secret | revoke`):
 * each reads the whole catalog first, so an id is never registered twice, and rewrites one file
 * atomically. Secrets are generated here and only their hashes are written.
 */
import path from 'node:path';
import type { z } from 'zod';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import { readCatalogFile, serialize, withFolderLock } from './catalog-files.js';
import { DeviceCatalog, freezeRecord } from './catalog.js';
import { describeIssue, idLabel, isObject } from './record-problems.js';
import { generateSecret, hashSecretAsync } from './secrets.js';
import { deviceRecordSchema, type DeviceRecord } from './types.js';

/** What `addDevice` takes: a device record without a secret (one is generated). */
export type NewDevice = Omit<z.input<typeof deviceRecordSchema>, 'secretHash'>;

/** Where `addDevice` writes, inside the catalog folder. */
export const REGISTERED_FILE = 'registered.json';

/**
 * Registers a new device: validates it, refuses an id that exists anywhere in the catalog, and appends
 * it to `<dir>/registered.json` (written to a temporary file, then renamed) with only the hash of a
 * newly generated secret. Returns the stored record and the plaintext secret, which is not kept.
 */
export async function addDevice(
  dir: string,
  input: NewDevice,
): Promise<{ record: DeviceRecord; secret: string; file: string }> {
  const checked = validateNewDevice(input);
  if (!checked.ok) {
    const [first] = checked.problems;
    throw new CitypipeError(
      ErrorCodes.CATALOG_INVALID,
      checked.problems.length === 1 && first !== undefined ? first : `new device is invalid:\n  ${checked.problems.join('\n  ')}`,
    );
  }
  const candidate = checked.record;
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir);
    const existing = catalog.fileOf(candidate.id);
    if (existing !== undefined) {
      throw new CitypipeError(
        ErrorCodes.CATALOG_DUPLICATE,
        `device id ${candidate.id} already exists in ${existing}; choose another id, or rotate its secret with \`citypipe devices rotate-secret ${candidate.id}\``,
      );
    }
    const secret = generateSecret();
    const record: DeviceRecord = { ...candidate, secretHash: await hashSecretAsync(secret) };
    const file = path.join(dir, REGISTERED_FILE);
    const current = await readCatalogFile(dir, REGISTERED_FILE, { missingIsEmpty: true });
    if (!current.ok) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: ${current.error}`);
    await writeFileAtomic(file, serialize([...current.value, record]));
    return { record: freezeRecord(record), secret, file };
  });
}

/**
 * Checks a new device's record without touching the catalog (the CLI uses it to tell a usage error
 * from a catalog problem). Problems read like `new device (bin-0042): location.lat: must be ≤ 90, got 95`.
 */
export function validateNewDevice(input: NewDevice): { ok: true; record: DeviceRecord } | { ok: false; problems: string[] } {
  const { secretHash: _ignored, ...rest } = input as NewDevice & { secretHash?: unknown };
  const parsed = deviceRecordSchema.safeParse(rest);
  if (parsed.success) return { ok: true, record: parsed.data };
  const label = `new device${idLabel(rest)}`;
  return { ok: false, problems: parsed.error.issues.map((issue) => `${label}: ${describeIssue(issue, rest)}`) };
}

/**
 * Gives an existing device a new secret: the new hash replaces the old one in whichever file holds
 * the device, and a revocation is lifted; nothing else in that file changes. A running service
 * disconnects sessions that authenticated with the old secret when it reloads the catalog. Returns
 * undefined when the id is not in the catalog.
 */
export async function rotateSecret(
  dir: string,
  id: string,
): Promise<{ record: DeviceRecord; secret: string; file: string } | undefined> {
  const secret = generateSecret();
  const secretHash = await hashSecretAsync(secret);
  const edited = await editRecord(dir, id, 'its secret was rotated', ({ revokedAt: _lifted, ...rest }) => ({ ...rest, secretHash }));
  if (edited === undefined) return undefined;
  const { revokedAt: _gone, ...record } = edited.record;
  return { record: freezeRecord({ ...record, secretHash }), secret, file: edited.file };
}

/**
 * Revokes a device: its secret hash is removed and `revokedAt` set, so it can connect neither with
 * its old secret nor with a client certificate. Its record stays (district, location and history
 * remain meaningful); `rotateSecret` reinstates it with a new secret. A running service disconnects
 * it when it reloads the catalog. Returns undefined when the id is not in the catalog.
 */
export async function revokeDevice(dir: string, id: string, at = new Date()): Promise<{ record: DeviceRecord; file: string } | undefined> {
  const revokedAt = at.toISOString();
  const edited = await editRecord(dir, id, 'it was revoked', ({ secretHash: _removed, ...rest }) => ({ ...rest, revokedAt }));
  if (edited === undefined) return undefined;
  const { secretHash: _gone, ...record } = edited.record;
  return { record: freezeRecord({ ...record, revokedAt }), file: edited.file };
}

/**
 * Rewrites one device's element in the file that holds it. Edits the raw element, not the parsed
 * record: schema defaults must not be written into files the city maintains by hand.
 */
async function editRecord(
  dir: string,
  id: string,
  what: string,
  edit: (raw: Record<string, unknown>) => Record<string, unknown>,
): Promise<{ record: DeviceRecord; file: string } | undefined> {
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir);
    const file = catalog.fileOf(id);
    const record = catalog.get(id);
    if (file === undefined || record === undefined) return undefined;
    const content = await readCatalogFile(path.dirname(file), path.basename(file));
    if (!content.ok) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: ${content.error}`);
    const raw = content.value;
    const index = raw.findIndex((e) => isObject(e) && e['id'] === id);
    if (index < 0) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: device ${id} vanished while ${what}; try again`);
    const updated = raw.map((e, i) => (i === index ? edit(e as Record<string, unknown>) : e));
    await writeFileAtomic(file, serialize(updated));
    return { record, file };
  });
}
