/**
 * A city adds a sensor kind. This proves that a device type is its folder plus one registry line:
 * `testing/air-quality/` is a fifth type that exists only as a folder, and the one line below is
 * what `registry.ts` would get. With it, the type passes the same contract as the registered ones
 * (validation of its fixtures and the shared common-field cases, its README, simulator model, fleet
 * defaults, demo devices and bench payload), and the fleet generator deals it out beside the others.
 *
 * Its default rules (`rules.json`) join the shipped rule set and fire on its readings (the rule
 * engine is given the extended type list, as the registry would give it), and its board (generated from its
 * fields, as it has no `grafana.json`) and its row of the city overview join the Grafana boards;
 * `test/dashboards.e2e.test.ts` runs every query of both against its readings in a real InfluxDB.
 * Nothing outside the folder names the type.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../catalog/types.js';
import { defaultRuleSet } from '../dispatch/default-rules.js';
import { RuleStateStore } from '../dispatch/rule-state-store.js';
import { CompiledRules } from '../dispatch/rules/compile.js';
import { RuleEngine } from '../dispatch/rules/evaluate.js';
import { RuleBook } from '../dispatch/rules/rule-book.js';
import { MIN, T0, TestCatalog, reading, summary } from '../dispatch/testing/fixtures.js';
import { boardFiles } from '../grafana/boards.js';
import { registeredTypeFolders, typeFolder } from './type-folder.js';
import { deviceTypeModules } from './registry.js';
import { describeDeviceType, expectFleetShares } from './testing/type-contract.js';
import { airQualityType } from './testing/air-quality/index.js';
import { generateFleet } from '../../simulators/generate-fleet.js';

// The one registry line.
const withAirQuality = [...deviceTypeModules, airQualityType];

describeDeviceType(airQualityType, new URL('./testing/air-quality/', import.meta.url));

describe('a fifth device type added as one folder', () => {
  it('is not registered: the shipped registry is unchanged', () => {
    expect(deviceTypeModules.map((m) => m.definition.name)).not.toContain(airQualityType.definition.name);
  });

  it('is dealt into a generated fleet in its share, beside the registered types', async () => {
    const fleet = await generateFleet({ count: 2000, districts: 5, seed: 4, types: withAirQuality, hash: async () => 'unused' });
    expectFleetShares(fleet.records, withAirQuality);
    for (const r of fleet.records.filter((x) => x.type === (airQualityType.definition.name as string))) {
      expect(r.id).toMatch(/^ams-air-\d{5}$/);
    }
  });

  it('brings its default rules into the shipped rule set, for its type', () => {
    const fifth = typeFolder(airQualityType.definition, fileURLToPath(new URL('./testing/air-quality/', import.meta.url)));
    const rules = defaultRuleSet([...registeredTypeFolders(), fifth]).rules as { id: string; deviceType: string }[];
    expect(rules.filter((r) => r.deviceType === 'air-quality').map((r) => r.id)).toEqual(['air.pm25']);
    // The registered types' rules are all still there, in front of it.
    const shipped = (defaultRuleSet().rules as { id: string }[]).map((r) => r.id);
    expect(rules.map((r) => r.id).filter((id) => id !== 'air.pm25')).toEqual(shipped);
  });

  it('has its rules evaluated on its readings: raised after their `for`, cleared below the clear level', () => {
    const fifth = typeFolder(airQualityType.definition, fileURLToPath(new URL('./testing/air-quality/', import.meta.url)));
    const types = withAirQuality.map((m) => m.definition);
    // Without the registry line the rules file names an unknown type and is refused with the reason.
    expect(() => RuleBook.parse(defaultRuleSet([...registeredTypeFolders(), fifth]), 'rules.json')).toThrow(/rule "air\.pm25".*deviceType/s);
    const book = RuleBook.parse(defaultRuleSet([...registeredTypeFolders(), fifth]), 'rules.json', { types });
    const problems: string[] = [];
    const compiled = new CompiledRules(book, { onProblem: (id, p) => problems.push(`${id}: ${p}`) });
    const sensor = {
      id: 'ams-air-00001',
      type: airQualityType.definition.name,
      district: 'centrum',
      location: { lat: 52.37, lon: 4.89 },
      reportingIntervalS: 300,
      attributes: {},
    } as unknown as DeviceRecord;
    const store = new RuleStateStore({ file: ':memory:' });
    store.open();
    try {
      let clock = T0;
      const engine = new RuleEngine({ compiled, catalog: new TestCatalog([sensor]), store, now: () => clock });
      const at = (min: number, pm25: number) => (clock = T0 + min * MIN) && engine.evaluate([reading(sensor, T0 + min * MIN, { pm25, pm10: 20, no2: 10 })]).map(summary);
      expect(at(0, 22)).toEqual([]);
      expect(at(30, 25)).toEqual([]); // not yet an hour
      expect(at(61, 18)).toEqual(['ams-air-00001 raised air.pm25']);
      expect(at(70, 12)).toEqual([]); // between clear (10) and raise (15): holds
      expect(at(80, 8)).toEqual(['ams-air-00001 cleared air.pm25']);
      expect(problems).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('gets a board of its own and a row of the city overview', () => {
    const fifth = typeFolder(airQualityType.definition, fileURLToPath(new URL('./testing/air-quality/', import.meta.url)));
    const files = boardFiles([...registeredTypeFolders(), fifth]);
    const own = files.find((f) => f.file === 'air-quality.json');
    expect(own, files.map((f) => f.file).join(', ')).toBeDefined();
    const queriesOf = (dashboard: unknown) =>
      ((JSON.parse(JSON.stringify(dashboard)) as { panels: { targets?: { query: string }[] }[] }).panels ?? []).flatMap((p) => p.targets ?? []).map((t) => t.query);
    const queries = queriesOf(own!.dashboard);
    for (const field of ['pm25', 'pm10', 'no2']) expect(queries.some((q) => q.includes(`"${field}"`) && q.includes('FROM "air_quality"')), field).toBe(true);
    const overview = queriesOf(files.find((f) => f.file === 'city-overview.json')!.dashboard);
    expect(overview.filter((q) => q.includes('FROM "air_quality"')).length).toBe(2); // devices reporting, readings per second
  });
});
