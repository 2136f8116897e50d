/**
 * The fast path and the zod schema must give the same answer: accepted by one ⇔ accepted by the
 * other, with the same fields (`ts` aside) in the same order. Checked on every fixture of every
 * type, on every single-key mutation of the valid fixtures, and on seeded random readings.
 */
import { describe, expect, it } from 'vitest';
import { deviceTypes } from './registry.js';
import { commonFields, type FieldBlock } from './common/fields.js';
import type { DeviceTypeDefinition } from './types.js';

import { typeFixtures, typeFolder } from './testing/fixtures.js';

/** Asserts agreement on one reading, given as JSON text so that it is what JSON.parse makes of it. */
function agree(def: DeviceTypeDefinition, json: string): boolean {
  const reading = JSON.parse(json) as Record<string, unknown>;
  const zod = def.schema.safeParse(reading);
  const fast = def.fastParse(reading);
  expect(fast !== undefined, `${def.name} ${json}: zod says ${zod.success ? 'valid' : 'invalid'}`).toBe(zod.success);
  if (fast !== undefined && zod.success) {
    const { ts: _ts, ...fields } = zod.data as Record<string, unknown>;
    expect(Object.entries(fast), `${def.name} ${json}`).toEqual(Object.entries(fields));
  }
  return zod.success;
}

/** Values worth trying in any field: every kind, the edges of every rule, and what JSON cannot hold. */
function probes(blocks: Record<string, FieldBlock>): string[] {
  const out = new Set<string>([
    'null', 'true', 'false', '[]', '{}', '[1]', '{"a":1}', '""', '"0.5"', '"ok"', '"toString"', '"constructor"',
    '0', '-0', '1', '-1', '0.5', '1.5', '1.0', '1e21', '1e400', '-1e400', '9007199254740991', '9007199254740992',
    '-9007199254740991', '1780315200000', '"2026-06-01T12:00:00Z"', '"2026-06-01T12:00:00+02:00"', '"2026-06-01T12:00:00+0200"',
    '"2026-06-01T12:00:00"', '"2026-06-01T12:00Z"', '"2026-06-01T12:00:00.123456789Z"', '"2026-06-01T12:00:00.1234567890Z"',
    '"2026-02-30T12:00:00Z"', '"1780315200000"',
  ]);
  for (const b of Object.values(blocks)) {
    const r = b.rule;
    if (r.type === 'enum') for (const v of r.values) out.add(JSON.stringify(v)).add(JSON.stringify(v.toUpperCase()));
    if (r.type === 'number') {
      for (const edge of [r.min, r.max]) {
        if (edge === undefined) continue;
        for (const d of [-1, -0.001, -1e-9, 0, 1e-9, 0.001, 1, 0.5]) out.add(JSON.stringify(edge + d));
      }
    }
  }
  return [...out];
}

describe.each(deviceTypes.map((def) => [def.name, def] as const))('%s: the fast path agrees with zod', (name, def) => {
  const blocks: Record<string, FieldBlock> = { ...commonFields, ...def.fields };
  const keys = Object.keys(blocks);
  const values = probes(blocks);
  const valid = typeFixtures(typeFolder(name)).valid;

  it('on every fixture, valid and invalid', () => {
    for (const f of valid) expect(agree(def, JSON.stringify(f.reading)), f.name).toBe(true);
    for (const f of typeFixtures(typeFolder(name)).invalid) agree(def, JSON.stringify(f.reading));
  });

  it('on every valid fixture with one key removed, replaced by any probe value, or one key added', () => {
    let accepted = 0;
    let rejected = 0;
    const count = (ok: boolean) => (ok ? accepted++ : rejected++);
    for (const f of valid) {
      for (const key of keys) {
        const { [key]: _removed, ...without } = f.reading;
        count(agree(def, JSON.stringify(without)));
        for (const v of values) {
          // Replaced where the key is (order kept) or appended when it was absent.
          const entries = Object.entries(f.reading).map(([k, x]) => `${JSON.stringify(k)}:${k === key ? v : JSON.stringify(x)}`);
          if (!(key in f.reading)) entries.push(`${JSON.stringify(key)}:${v}`);
          count(agree(def, `{${entries.join(',')}}`));
        }
      }
      for (const extra of ['x', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Ts', 'ts ', '']) {
        const body = JSON.stringify(f.reading).slice(1, -1);
        count(agree(def, `{${body}${body ? ',' : ''}${JSON.stringify(extra)}:1}`));
      }
    }
    // Both branches were exercised, so agreement is not a matter of one side always saying no.
    expect(accepted).toBeGreaterThan(valid.length);
    expect(rejected).toBeGreaterThan(valid.length);
  });

  it('on seeded random readings built from the type\'s keys and probe values', () => {
    // A fixed seed: a failure reproduces.
    let seed = 0x1234567 ^ name.length;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const base = valid.map((f) => f.reading);
    let accepted = 0;
    for (let round = 0; round < 3000; round++) {
      const reading: Record<string, string> = {};
      const from = base[rand(base.length)]!;
      for (const [k, v] of Object.entries(from)) if (rand(4) !== 0) reading[k] = JSON.stringify(v);
      for (let i = rand(3); i > 0; i--) reading[keys[rand(keys.length)]!] = values[rand(values.length)]!;
      if (rand(20) === 0) reading.extra = '1';
      const json = `{${Object.entries(reading).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
      if (agree(def, json)) accepted++;
    }
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('the fast path', () => {
  it('declines when a cross-field rule raises an issue, and zod then rejects', () => {
    const pm = deviceTypes.find((d) => d.name === 'parking-meter')!;
    expect(agree(pm, '{"totalSpotNumber":3,"availableSpotNumber":4}')).toBe(false);
    expect(agree(pm, '{"totalSpotNumber":4,"availableSpotNumber":4}')).toBe(true);
  });
});
