import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import { RulesFileError } from './rules/rule-book.js';
import { RulesStage, defaultRulesFile } from './rules-stage.js';
import { MIN, T0, TestCatalog, device, reading, summary } from './testing/fixtures.js';
import type { RuleEvent } from './types.js';

const bin = device({ id: 'bin-1', type: 'waste-bin' });
const lamp = device({ id: 'light-1', type: 'streetlight', attributes: { powerRating: 60 } });
const unrated = device({ id: 'light-2', type: 'streetlight' });

function fakeLog() {
  const log = { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn() };
  return { log, logger: log as unknown as Logger };
}

describe('RulesStage', () => {
  let dir: string;
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rules-stage-'));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start with a bad rules file, naming it', () => {
    const file = path.join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ rules: [{ id: 'x', deviceType: 'waste-bin', condition: { kind: 'threshold', field: 'fill', above: 1 }, severity: 'info', ticket: false }] }));
    const stage = new RulesStage({ rulesFile: file, stateFile: ':memory:', catalog: new TestCatalog(), onEvents: () => {}, log: silentLogger });
    expect(() => stage.start()).toThrow(RulesFileError);
    expect(() => stage.start()).toThrow(`${file}: rule "x" (rules[0]): condition.field: waste-bin has no field "fill"`);
  });

  it('delivers one batch of events per evaluation, a device coming back first', async () => {
    const batches: RuleEvent[][] = [];
    const stage = new RulesStage({ rulesFile: defaultRulesFile, stateFile: ':memory:', catalog: new TestCatalog([bin]), onEvents: (e) => batches.push([...e]), log: silentLogger });
    stage.start();
    stage.evaluate([reading(bin, T0, { fillingLevel: 0.1 })]);
    stage.sweep(T0 + 20 * MIN);
    stage.evaluate([reading(bin, T0 + 21 * MIN, { fillingLevel: 0.9 }), reading(bin, T0 + 22 * MIN, { fillingLevel: 0.95, status: 'burning' })]);
    expect(batches.map((b) => b.map(summary))).toEqual([
      ['bin-1 raised device.offline'],
      ['bin-1 cleared device.offline', 'bin-1 raised waste.collect', 'bin-1 raised waste.fire'],
    ]);
    expect(stage.counts).toMatchObject({ readings: 3, events: 2 });
    await stage.stop();
  });

  it('survives a consumer that throws, logging it with a code', async () => {
    const { log, logger } = fakeLog();
    const stage = new RulesStage({
      rulesFile: defaultRulesFile,
      stateFile: ':memory:',
      catalog: new TestCatalog([bin]),
      onEvents: () => {
        throw new Error('consumer down');
      },
      log: logger,
    });
    stage.start();
    stage.evaluate([reading(bin, T0, { fillingLevel: 0.9 })]);
    stage.evaluate([reading(bin, T0 + MIN, { fillingLevel: 0.1 })]);
    expect(log.error).toHaveBeenCalledTimes(2);
    expect(log.error.mock.calls[0]![0]).toMatchObject({ code: 'CP_ERR_EVENT_SINK', deviceId: 'bin-1' });
    await stage.stop();
  });

  it('lists what is raised after a restart, for consumers to reconcile', async () => {
    const stateFile = path.join(dir, 'rule-state.db');
    const options = { rulesFile: defaultRulesFile, stateFile, catalog: new TestCatalog([bin]), onEvents: () => {}, log: silentLogger };
    const first = new RulesStage(options);
    first.start();
    first.evaluate([reading(bin, T0, { fillingLevel: 0.9, batteryLevel: 0.1 })]);
    await first.stop();
    const second = new RulesStage(options);
    second.start();
    expect(second.activeAlerts()).toEqual([
      { deviceId: 'bin-1', rule: 'device.battery', since: T0, value: 0.1, flapping: false },
      { deviceId: 'bin-1', rule: 'waste.collect', since: T0, value: 0.9, flapping: false, role: 'collection' },
    ]);
    expect(second.services().map((s) => s.serviceCode)).toContain('waste.collect');
    await second.stop();
  });

  it('checks the catalog against the rules and reports device problems through the log', async () => {
    const { log, logger } = fakeLog();
    const stage = new RulesStage({ rulesFile: defaultRulesFile, stateFile: ':memory:', catalog: new TestCatalog([lamp, unrated]), onEvents: () => {}, log: logger });
    stage.start();
    expect(stage.check([lamp, unrated])).toEqual([expect.stringContaining('rule "light.out" for device light-2: condition.below: attributes.powerRating is missing')]);
    stage.evaluate([reading(unrated, T0, { powerState: 'on', powerConsumption: 0 })]);
    expect(log.warn).toHaveBeenCalledWith({ deviceId: 'light-2', code: 'CP_ERR_RULES_DEVICE' }, expect.stringContaining('powerRating is missing'));
    await stage.stop();
  });

  describe('finds the rules citypipe needs by role, not id', () => {
    const shipped = () => JSON.parse(readFileSync(defaultRulesFile, 'utf8')) as { rules: Record<string, unknown>[] };
    const startWith = (file: object) => {
      const rulesFile = path.join(dir, 'city.json');
      writeFileSync(rulesFile, JSON.stringify(file));
      const stage = new RulesStage({ rulesFile, stateFile: ':memory:', catalog: new TestCatalog([bin]), onEvents: () => {}, log: silentLogger });
      stage.start();
      return stage;
    };
    const offlineNow = (stage: RulesStage) => {
      stage.sweep(T0 + 60 * MIN);
      return stage.activeAlerts().filter((a) => a.role === 'offline').map((a) => a.rule);
    };

    it('a city that renames the collection and offline rules keeps its plan threshold and offline devices', async () => {
      const rename: Record<string, string> = { collection: 'waste.pickup', offline: 'sensor.silent' };
      const rules = shipped().rules.map((r) => (typeof r.role === 'string' ? { ...r, id: rename[r.role], serviceCode: rename[r.role] } : r));
      const stage = startWith({ rules, overrides: [{ match: { deviceId: 'bin-1' }, rules: { 'waste.pickup': { condition: { above: 0.6 } } } }] });
      expect(stage.roleThresholdAbove('collection', bin)).toBe(0.6);
      expect(offlineNow(stage)).toEqual(['sensor.silent']);
      await stage.stop();
    });

    it('a city file copied from the defaults before rules had roles keeps working', async () => {
      const rules = shipped().rules.map(({ role: _role, ...r }) => r);
      const stage = startWith({ rules });
      expect(stage.roleThresholdAbove('collection', bin)).toBe(0.8);
      expect(offlineNow(stage)).toEqual(['device.offline']);
      await stage.stop();
    });

    it('a city without a collection rule plans no bins', async () => {
      const stage = startWith({ rules: shipped().rules.filter((r) => r.role !== 'collection' && r.deviceType !== 'waste-bin') });
      expect(stage.roleThresholdAbove('collection', bin)).toBeUndefined();
      await stage.stop();
    });
  });

  it('is unusable before start and after stop', async () => {
    const stage = new RulesStage({ rulesFile: defaultRulesFile, stateFile: ':memory:', catalog: new TestCatalog([bin]), onEvents: () => {}, log: silentLogger });
    expect(() => stage.evaluate([])).toThrow('rules stage is not started');
    stage.start();
    await stage.stop();
    expect(() => stage.activeAlerts()).toThrow('rules stage is not started');
  });
});
