/**
 * One device of a network server's export, in the same shape whichever server it came from, and how
 * it becomes a catalog record: the server's name or id becomes the catalog id, its DevEUI the
 * record's `lorawan.devEui`, its tags or attributes the record's fields (`model`, `type`, `district`,
 * `address`, `latitude`, `longitude`, `reportingIntervalS`) and attributes (everything else), with the
 * command line's defaults beneath them.
 */
import { deviceTypeNames } from '../../device-types/registry.js';
import type { NewDevice } from '../catalog-edits.js';
import type { ModelRegistry } from '../record-problems.js';
import { DEV_EUI } from '../types.js';

/** A device as a network server exported it. */
export interface ExportedDevice {
  /** Its place in the export, counted from 1 (a CSV's rows as a spreadsheet shows them: the header is row 1). */
  readonly row: number;
  /** What the server calls it: ChirpStack's name, The Things Stack's device id. */
  readonly name: string | undefined;
  /** As exported (either case; separators allowed). */
  readonly devEui: string | undefined;
  /** Where the server has it (The Things Stack's `locations`); tags may give it instead. */
  readonly location: { readonly lat: number; readonly lon: number } | undefined;
  /** Its tags (ChirpStack), attributes (The Things Stack) or extra columns (a CSV), as text. */
  readonly properties: Readonly<Record<string, string>>;
  /** What was wrong with the row as read (e.g. a CSV row with fewer cells than the header). */
  readonly readProblems?: readonly string[];
}

/** What the command line gives every device of an import, beneath what each device says itself. */
export interface ImportDefaults {
  readonly type?: string;
  readonly district?: string;
  readonly model?: string;
  readonly reportingIntervalS?: number;
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
}

/** The result of mapping one exported device: a record to validate, or why there is none. */
export type Mapped = { ok: true; device: NewDevice } | { ok: false; problems: string[] };

/** Property names (after {@link attributeKey}) that fill a record's fields instead of its attributes. */
const FIELD_KEYS = new Set(['model', 'type', 'district', 'address', 'latitude', 'lat', 'longitude', 'lon', 'lng', 'reportingIntervalS']);

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The catalog id for a server's name: characters outside [A-Za-z0-9_.-] become `-` (runs of them one),
 * no `-` at either end, at most 64 characters; `eui-<deveui>` when nothing is left (as The Things
 * Stack names a device without an id).
 */
export function catalogIdFor(name: string | undefined, devEui: string): string {
  const cleaned = (name ?? '')
    .trim()
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return cleaned === '' ? `eui-${devEui}` : cleaned;
}

/**
 * An attribute name in citypipe's spelling: The Things Stack allows attribute keys only in lowercase
 * with dashes (`container-depth-mm`), and spreadsheets often use underscores, so both become camelCase
 * (`containerDepthMm`); a key without either is kept as it is.
 */
export function attributeKey(key: string): string {
  const trimmed = key.trim();
  if (!/[-_]/.test(trimmed)) return trimmed;
  const [first = '', ...rest] = trimmed.toLowerCase().split(/[-_]+/).filter(Boolean);
  return first + rest.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** An attribute's value as `--attr` types it: a decimal number, true/false, or the text. */
export function attributeValue(raw: string): string | number | boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return DECIMAL.test(raw) ? Number(raw) : raw;
}

/** A DevEUI in the catalog's form (lowercase, no separators), or undefined when it is not 16 hex digits. */
export function normalDevEui(raw: string): string | undefined {
  const eui = raw.replace(/[-:\s]/g, '').toLowerCase();
  return DEV_EUI.test(eui) ? eui : undefined;
}

/**
 * The record an exported device becomes, before the catalog checks it. `howToLocate` finishes the
 * message for a device without a location: where, in this server's export, one is given.
 */
export function mapExportedDevice(device: ExportedDevice, defaults: ImportDefaults, models: ModelRegistry, howToLocate: string): Mapped {
  const problems: string[] = [...(device.readProblems ?? [])];
  const fields: Record<string, string> = {};
  const attributes: Record<string, string | number | boolean> = { ...defaults.attributes };
  for (const [rawKey, value] of Object.entries(device.properties)) {
    const key = attributeKey(rawKey);
    if (key === '' || value.trim() === '') continue;
    if (FIELD_KEYS.has(key)) fields[key] = value.trim();
    else attributes[key] = attributeValue(value.trim());
  }

  const devEui = device.devEui === undefined || device.devEui.trim() === '' ? undefined : normalDevEui(device.devEui);
  if (device.devEui === undefined || device.devEui.trim() === '') problems.push('no DevEUI');
  else if (devEui === undefined) problems.push(`DevEUI ${JSON.stringify(device.devEui)}: must be 16 hex digits`);

  const model = fields['model'] ?? defaults.model;
  const type = fields['type'] ?? defaults.type ?? (model !== undefined ? models.typeOf(model) : undefined);
  if (model === undefined) {
    problems.push(`no LoRaWAN model: give the device a model tag, or pass --model (${knownModels(models, fields['type'] ?? defaults.type)})`);
  } else if (type === undefined) {
    problems.push(`unknown LoRaWAN model ${JSON.stringify(model)} (${knownModels(models, undefined)}); or pass --type`);
  }

  const district = fields['district'] ?? defaults.district;
  if (district === undefined) problems.push('no district: give the device a district tag, or pass --district');

  const location = device.location ?? locationFrom(fields, problems);
  if (location === undefined && !problems.some((p) => p.startsWith('latitude') || p.startsWith('longitude'))) problems.push(`no location: ${howToLocate}`);

  let reportingIntervalS = defaults.reportingIntervalS;
  const interval = fields['reportingIntervalS'];
  if (interval !== undefined) {
    if (/^\d+$/.test(interval)) reportingIntervalS = Number(interval);
    else problems.push(`reportingIntervalS: expected whole seconds, got ${JSON.stringify(interval)}`);
  }

  if (problems.length > 0 || devEui === undefined || model === undefined || type === undefined || district === undefined || location === undefined) {
    return { ok: false, problems };
  }
  const record: NewDevice = {
    id: catalogIdFor(device.name, devEui),
    type: type as NewDevice['type'],
    location,
    district,
    attributes,
    lorawan: { devEui, model },
  };
  if (fields['address'] !== undefined) record.address = fields['address'];
  if (reportingIntervalS !== undefined) record.reportingIntervalS = reportingIntervalS;
  return { ok: true, device: record };
}

function locationFrom(fields: Record<string, string>, problems: string[]): { lat: number; lon: number } | undefined {
  const lat = fields['latitude'] ?? fields['lat'];
  const lon = fields['longitude'] ?? fields['lon'] ?? fields['lng'];
  if (lat === undefined && lon === undefined) return undefined;
  if (lat === undefined) {
    problems.push('longitude without latitude');
    return undefined;
  }
  if (lon === undefined) {
    problems.push('latitude without longitude');
    return undefined;
  }
  const numbers = [lat, lon].map((text) => (DECIMAL.test(text) ? Number(text) : Number.NaN));
  if (numbers.some((n) => !Number.isFinite(n))) {
    problems.push(`latitude/longitude: expected decimal degrees, got ${JSON.stringify(lat)}, ${JSON.stringify(lon)}`);
    return undefined;
  }
  return { lat: numbers[0]!, lon: numbers[1]! };
}

function knownModels(models: ModelRegistry, type: string | undefined): string {
  const names = type !== undefined ? models.modelsOf(type) : deviceTypeNames.flatMap((t) => models.modelsOf(t));
  if (names.length > 0) return `known: ${names.join(', ')}`;
  return type !== undefined ? `citypipe has no LoRaWAN model of ${type} yet` : 'citypipe has no LoRaWAN models yet';
}
