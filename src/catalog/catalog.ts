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
import { catalogError, checkRecord, idLabel, registeredModels, type ModelRegistry, type Problem } from './record-problems.js';
import { verifySecret, verifySecretAsync } from './secrets.js';
import type { DeviceRecord } from './types.js';

/** The outcome of a device's CONNECT credentials check. */
export type AuthResult = 'ok' | 'unknown_device' | 'revoked' | 'no_secret' | 'bad_secret';

/** How a catalog is checked. */
export interface CatalogOptions {
  /** The LoRaWAN models `lorawan.model` may name; default the device-type registry's. */
  readonly models?: ModelRegistry;
}

/** An immutable, validated snapshot of the catalog folder. Reloading yields a new instance. */
export class DeviceCatalog {
  /** The folder this catalog was loaded from (as given). */
  readonly dir: string;
  private readonly byId: ReadonlyMap<string, DeviceRecord>;
  private readonly fileById: ReadonlyMap<string, string>;
  /** Keyed by lowercase DevEUI. */
  private readonly byEui: ReadonlyMap<string, DeviceRecord>;
  private readonly records: readonly DeviceRecord[];
  private readonly models: ModelRegistry;

  private constructor(dir: string, checked: RecordCollector) {
    this.dir = dir;
    this.byId = checked.byId;
    this.fileById = checked.fileById;
    this.byEui = checked.byEui;
    this.models = checked.models;
    this.records = Object.freeze([...checked.byId.values()]);
  }

  /**
   * Reads and validates every `*.json` file in `dir`. Throws a {@link CitypipeError}:
   * `CATALOG_INVALID` listing every bad record (`devices/bins.json[3] (bin-0004): location.lat: must be
   * ≤ 90, got 95`) or a missing folder; `CATALOG_DUPLICATE` naming both places an id or a DevEUI appears.
   */
  static async load(dir: string, opts: CatalogOptions = {}): Promise<DeviceCatalog> {
    const names = await listCatalogFiles(dir);
    const contents = await Promise.all(names.map(async (name) => [name, await readCatalogFile(dir, name)] as const));

    const checked = new RecordCollector(opts.models ?? registeredModels);
    for (const [name, content] of contents) {
      const file = path.join(dir, name);
      if (!content.ok) {
        checked.problems.push({ duplicate: false, text: `${file}: ${content.error}` });
        continue;
      }
      content.value.forEach((element, index) => checked.add(element, `${file}[${index}]`, file));
    }
    if (checked.problems.length > 0) throw catalogError(`device catalog ${dir} is invalid`, checked.problems);
    return new DeviceCatalog(dir, checked);
  }

  /**
   * A catalog from records in memory (tests, embedding). Validated like a file; `source` names them in
   * errors.
   */
  static fromRecords(records: readonly unknown[], source = '(memory)', opts: CatalogOptions = {}): DeviceCatalog {
    const checked = new RecordCollector(opts.models ?? registeredModels, source);
    records.forEach((element, index) => checked.add(element, `${source}[${index}]`, source));
    if (checked.problems.length > 0) throw catalogError(`device records ${source} are invalid`, checked.problems);
    return new DeviceCatalog(source, checked);
  }

  /** The device with this id, or undefined. One Map lookup: safe on the per-message path. */
  get(id: string): DeviceRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * The LoRaWAN device with this DevEUI (any case), or undefined. One Map lookup (two for a DevEUI
   * not in lowercase): safe on the per-uplink path.
   */
  byDevEui(devEui: string): DeviceRecord | undefined {
    return this.byEui.get(devEui) ?? this.byEui.get(devEui.toLowerCase());
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
    const { dir, models } = this;
    return watchCatalog(dir, () => DeviceCatalog.load(dir, { models }), onChange, log, opts.debounceMs ?? 250);
  }
}

/**
 * Checks elements one by one into the maps of a catalog, collecting what is wrong: each record on its
 * own, then ids and DevEUIs across all of them.
 */
class RecordCollector {
  readonly problems: Problem[] = [];
  readonly byId = new Map<string, DeviceRecord>();
  readonly fileById = new Map<string, string>();
  readonly byEui = new Map<string, DeviceRecord>();
  private readonly placeById = new Map<string, string>();
  private readonly placeByEui = new Map<string, string>();

  /** `memorySource`: records from memory, whose duplicate ids are named by that source alone. */
  constructor(
    readonly models: ModelRegistry,
    private readonly memorySource?: string,
  ) {}

  add(element: unknown, place: string, file: string): void {
    const checked = checkRecord(element, this.models);
    if (!checked.ok) {
      const label = `${place}${idLabel(element)}`;
      for (const text of checked.problems) this.problems.push({ duplicate: false, text: `${label}: ${text}` });
      return;
    }
    const record = checked.record;
    const first = this.placeById.get(record.id);
    if (first !== undefined) {
      const where = this.memorySource !== undefined ? ` in ${this.memorySource}` : `: ${first} and ${place}`;
      this.problems.push({ duplicate: true, text: `device id ${record.id} appears twice${where}` });
      return;
    }
    const eui = record.lorawan?.devEui;
    if (eui !== undefined) {
      const other = this.byEui.get(eui);
      if (other !== undefined) {
        this.problems.push({
          duplicate: true,
          text: `LoRaWAN DevEUI ${eui} appears twice: ${other.id} (${this.placeByEui.get(eui)}) and ${record.id} (${place}); a DevEUI names one device`,
        });
        return;
      }
      this.byEui.set(eui, freezeRecord(record));
      this.placeByEui.set(eui, place);
    }
    this.placeById.set(record.id, place);
    this.byId.set(record.id, freezeRecord(record));
    this.fileById.set(record.id, file);
  }
}

/** A record as the catalog holds it: frozen, with its location and attributes. */
export function freezeRecord<T extends DeviceRecord>(record: T): T {
  Object.freeze(record.location);
  if (record.lorawan !== undefined) Object.freeze(record.lorawan);
  Object.freeze(record.attributes);
  return Object.freeze(record);
}
