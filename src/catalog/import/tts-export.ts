/**
 * The Things Stack v3's end devices, in either of its two bulk formats:
 * - JSON: `ttn-lw-cli end-devices list APP --name --attributes --locations` prints an array of
 *   `EndDevice` (`{ ids: { device_id, dev_eui, join_eui, application_ids }, name, attributes,
 *   locations: { user: { latitude, longitude, … } } }`, proto field names, EUIs in uppercase hex); the
 *   Console's "Import end devices" takes the same objects one after another (a JSON stream), so that
 *   is read too.
 * - CSV: the Console's bulk-import sheet (`id;dev_eui;join_eui;…`, `;` or `,` delimited; a missing id
 *   falls back to `eui-<deveui>`). The Things Stack ignores columns it does not know, so the same sheet
 *   carries citypipe's: `latitude`, `longitude`, `district`, `model`, `address` and any attribute
 *   (`containerDepthMm`, `zone`). Its own columns (keys, versions, frequency plan) are never copied.
 */
import { DelimitedTextError, parseDelimitedText } from './delimited-text.js';
import { ExportFileError, isRecord, stringAt, stringMap, type ParsedExport } from './export-file.js';
import type { ExportedDevice } from './exported-device.js';

/** The columns The Things Stack's CSV import knows (`pkg/devicetemplates/ttscsv.go`); none becomes an attribute. */
const TTS_COLUMNS = new Set([
  'id', 'dev_eui', 'join_eui', 'app_eui', 'name', 'description', 'frequency_plan_id', 'lorawan_version', 'lorawan_phy_version',
  'brand_id', 'model_id', 'hardware_version', 'firmware_version', 'band_id', 'app_key', 'nwk_key', 'rx1_delay',
  'supports_32_bit_f_cnt', 'dev_addr', 'app_s_key', 'f_nwk_s_int_key', 'last_f_cnt_up', 'last_n_f_cnt_down', 'last_a_f_cnt_down',
  'supports_class_c', 'vendor_id', 'vendor_profile_id',
]);

/** `ttn-lw-cli … list` returns this many devices unless given `--limit`. */
const CLI_DEFAULT_LIMIT = 50;

export function parseTtsExport(text: string): ParsedExport {
  const start = text.replace(/^\uFEFF/, '').trimStart()[0];
  return start === '[' || start === '{' ? parseJson(text) : parseCsv(text);
}

function parseJson(text: string): ParsedExport {
  const objects = jsonValues(text);
  const items = objects.length === 1 && Array.isArray(objects[0]) ? (objects[0] as unknown[]) : objects;
  if (items.some((i) => isRecord(i) && Array.isArray(i['result']))) {
    throw new ExportFileError('it looks like a ChirpStack device list ({"totalCount", "result"}); use --format chirpstack');
  }
  const notes: string[] = [];
  if (items.length === CLI_DEFAULT_LIMIT) {
    notes.push(`the export holds exactly ${CLI_DEFAULT_LIMIT} devices, the page ttn-lw-cli lists unless given --limit: if the application has more, export again with --limit 1000`);
  }
  const described = items.some((i) => isRecord(i) && ('locations' in i || 'attributes' in i));
  const howToLocate = described
    ? "set its location in The Things Stack (the device's Location tab, or ttn-lw-cli end-devices set APP DEV --location.user.latitude … --location.user.longitude …), or give it latitude and longitude attributes"
    : 'the export has no locations or attributes at all: ttn-lw-cli lists only ids unless asked, so export with `ttn-lw-cli end-devices list APP --name --attributes --locations`';
  const devices = items.map((item, index): ExportedDevice => {
    const row = index + 1;
    if (!isRecord(item)) return { row, name: undefined, devEui: undefined, location: undefined, properties: {}, readProblems: ['not an end device object'] };
    const ids = isRecord(item['ids']) ? item['ids'] : {};
    return {
      row,
      name: stringAt(ids, 'device_id', 'deviceId'),
      devEui: stringAt(ids, 'dev_eui', 'devEui'),
      location: locationOf(item['locations']),
      properties: stringMap(item['attributes']),
    };
  });
  return { devices, notes, howToLocate };
}

/** `locations.user` (set by a person), else the first location with coordinates (e.g. one a solver estimated). */
function locationOf(locations: unknown): { lat: number; lon: number } | undefined {
  if (!isRecord(locations)) return undefined;
  const candidates = [locations['user'], ...Object.entries(locations).filter(([k]) => k !== 'user').map(([, v]) => v)];
  for (const c of candidates) {
    if (!isRecord(c)) continue;
    const lat = c['latitude'];
    const lon = c['longitude'];
    // The Things Stack's JSON leaves out zero values: a location at latitude 0 has only a longitude.
    if (typeof lat === 'number' || typeof lon === 'number') return { lat: typeof lat === 'number' ? lat : 0, lon: typeof lon === 'number' ? lon : 0 };
  }
  return undefined;
}

/** One JSON value, or several one after another (a JSON stream, as The Things Stack's import takes). */
function jsonValues(text: string): unknown[] {
  try {
    return [JSON.parse(text)];
  } catch (whole) {
    const values: unknown[] = [];
    for (const chunk of splitJsonStream(text)) {
      try {
        values.push(JSON.parse(chunk.text));
      } catch (err) {
        throw new ExportFileError(`not JSON at line ${chunk.line} (${(err as Error).message})`);
      }
    }
    if (values.length <= 1) throw new ExportFileError(`not JSON (${(whole as Error).message})`);
    return values;
  }
}

/** The top-level `{…}` and `[…]` texts of a stream, with the line each starts on. */
function splitJsonStream(text: string): { text: string; line: number }[] {
  const chunks: { text: string; line: number }[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  let line = 1;
  let startLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) {
        start = i;
        startLine = line;
      }
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) chunks.push({ text: text.slice(start, i + 1), line: startLine });
    } else if (depth === 0 && c !== undefined && !/\s|,/.test(c)) {
      throw new ExportFileError(`not JSON at line ${line}: unexpected ${JSON.stringify(c)} between objects`);
    }
  }
  if (depth !== 0) throw new ExportFileError(`not JSON: the object that starts at line ${startLine} is never closed`);
  return chunks;
}

function parseCsv(text: string): ParsedExport {
  let table;
  try {
    table = parseDelimitedText(text);
  } catch (err) {
    if (err instanceof DelimitedTextError) throw new ExportFileError(err.message);
    throw err;
  }
  const { header, rows } = table;
  const devEuiColumn = header.indexOf('dev_eui');
  if (devEuiColumn < 0) {
    throw new ExportFileError(
      `no dev_eui column in the header (${header.slice(0, 8).join(table.delimiter)}${header.length > 8 ? '…' : ''}); a The Things Stack CSV starts like id;dev_eui;join_eui;…`,
    );
  }
  const idColumn = header.indexOf('id');
  const devices = rows.map(({ line, cells }): ExportedDevice => {
    const properties: Record<string, string> = {};
    header.forEach((column, i) => {
      if (!TTS_COLUMNS.has(column) && column !== '' && cells[i] !== undefined) properties[column] = cells[i]!;
    });
    const readProblems = cells.length === header.length ? [] : [`${cells.length} fields where the header has ${header.length}`];
    return {
      row: line,
      name: idColumn >= 0 && cells[idColumn] !== undefined && cells[idColumn]!.trim() !== '' ? cells[idColumn]!.trim() : undefined,
      devEui: cells[devEuiColumn]?.trim(),
      location: undefined,
      properties,
      readProblems,
    };
  });
  return {
    devices,
    notes: [],
    howToLocate: 'add latitude and longitude columns to the sheet (The Things Stack ignores columns it does not know, so the same file still imports there)',
  };
}
