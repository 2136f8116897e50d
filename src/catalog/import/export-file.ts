/**
 * What every network-server export reader yields, and the error for a file that is not an export of
 * the announced kind at all (as opposed to a device in it with a problem).
 */
import type { ExportedDevice } from './exported-device.js';

/** The devices of one export file. */
export interface ParsedExport {
  readonly devices: readonly ExportedDevice[];
  /** Things the user should know that do not stop the import (e.g. a list that is one page of more). */
  readonly notes: readonly string[];
  /** How a device of this export gets a location, for the message when one has none. */
  readonly howToLocate: string;
}

/** The file as a whole is not what its `--format` says (not JSON, no `result`, no `dev_eui` column). */
export class ExportFileError extends Error {}

/** A JSON object (not an array, not null). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The string at `key`, or undefined (an absent or non-string value). */
export function stringAt(obj: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const v = obj[key];
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/** A `map<string, string>` of the export (tags, attributes); other values are left out. */
export function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  return out;
}
