/**
 * The device catalog: which devices exist, where they are, and how they authenticate (CONTRACT §3).
 *
 * Loaded from a folder of JSON files, each an array of device records. The folder is data the city
 * edits by hand or through `citypipe devices add`, so every error names the file, the record and the
 * key, and a running service keeps its last good catalog when an edit breaks one.
 */
import path from 'node:path';
import type { CitypipeError } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import { listCatalogFiles, readCatalogFile } from './catalog-files.js';
import { watchCatalog } from './catalog-watch.js';
import { catalogError, describeIssue, idLabel, type Problem } from './record-problems.js';
import { verifySecret, verifySecretAsync } from './secrets.js';
import { deviceRecordSchema, type DeviceRecord } from './types.js';

/** The outcome of a device's CONNECT credentials check. */
export type AuthResult = 'ok' | 'unknown_device' | 'revoked' | 'no_secret' | 'bad_secret';

/** An immutable, validated snapshot of the catalog folder. Reloading yields a new instance. */
export class DeviceCatalog {
  /** The folder this catalog was loaded from (as given). */
  readonly dir: string;
  private readonly byId: ReadonlyMap<string, DeviceRecord>;
  private readonly fileById: ReadonlyMap<string, string>;
  private readonly records: readonly DeviceRecord[];

  private constructor(dir: string, byId: Map<string, DeviceRecord>, fileById: Map<string, string>) {
    this.dir = dir;
    this.byId = byId;
    this.fileById = fileById;
    this.records = Object.freeze([...byId.values()]);
  }

  /**
   * Reads and validates every `*.json` file in `dir`. Throws a {@link CitypipeError}:
   * `CATALOG_INVALID` listing every bad record (`devices/bins.json[3] (bin-0004): location.lat: must be
   * ≤ 90, got 95`) or a missing folder; `CATALOG_DUPLICATE` naming both places an id appears.
   */
  static async load(dir: string): Promise<DeviceCatalog> {
    const names = await listCatalogFiles(dir);
    const contents = await Promise.all(names.map(async (name) => [name, await readCatalogFile(dir, name)] as const));

    const problems: Problem[] = [];
    const byId = new Map<string, DeviceRecord>();
    const fileById = new Map<string, string>();
    const placeById = new Map<string, string>();
    for (const [name, content] of contents) {
      const file = path.join(dir, name);
      if (!content.ok) {
        problems.push({ duplicate: false, text: `${file}: ${content.error}` });
        continue;
      }
      content.value.forEach((element, index) => {
        const place = `${file}[${index}]`;
        const parsed = deviceRecordSchema.safeParse(element);
        if (!parsed.success) {
          const label = `${place}${idLabel(element)}`;
          for (const issue of parsed.error.issues) problems.push({ duplicate: false, text: `${label}: ${describeIssue(issue, element)}` });
          return;
        }
        const record = parsed.data;
        const first = placeById.get(record.id);
        if (first !== undefined) {
          problems.push({ duplicate: true, text: `device id ${record.id} appears twice: ${first} and ${place}` });
          return;
        }
        placeById.set(record.id, place);
        byId.set(record.id, freezeRecord(record));
        fileById.set(record.id, file);
      });
    }
    if (problems.length > 0) throw catalogError(`device catalog ${dir} is invalid`, problems);
    return new DeviceCatalog(dir, byId, fileById);
  }

  /**
   * A catalog from records in memory (tests, embedding). Validated like a file; `source` names them in
   * errors.
   */
  static fromRecords(records: readonly unknown[], source = '(memory)'): DeviceCatalog {
    const problems: Problem[] = [];
    const byId = new Map<string, DeviceRecord>();
    const fileById = new Map<string, string>();
    records.forEach((element, index) => {
      const parsed = deviceRecordSchema.safeParse(element);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          problems.push({ duplicate: false, text: `${source}[${index}]${idLabel(element)}: ${describeIssue(issue, element)}` });
        }
      } else if (byId.has(parsed.data.id)) {
        problems.push({ duplicate: true, text: `device id ${parsed.data.id} appears twice in ${source}` });
      } else {
        byId.set(parsed.data.id, freezeRecord(parsed.data));
        fileById.set(parsed.data.id, source);
      }
    });
    if (problems.length > 0) throw catalogError(`device records ${source} are invalid`, problems);
    return new DeviceCatalog(source, byId, fileById);
  }

  /** The device with this id, or undefined. One Map lookup: safe on the per-message path. */
  get(id: string): DeviceRecord | undefined {
    return this.byId.get(id);
  }

  /** Number of devices. */
  get size(): number {
    return this.byId.size;
  }

  /** Every device, in file-name order then array order. Frozen. */
  all(): readonly DeviceRecord[] {
    return this.records;
  }

  /** The file that holds this device's record, or undefined. */
  fileOf(id: string): string | undefined {
    return this.fileById.get(id);
  }

  /**
   * Checks a device's MQTT credentials (username = device id). Blocks for one scrypt hash (~2 ms);
   * the broker should prefer {@link authenticateAsync}.
   *
   * An unknown id answers at once, without a decoy hash: device ids are not secret (every topic
   * carries one), so the timing difference reveals nothing an attacker could not read off the wire.
   */
  authenticate(id: string, password: string | Uint8Array | undefined): AuthResult {
    const record = this.byId.get(id);
    if (record === undefined) return 'unknown_device';
    if (record.revokedAt !== undefined) return 'revoked';
    if (record.secretHash === undefined) return 'no_secret';
    if (password === undefined) return 'bad_secret';
    return verifySecret(password, record.secretHash) ? 'ok' : 'bad_secret';
  }

  /** {@link authenticate} with the hash computed off the event loop. Never rejects. */
  async authenticateAsync(id: string, password: string | Uint8Array | undefined): Promise<AuthResult> {
    const record = this.byId.get(id);
    if (record === undefined) return 'unknown_device';
    if (record.revokedAt !== undefined) return 'revoked';
    if (record.secretHash === undefined) return 'no_secret';
    if (password === undefined) return 'bad_secret';
    return (await verifySecretAsync(password, record.secretHash)) ? 'ok' : 'bad_secret';
  }

  /**
   * Reloads the catalog when a file in its folder changes and hands the new one to `onChange`. An
   * invalid folder is logged and the previous catalog stays in force, so a half-saved edit never
   * takes devices offline. Returns a function that stops watching.
   *
   * Events are debounced: editors and `rename`-based atomic writes produce several per save.
   */
  watch(onChange: (next: DeviceCatalog) => void, log: Logger, opts: { debounceMs?: number } = {}): () => void {
    const dir = this.dir;
    return watchCatalog(dir, () => DeviceCatalog.load(dir), onChange, log, opts.debounceMs ?? 250);
  }
}

/** A record as the catalog holds it: frozen, with its location and attributes. */
export function freezeRecord<T extends DeviceRecord>(record: T): T {
  Object.freeze(record.location);
  Object.freeze(record.attributes);
  return Object.freeze(record);
}
