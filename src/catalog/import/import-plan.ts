/**
 * What importing an export into a catalog would do, device by device, before anything is written:
 * the records that would be added, the devices already there, and each row's problems, naming the
 * row. `citypipe devices import` writes the records only when there are no problems (or it is told
 * to skip the rows that have them).
 */
import type { DeviceCatalog } from '../catalog.js';
import { checkRecord, type ModelRegistry } from '../record-problems.js';
import type { DeviceRecord } from '../types.js';
import { catalogIdFor, mapExportedDevice, normalDevEui, type ImportDefaults } from './exported-device.js';
import type { ParsedExport } from './export-file.js';

/** One row that cannot be imported, and why (each problem on its own). */
export interface RowProblem {
  readonly row: number;
  /** `row 3 (bin-dam-1, DevEUI 24e124713c215987)`: as much as is known of the device. */
  readonly label: string;
  readonly problems: readonly string[];
}

export interface ImportPlan {
  /** The records to add, in export order. */
  readonly ready: readonly { readonly row: number; readonly record: DeviceRecord }[];
  /** Rows whose device is in the catalog already, under the same id and DevEUI: left as they are. */
  readonly present: readonly { readonly row: number; readonly id: string }[];
  readonly problems: readonly RowProblem[];
}

/**
 * Checks every device of `parsed` on its own (mapping, schema, model) and against the others and
 * `catalog` (ids and DevEUIs must be new).
 */
export function planImport(parsed: ParsedExport, defaults: ImportDefaults, catalog: DeviceCatalog, models: ModelRegistry): ImportPlan {
  const ready: { row: number; record: DeviceRecord }[] = [];
  const present: { row: number; id: string }[] = [];
  const problems: RowProblem[] = [];
  const rowById = new Map<string, number>();
  const rowByEui = new Map<string, number>();

  for (const device of parsed.devices) {
    const eui = device.devEui !== undefined ? normalDevEui(device.devEui) : undefined;
    const mapped = mapExportedDevice(device, defaults, models, parsed.howToLocate);
    const id = mapped.ok ? mapped.device.id : eui !== undefined ? catalogIdFor(device.name, eui) : device.name;
    const label = `row ${device.row}${describe(device.name, id, eui ?? device.devEui)}`;
    if (!mapped.ok) {
      problems.push({ row: device.row, label, problems: mapped.problems });
      continue;
    }
    const checked = checkRecord(mapped.device, models);
    if (!checked.ok) {
      problems.push({ row: device.row, label, problems: checked.problems });
      continue;
    }
    const record = checked.record;
    const devEui = record.lorawan!.devEui;
    const owner = catalog.byDevEui(devEui);
    if (owner !== undefined && owner.id === record.id) {
      present.push({ row: device.row, id: record.id });
      continue;
    }
    const clashes: string[] = [];
    if (owner !== undefined) clashes.push(`DevEUI ${devEui} is already registered to device ${owner.id} (${catalog.fileOf(owner.id)})`);
    const existing = catalog.fileOf(record.id);
    if (existing !== undefined) clashes.push(`device id ${record.id} already exists in ${existing}${owner === undefined ? ' with another DevEUI' : ''}; rename the device in the network server`);
    const sameId = rowById.get(record.id);
    if (sameId !== undefined) clashes.push(`row ${sameId} becomes device id ${record.id} too; give one of them another name`);
    const sameEui = rowByEui.get(devEui);
    if (sameEui !== undefined) clashes.push(`row ${sameEui} has the same DevEUI`);
    if (clashes.length > 0) {
      problems.push({ row: device.row, label, problems: clashes });
      continue;
    }
    rowById.set(record.id, device.row);
    rowByEui.set(devEui, device.row);
    ready.push({ row: device.row, record });
  }
  return { ready, present, problems };
}

function describe(name: string | undefined, id: string | undefined, eui: string | undefined): string {
  const parts: string[] = [];
  if (id !== undefined && id !== '') parts.push(name !== undefined && name !== id ? `${JSON.stringify(name)} → ${id}` : id);
  else if (name !== undefined && name !== '') parts.push(JSON.stringify(name));
  if (eui !== undefined && eui !== '') parts.push(`DevEUI ${eui}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
