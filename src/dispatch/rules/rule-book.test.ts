import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { registeredTypeFolders } from '../../device-types/type-folder.js';
import { defaultRulesFile } from '../rules-stage.js';
import { RuleBook, RulesFileError, mergePatch } from './rule-book.js';

const collect = {
  id: 'waste.collect',
  deviceType: 'waste-bin',
  condition: { kind: 'threshold', field: 'fillingLevel', above: 0.8, clear: 0.3 },
  severity: 'info',
  ticket: true,
  serviceCode: 'waste.collect',
  serviceName: 'Collect a full waste bin',
};

function problemsOf(file: unknown): readonly string[] {
  try {
    RuleBook.parse(file, 'rules/city.json');
  } catch (err) {
    expect(err).toBeInstanceOf(RulesFileError);
    expect((err as RulesFileError).code).toBe('CP_ERR_RULES_INVALID');
    return (err as RulesFileError).problems;
  }
  throw new Error('expected the rules file to be refused');
}

describe('rules file validation names the file, the rule and the key', () => {
  it.each([
    ['a misspelt key', { rules: [{ ...collect, condition: { kind: 'threshold', field: 'fillingLevel', abvoe: 0.8 } }] }, 'rules/city.json: rule "waste.collect" (rules[0]): condition.abvoe: unknown key'],
    ['a number as a string', { rules: [{ ...collect, condition: { ...collect.condition, above: '0.8' } }] }, 'rules/city.json: rule "waste.collect" (rules[0]): condition.above: must be a number or an object, got "0.8"'],
    ['a field the type does not have', { rules: [{ ...collect, condition: { ...collect.condition, field: 'fillLevel' } }] }, 'rules/city.json: rule "waste.collect" (rules[0]): condition.field: waste-bin has no field "fillLevel"'],
    ['an enum value the type never sends', { rules: [{ ...collect, condition: { kind: 'enum', field: 'status', in: ['fire'] } }] }, 'rules/city.json: rule "waste.collect" (rules[0]): condition.in[0]: "fire" is not a value of status'],
    ['a threshold on an enum field', { rules: [{ ...collect, condition: { kind: 'threshold', field: 'status', above: 1 } }] }, 'condition.field: "status" is a string field; use an enum condition'],
    ['a type-specific field in a `*` rule', { rules: [{ ...collect, deviceType: '*' }] }, 'condition.field: every device type (a `*` rule may use only the common fields) has no field "fillingLevel"'],
    ['a nested condition', { rules: [{ ...collect, condition: { kind: 'any', of: [collect.condition, { kind: 'threshold', field: 'temperature', above: 'hot' }] } }] }, 'condition.of[1].above: must be a number or an object, got "hot"'],
    ['an unknown condition kind', { rules: [{ ...collect, condition: { kind: 'between' } }] }, 'condition.kind: must be one of threshold, outside, enum, sunUp, all, any, silent, got "between"'],
    ['a clear level on the wrong side', { rules: [{ ...collect, condition: { ...collect.condition, clear: 0.9 } }] }, 'condition.clear: must be ≤ above (0.8)'],
    ['an invalid duration', { rules: [{ ...collect, for: 'PT1Y' }] }, 'rule "waste.collect" (rules[0]): for: must be an ISO 8601 duration'],
    ['a `for` attribute without its unit', { rules: [{ ...collect, for: { attribute: 'collectAfterH' } }] }, 'rule "waste.collect" (rules[0]): for.unit: must be one of seconds, minutes, hours, days'],
    ['a `for` attribute in an unknown unit', { rules: [{ ...collect, for: { attribute: 'collectAfterH', unit: 'min' } }] }, 'for.unit: must be one of seconds, minutes, hours, days, got "min"'],
    ['a `for` attribute with a negative default', { rules: [{ ...collect, for: { attribute: 'collectAfterH', unit: 'hours', default: -1 } }] }, 'for.default: must be ≥ 0'],
    ['a `for` attribute with a misspelt key', { rules: [{ ...collect, for: { attribute: 'collectAfterH', unit: 'hours', defualt: 2 } }] }, 'for.defualt: unknown key'],
    ['a ticket rule without a service code', { rules: [{ ...collect, serviceCode: undefined }] }, 'rule "waste.collect" (rules[0]): serviceCode: is required when ticket is true'],
    ['a bad severity', { rules: [{ ...collect, severity: 'critical' }] }, 'severity: must be one of info, warning, urgent, got "critical"'],
    ['a rule without an id', { rules: [{ ...collect, id: undefined }] }, 'rules/city.json: rules[0]: id: is required'],
    ['a duplicate id', { rules: [collect, collect] }, 'rule "waste.collect" (rules[1]): id: "waste.collect" is defined twice'],
    ['`silent` with `for`', { rules: [{ id: 'device.offline', deviceType: '*', condition: { kind: 'silent', intervals: 3 }, for: 60, severity: 'warning', ticket: false }] }, 'rule "device.offline" (rules[0]): for: does not apply to a `silent` condition'],
    ['`silent` with a `for` attribute', { rules: [{ id: 'device.offline', deviceType: '*', condition: { kind: 'silent', intervals: 3 }, for: { attribute: 'x', unit: 'minutes' }, severity: 'warning', ticket: false }] }, 'rule "device.offline" (rules[0]): for: does not apply to a `silent` condition'],
    ['`silent` inside a combination', { rules: [{ ...collect, condition: { kind: 'all', of: [{ kind: 'silent', intervals: 3 }] } }] }, 'condition.of[0].kind: must be one of threshold, outside, enum, sunUp, all, any, got "silent"'],
    ['a bad setting', { rules: [collect], settings: { lateAfter: 'soon' } }, 'rules/city.json: settings.lateAfter: must be an ISO 8601 duration'],
    ['an override of an unknown rule', { rules: [collect], overrides: [{ match: { district: 'west' }, rules: { 'waste.colect': { for: 60 } } }] }, 'rules/city.json: overrides[0] (district=west) rule "waste.colect": no rule has this id (known: waste.collect)'],
    ['an override with a bad key', { rules: [collect], overrides: [{ match: { deviceId: 'bin-7' }, rules: { 'waste.collect': { condition: { abov: 0.5 } } } }] }, 'rules/city.json: overrides[0] (deviceId=bin-7) rule "waste.collect": condition.abov: unknown key'],
    ['an override with a bad value', { rules: [collect], overrides: [{ match: { district: 'west' }, rules: { 'waste.collect': { condition: { above: 0.2 } } } }] }, 'overrides[0] (district=west) rule "waste.collect": condition.clear: must be ≤ above (0.2)'],
    ['an override of the id', { rules: [collect], overrides: [{ match: { district: 'west' }, rules: { 'waste.collect': { id: 'x' } } }] }, 'overrides[0] (district=west) rule "waste.collect": id: cannot be overridden'],
    ['an override for another type', { rules: [collect], overrides: [{ match: { type: 'streetlight' }, rules: { 'waste.collect': { for: 60 } } }] }, 'match.type: the rule is for waste-bin, so this override never applies'],
    ['an override that matches nothing', { rules: [collect], overrides: [{ match: {}, rules: {} }] }, 'rules/city.json: overrides[0]: match: give at least one of type, district, deviceId'],
    ['an unknown role', { rules: [{ ...collect, role: 'pickup' }] }, 'rules/city.json: rule "waste.collect" (rules[0]): role: must be one of collection, offline, got "pickup"'],
    [
      'two rules playing a singular role',
      { rules: [{ ...collect, role: 'collection' }, { ...collect, id: 'waste.collect.early', role: 'collection' }] },
      'rules/city.json: rule "waste.collect.early" (rules[1]): role: "collection" is already played by rule "waste.collect" (rules[0]); only one rule may play it',
    ],
    ['a collection rule the plan cannot predict', { rules: [{ ...collect, role: 'collection', condition: { kind: 'enum', field: 'status', in: ['burning'] } }] }, 'rule "waste.collect" (rules[0]): role: a "collection" rule needs a threshold condition with `above`'],
    ['an offline rule that is not silent', { rules: [{ ...collect, role: 'offline' }] }, 'rule "waste.collect" (rules[0]): role: an "offline" rule needs a `silent` condition'],
    ['an override of the role', { rules: [collect], overrides: [{ match: { district: 'west' }, rules: { 'waste.collect': { role: 'collection' } } }] }, 'overrides[0] (district=west) rule "waste.collect": role: cannot be overridden'],
  ])('%s', (_name, file, expected) => {
    expect(problemsOf(file)).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
  });

  it('reports every problem of a file at once', () => {
    const problems = problemsOf({
      settings: { lateAfter: 'soon' },
      rules: [{ ...collect, severity: 'critical' }, { ...collect, id: 'waste.other', for: 'never' }],
    });
    expect(problems).toHaveLength(3);
  });

  it('names the file when it cannot be read or parsed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-rulebook-'));
    try {
      const file = path.join(dir, 'rules.json');
      expect(() => RuleBook.load(file)).toThrow(`${file}: cannot be read`);
      writeFileSync(file, '{ "rules": [ }');
      expect(() => RuleBook.load(file)).toThrow(`${file}: is not valid JSON`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('overrides', () => {
  const book = RuleBook.parse(
    {
      rules: [collect, { id: 'waste.damage', deviceType: 'waste-bin', condition: { kind: 'enum', field: 'status', in: ['dropped'] }, severity: 'warning', ticket: false }],
      overrides: [
        { match: { deviceId: 'bin-7' }, rules: { 'waste.collect': { condition: { above: 0.5, clear: 0.2 } } } },
        { match: { district: 'centrum', type: 'waste-bin' }, rules: { 'waste.collect': { condition: { above: 0.65 } } } },
        { match: { district: 'centrum' }, rules: { 'waste.collect': { condition: { above: 0.6 } }, 'waste.damage': { enabled: false } } },
        { match: { type: 'waste-bin' }, rules: { 'waste.collect': { condition: { above: 0.75 }, severity: 'warning' } } },
        { match: { district: 'west' }, rules: { 'waste.collect': { condition: { clear: null } } } },
      ],
    },
    'rules/city.json',
  );
  const levels = (id: string, district: string) => {
    const r = book.resolve({ id, type: 'waste-bin', district }).rules.find((x) => x.id === 'waste.collect')!;
    return { ...(r.condition as object), severity: r.severity };
  };

  it.each([
    ['a bin elsewhere: the type override', 'bin-1', 'noord', { above: 0.75, clear: 0.3, severity: 'warning' }],
    ['a bin in centrum: type + district beats district alone', 'bin-2', 'centrum', { above: 0.65, clear: 0.3, severity: 'warning' }],
    ['bin-7 in centrum: its own', 'bin-7', 'centrum', { above: 0.5, clear: 0.2, severity: 'warning' }],
    ['a bin in west: `null` removes the clear level', 'bin-3', 'west', { above: 0.75, severity: 'warning' }],
  ])('%s', (_name, id, district, expected) => {
    expect(levels(id, district)).toEqual({ kind: 'threshold', field: 'fillingLevel', ...expected });
  });

  it('`enabled: false` drops the rule for the matched devices only', () => {
    expect(book.resolve({ id: 'bin-2', type: 'waste-bin', district: 'centrum' }).rules.map((r) => r.id)).toEqual(['waste.collect']);
    expect(book.resolve({ id: 'bin-1', type: 'waste-bin', district: 'noord' }).rules.map((r) => r.id)).toEqual(['waste.collect', 'waste.damage']);
  });

  it('a device override that does not combine with a district override is dropped for that device, with a problem', () => {
    const b = RuleBook.parse({
      rules: [collect],
      overrides: [
        { match: { district: 'centrum' }, rules: { 'waste.collect': { condition: { above: 0.6, clear: 0.1 } } } },
        // clear 0.7 is valid under the base rule's 0.8, not under centrum's 0.6.
        { match: { deviceId: 'bin-9' }, rules: { 'waste.collect': { condition: { clear: 0.7 } } } },
      ],
    });
    const { rules, problems } = b.resolve({ id: 'bin-9', type: 'waste-bin', district: 'centrum' });
    expect(rules[0]!.condition).toMatchObject({ above: 0.6, clear: 0.1 });
    expect(problems).toEqual([expect.stringContaining('rule "waste.collect" for device bin-9: overrides[1] (deviceId=bin-9) does not combine')]);
    expect(b.resolve({ id: 'bin-9', type: 'waste-bin', district: 'west' }).rules[0]!.condition).toMatchObject({ above: 0.8, clear: 0.7 });
  });

  it('mergePatch follows RFC 7396', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { b: { c: null, x: 1 }, e: [3], f: 'new' })).toEqual({ a: 1, b: { d: 3, x: 1 }, e: [3], f: 'new' });
  });
});

describe('roles', () => {
  const offline = { id: 'device.offline', deviceType: '*', condition: { kind: 'silent', intervals: 3 }, severity: 'warning', ticket: false };
  const bin = { id: 'bin-1', type: 'waste-bin', district: 'west' };

  it('finds a renamed rule by the role it declares', () => {
    const book = RuleBook.parse({ rules: [{ ...collect, id: 'waste.pickup', role: 'collection', condition: { ...collect.condition, above: 0.7 } }, { ...offline, id: 'sensor.silent', role: 'offline' }] });
    expect(book.ruleWithRole('collection')?.id).toBe('waste.pickup');
    expect(book.thresholdAbove(bin, book.ruleWithRole('collection')!.id)).toBe(0.7);
    expect(book.roleOf('sensor.silent')).toBe('offline');
  });

  it('lets several rules be offline (one per type, say)', () => {
    const book = RuleBook.parse({ rules: [{ ...offline, role: 'offline' }, { ...offline, id: 'light.offline', deviceType: 'streetlight', role: 'offline' }] });
    expect([book.roleOf('device.offline'), book.roleOf('light.offline')]).toEqual(['offline', 'offline']);
  });

  it('gives a file written before roles the roles of the shipped rules with the same ids', () => {
    const rolesById = new Map([['waste.collect', 'collection'], ['device.offline', 'offline']] as const);
    const old = RuleBook.parse({ rules: [collect, offline] }, 'rules/city.json', { rolesById });
    expect([old.ruleWithRole('collection')?.id, old.roleOf('device.offline')]).toEqual(['waste.collect', 'offline']);
    // A role the file gives to a rule of its own is not given to the shipped id as well.
    const renamed = RuleBook.parse({ rules: [collect, { ...collect, id: 'waste.pickup', role: 'collection' }] }, 'rules/city.json', { rolesById });
    expect([renamed.ruleWithRole('collection')?.id, renamed.roleOf('waste.collect')]).toEqual(['waste.pickup', undefined]);
    expect(RuleBook.parse({ rules: [collect] }).ruleWithRole('collection')).toBeUndefined();
  });
});

describe('the default rules file (CONTRACT §5)', () => {
  const book = RuleBook.load(defaultRulesFile);

  it('has every rule of the contract, with its Open311 service code', () => {
    const listed = book.rules.map((r) => [r.id, r.deviceType, r.ticket ? r.serviceCode : 'event only']);
    // Every registered type's own rules (its folder's rules.json, registry order), then the common ones.
    expect(listed.map(([id, type]) => [id, type])).toEqual([
      ...registeredTypeFolders().flatMap((f) => f.rules.map((r) => [r.id, f.definition.name])),
      ['device.battery', '*'],
      ['device.offline', '*'],
    ]);
    expect(listed).toEqual(
      expect.arrayContaining([
        ['waste.collect', 'waste-bin', 'waste.collect'],
        ['waste.fire', 'waste-bin', 'waste.fire'],
        ['waste.damage', 'waste-bin', 'waste.damage'],
        ['parking.repair', 'parking-meter', 'parking.repair'],
        ['parking.coins', 'parking-meter', 'parking.coins'],
        ['parking.full', 'parking-meter', 'event only'],
        ['light.repair', 'streetlight', 'light.repair'],
        ['light.out', 'streetlight', 'light.out'],
        ['light.dayburner', 'streetlight', 'light.dayburner'],
        ['light.electrical', 'streetlight', 'light.electrical'],
        ['device.battery', '*', 'device.battery'],
        ['device.offline', '*', 'device.offline'],
      ]),
    );
    expect(book.rules.find((r) => r.id === 'waste.fire')!.severity).toBe('urgent');
    expect([book.ruleWithRole('collection')?.id, book.roleOf('device.offline')]).toEqual(['waste.collect', 'offline']);
    const windows = book.rules.flatMap((r) => (typeof r.for === 'number' && r.for > 0 ? [[r.id, r.for / 60_000]] : []));
    expect(windows).toEqual(
      expect.arrayContaining([
        ['parking.full', 30],
        ['light.out', 15],
        ['light.dayburner', 30],
      ]),
    );
  });

  it('lists the Open311 services of its ticket rules', () => {
    expect(book.services().map((s) => s.serviceCode)).toHaveLength(11);
    expect(book.services().find((s) => s.serviceCode === 'light.out')).toEqual({
      serviceCode: 'light.out',
      serviceName: 'Streetlight out',
      description: expect.stringContaining('10 %'),
      rules: ['light.out'],
      public: true,
    });
  });

  it('keeps battery, offline and coin-box requests from residents; a city can hide or show a service', () => {
    const hidden = book.services().filter((s) => !s.public).map((s) => s.serviceCode);
    expect(hidden.sort()).toEqual(['device.battery', 'device.offline', 'parking.coins']);
    const city = RuleBook.parse(
      {
        rules: [{ ...collect, public: false }, { ...collect, id: 'waste.collect.late', public: true }, { ...collect, id: 'waste.fire', serviceCode: 'waste.fire' }],
      },
      'rules/city.json',
    );
    // One rule of a code saying false hides the code; a code no rule hides is public.
    expect(city.services().map((s) => [s.serviceCode, s.public])).toEqual([
      ['waste.collect', false],
      ['waste.fire', true],
    ]);
    expect(problemsOf({ rules: [{ ...collect, public: 'no' }] })).toEqual(['rules/city.json: rule "waste.collect" (rules[0]): public: must be a boolean, got "no"']);
  });
});

describe('the README example', () => {
  it('is a valid rules file that does what the README says', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = /An example city file[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)![1]!;
    const defaults = JSON.parse(readFileSync(defaultRulesFile, 'utf8')) as { rules: unknown[] };
    const file = JSON.parse(example.replace('[ "… the rules of rules/default.json …" ]', JSON.stringify(defaults.rules))) as unknown;
    const book = RuleBook.parse(file, 'README.md');
    const collect = (id: string, district: string) => book.resolve({ id, type: 'waste-bin', district }).rules.find((r) => r.id === 'waste.collect')!.condition;
    expect(collect('bin-0007', 'centrum')).toMatchObject({ above: 0.5, clear: 0.2 });
    expect(collect('bin-0001', 'centrum')).toMatchObject({ above: 0.6, clear: 0.2 });
    expect(collect('bin-0100', 'west')).toMatchObject({ above: 0.8, clear: 0.3 });
    const lights = (id: string, district: string) => book.resolve({ id, type: 'streetlight', district }).rules.find((r) => r.id === 'light.dayburner');
    expect(lights('light-0001', 'west')!.for).toBe(3_600_000);
    expect(lights('light-0042', 'west')).toBeUndefined();
  });
});
