/**
 * The provisioned Grafana boards as data: every InfluxQL query in them (panel targets, annotations,
 * template variables), expanded the way Grafana's InfluxDB datasource expands it, so a test can run
 * each one against a real InfluxDB and check that the panel would have something to draw.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The parts of Grafana's dashboard JSON these checks read. */
export interface GrafanaTarget {
  refId: string;
  query?: string;
  rawQuery?: boolean;
  resultFormat?: 'time_series' | 'table' | 'logs';
  datasource?: { type?: string; uid?: string };
}
export interface GrafanaPanel {
  id?: number;
  type: string;
  title: string;
  interval?: string;
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
  options?: Record<string, unknown>;
  transformations?: { id: string; options?: Record<string, unknown>; disabled?: boolean }[];
}
export interface GrafanaAnnotation {
  name: string;
  builtIn?: number;
  datasource?: { type?: string; uid?: string };
  query?: string;
  textColumn?: string;
  tagsColumn?: string;
  titleColumn?: string;
}
export interface GrafanaVariable {
  type: string;
  name: string;
  query?: string | { query?: string };
  multi?: boolean;
  includeAll?: boolean;
  datasource?: { type?: string; uid?: string };
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: GrafanaPanel[];
  annotations?: { list: GrafanaAnnotation[] };
  templating?: { list: GrafanaVariable[] };
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

/** Every `*.json` in `dir`, parsed. */
export function loadDashboards(dir: string): DashboardFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, dashboard: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Dashboard }));
}

/** One query of a board, with what its panel needs from the answer. */
export interface BoardQuery {
  dashboard: string;
  kind: 'panel' | 'annotation' | 'variable';
  /** Panel title, annotation name or variable name. */
  title: string;
  refId: string;
  panelType: string;
  /** As written in the board, macros unexpanded. */
  query: string;
  format: 'time_series' | 'table';
  /** The panel's minimum interval (`interval`), ms; 0 when it has none. */
  minIntervalMs: number;
  /** Columns the panel reads by name: they must be in the answer (Grafana's `Time` is InfluxDB's `time`). */
  requiredColumns: string[];
}

const INFLUX = 'influxdb';

function isInflux(ds: { type?: string } | undefined, fallback: { type?: string } | undefined): boolean {
  return (ds ?? fallback)?.type === INFLUX;
}

/** Panels, including those folded into rows. */
function allPanels(panels: readonly GrafanaPanel[]): GrafanaPanel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

function varQuery(v: GrafanaVariable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
}

/**
 * Columns a panel reads by name, before its transformations change them: a geomap's latitude,
 * longitude, colour and text fields; a table's columns (its `organize` transformation lists them);
 * the inputs of `formatTime` and `groupBy`. Names produced by an earlier transformation are not
 * required of the query.
 */
export function requiredColumnsOf(panel: GrafanaPanel): string[] {
  const cols = new Set<string>();
  if (panel.type === 'geomap') {
    const layers = (panel.options?.layers ?? []) as { location?: { mode?: string; latitude?: string; longitude?: string }; config?: { style?: Record<string, { field?: string }> } }[];
    for (const layer of layers) {
      if (layer.location?.mode === 'coords') {
        if (layer.location.latitude) cols.add(layer.location.latitude);
        if (layer.location.longitude) cols.add(layer.location.longitude);
      }
      for (const dim of Object.values(layer.config?.style ?? {})) if (dim && typeof dim === 'object' && typeof dim.field === 'string' && dim.field) cols.add(dim.field);
    }
  }
  const produced = new Set<string>();
  for (const tr of panel.transformations ?? []) {
    if (tr.disabled) continue;
    const o = tr.options ?? {};
    const need = (name: string) => {
      if (!produced.has(name)) cols.add(name);
    };
    if (tr.id === 'organize') {
      const excluded = (o.excludeByName ?? {}) as Record<string, boolean>;
      for (const name of Object.keys((o.indexByName ?? {}) as Record<string, number>)) if (!excluded[name]) need(name);
      for (const [from, to] of Object.entries((o.renameByName ?? {}) as Record<string, string>)) produced.add(to || from);
    } else if (tr.id === 'formatTime') {
      need(String(o.timeField));
    } else if (tr.id === 'groupBy') {
      const fields = (o.fields ?? {}) as Record<string, { operation?: string; aggregations?: string[] }>;
      for (const [name, f] of Object.entries(fields)) {
        if (!f.operation) continue;
        need(name);
        for (const a of f.aggregations ?? []) produced.add(`${name} (${a})`);
      }
    } else {
      // Later transformations (groupingToMatrix, sortBy, …) read what earlier ones produced.
      break;
    }
  }
  return [...cols];
}

function parseDurationMs(s: string | undefined): number {
  if (!s) return 0;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s.trim().replace(/^>/, ''));
  if (!m) throw new Error(`cannot read the panel interval "${s}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Every InfluxQL query of a board: panel targets, annotations, query variables. */
export function boardQueries(d: Dashboard): BoardQuery[] {
  const out: BoardQuery[] = [];
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    out.push({ dashboard: d.title, kind: 'variable', title: `$${v.name}`, refId: v.name, panelType: 'variable', query: varQuery(v), format: 'table', minIntervalMs: 0, requiredColumns: ['value'] });
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.builtIn || !isInflux(a.datasource, undefined)) continue;
    const cols = [a.textColumn, a.titleColumn, ...(a.tagsColumn ?? '').split(',')].map((c) => c?.trim()).filter((c): c is string => !!c);
    out.push({ dashboard: d.title, kind: 'annotation', title: a.name, refId: 'Anno', panelType: 'annotation', query: a.query ?? '', format: 'table', minIntervalMs: 0, requiredColumns: cols });
  }
  for (const p of allPanels(d.panels)) {
    if (p.type === 'row') continue;
    const required = requiredColumnsOf(p);
    for (const target of p.targets ?? []) {
      if (!isInflux(target.datasource, p.datasource)) continue;
      out.push({
        dashboard: d.title,
        kind: 'panel',
        title: p.title,
        refId: target.refId,
        panelType: p.type,
        query: target.rawQuery ? (target.query ?? '') : '',
        format: target.resultFormat === 'table' ? 'table' : 'time_series',
        minIntervalMs: parseDurationMs(p.interval),
        requiredColumns: required.map((c) => (c === 'Time' ? 'time' : c)),
      });
    }
  }
  return out;
}

/** Grafana's interval text: `10s`, `1m`, `1h`, `500ms`. */
export function formatInterval(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Grafana's rounding of range / max data points to a readable interval (rangeutil.roundInterval). */
export function roundInterval(ms: number): number {
  const steps: [number, number][] = [
    [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000], [7500, 5000],
    [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000], [90_000, 60_000], [210_000, 120_000],
    [450_000, 300_000], [750_000, 600_000], [1_050_000, 900_000], [1_500_000, 1_200_000], [2_700_000, 1_800_000],
    [5_400_000, 3_600_000], [9_000_000, 7_200_000], [16_200_000, 10_800_000], [32_400_000, 21_600_000],
    [86_400_000, 43_200_000], [604_800_000, 86_400_000],
  ];
  for (const [below, value] of steps) if (ms < below) return value;
  return 604_800_000;
}

/** Regex metacharacters, as Grafana's InfluxDB datasource escapes a variable value for `=~ /…/`. */
export function escapeInfluxRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/** What a dashboard is looking at when Grafana expands a query. */
export interface ExpandContext {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  /** Template variable → its selected values (all of them, as "All" selects). */
  vars: Readonly<Record<string, readonly string[]>>;
}

/**
 * Expands a query as Grafana does before sending it to InfluxDB: `$timeFilter` / `$__timeFilter`,
 * `$__interval`, `$__interval_ms`, and template variables in the regex form of a multi-value
 * variable (`(a|b)`, one value unparenthesised, each escaped). Throws on a `$name` it cannot expand:
 * Grafana would send it as is and InfluxDB would refuse the query.
 */
export function expandQuery(query: string, ctx: ExpandContext): string {
  const timeFilter = `time >= ${Math.floor(ctx.fromMs)}ms and time <= ${Math.ceil(ctx.toMs)}ms`;
  const builtins: Record<string, string> = {
    timeFilter,
    __timeFilter: timeFilter,
    __interval: formatInterval(ctx.intervalMs),
    __interval_ms: String(ctx.intervalMs),
  };
  const value = (name: string): string => {
    const b = builtins[name];
    if (b !== undefined) return b;
    const values = ctx.vars[name];
    if (values === undefined) throw new Error(`unknown variable $${name} in: ${query}`);
    if (values.length === 0) throw new Error(`variable $${name} has no values (its query found none), needed by: ${query}`);
    const escaped = values.map(escapeInfluxRegex);
    return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
  };
  return query.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined, c: string | undefined) => value((a ?? b ?? c)!));
}

/** An InfluxQL answer as Grafana's table format sees it: one row per value, series tags as columns. */
export interface InfluxAnswer {
  columns: string[];
  rows: Record<string, unknown>[];
  /** Names of columns that are series tags (GROUP BY), not values. */
  tagColumns: string[];
}

interface QueryResponse {
  error?: string;
  results?: { error?: string; series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[];
}

/** Runs one InfluxQL statement over HTTP `/query` (GET, like Grafana's `httpMode: GET`). Throws InfluxDB's error. */
export async function runInfluxql(url: string, db: string, q: string): Promise<InfluxAnswer> {
  const params = new URLSearchParams({ db, q, epoch: 'ms' });
  const res = await fetch(`${url}/query?${params.toString()}`);
  const body = (await res.json().catch(() => ({}))) as QueryResponse;
  const error = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!res.ok || error) throw new Error(`InfluxDB refused it (HTTP ${res.status}): ${error ?? res.statusText}`);
  const columns = new Set<string>();
  const tagColumns = new Set<string>();
  const rows: Record<string, unknown>[] = [];
  for (const result of body.results ?? []) {
    for (const s of result.series ?? []) {
      for (const t of Object.keys(s.tags ?? {})) {
        columns.add(t);
        tagColumns.add(t);
      }
      for (const c of s.columns) columns.add(c);
      for (const values of s.values) {
        const row: Record<string, unknown> = { ...s.tags };
        s.columns.forEach((c, i) => (row[c] = values[i]));
        rows.push(row);
      }
    }
  }
  return { columns: [...columns], rows, tagColumns: [...tagColumns] };
}

/**
 * What is wrong with a query's answer for its panel, or undefined: no rows; no value at all (only
 * nulls, as an empty GROUP BY time with fill(null) answers); a column the panel reads is missing.
 */
export function problemWith(q: BoardQuery, answer: InfluxAnswer): string | undefined {
  if (answer.rows.length === 0) return 'returned no rows';
  const missing = q.requiredColumns.filter((c) => !answer.columns.includes(c));
  if (missing.length > 0) return `lacks column(s) ${missing.join(', ')} (it has ${answer.columns.join(', ')})`;
  const valueColumns = answer.columns.filter((c) => c !== 'time' && !answer.tagColumns.includes(c));
  if (valueColumns.length === 0) return `has no value column (it has ${answer.columns.join(', ')})`;
  if (!answer.rows.some((r) => valueColumns.some((c) => r[c] !== null && r[c] !== undefined))) return `has only null values in ${valueColumns.join(', ')}`;
  return undefined;
}

/** One query's problem, with the query as sent. */
export interface QueryProblem {
  query: BoardQuery;
  problem: string;
  /** The query after macro expansion (what InfluxDB was asked). */
  expanded: string;
}

/**
 * One message per broken panel (annotation, variable): `dashboard › panel "title"`, then each broken
 * target with its problem and the query as sent.
 */
export function describeFailures(problems: readonly QueryProblem[]): string[] {
  const byPanel = new Map<string, QueryProblem[]>();
  for (const p of problems) {
    const q = p.query;
    const what = q.kind === 'panel' ? `panel "${q.title}"` : q.kind === 'annotation' ? `annotation "${q.title}"` : `variable ${q.title}`;
    const key = `${q.dashboard} › ${what}`;
    byPanel.set(key, [...(byPanel.get(key) ?? []), p]);
  }
  return [...byPanel].map(([key, list]) => `${key}: ${list.map((p) => `[${p.query.refId}] ${p.problem}\n    query: ${p.expanded}`).join('\n  ')}`);
}
