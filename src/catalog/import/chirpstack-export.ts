/**
 * ChirpStack v4's device list as its REST API (chirpstack-rest-api, `GET /api/devices?applicationId=…
 * &limit=…`) or gRPC `DeviceService.List` answers it: `{ "totalCount": N, "result": [DeviceListItem] }`,
 * each item `{ devEui, name, description, deviceProfileId, deviceProfileName, tags, … }` (field names
 * from `api/proto/api/device.proto`; `tags` in the list since ChirpStack v4.12). Also taken: an array
 * of such answers (pages joined with `jq -s`), and an array of `GetDeviceResponse` (`{ device: {…} }`,
 * which carries the tags on older servers). ChirpStack keeps no device location, so tags give it.
 */
import { ExportFileError, isRecord, stringAt, stringMap, type ParsedExport } from './export-file.js';
import type { ExportedDevice } from './exported-device.js';

const HOW_TO_LOCATE =
  'ChirpStack keeps no device location: give the device latitude and longitude tags in ChirpStack (Devices → the device → Configuration → Tags), then export again';

export function parseChirpStackExport(text: string): ParsedExport {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ExportFileError(`not JSON (${(err as Error).message}); a ChirpStack export is the answer of GET /api/devices?applicationId=…&limit=…`);
  }
  const pages = Array.isArray(json) && json.every((p) => isRecord(p) && Array.isArray(p['result'])) && json.length > 0 ? json : [json];
  const items: unknown[] = [];
  const notes: string[] = [];
  let total = 0;
  for (const page of pages) {
    if (Array.isArray(page)) {
      items.push(...page);
      continue;
    }
    if (!isRecord(page) || !Array.isArray(page['result'])) {
      throw new ExportFileError('not a ChirpStack device list: expected {"totalCount": …, "result": [ … ]} (the answer of GET /api/devices?applicationId=…&limit=…)');
    }
    items.push(...(page['result'] as unknown[]));
    total += Number(page['totalCount'] ?? 0) || 0;
  }
  if (items.length === 0 && total > 0) {
    throw new ExportFileError(
      `the export lists none of its ${total} devices: ChirpStack answers only the count when the request has no limit; ask for GET /api/devices?applicationId=…&limit=1000 (and offset=1000 for more)`,
    );
  }
  if (total > items.length) {
    notes.push(`the export holds ${items.length} of the application's ${total} devices (ChirpStack lists a page at a time: ask with a larger limit, or with offset=${items.length} for the rest)`);
  }
  if (items.some((i) => isRecord(i) && isRecord(i['ids']))) {
    throw new ExportFileError('it looks like The Things Stack end devices (ids.dev_eui); use --format tts');
  }
  const devices = items.map((item, index): ExportedDevice => {
    const row = index + 1;
    if (!isRecord(item)) return { row, name: undefined, devEui: undefined, location: undefined, properties: {}, readProblems: ['not a device object'] };
    const device = isRecord(item['device']) ? item['device'] : item;
    return {
      row,
      name: stringAt(device, 'name'),
      devEui: stringAt(device, 'devEui', 'dev_eui'),
      location: undefined,
      properties: stringMap(device['tags']),
    };
  });
  return { devices, notes, howToLocate: HOW_TO_LOCATE };
}
