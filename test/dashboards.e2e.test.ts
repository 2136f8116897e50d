/**
 * Every query of every provisioned Grafana board, against real data: the real service takes a
 * simulated fleet (every registered device type, two simulated hours at 720× speed) and a few
 * scripted devices (each type's `fixtures/board-data.json`) over MQTT and writes them to the run's
 * InfluxDB; then every panel target, annotation and
 * template-variable query is expanded as Grafana expands it and must answer with the columns its
 * panel reads.
 *
 * The service writes its own points: `events` (from the rules the scripted devices trip),
 * `citypipe` (self-monitoring), `device_state` and `collection_plan`; the test only asks it to write
 * them now rather than on its schedule. Seeded on top, because a run of seconds cannot reach them:
 * events of rules that need hours of device time or a silent device (`device.offline`,
 * `device.battery`, the type's own from its `board-data.json`, and clears), in the shape CONTRACT §4
 * gives.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { quoteString, escapeTag } from '../src/sink/influx/line-protocol.js';
import { startFleet, type Fleet } from '../simulators/fleet.js';
import { deviceTypeModules, deviceTypes } from '../src/device-types/registry.js';
import { typeFixtures, typeFolder } from '../src/device-types/testing/fixtures.js';
import { registeredTypeFolders, typeFolder as folderOf } from '../src/device-types/type-folder.js';
import { boardFiles, typeBoard } from '../src/grafana/boards.js';
import { airQualityType } from '../src/device-types/testing/air-quality/index.js';
import { validateTelemetry } from '../src/ingest/validate.js';
import { toLine } from '../src/sink/influx/line-protocol.js';
import { deviceSeed, mulberry32 } from '../simulators/prng.js';
import { fileURLToPath } from 'node:url';
import { defaultRuleSet } from '../src/dispatch/default-rules.js';
import { RuleStateStore } from '../src/dispatch/rule-state-store.js';
import { CompiledRules } from '../src/dispatch/rules/compile.js';
import { RuleEngine } from '../src/dispatch/rules/evaluate.js';
import { RuleBook } from '../src/dispatch/rules/rule-book.js';
import { TestCatalog } from '../src/dispatch/testing/fixtures.js';
import type { RuleEvent } from '../src/dispatch/types.js';
import { toLine as loggedEventLine } from '../src/events/event-log.js';
import type { IngestStats } from '../src/observability/metrics.js';
import {
  boardQueries,
  describeFailures,
  expandQuery,
  loadDashboards,
  problemWith,
  roundInterval,
  runInfluxql,
  type BoardQuery,
  type Dashboard,
  type ExpandContext,
  type QueryProblem,
} from './helpers/grafana.js';
import { connectDevice, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';
import { root } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const boardsDir = path.join(root, 'grafana', 'dashboards');
const HOUR = 3_600_000;

const districts = ['centrum', 'noord', 'nieuw-west'];

interface EventSpec {
  device: TestDevice;
  rule: string;
  severity: 'info' | 'warning' | 'urgent';
  state: 'raised' | 'cleared';
  atMs: number;
  value: string;
  ticketId: string;
  message: string;
}

/**
 * A type's `fixtures/board-data.json`: devices with scripted readings for conditions a short
 * simulated run may not reach (a full bin, a jammed meter, a day-burner, a failed lamp with low
 * mains), so that every panel of its board has something to show, and events of its rules to seed.
 */
interface BoardData {
  scripted: {
    name: string;
    district: string;
    attributes: Record<string, string | number>;
    /** Readings without `ts`, sent `agoMin` minutes before the test's now. */
    readings: { agoMin: number; reading: Record<string, unknown> }[];
    /** Service codes of the tickets these readings open. */
    tickets?: string[];
  }[];
  /** `device`: a scripted device's name, or `fleet` for the type's first fleet device. */
  events: (Omit<EventSpec, 'device' | 'atMs'> & { device: string; agoMin: number })[];
}

/** Every registered type: its devices in the simulated fleet (one per district), its scripted devices and its board data. */
const typed = deviceTypeModules.map((m) => {
  const name = m.definition.name;
  const file = new URL('fixtures/board-data.json', typeFolder(name));
  const data: BoardData = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BoardData) : { scripted: [], events: [] };
  return {
    name,
    attributes: { ...m.demo.devices[0]?.attributes },
    fleet: districts.map((d) => testDevice(name, d, { ...m.demo.devices[0]?.attributes })),
    scripted: data.scripted.map((s) => ({ ...s, device: testDevice(name, s.district, s.attributes) })),
    events: data.events,
    fixtures: typeFixtures(typeFolder(name)),
  };
});
const fleetDevices: TestDevice[] = districts.flatMap((_, i) => typed.map((t) => t.fleet[i]!));
// Reports once and then falls silent: with a 1 s reporting interval the deadman sweep finds it offline.
const lastType = typed.at(-1)!;
const silentDevice = testDevice(lastType.name, 'noord', lastType.attributes);
silentDevice.record.reportingIntervalS = 1;
const scripted = [...typed.flatMap((t) => t.scripted.map((s) => s.device)), silentDevice];
const allDevices = [...fleetDevices, ...scripted];
/** The tickets the scripted readings open, by service code. */
const scriptedTickets = new Map<string, number>();
for (const code of typed.flatMap((t) => t.scripted.flatMap((s) => s.tickets ?? []))) scriptedTickets.set(code, (scriptedTickets.get(code) ?? 0) + 1);

let svc: RunningService;
let fleet: Fleet | undefined;
const clients: MqttClient[] = [];
let testStart: number;

async function writeLines(lines: string[]): Promise<void> {
  const res = await fetch(`${influxUrl}/write?db=${svc.db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
  if (res.status !== 204) throw new Error(`write refused (${res.status}): ${await res.text()}`);
}

/** What `/api/stats` answers. */
type ApiStats = IngestStats & { deadLettersByReason: Record<string, number> };

// ------------------------------------------------------------------ scripted readings, events, plan

async function publish(device: TestDevice, readings: Record<string, unknown>[] | string): Promise<void> {
  const c = await connectDevice(svc.mqttUrl, device);
  clients.push(c);
  await c.publishAsync(telemetryTopic(device), typeof readings === 'string' ? readings : JSON.stringify(readings), { qos: 1 });
}

async function publishScripted(now: number): Promise<void> {
  const at = (agoMin: number) => now - agoMin * 60_000;
  for (const t of typed) {
    for (const { device, readings } of t.scripted) await publish(device, readings.map((r) => ({ ts: at(r.agoMin), ...r.reading })));
  }
  await publish(silentDevice, [{ ts: at(15), seq: 1, ...lastType.fixtures.base }]);
}

/** Dead letters, so the pipeline board has reasons to show: a value out of range, and a payload that is no JSON. */
async function publishRejected(now: number): Promise<void> {
  const [a, b = a] = [typed[0]!, typed[1]];
  const outOfRange = a.fixtures.invalid.find((f) => f.reason === 'out_of_range' && f.path !== 'ts' && f.path !== 'seq')!;
  await publish(a.scripted[0]?.device ?? a.fleet[0]!, [{ ...outOfRange.reading, ts: now - 3 * 60_000, seq: 4 }]);
  await publish(b.scripted[0]?.device ?? b.fleet[0]!, 'not json');
}

/** `events` exactly as CONTRACT §4 has it: value always a string. */
function eventLine(e: EventSpec): string {
  const r = e.device.record;
  return (
    `events,device_id=${escapeTag(r.id)},district=${escapeTag(r.district)},rule=${escapeTag(e.rule)},severity=${e.severity},state=${e.state} ` +
    `value=${quoteString(e.value)},ticket_id=${quoteString(e.ticketId)},message=${quoteString(e.message)} ${e.atMs}`
  );
}

function seedEvents(now: number): string[] {
  const at = (agoMin: number) => now - agoMin * 60_000;
  const events: EventSpec[] = [];
  for (const t of typed) {
    const fleetDevice = t.fleet[0]!;
    for (const { device, agoMin, ...e } of t.events) {
      events.push({ ...e, device: device === 'fleet' ? fleetDevice : t.scripted.find((s) => s.name === device)!.device, atMs: at(agoMin) });
    }
    // The rules every type has.
    events.push(
      { device: fleetDevice, rule: 'device.battery', severity: 'info', state: 'raised', atMs: at(95), value: '0.12', ticketId: `REQ-${t.name}-11`, message: 'batteryLevel 0.12 < 0.15' },
      { device: fleetDevice, rule: 'device.battery', severity: 'info', state: 'cleared', atMs: at(35), value: '0.98', ticketId: `REQ-${t.name}-11`, message: 'battery replaced' },
    );
  }
  events.push({ device: lastType.fleet[0]!, rule: 'device.offline', severity: 'warning', state: 'raised', atMs: at(12), value: '1800', ticketId: 'REQ-10', message: 'silent for 30 min' });
  return events.map(eventLine);
}

// ------------------------------------------------------------------ the run

beforeAll(async () => {
  testStart = Date.now();
  svc = await startTestService(influxUrl, allDevices);
  const dispatcher = svc.service.dispatcher!;
  const firstSnapshotAt = Date.now();
  await dispatcher.flushToInflux({ stats: true });
  fleet = await startFleet({
    mqttUrl: svc.mqttUrl,
    devices: fleetDevices.map((d) => d.record),
    credentials: new Map(fleetDevices.map((d) => [d.record.id, d.secret])),
    intervalS: 60,
    speed: 720,
    from: { agoMs: 2 * HOUR },
    atNow: 'stop',
    seed: 7,
    firstWithinMs: 50,
  });
  await publishScripted(Date.now());
  // The service writes a snapshot every 10 s; here one a second while the fleet runs, so the
  // rate panels see the counters move.
  const snapshots = (async () => {
    for (;;) {
      const done = await Promise.race([fleet!.finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 1000))]);
      await dispatcher.flushToInflux({ stats: true });
      if (done) return;
    }
  })();
  const end = await Promise.race([fleet.finished, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 40_000))]);
  if (end === 'timeout') throw new Error(`the simulated fleet did not catch up within 40 s: ${JSON.stringify(fleet.stats())}`);
  await snapshots;
  expect(fleet.stats().published).toBeGreaterThan(fleetDevices.length * 60);
  // Rejected after the first snapshots, and the last snapshot in a later 10 s bucket than the first,
  // so that "new dead letters" has a before and an after even at the boards' finest interval.
  await publishRejected(Date.now());
  const nextBucket = (Math.floor(firstSnapshotAt / 10_000) + 1) * 10_000;
  if (Date.now() < nextBucket) await new Promise((r) => setTimeout(r, nextBucket - Date.now() + 50));
  await waitFor(
    'every reading written or dead-lettered',
    async () => {
      const s = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as ApiStats;
      return s.pending === 0 && s.received >= fleet!.stats().published && s.deadLettered >= 2;
    },
    20_000,
  );
  // The rules the scripted devices trip have opened tickets by now (they run as readings are stored).
  await waitFor(
    "the scripted devices' tickets",
    async () => {
      const open = await dispatcher.openTicketsByService();
      return [...scriptedTickets].every(([code, n]) => open[code] === n);
    },
    10_000,
  );
  dispatcher.sweep();
  await waitFor('the silent device to be offline', async () => (await dispatcher.openTicketsByService())['device.offline'] === 1, 5000);
  dispatcher.generatePlan();
  await dispatcher.flushToInflux({ stats: true });
  await writeLines(seedEvents(Date.now()));
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  await svc?.stop();
});

// ------------------------------------------------------------------ checking the boards

const boards = loadDashboards(boardsDir);
/** One board per registered device type, filtered by district and device. */
const typeBoardUids = registeredTypeFolders().map((f) => String(typeBoard(f).dashboard['uid']));

/** Runs the board's variable queries in order (a later one may use an earlier one), values as "All" selects them. */
async function resolveVariables(d: Dashboard, base: Omit<ExpandContext, 'vars'>, problems: QueryProblem[]): Promise<Record<string, string[]>> {
  const vars: Record<string, string[]> = {};
  for (const q of boardQueries(d).filter((x) => x.kind === 'variable')) {
    let expanded = q.query;
    try {
      expanded = expandQuery(q.query, { ...base, vars });
      const answer = await runInfluxql(influxUrl, svc.db, expanded);
      const problem = problemWith(q, answer);
      if (problem) problems.push({ query: q, problem, expanded });
      vars[q.refId] = answer.rows.map((r) => String(r.value));
    } catch (err) {
      problems.push({ query: q, problem: (err as Error).message, expanded });
      vars[q.refId] = [];
    }
  }
  return vars;
}

/** Every query of the board, as Grafana would send it over the last 3 hours; one message per broken panel. */
async function checkBoard(d: Dashboard): Promise<{ failures: string[]; checked: BoardQuery[] }> {
  const toMs = Date.now() + 60_000;
  const fromMs = toMs - 3 * HOUR - 60_000;
  // Grafana: range / max data points (the panel's width, ~1000 px), rounded, at least the panel's own minimum.
  const autoMs = roundInterval((toMs - fromMs) / 1000);
  const problems: QueryProblem[] = [];
  const vars = await resolveVariables(d, { fromMs, toMs, intervalMs: autoMs }, problems);
  const checked: BoardQuery[] = [];
  for (const q of boardQueries(d).filter((x) => x.kind !== 'variable')) {
    checked.push(q);
    if (!q.query.trim()) {
      problems.push({ query: q, problem: 'has no raw InfluxQL query (the boards use raw InfluxQL only)', expanded: '' });
      continue;
    }
    let expanded = q.query;
    try {
      expanded = expandQuery(q.query, { fromMs, toMs, intervalMs: Math.max(autoMs, q.minIntervalMs), vars });
      const problem = problemWith(q, await runInfluxql(influxUrl, svc.db, expanded));
      if (problem) problems.push({ query: q, problem, expanded });
    } catch (err) {
      problems.push({ query: q, problem: (err as Error).message, expanded });
    }
  }
  return { failures: describeFailures(problems), checked };
}

describe('the provisioned boards', () => {
  it('are the city overview, one board per device type and pipeline health, each with its template variables and rule-event annotations', () => {
    expect(boards.map((b) => b.dashboard.title).sort()).toEqual(boardFiles().map((b) => b.dashboard['title']).sort());
    expect(boards.map((b) => b.dashboard.uid)).toEqual(expect.arrayContaining(['citypipe-overview', 'citypipe-pipeline', ...typeBoardUids]));
    expect(boards).toHaveLength(deviceTypes.length + 2);
    for (const { dashboard: d } of boards) {
      const names = (d.templating?.list ?? []).map((v) => v.name);
      if (typeBoardUids.includes(d.uid)) expect(names, d.title).toEqual(['district', 'device']);
      if (d.uid === 'citypipe-overview') expect(names, d.title).toEqual(['district']);
      for (const v of d.templating?.list ?? []) expect(String(v.query), `${d.title} $${v.name}`).toMatch(/^SHOW TAG VALUES FROM /);
      const annotations = (d.annotations?.list ?? []).filter((a) => !a.builtIn);
      expect(annotations.map((a) => a.name), d.title).toEqual(['Rule raised', 'Rule cleared']);
      for (const a of annotations) expect(a.query, `${d.title} ${a.name}`).toMatch(/FROM "events"/);
    }
  });

  it('point every query at the provisioned datasource, raw InfluxQL only', async () => {
    const { readFile } = await import('node:fs/promises');
    const ds = await readFile(path.join(root, 'grafana', 'provisioning', 'datasources', 'citypipe.yml'), 'utf8');
    const uid = /^\s*uid:\s*(\S+)/m.exec(ds)?.[1];
    expect(uid).toBeDefined();
    const wrong: string[] = [];
    for (const { dashboard: d } of boards) {
      for (const p of d.panels) {
        if (p.datasource?.uid !== uid) wrong.push(`${d.title} › ${p.title}: datasource ${JSON.stringify(p.datasource)}`);
        for (const t of p.targets ?? []) if (!t.rawQuery || t.datasource?.uid !== uid) wrong.push(`${d.title} › ${p.title} [${t.refId}]: not a raw query on ${uid}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  for (const { file, dashboard } of boards) {
    it(`${dashboard.title} (${file}): every panel, annotation and variable query answers with what its panel reads`, async () => {
      const { failures, checked } = await checkBoard(dashboard);
      // A board generated from a type's fields (no grafana.json) has a panel per field; the others more.
      const generated = registeredTypeFolders().find((f) => f.board === undefined && String(typeBoard(f).dashboard['uid']) === dashboard.uid);
      expect(checked.filter((q) => q.kind === 'panel').length).toBeGreaterThanOrEqual(generated ? Object.keys(generated.definition.fields).length : 6);
      expect(failures, `${failures.length} broken:\n${failures.join('\n')}`).toEqual([]);
    });
  }

  it('names the board, panel and query of a broken panel, one message per panel', async () => {
    const waste = boards.find((b) => b.dashboard.uid === 'citypipe-waste')!.dashboard;
    const broken: Dashboard = structuredClone(waste);
    // A misspelt field: InfluxDB answers nothing rather than an error.
    const fill = broken.panels.find((p) => p.title === 'Fill level')!;
    fill.targets![0]!.query = fill.targets![0]!.query!.replace('"fillingLevel"', '"fillLevel"');
    // A geomap without latitude: rows, but not what the panel reads.
    const map = broken.panels.find((p) => p.title === 'Collection plan map')!;
    map.targets![0]!.query = map.targets![0]!.query!.replace('last("lat") AS "lat", ', '');
    // Two broken targets of one panel: one message naming both.
    const temp = broken.panels.find((p) => p.title === 'Temperature and methane')!;
    for (const t of temp.targets!) t.query = t.query!.replace('$timeFilter', 'time > now() + 1d');
    // Syntax InfluxDB refuses.
    const stat = broken.panels.find((p) => p.title === 'Hottest bin')!;
    stat.targets![0]!.query = 'SELECT max("temperature" FROM "waste_bin" WHERE $timeFilter';
    const { failures } = await checkBoard(broken);
    expect(failures).toHaveLength(4);
    const [a, b, c, d] = [...failures].sort();
    expect(a).toMatch(/^citypipe · Waste › panel "Collection plan map": \[A\] lacks column\(s\) lat \(/);
    expect(b).toMatch(/^citypipe · Waste › panel "Fill level": \[A\] returned no rows\n {4}query: SELECT mean\("fillLevel"\) FROM "waste_bin" WHERE time >= \d+ms and time <= \d+ms AND "district" =~ \/\^\(centrum\|nieuw-west\|noord\)\$\/ AND "device_id" =~ \/\^\(waste-bin-/);
    expect(c).toMatch(/^citypipe · Waste › panel "Hottest bin": \[A\] InfluxDB refused it \(HTTP 400\)/);
    expect(d).toMatch(/^citypipe · Waste › panel "Temperature and methane": \[A\] returned no rows\n.*\n {2}\[B\] returned no rows/);
    expect(failures.join('\n')).not.toMatch(/\$(timeFilter|__interval|district|device)\b/);
  });
});

describe('a fifth device type added as one folder (src/device-types/testing/air-quality)', () => {
  it('gets a board and an overview row whose every query answers from its simulated readings', async () => {
    const def = airQualityType.definition;
    const fifth = folderOf(def, fileURLToPath(new URL('../src/device-types/testing/air-quality/', import.meta.url)));
    // Its simulator model's readings of the last two hours, one station per district, and a station
    // with scripted PM2.5 (above the rule's level for 70 minutes, then clean air), through the
    // validator and the line-protocol writer the pipeline uses; the rule engine, given the extended
    // type list as the registry would give it, raises and clears `air.pm25`, and its events are
    // written as the service writes them. (The running service does not know the type.)
    const now = Date.now();
    const start = now - 2 * HOUR;
    const book = RuleBook.parse(defaultRuleSet([...registeredTypeFolders(), fifth]), 'rules.json', { types: [...deviceTypes, def] });
    const station = (district: string, id = `ams-air-${district}`) =>
      ({ id, type: def.name, district, location: { lat: 52.37, lon: 4.89 }, reportingIntervalS: 60, attributes: {} }) as unknown as TestDevice['record'];
    const polluted = station('centrum', 'ams-air-polluted');
    const simulated = districts.map((d) => ({ record: station(d), sim: airQualityType.model.create(station(d), mulberry32(deviceSeed(3, station(d).id)), start, { faultRate: 1 }) }));
    const store = new RuleStateStore({ file: ':memory:' });
    store.open();
    let clock = start;
    const engine = new RuleEngine({ compiled: new CompiledRules(book), catalog: new TestCatalog([polluted, ...simulated.map((x) => x.record)]), store, now: () => clock });
    const lines: string[] = [];
    const events: RuleEvent[] = [];
    const take = (record: TestDevice['record'], t: number, reading: object) => {
      const payload = Buffer.from(JSON.stringify({ ts: t, ...reading }));
      const raw = { topic: `city/${def.name}/${record.id}/telemetry`, payload, receivedAt: t, clientId: record.id, username: record.id };
      const result = validateTelemetry(def, { type: def.name, deviceId: record.id }, raw, { maxPayloadBytes: 65536, maxBatch: 1000, maxAgeMs: 3 * HOUR, maxFutureMs: 60_000, maxDeadLetterPayloadBytes: 4096 });
      expect(result.deadLetters).toEqual([]);
      for (const r of result.readings) {
        lines.push(toLine(def, r, record.district));
        events.push(...engine.evaluate([{ type: r.type, deviceId: r.deviceId, district: record.district, timeMs: r.timeMs, receivedAt: t, fields: r.fields }]));
      }
    };
    let seq = 0;
    for (let t = start + 60_000; t <= now; t += 60_000) {
      clock = t;
      for (const { record, sim } of simulated) take(record, t, sim.next(t));
      take(polluted, t, { seq: ++seq, pm25: t < now - 40 * 60_000 ? 25 : 5, pm10: 30, no2: 12 });
    }
    store.close();
    expect(events.filter((e) => e.deviceId === polluted.id).map((e) => `${e.state} ${e.rule}`)).toEqual(['raised air.pm25', 'cleared air.pm25']);
    lines.push(...events.map((e) => loggedEventLine({ ...e, value: e.value, ticketId: undefined })));
    await writeLines(lines);
    const files = boardFiles([...registeredTypeFolders(), fifth]);
    const own = files.find((f) => f.file === `${def.name}.json`)!.dashboard as unknown as Dashboard;
    const ownResult = await checkBoard(own);
    expect(ownResult.checked.filter((q) => q.kind === 'panel').length).toBeGreaterThanOrEqual(Object.keys(def.fields).length);
    expect(ownResult.failures, ownResult.failures.join('\n')).toEqual([]);
    const overview = files.find((f) => f.file === 'city-overview.json')!.dashboard as unknown as Dashboard;
    const overviewResult = await checkBoard(overview);
    expect(overviewResult.checked.filter((q) => q.query.includes(`FROM "${def.measurement}"`)).length).toBe(2);
    expect(overviewResult.failures, overviewResult.failures.join('\n')).toEqual([]);
  });
});

describe('the seeded data the boards read', () => {
  it('came through the real service: readings of every type from the fleet and the scripted devices', async () => {
    for (const m of deviceTypes.map((d) => d.measurement)) {
      const [row] = (await runInfluxql(influxUrl, svc.db, `SELECT count(*) FROM "${m}" WHERE time >= ${testStart - 3 * HOUR}ms`)).rows;
      const counts = Object.entries(row ?? {}).filter(([k]) => k.startsWith('count_'));
      expect(Math.max(...counts.map(([, v]) => Number(v))), m).toBeGreaterThan(100);
    }
  });
});
