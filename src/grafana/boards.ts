/**
 * citypipe's Grafana boards, assembled from the registry: each device type's board from its folder
 * (`grafana.json`, or generated from its definition when it has none), its row of the city
 * overview generated from its definition, and the two boards that belong to no type
 * (`city-overview.json`, `pipeline-health.json` beside this file). What every board shares (the
 * frame, the rule-event annotations, the template variables) is written once, here.
 *
 * `npm run generate` writes them to `grafana/dashboards/`, where Grafana's provisioning reads them;
 * `shipped-files.test.ts` fails when those files are not what this makes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import type { FieldBlock } from '../device-types/common/fields.js';
import { registeredTypeFolders, type Panel, type TypeBoard, type TypeFolder } from '../device-types/type-folder.js';
import type { DeviceTypeDefinition } from '../device-types/types.js';

type Json = Record<string, unknown>;

/** One provisioned board: its file name in `grafana/dashboards/` and its JSON. */
export interface BoardFile {
  readonly file: string;
  readonly dashboard: Json;
}

/** A board that belongs to no device type, as `src/grafana/<file>` declares it. */
interface SharedBoardSource {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly Variable[];
  /** The InfluxQL condition that picks this board's rule events, e.g. `"district" =~ /^$district$/`. */
  readonly annotationFilter: string;
  readonly panels: readonly Panel[];
}

interface Variable {
  readonly name: string;
  readonly label: string;
  readonly query: string;
}

/** The datasource of every panel and query (grafana/provisioning/datasources/citypipe.yml). */
export const DATASOURCE = { type: 'influxdb', uid: 'citypipe-influx' } as const;

const sourcesDir = path.join(packageRoot, 'src', 'grafana');

const frame = {
  tags: ['citypipe'],
  editable: true,
  schemaVersion: 39,
  version: 1,
  refresh: '30s',
  time: { from: 'now-24h', to: 'now' },
  timepicker: {},
  timezone: 'browser',
  graphTooltip: 1,
  links: [{ title: 'citypipe boards', type: 'dashboards', tags: ['citypipe'], asDropdown: true, includeVars: true, keepTime: true }],
};

function queryVariable(v: Variable): Json {
  return {
    type: 'query',
    name: v.name,
    label: v.label,
    datasource: DATASOURCE,
    query: v.query,
    definition: v.query,
    refresh: 2,
    multi: true,
    includeAll: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    regex: '',
    hide: 0,
  };
}

/** Grafana's own annotations, then rule events raised (red) and cleared (green) from `events`. */
function ruleAnnotations(filter: string): Json[] {
  const query = (state: string) =>
    `SELECT "message", "rule", "device_id", "severity", "value", "ticket_id" FROM "events" WHERE "state" = '${state}' AND ${filter} AND $timeFilter`;
  return [
    { builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' },
    { name: 'Rule raised', datasource: DATASOURCE, enable: true, iconColor: 'red', query: query('raised'), textColumn: 'message', tagsColumn: 'rule,device_id,severity' },
    { name: 'Rule cleared', datasource: DATASOURCE, enable: true, iconColor: 'green', query: query('cleared'), textColumn: 'message', tagsColumn: 'rule,device_id' },
  ];
}

function board(head: { uid: string; title: string; description: string }, variables: readonly Variable[], annotationFilter: string, panels: readonly Panel[]): Json {
  return {
    uid: head.uid,
    title: head.title,
    description: head.description,
    ...frame,
    templating: { list: variables.map(queryVariable) },
    annotations: { list: ruleAnnotations(annotationFilter) },
    panels,
  };
}

/** What boards and the city overview call a type's devices: its board's `plural`, else its definition's (`noise sensors`). */
export function pluralOf(folder: TypeFolder): string {
  return folder.board?.plural ?? folder.definition.plural;
}

/** The field every reading of the type carries (its first required one): what counts its readings and devices. */
export function presenceField(def: DeviceTypeDefinition): string {
  const field = Object.entries(def.fields as Record<string, FieldBlock>).find(([, b]) => b.required)?.[0];
  if (!field) throw new Error(`device type ${def.name}: needs a required field of its own for the city overview to count its readings`);
  return field;
}

const target = (refId: string, query: string, resultFormat: 'time_series' | 'table', extra: Json = {}): Json => ({
  refId,
  datasource: DATASOURCE,
  rawQuery: true,
  query,
  resultFormat,
  ...extra,
});

const districtFilter = '"district" =~ /^$district$/';
const deviceFilter = `${districtFilter} AND "device_id" =~ /^$device$/`;

/** The city overview's queries for one type: devices that reported, and readings per second. */
export function overviewTargets(folder: TypeFolder, refId: string): { devicesReporting: Json; readingsPerSecond: Json } {
  const { measurement } = folder.definition;
  const f = presenceField(folder.definition);
  const plural = pluralOf(folder);
  return {
    devicesReporting: target(
      refId,
      `SELECT count("${f}") AS "${measurement}" FROM (SELECT last("${f}") AS "${f}" FROM "${measurement}" WHERE $timeFilter AND ${districtFilter} GROUP BY "device_id")`,
      'time_series',
      { alias: plural },
    ),
    readingsPerSecond: target(refId, `SELECT count("${f}") * 1000 / $__interval_ms AS "${plural}" FROM "${measurement}" WHERE $timeFilter AND ${districtFilter} GROUP BY time($__interval)`, 'time_series'),
  };
}

/**
 * The board of a type without a `grafana.json`: per own field, its mean by district over time (a
 * number) or its latest value per device (an enum or string).
 */
export function generatedTypeBoard(folder: TypeFolder): TypeBoard {
  const { name, measurement } = folder.definition;
  const plural = pluralOf(folder);
  const panels = Object.entries(folder.definition.fields as Record<string, FieldBlock>).map(([field, block], i): Panel => {
    const common = { id: i + 1, title: field, datasource: DATASOURCE, gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 }, description: block.doc };
    if (block.kind === 'string') {
      const query = `SELECT last("${field}") AS "${field}" FROM "${measurement}" WHERE $timeFilter AND ${deviceFilter} GROUP BY "device_id", "district"`;
      return { ...common, type: 'table', targets: [target('A', query, 'table')] };
    }
    const query = `SELECT mean("${field}") FROM "${measurement}" WHERE $timeFilter AND ${deviceFilter} GROUP BY time($__interval), "district" fill(none)`;
    return { ...common, type: 'timeseries', targets: [target('A', query, 'time_series', { alias: '$tag_district' })] };
  });
  return {
    uid: `citypipe-${name}`,
    title: `citypipe · ${plural.charAt(0).toUpperCase()}${plural.slice(1)}`,
    description: `Every field of ${name} (generated from its definition; add a grafana.json to its folder for a board of its own).`,
    deviceLabel: 'Device',
    panels,
  };
}

/** A type's board: its folder's `grafana.json` (or the generated one), with the district and device variables. */
export function typeBoard(folder: TypeFolder): BoardFile {
  const b = folder.board ?? generatedTypeBoard(folder);
  const m = folder.definition.measurement;
  const variables: Variable[] = [
    { name: 'district', label: 'District', query: `SHOW TAG VALUES FROM "${m}" WITH KEY = "district"` },
    { name: 'device', label: b.deviceLabel, query: `SHOW TAG VALUES FROM "${m}" WITH KEY = "device_id" WHERE ${districtFilter}` },
  ];
  return { file: `${b.uid.slice('citypipe-'.length)}.json`, dashboard: board(b, variables, '"device_id" =~ /^$device$/', b.panels) };
}

function sharedBoard(file: string, fill: (panel: Panel) => Panel = (p) => p): BoardFile {
  const src = JSON.parse(readFileSync(path.join(sourcesDir, file), 'utf8')) as SharedBoardSource;
  return { file, dashboard: board(src, src.variables, src.annotationFilter, src.panels.map(fill)) };
}

/** The city overview: a panel whose `targets` is `{ "perDeviceType": … }` gets one query per type, A, B, C… */
function cityOverview(folders: readonly TypeFolder[]): BoardFile {
  const perType = folders.map((f, i) => overviewTargets(f, String.fromCharCode(65 + i)));
  return sharedBoard('city-overview.json', (panel) => {
    const spec = (panel['targets'] as { perDeviceType?: unknown } | undefined)?.perDeviceType;
    if (spec === undefined) return panel;
    if (spec !== 'devicesReporting' && spec !== 'readingsPerSecond') throw new Error(`src/grafana/city-overview.json: panel "${String(panel['title'])}": unknown perDeviceType ${JSON.stringify(spec)}`);
    return { ...panel, targets: perType.map((t) => t[spec]) };
  });
}

/** Every provisioned board: the city overview, each type's board (registry order), pipeline health. */
export function boardFiles(folders: readonly TypeFolder[] = registeredTypeFolders()): BoardFile[] {
  return [cityOverview(folders), ...folders.map(typeBoard), sharedBoard('pipeline-health.json')];
}
