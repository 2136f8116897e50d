/**
 * ValidReading → one line of InfluxDB line protocol (contract §4): measurement per type, tags
 * `device_id` and `district`, the reading's fields by their declared kind, ms timestamp.
 *
 * Runs once per reading (tens of thousands per second), so it is plain string concatenation, and the
 * escaping regexes only run `replace` (which allocates) when `test` found something to escape.
 */
import type { DeviceTypeDefinition } from '../../device-types/types.js';
import type { ValidReading } from '../../ingest/types.js';

// Tag keys, tag values and field keys: comma, space and equals get a backslash. A backslash itself is
// NOT escaped: InfluxDB 1.x and 2.x (one Go parser) keep `\\` in a tag as two backslashes (line-protocol.test.ts shows it
// against the real server), so escaping would corrupt the value. A tag value that ENDS in a backslash
// cannot be written at all (it escapes the following space); InfluxDB refuses that line, which then
// becomes a dead letter with InfluxDB's message, so the catalog should not allow such a district.
const TAG_SPECIAL = /[, =]/;
const TAG_SPECIAL_ALL = /[, =]/g;
// String field values: only the double quote and the backslash.
const STRING_SPECIAL = /["\\]/;
const STRING_SPECIAL_ALL = /["\\]/g;
// Measurement names: comma and space.
const MEASUREMENT_SPECIAL_ALL = /[, ]/g;

/** Escapes a tag key, tag value or field key. */
export function escapeTag(value: string): string {
  return TAG_SPECIAL.test(value) ? value.replace(TAG_SPECIAL_ALL, '\\$&') : value;
}

/** Quotes and escapes a string field value. */
export function quoteString(value: string): string {
  return STRING_SPECIAL.test(value) ? `"${value.replace(STRING_SPECIAL_ALL, '\\$&')}"` : `"${value}"`;
}

/** What is fixed per device type: built once, on the first reading of that type. */
interface Layout {
  /** `measurement,device_id=` */
  readonly head: string;
  /** field name → `key=` prefix and kind. */
  readonly fields: ReadonlyMap<string, { readonly prefix: string; readonly kind: 'float' | 'integer' | 'string' }>;
}

const layouts = new WeakMap<DeviceTypeDefinition, Layout>();

function layoutOf(def: DeviceTypeDefinition): Layout {
  let layout = layouts.get(def);
  if (layout === undefined) {
    const fields = new Map<string, { prefix: string; kind: 'float' | 'integer' | 'string' }>();
    for (const [name, kind] of def.fieldKinds) fields.set(name, { prefix: `${escapeTag(name)}=`, kind });
    layout = { head: `${def.measurement.replace(MEASUREMENT_SPECIAL_ALL, '\\$&')},device_id=`, fields };
    layouts.set(def, layout);
  }
  return layout;
}

/**
 * The line for one reading: `measurement,device_id=…,district=… field=…,… <timeMs>`.
 * Tags are in sorted key order (`device_id` < `district`), which is what InfluxDB stores anyway and
 * spares it a sort per point. Throws on a field the type does not declare: that is a bug upstream,
 * and writing it with a guessed type could poison the measurement's schema.
 */
export function toLine(def: DeviceTypeDefinition, reading: ValidReading, district: string): string {
  const layout = layoutOf(def);
  let fields = '';
  const values = reading.fields;
  for (const name in values) {
    const value = values[name];
    if (value === undefined) continue;
    const field = layout.fields.get(name);
    if (field === undefined) throw new Error(`${def.name}: field "${name}" has no line-protocol kind`);
    if (fields !== '') fields += ',';
    fields += field.prefix;
    if (field.kind === 'string') fields += quoteString(String(value));
    else if (field.kind === 'integer') fields += `${value}i`;
    else fields += value;
  }
  return `${layout.head}${escapeTag(reading.deviceId)},district=${escapeTag(district)} ${fields} ${reading.timeMs}`;
}
