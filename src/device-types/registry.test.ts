/**
 * A device type is complete only with every piece STYLE §1 asks for. This fails, naming the piece,
 * when a registered type lacks its folder, README, fixtures, fixture coverage or simulator model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deviceType, deviceTypes } from './registry.js';
import { commonFields, type FieldBlock } from './common/fields.js';
import { DeadLetterReasons } from '../errors/catalog.js';
import { parseTelemetryTopic } from '../ingest/topic.js';

const here = (path: string) => new URL(path, import.meta.url);

const fixtureFile = z.array(z.strictObject({ name: z.string().min(1), reading: z.record(z.string(), z.unknown()) }));
const invalidFixtureFile = z.array(
  z.strictObject({
    name: z.string().min(1),
    reading: z.record(z.string(), z.unknown()),
    reason: z.enum(DeadLetterReasons),
    path: z.string(),
  }),
);

/** A missing file reads as an empty list, so that the test naming the missing file is what fails. */
function readJson(url: URL): unknown {
  return existsSync(url) ? JSON.parse(readFileSync(url, 'utf8')) : [];
}

describe('the registry', () => {
  it('has unique type names and unique measurements', () => {
    const names = deviceTypes.map((d) => d.name);
    const measurements = deviceTypes.map((d) => d.measurement);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(measurements).size).toBe(measurements.length);
  });

  it('finds every type by its name, and nothing else', () => {
    for (const def of deviceTypes) expect(deviceType(def.name)).toBe(def);
    expect(deviceType('constructor')).toBeUndefined();
    expect(deviceType('__proto__')).toBeUndefined();
  });
});

describe.each(deviceTypes.map((def) => [def.name, def] as const))('device type %s', (name, def) => {
  const folder = here(`./${name}/`);
  const fields: Record<string, FieldBlock> = { ...commonFields, ...def.fields };

  it('has a name that works as a topic segment', () => {
    expect(parseTelemetryTopic(`city/${name}/device-1/telemetry`)).toEqual({ type: name, deviceId: 'device-1' });
  });

  it.each(['definition.ts', 'README.md', 'fixtures/valid.json', 'fixtures/invalid.json'])('has %s in its folder', (file) => {
    expect(existsSync(new URL(file, folder)), `src/device-types/${name}/${file}`).toBe(true);
  });

  it('has a simulator model in simulators/', () => {
    const model = here(`../../simulators/${name}.ts`);
    expect(existsSync(model), `simulators/${name}.ts`).toBe(true);
  });

  it('has a README that names its topic, FIWARE model and every field', () => {
    const file = new URL('README.md', folder);
    const readme = existsSync(file) ? readFileSync(file, 'utf8') : '';
    expect(readme).toContain(`city/${name}/`);
    expect(readme).toContain(def.fiwareModel);
    expect(readme).toContain(def.measurement);
    for (const field of Object.keys(fields)) expect(readme, `README mentions ${field}`).toContain(`\`${field}\``);
  });

  describe('fixtures', () => {
    const valid = fixtureFile.parse(readJson(new URL('fixtures/valid.json', folder)));
    const invalid = invalidFixtureFile.parse(readJson(new URL('fixtures/invalid.json', folder)));
    const invalidAt = (path: string, reason?: string) =>
      invalid.some((f) => f.path === path && (reason === undefined || f.reason === reason));

    it('have unique names', () => {
      for (const list of [valid, invalid]) {
        const names = list.map((f) => f.name);
        expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
      }
    });

    it.each(Object.keys(fields))('use %s in at least one valid and one invalid fixture', (field) => {
      expect(
        valid.some((f) => Object.hasOwn(f.reading, field)),
        `a valid fixture with ${field}`,
      ).toBe(true);
      expect(invalidAt(field), `an invalid fixture whose path is ${field}`).toBe(true);
    });

    it.each(Object.entries(fields).filter(([key]) => key !== 'ts'))('cover the rules of %s', (field, block) => {
      const { schema } = block;
      if (block.required) expect(invalidAt(field, 'missing_field'), `${field} missing`).toBe(true);
      if (schema instanceof z.ZodNumber) {
        expect(invalidAt(field, 'wrong_type'), `${field} as a string`).toBe(true);
        const bounded = Number.isFinite(schema.minValue) || (schema.maxValue !== null && schema.maxValue < Number.MAX_SAFE_INTEGER);
        if (bounded) expect(invalidAt(field, 'out_of_range'), `${field} out of range`).toBe(true);
      } else if (schema instanceof z.ZodEnum) {
        expect(invalidAt(field, 'invalid_enum'), `${field} outside its enumeration`).toBe(true);
      } else {
        expect.fail(`no coverage rule for the kind of field ${field}; add one here`);
      }
    });

    it.each(['ts_invalid', 'ts_in_seconds', 'ts_too_old', 'ts_in_future'])('cover ts with %s', (reason) => {
      expect(invalidAt('ts', reason)).toBe(true);
    });

    it('cover an unknown key', () => {
      expect(invalid.some((f) => f.reason === 'unknown_key')).toBe(true);
    });

    it('cover the lower and upper limits of every bounded number', () => {
      for (const [field, { schema }] of Object.entries(fields)) {
        if (!(schema instanceof z.ZodNumber)) continue;
        for (const limit of [schema.minValue, schema.maxValue]) {
          if (limit === null || !Number.isFinite(limit) || Math.abs(limit) >= Number.MAX_SAFE_INTEGER) continue;
          expect(
            valid.some((f) => f.reading[field] === limit),
            `a valid fixture with ${field} = ${limit}`,
          ).toBe(true);
        }
      }
    });
  });
});
