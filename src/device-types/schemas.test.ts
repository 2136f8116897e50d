/**
 * Every registered device type against its own fixtures, through the real validate stage: valid
 * fixtures become one reading each, invalid ones one dead letter with the fixture's reason and path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deviceTypes } from './registry.js';
import { validateTelemetry, type ValidateOptions } from '../ingest/validate.js';
import type { RawMessage } from '../ingest/types.js';

/** The receive time the fixtures' absolute `ts` values are written against, so they never go stale. */
const RECEIVED_AT = Date.parse('2026-06-01T12:00:00Z');

/** The contract's limits (CONTRACT §1–§2), which the fixtures' edge cases are chosen around. */
const OPTS: ValidateOptions = {
  maxPayloadBytes: 256 * 1024,
  maxBatch: 1000,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxFutureMs: 5 * 60 * 1000,
  maxDeadLetterPayloadBytes: 4096,
};

interface Fixture {
  name: string;
  reading: Record<string, unknown>;
}
interface InvalidFixture extends Fixture {
  reason: string;
  path: string;
}

function fixtures<T>(type: string, file: 'valid.json' | 'invalid.json'): T[] {
  return JSON.parse(readFileSync(new URL(`./${type}/fixtures/${file}`, import.meta.url), 'utf8')) as T[];
}

function message(type: string, payload: string): RawMessage {
  return {
    topic: `city/${type}/dev-1/telemetry`,
    payload: Buffer.from(payload),
    receivedAt: RECEIVED_AT,
    clientId: 'dev-1',
    username: 'dev-1',
  };
}

describe.each(deviceTypes.map((def) => [def.name, def] as const))('%s README samples', (name, def) => {
  const readme = readFileSync(new URL(`./${name}/README.md`, import.meta.url), 'utf8');
  const samples = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has a single and a batch sample', () => {
    expect(samples.map((s) => (s.trimStart().startsWith('[') ? 'batch' : 'single')).sort()).toEqual(['batch', 'single']);
  });

  it.each(samples)('accepts sample %#', (sample) => {
    const result = validateTelemetry(def, { type: name, deviceId: 'dev-1' }, message(name, sample), OPTS);
    expect(result.deadLetters).toEqual([]);
    expect(result.readings.length).toBeGreaterThan(0);
  });
});

describe.each(deviceTypes.map((def) => [def.name, def] as const))('%s fixtures', (name, def) => {
  const topic = { type: name, deviceId: 'dev-1' };

  it.each(fixtures<Fixture>(name, 'valid.json').map((f) => [f.name, f] as const))('accepts: %s', (_, f) => {
    const result = validateTelemetry(def, topic, message(name, JSON.stringify(f.reading)), OPTS);

    expect(result.deadLetters).toEqual([]);
    expect(result.readings).toHaveLength(1);
    const { ts, ...expectedFields } = f.reading;
    const reading = result.readings[0]!;
    expect(reading.fields).toEqual(expectedFields);
    expect(reading.timeMs).toBe(ts === undefined ? RECEIVED_AT : typeof ts === 'number' ? ts : Date.parse(ts as string));
    expect(reading).toMatchObject({ type: name, deviceId: 'dev-1', index: undefined });
  });

  it.each(fixtures<InvalidFixture>(name, 'invalid.json').map((f) => [f.name, f] as const))('dead-letters: %s', (_, f) => {
    const result = validateTelemetry(def, topic, message(name, JSON.stringify(f.reading)), OPTS);

    expect(result.readings).toEqual([]);
    expect(result.deadLetters).toHaveLength(1);
    const dl = result.deadLetters[0]!;
    expect({ reason: dl.reason, path: dl.path }).toEqual({ reason: f.reason, path: f.path });
    // An integrator has to be able to tell from the message which field to fix.
    expect(dl.message).toContain(f.path);
  });
});
