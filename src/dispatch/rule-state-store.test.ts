import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuleStateStore, type RuleStateRow } from './rule-state-store.js';

const row = (over: Partial<RuleStateRow>): RuleStateRow => ({
  deviceId: 'bin-1',
  rule: 'waste.collect',
  status: 'ok',
  since: 1000,
  lastAt: 1000,
  value: null,
  flapping: false,
  flaps: [],
  ...over,
});

describe('RuleStateStore', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rule-state-'));
    file = path.join(dir, 'state', 'rule-state.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps rows across a reopen, numbers and strings as they were', () => {
    const a = new RuleStateStore({ file });
    a.open();
    a.save([
      row({ status: 'pending', since: 5, lastAt: 6, value: 0.85 }),
      row({ rule: 'waste.damage', status: 'raised', value: 'dropped', flapping: true, flaps: [1, 2, 3] }),
      row({ deviceId: 'bin-2' }),
    ]);
    a.close();
    const b = new RuleStateStore({ file });
    b.open();
    expect(b.loadDevice('bin-1')).toEqual(
      expect.arrayContaining([
        row({ status: 'pending', since: 5, lastAt: 6, value: 0.85 }),
        row({ rule: 'waste.damage', status: 'raised', value: 'dropped', flapping: true, flaps: [1, 2, 3] }),
      ]),
    );
    expect(b.loadDevice('bin-1')).toHaveLength(2);
    expect(b.loadDevice('bin-3')).toEqual([]);
    b.close();
  });

  it('upserts one row per (device, rule)', () => {
    const s = new RuleStateStore({ file: ':memory:' });
    s.open();
    s.save([row({ status: 'raised', value: 0.9 })]);
    s.save([row({ status: 'ok', since: 2000, lastAt: 2000, value: 0.1 })]);
    expect(s.loadDevice('bin-1')).toEqual([row({ status: 'ok', since: 2000, lastAt: 2000, value: 0.1 })]);
    s.close();
  });

  it('lists what is raised or held raised, and the rule ids it has state for', () => {
    const s = new RuleStateStore({ file: ':memory:' });
    s.open();
    s.save([
      row({ deviceId: 'b', status: 'raised' }),
      row({ deviceId: 'a', status: 'ok', flapping: true }),
      row({ deviceId: 'c', status: 'pending' }),
      row({ deviceId: 'c', rule: 'device.battery' }),
    ]);
    expect(s.listActive().map((r) => r.deviceId)).toEqual(['a', 'b']);
    expect(s.listRuleIds().sort()).toEqual(['device.battery', 'waste.collect']);
    s.removeRules(['waste.collect']);
    expect(s.listActive()).toEqual([]);
    expect(s.listRuleIds()).toEqual(['device.battery']);
    s.close();
  });

  it('never moves a last-seen time backwards, and forgets a device entirely', () => {
    const s = new RuleStateStore({ file: ':memory:' });
    s.open();
    s.saveLastSeen([
      ['bin-1', 2000],
      ['bin-2', 1000],
    ]);
    s.saveLastSeen([['bin-1', 1500]]);
    expect(s.loadLastSeen()).toEqual(
      new Map([
        ['bin-1', 2000],
        ['bin-2', 1000],
      ]),
    );
    s.save([row({ status: 'raised' })]);
    s.removeDevice('bin-1');
    expect(s.loadLastSeen()).toEqual(new Map([['bin-2', 1000]]));
    expect(s.loadDevice('bin-1')).toEqual([]);
    s.close();
  });

  it('refuses to work before open()', () => {
    const s = new RuleStateStore({ file: ':memory:' });
    expect(() => s.loadDevice('x')).toThrow('rule state store is not open');
  });
});
