/**
 * What rule evaluation costs per reading, with the default rules over a generated fleet and the
 * state store on disk (synchronous = FULL):
 *
 *   node --import ./src/spool/testing/register-ts.mjs src/dispatch/rules/evaluate.bench.ts [--devices 20000] [--readings 1000000] [--dir /path]
 *
 * Scenarios: a mixed fleet in steady state (few state changes; each type's `bench.rules.steady`);
 * only the types with a rule on the sun's position (computed for each reading: the day-burner); and
 * the worst case, where every reading changes a rule's state (`bench.rules.flip`) and so costs a
 * row in the batch's transaction.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deviceRecordSchema, type DeviceRecord } from '../../catalog/types.js';
import { RuleStateStore } from '../rule-state-store.js';
import { defaultRulesFile } from '../rules-stage.js';
import type { RuleInput } from '../types.js';
import { CompiledRules } from './compile.js';
import { RuleEngine } from './evaluate.js';
import { RuleBook } from './rule-book.js';
import { deviceTypeModule, deviceTypeNames } from '../../device-types/registry.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '20000' },
    readings: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '512' },
    dir: { type: 'string' },
  },
});
const deviceCount = Number(values.devices);
const readingCount = Number(values.readings);
const batchSize = Number(values.batch);

const TYPES: readonly string[] = deviceTypeNames;
const DISTRICTS = ['centrum', 'west', 'zuid', 'oost', 'noord', 'nieuw-west'];
/** 22:00 UTC in June: the lamps of Amsterdam are on. */
const START = Date.parse('2026-06-01T22:00:00Z');

let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

function fleet(types: readonly string[]): DeviceRecord[] {
  return Array.from({ length: deviceCount }, (_, i) =>
    deviceRecordSchema.parse({
      id: `dev-${i}`,
      type: types[i % types.length]!,
      location: { lat: 52.3 + rand() * 0.1, lon: 4.8 + rand() * 0.15 },
      district: DISTRICTS[i % DISTRICTS.length],
      reportingIntervalS: 300,
      // The attributes the type's rules read (a lamp's powerRating), as its first demo device has them.
      attributes: { ...deviceTypeModule(types[i % types.length]!)!.demo.devices[0]?.attributes },
    }),
  );
}

function fields(d: DeviceRecord, i: number, churn: boolean): Record<string, number | string> {
  const rules = deviceTypeModule(d.type)!.bench.rules;
  return churn ? rules.flip(i) : rules.steady(rand);
}

function readings(devices: readonly DeviceRecord[], churn: boolean): RuleInput[] {
  const out: RuleInput[] = [];
  for (let i = 0; i < readingCount; i++) {
    const d = devices[i % devices.length]!;
    const round = Math.floor(i / devices.length);
    const timeMs = START + round * 300_000 + (i % 1000);
    out.push({ type: d.type, deviceId: d.id, district: d.district, timeMs, receivedAt: timeMs, fields: fields(d, round, churn) });
  }
  return out;
}

function run(name: string, devices: readonly DeviceRecord[], churn: boolean): void {
  const dir = values.dir ?? mkdtempSync(path.join(tmpdir(), 'citypipe-rules-bench-'));
  const store = new RuleStateStore({ file: path.join(dir, `rule-state-${name.replace(/\W+/g, '-')}.db`) });
  store.open();
  let written = 0;
  const save = store.save.bind(store);
  store.save = (rows) => {
    written += rows.length;
    save(rows);
  };
  const catalog = new Map(devices.map((d) => [d.id, d]));
  const engine = new RuleEngine({ compiled: new CompiledRules(RuleBook.load(defaultRulesFile)), catalog, store, now: () => START });
  const input = readings(devices, churn);
  // First round: compile per device and load its (empty) state; measured apart from the steady state.
  const firstRound = input.slice(0, devices.length);
  const t0 = performance.now();
  for (let i = 0; i < firstRound.length; i += batchSize) engine.evaluate(firstRound.slice(i, i + batchSize));
  const warm = performance.now() - t0;
  const rest = input.slice(devices.length);
  const batches: RuleInput[][] = [];
  for (let i = 0; i < rest.length; i += batchSize) batches.push(rest.slice(i, i + batchSize));
  const t1 = performance.now();
  let events = 0;
  written = 0;
  for (const b of batches) events += engine.evaluate(b).length;
  const ms = performance.now() - t1;
  store.close();
  if (!values.dir) rmSync(dir, { recursive: true, force: true });
  console.log(
    `${name.padEnd(44)} ${Math.round(rest.length / (ms / 1000))
      .toLocaleString('en')
      .padStart(11)} readings/s   ${(((ms * 1000) / rest.length) | 0).toString().padStart(3)} µs/reading   ${events.toLocaleString('en').padStart(9)} events ${written.toLocaleString('en').padStart(9)} state writes   first sight of ${devices.length.toLocaleString('en')} devices: ${Math.round(warm)} ms`,
  );
}

console.log(`${deviceCount.toLocaleString('en')} devices, ${readingCount.toLocaleString('en')} readings, batches of ${batchSize}, state on disk (synchronous = FULL)`);
run('mixed fleet, steady state', fleet(TYPES), false);
// The types with a rule on the sun's position (the day-burner), which costs a suncalc call per reading.
const sunTypes = [...new Set(RuleBook.load(defaultRulesFile).rules.filter((r) => JSON.stringify(r.condition).includes('"kind":"sunUp"')).map((r) => r.deviceType))].filter((t) => TYPES.includes(t));
if (sunTypes.length > 0) run(`only ${sunTypes.join(', ')} (sun position each)`, fleet(sunTypes), false);
// Every 5-minute reading flips a rule: the flapping guard holds most of them after 6, but each still
// changes the stored state (its flap history).
run('worst case: every reading changes a state', fleet(TYPES), true);
