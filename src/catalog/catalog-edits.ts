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
import { DeviceCatalog, freezeRecord, type CatalogOptions } from './catalog.js';
import { catalogError, checkRecord, idLabel, isObject, registeredModels } from './record-problems.js';
import { generateSecret, hashSecretAsync } from './secrets.js';
import { deviceRecordSchema, type DeviceRecord } from './types.js';

/** What `addDevice` takes: a device record without a secret (one is generated unless it is a LoRaWAN device). */
export type NewDevice = Omit<z.input<typeof deviceRecordSchema>, 'secretHash'>;

/** A device `addDevice` stored, and its new MQTT secret: none for a LoRaWAN device. */
export interface AddedDevice {
  readonly record: DeviceRecord;
  readonly secret: string | undefined;
}

/** Where `addDevice` writes, inside the catalog folder. */
export const REGISTERED_FILE = 'registered.json';

/**
 * Registers a new device: validates it, refuses an id (or a LoRaWAN DevEUI) that exists anywhere in
 * the catalog, and appends it to `<dir>/registered.json` (written to a temporary file, then renamed).
 * A device that connects over MQTT gets a newly generated secret, of which only the hash is written;
 * a LoRaWAN device gets none. Returns the stored record and the plaintext secret, which is not kept.
 */
export async function addDevice(dir: string, input: NewDevice, opts: CatalogOptions = {}): Promise<AddedDevice & { file: string }> {
  const checked = validateNewDevice(input, opts);
  if (!checked.ok) {
    const [first] = checked.problems;
    throw new CitypipeError(
      ErrorCodes.CATALOG_INVALID,
      checked.problems.length === 1 && first !== undefined ? first : `new device is invalid:\n  ${checked.problems.join('\n  ')}`,
    );
  }
  const { added, file } = await addDevices(dir, [checked.record], opts);
  return { ...(added[0] as AddedDevice), file };
}

/**
 * Registers several checked devices at once (`citypipe devices import`): all of them or, when one
 * clashes with the catalog or with another, none (`CATALOG_DUPLICATE` naming each clash). They are
 * appended to `<dir>/registered.json` in one atomic write.
 */
export async function addDevices(
  dir: string,
  records: readonly DeviceRecord[],
  opts: CatalogOptions = {},
): Promise<{ added: AddedDevice[]; file: string }> {
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir, opts);
    const clashes = clashesWith(catalog, records);
    if (clashes.length > 0) {
      throw catalogError(
        'new devices clash with the catalog',
        clashes.map((text) => ({ duplicate: true, text })),
      );
    }
    const added: AddedDevice[] = [];
    for (const candidate of records) {
      if (candidate.lorawan !== undefined) {
        added.push({ record: candidate, secret: undefined });
        continue;
      }
      const secret = generateSecret();
      added.push({ record: { ...candidate, secretHash: await hashSecretAsync(secret) }, secret });
    }
    const file = path.join(dir, REGISTERED_FILE);
    const current = await readCatalogFile(dir, REGISTERED_FILE, { missingIsEmpty: true });
    if (!current.ok) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: ${current.error}`);
    await writeFileAtomic(file, serialize([...current.value, ...added.map((a) => a.record)]));
    return { added: added.map((a) => ({ record: freezeRecord(a.record), secret: a.secret })), file };
  });
}

/** Why each of `records` cannot join `catalog`: an id or a DevEUI it or an earlier one of them already has. */
function clashesWith(catalog: DeviceCatalog, records: readonly DeviceRecord[]): string[] {
  const clashes: string[] = [];
  const ids = new Set<string>();
  const euis = new Map<string, string>();
  for (const r of records) {
    const existing = catalog.fileOf(r.id);
    if (existing !== undefined) {
      clashes.push(
        `device id ${r.id} already exists in ${existing}; choose another id${catalog.get(r.id)?.lorawan ? '' : `, or rotate its secret with \`citypipe devices rotate-secret ${r.id}\``}`,
      );
    } else if (ids.has(r.id)) {
      clashes.push(`device id ${r.id} is given twice`);
    }
    ids.add(r.id);
    const eui = r.lorawan?.devEui;
    if (eui === undefined) continue;
    const owner = catalog.byDevEui(eui);
    if (owner !== undefined) clashes.push(`LoRaWAN DevEUI ${eui} of ${r.id} is already registered to device ${owner.id} in ${catalog.fileOf(owner.id)}`);
    else if (euis.has(eui)) clashes.push(`LoRaWAN DevEUI ${eui} is given to both ${euis.get(eui)} and ${r.id}`);
    euis.set(eui, r.id);
  }
  return clashes;
}

/**
 * Checks a new device's record without touching the catalog (the CLI uses it to tell a usage error
 * from a catalog problem). Problems read like `new device (bin-0042): location.lat: must be ≤ 90, got 95`.
 */
export function validateNewDevice(
  input: NewDevice,
  opts: CatalogOptions = {},
): { ok: true; record: DeviceRecord } | { ok: false; problems: string[] } {
  const { secretHash: _ignored, ...rest } = input as NewDevice & { secretHash?: unknown };
  const checked = checkRecord(rest, opts.models ?? registeredModels);
  if (checked.ok) return checked;
  const label = `new device${idLabel(rest)}`;
  return { ok: false, problems: checked.problems.map((text) => `${label}: ${text}`) };
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
  opts: CatalogOptions = {},
): Promise<{ record: DeviceRecord; secret: string; file: string } | undefined> {
  const secret = generateSecret();
  const secretHash = await hashSecretAsync(secret);
  const edited = await editRecord(
    dir,
    id,
    'its secret was rotated',
    ({ revokedAt: _lifted, ...rest }) => ({ ...rest, secretHash }),
    (record) =>
      record.lorawan === undefined
        ? undefined
        : `${id} is a LoRaWAN device (DevEUI ${record.lorawan.devEui}): it reaches citypipe through its network server and has no MQTT secret to rotate`,
    opts,
  );
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
export async function revokeDevice(
  dir: string,
  id: string,
  at = new Date(),
  opts: CatalogOptions = {},
): Promise<{ record: DeviceRecord; file: string } | undefined> {
  const revokedAt = at.toISOString();
  const edited = await editRecord(dir, id, 'it was revoked', ({ secretHash: _removed, ...rest }) => ({ ...rest, revokedAt }), undefined, opts);
  if (edited === undefined) return undefined;
  const { secretHash: _gone, ...record } = edited.record;
  return { record: freezeRecord({ ...record, revokedAt }), file: edited.file };
}

/**
 * Rewrites one device's element in the file that holds it, unless `refuse` says why not. Edits the
 * raw element, not the parsed record: schema defaults must not be written into files the city
 * maintains by hand.
 */
async function editRecord(
  dir: string,
  id: string,
  what: string,
  edit: (raw: Record<string, unknown>) => Record<string, unknown>,
  refuse: (record: DeviceRecord) => string | undefined = () => undefined,
  opts: CatalogOptions = {},
): Promise<{ record: DeviceRecord; file: string } | undefined> {
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir, opts);
    const file = catalog.fileOf(id);
    const record = catalog.get(id);
    if (file === undefined || record === undefined) return undefined;
    const refusal = refuse(record);
    if (refusal !== undefined) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, refusal);
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
