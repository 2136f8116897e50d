/**
 * The contract every device type folder must meet (STYLE §1), as one suite that runs against a type
 * module and its folder: `registry.test.ts` runs it for every registered type, `extension.test.ts`
 * for a throwaway type that is only a folder. It fails naming the missing piece: a file, a README
 * line, a fixture a field's rules need, a model reading the schema refuses, a bench payload whose
 * line differs from what citypipe writes.
 *
 * Add here what every type must have (rules, dashboards), not in a test that lists the types.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commonFields, type FieldBlock } from '../common/fields.js';
import type { DeviceTypeModule } from '../module.js';
import { DeadLetterReasons } from '../../errors/catalog.js';
import { parseTelemetryTopic } from '../../ingest/topic.js';
import { validateTelemetry, type ValidateOptions } from '../../ingest/validate.js';
import type { RawMessage } from '../../ingest/types.js';
import { toLine } from '../../sink/influx/line-protocol.js';
import type { DeviceRecord } from '../../catalog/types.js';
import { generateFleet } from '../../../simulators/generate-fleet.js';
import { deviceSeed, mulberry32 } from '../../../simulators/prng.js';
import { FIXTURE_RECEIVED_AT, ownFixtures, typeFixtures } from './fixtures.js';

/** The files of a type folder, each with what it holds (the README's "Add a device type" lists the same). */
export const TYPE_FOLDER_FILES = [
  'definition.ts',
  'index.ts',
  'model.ts',
  'fleet.ts',
  'bench.ts',
  'demo.ts',
  'README.md',
  'fixtures/base.json',
  'fixtures/valid.json',
  'fixtures/invalid.json',
] as const;

/** The contract's limits (CONTRACT §1–§2), which the fixtures' edge cases are chosen around. */
const OPTS: ValidateOptions = {
  maxPayloadBytes: 256 * 1024,
  maxBatch: 1000,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxFutureMs: 5 * 60 * 1000,
  maxDeadLetterPayloadBytes: 4096,
};

const fixtureFile = z.array(z.strictObject({ name: z.string().min(1), reading: z.record(z.string(), z.unknown()) }));
const invalidFixtureFile = z.array(
  z.strictObject({
    name: z.string().min(1),
    reading: z.record(z.string(), z.unknown()),
    reason: z.enum(DeadLetterReasons),
    path: z.string(),
  }),
);

const HOUR_MS = 3_600_000;
/** A winter and a summer day, so that seasonal models (lights, temperatures) show both. */
const SIM_STARTS = [Date.parse('2026-01-13T00:00:00Z'), Date.parse('2026-06-16T00:00:00Z')];
const NOW = 1_780_000_000_000;

function message(type: string, payload: string): RawMessage {
  return { topic: `city/${type}/dev-1/telemetry`, payload: Buffer.from(payload), receivedAt: FIXTURE_RECEIVED_AT, clientId: 'dev-1', username: 'dev-1' };
}

/** Every reading `device` sends in `hours` from `start`, as the schema sees it. */
function simulateDevice(mod: DeviceTypeModule, device: DeviceRecord, start: number, hours: number, faultRate = 1): z.ZodSafeParseResult<unknown>[] {
  const sim = mod.model.create(device, mulberry32(deviceSeed(1, device.id)), start, { faultRate });
  const out: z.ZodSafeParseResult<unknown>[] = [];
  for (let t = start + device.reportingIntervalS * 1000; t <= start + hours * HOUR_MS; t += device.reportingIntervalS * 1000) {
    out.push(mod.definition.schema.safeParse(sim.next(t)));
  }
  return out;
}

/** Asserts that a generated fleet holds every type of `types` in its `fleet.share`, to the device (largest remainder). */
export function expectFleetShares(records: readonly DeviceRecord[], types: readonly DeviceTypeModule[]): void {
  const byType = new Map<string, number>();
  for (const r of records) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
  const totalShare = types.reduce((s, m) => s + m.fleet.share, 0);
  for (const m of types) {
    const exact = (records.length * m.fleet.share) / totalShare;
    expect(byType.get(m.definition.name), m.definition.name).toBeGreaterThanOrEqual(Math.floor(exact));
    expect(byType.get(m.definition.name), m.definition.name).toBeLessThanOrEqual(Math.ceil(exact));
  }
  expect([...byType.keys()].sort()).toEqual(types.map((m) => m.definition.name).sort());
}

/** Runs the contract for one type; `folder` is its folder (a `file:` URL ending in `/`). */
export function describeDeviceType(mod: DeviceTypeModule, folder: URL): void {
  const def = mod.definition;
  const name = def.name;
  const fields: Record<string, FieldBlock> = { ...commonFields, ...def.fields };

  describe(`device type ${name}`, () => {
    it.each(TYPE_FOLDER_FILES)('has %s in its folder', (file) => {
      expect(existsSync(new URL(file, folder)), `${name}/${file}`).toBe(true);
    });

    it('has a name that works as a topic segment', () => {
      expect(parseTelemetryTopic(`city/${name}/device-1/telemetry`)).toEqual({ type: name, deviceId: 'device-1' });
    });

    describe('README', () => {
      const file = new URL('README.md', folder);
      const readme = existsSync(file) ? readFileSync(file, 'utf8') : '';
      const samples = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);

      it('names its topic, FIWARE model, measurement and every field', () => {
        expect(readme).toContain(`city/${name}/`);
        expect(readme).toContain(def.fiwareModel);
        expect(readme).toContain(def.measurement);
        for (const field of Object.keys(fields)) expect(readme, `README mentions ${field}`).toContain(`\`${field}\``);
      });

      it('has a single and a batch sample', () => {
        expect(samples.map((s) => (s.trimStart().startsWith('[') ? 'batch' : 'single')).sort()).toEqual(['batch', 'single']);
      });

      it.each(samples)('accepts sample %#', (sample) => {
        const result = validateTelemetry(def, { type: name, deviceId: 'dev-1' }, message(name, sample), OPTS);
        expect(result.deadLetters).toEqual([]);
        expect(result.readings.length).toBeGreaterThan(0);
      });
    });

    describe('fixtures', () => {
      const own = ownFixtures(folder);
      const { valid, invalid } = typeFixtures(folder);
      const invalidAt = (path: string, reason?: string) => invalid.some((f) => f.path === path && (reason === undefined || f.reason === reason));

      it('have the files’ shape', () => {
        fixtureFile.parse(own.valid);
        invalidFixtureFile.parse(own.invalid);
        expect(def.schema.safeParse(own.base).success, 'fixtures/base.json is a valid reading').toBe(true);
        for (const key of Object.keys(own.base)) expect(Object.keys(commonFields), `base.json holds only the type's own fields`).not.toContain(key);
      });

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

      const topic = { type: name, deviceId: 'dev-1' };

      it.each(valid.map((f) => [f.name, f] as const))('accepted: %s', (_, f) => {
        const result = validateTelemetry(def, topic, message(name, JSON.stringify(f.reading)), OPTS);

        expect(result.deadLetters).toEqual([]);
        expect(result.readings).toHaveLength(1);
        const { ts, ...expectedFields } = f.reading;
        const reading = result.readings[0]!;
        expect(reading.fields).toEqual(expectedFields);
        expect(reading.timeMs).toBe(ts === undefined ? FIXTURE_RECEIVED_AT : typeof ts === 'number' ? ts : Date.parse(ts as string));
        expect(reading).toMatchObject({ type: name, deviceId: 'dev-1', index: undefined });
      });

      it.each(invalid.map((f) => [f.name, f] as const))('dead-lettered: %s', (_, f) => {
        const result = validateTelemetry(def, topic, message(name, JSON.stringify(f.reading)), OPTS);

        expect(result.readings).toEqual([]);
        expect(result.deadLetters).toHaveLength(1);
        const dl = result.deadLetters[0]!;
        expect({ reason: dl.reason, path: dl.path }).toEqual({ reason: f.reason, path: f.path });
        // An integrator has to be able to tell from the message which field to fix.
        expect(dl.message).toContain(f.path);
      });
    });

    describe('simulator model, fleet defaults and demo devices', () => {
      it('model simulates this type', () => {
        expect(mod.model.type).toBe(def);
      });

      it('generated devices get this type’s id, interval and every attribute a demo device has, and send valid readings', async () => {
        const fleet = await generateFleet({ count: 40, districts: 4, seed: 3, types: [mod], hash: async () => 'unused' });
        const demoKeys = new Set(mod.demo.devices.flatMap((d) => Object.keys(d.attributes)));
        for (const r of fleet.records) {
          expect(r.type).toBe(name);
          expect(r.id).toMatch(new RegExp(`^ams-${mod.fleet.idPart}-\\d{5}$`));
          expect(r.reportingIntervalS).toBe(mod.fleet.reportingIntervalS);
          for (const key of demoKeys) expect(r.attributes, `${r.id}.attributes.${key}`).toHaveProperty(key);
          for (const start of SIM_STARTS) {
            for (const parsed of simulateDevice(mod, r, start, 24)) expect(parsed.success, `${r.id}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
          }
        }
      });

      it('with faults turned up, readings still pass the schema', async () => {
        const fleet = await generateFleet({ count: 10, districts: 2, seed: 5, types: [mod], hash: async () => 'unused' });
        for (const r of fleet.records) {
          for (const parsed of simulateDevice(mod, r, SIM_STARTS[0]!, 48, 300)) expect(parsed.success, `${r.id}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
        }
      });

      it('demo devices have unique ids and a catalog file of their own', () => {
        const ids = mod.demo.devices.map((d) => d.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(mod.demo.file).toMatch(/^[a-z0-9-]+\.json$/);
      });

      // Only a type with a demo act has this test (no test is declared, rather than one skipped).
      const act = mod.demo.act;
      if (act !== undefined) {
        it('demo act readings pass the schema', () => {
          let value = 0;
          for (const step of act.steps) {
            value = step.value;
            expect(def.schema.safeParse({ seq: 1, ...act.reading(value) }).success, `act at ${step.atS} s`).toBe(true);
          }
          for (let i = 0; i < 100; i++) expect(def.schema.safeParse(act.reading((value = act.next(value)))).success).toBe(true);
        });
      }
    });

    describe('bench payload', () => {
      // Seqs that hit the edges of every modulo the builders use, and one that makes a long decimal.
      const SEQS = [0, 1, 6, 24, 99, 999, 1000, 123_457];

      it('passes the schema and becomes exactly the line its `fields` predicts', () => {
        for (const seq of SEQS) {
          const payload = mod.bench.reading(NOW + seq, seq);
          const parsed = def.schema.safeParse(JSON.parse(payload));
          expect(parsed.success, `${payload}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
          const { ts, ...readingFields } = parsed.data as Record<string, number | string>;
          expect(ts).toBe(NOW + seq);
          const line = toLine(def, { type: name, deviceId: 'bench-d1', timeMs: NOW + seq, stampedAtReceive: false, fields: readingFields, index: undefined }, 'bench');
          expect(`${def.measurement},device_id=bench-d1,district=bench ${mod.bench.fields(seq)} ${NOW + seq}`).toBe(line);
        }
      });
    });
  });
}
