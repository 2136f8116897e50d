import { typeFixtures, typeFolder } from '../device-types/testing/fixtures.js';
import { describe, expect, it } from 'vitest';
import { TRUNCATION_MARKER } from './dead-letter-payload.js';
import { parseIsoTimestamp } from './iso-timestamp.js';
import { validateTelemetry, type ValidateOptions, type ValidationResult } from './validate.js';
import type { RawMessage } from './types.js';
import { deviceTypes, parkingMeter, streetlight, wasteBin } from '../device-types/registry.js';
import { defineDeviceType, type DeviceTypeDefinition } from '../device-types/types.js';
import { float, required } from '../device-types/common/fields.js';
import { DeadLetterReasons } from '../errors/catalog.js';

const RECEIVED_AT = Date.parse('2026-06-01T12:00:00Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const OPTS: ValidateOptions = {
  maxPayloadBytes: 256 * 1024,
  maxBatch: 1000,
  maxAgeMs: 7 * DAY,
  maxFutureMs: 5 * MINUTE,
  maxDeadLetterPayloadBytes: 4096,
};

const TOPIC = { type: 'waste-bin', deviceId: 'bin-0001' };

function raw(payload: string | Buffer, receivedAt = RECEIVED_AT): RawMessage {
  return {
    topic: 'city/waste-bin/bin-0001/telemetry',
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    receivedAt,
    clientId: 'bin-0001',
    username: 'bin-0001',
  };
}

function run(payload: string | Buffer, opts: Partial<ValidateOptions> = {}, def: DeviceTypeDefinition = wasteBin): ValidationResult {
  return validateTelemetry(def, TOPIC, raw(payload), { ...OPTS, ...opts });
}

/** The one dead letter of a payload that must yield exactly one and no reading. */
function onlyDeadLetter(result: ValidationResult) {
  expect(result.readings).toEqual([]);
  expect(result.deadLetters).toHaveLength(1);
  return result.deadLetters[0]!;
}

function onlyReading(result: ValidationResult) {
  expect(result.deadLetters).toEqual([]);
  expect(result.readings).toHaveLength(1);
  return result.readings[0]!;
}

/** Every element of a batch of `n` is in exactly one of the two lists, by index. */
function expectAccounted(result: ValidationResult, n: number): void {
  const indices = [...result.readings.map((r) => r.index), ...result.deadLetters.map((d) => d.index)];
  expect(indices.sort((a, b) => a! - b!)).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('whole-message failures are exactly one dead letter', () => {
  it('refuses a payload over maxPayloadBytes, and accepts one of exactly that size', () => {
    const body = '{"fillingLevel":0.5}';
    const exact = body.padEnd(100, ' ');
    expect(Buffer.byteLength(exact)).toBe(100);

    onlyReading(run(exact, { maxPayloadBytes: 100 }));
    const dl = onlyDeadLetter(run(`${exact} `, { maxPayloadBytes: 100 }));
    expect(dl).toMatchObject({ reason: 'payload_too_large', path: '', index: undefined });
    expect(dl.message).toContain('101 bytes');
  });

  it('keeps a bounded prefix of a huge payload', () => {
    const huge = `[${Array.from({ length: 30_000 }, () => '{"fillingLevel":0.5}').join(',')}]`;
    const dl = onlyDeadLetter(run(huge, { maxPayloadBytes: 64 * 1024, maxDeadLetterPayloadBytes: 512 }));
    expect(dl.reason).toBe('payload_too_large');
    expect(Buffer.byteLength(dl.payload)).toBeLessThanOrEqual(512);
    expect(dl.payload.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(huge.startsWith(dl.payload.slice(0, -TRUNCATION_MARKER.length))).toBe(true);
  });

  it.each([
    ['truncated JSON', '{"fillingLevel":'],
    ['single quotes', "{'fillingLevel':0.5}"],
    ['plain text', 'online'],
    ['an empty payload', ''],
    ['NaN, which is not JSON', '{"fillingLevel":NaN}'],
  ])('dead-letters %s as invalid_json with the raw payload', (_, payload) => {
    const dl = onlyDeadLetter(run(payload));
    expect(dl).toMatchObject({ reason: 'invalid_json', path: '', index: undefined, payload });
  });

  it('dead-letters an empty batch', () => {
    expect(onlyDeadLetter(run('[]'))).toMatchObject({ reason: 'empty_batch', index: undefined, payload: '[]' });
  });

  it('accepts maxBatch readings and refuses maxBatch + 1 as one dead letter', () => {
    const batch = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ fillingLevel: 0.5, seq: i })));

    const ok = run(batch(OPTS.maxBatch));
    expect(ok.deadLetters).toEqual([]);
    expect(ok.readings).toHaveLength(OPTS.maxBatch);

    const dl = onlyDeadLetter(run(batch(OPTS.maxBatch + 1)));
    expect(dl).toMatchObject({ reason: 'batch_too_large', path: '', index: undefined });
    expect(dl.message).toContain(String(OPTS.maxBatch + 1));
    expect(dl.message).toContain(String(OPTS.maxBatch));
  });

  it.each([
    ['a number', '42', 'got 42'],
    ['a string', '"0.5"', 'got the string "0.5"'],
    ['null', 'null', 'got null'],
    ['a boolean', 'true', 'got true'],
  ])('dead-letters a payload that is %s as not_an_object', (_, payload, got) => {
    const dl = onlyDeadLetter(run(payload));
    expect(dl).toMatchObject({ reason: 'not_an_object', path: '', index: undefined, payload });
    expect(dl.message).toContain(got);
  });
});

describe('batches', () => {
  it('keeps the good readings of a batch and dead-letters the bad ones with their index', () => {
    const batch = [
      { fillingLevel: 0.1 },
      { fillingLevel: 5 },
      { fillingLevel: 0.2, ts: RECEIVED_AT - MINUTE },
      42,
      null,
      [{ fillingLevel: 0.3 }],
      { fillingLevel: 0.4, temperature: '12' },
      { fillingLevel: 0.5, ts: '2026-06-01T11:00:00Z' },
    ];
    const result = run(JSON.stringify(batch));

    expectAccounted(result, batch.length);
    expect(result.readings.map((r) => [r.index, r.fields.fillingLevel])).toEqual([
      [0, 0.1],
      [2, 0.2],
      [7, 0.5],
    ]);
    expect(result.deadLetters.map((d) => [d.index, d.reason])).toEqual([
      [1, 'out_of_range'],
      [3, 'not_an_object'],
      [4, 'not_an_object'],
      [5, 'not_an_object'],
      [6, 'wrong_type'],
    ]);
    for (const dl of result.deadLetters) {
      // The payload of a batch element is that element, not the whole batch.
      expect(JSON.parse(dl.payload)).toEqual(batch[dl.index!]);
    }
  });

  it('gives a single reading no index and a batch of one index 0', () => {
    expect(onlyReading(run('{"fillingLevel":0.5}')).index).toBeUndefined();
    expect(onlyReading(run('[{"fillingLevel":0.5}]')).index).toBe(0);
    expect(onlyDeadLetter(run('{"fillingLevel":5}')).index).toBeUndefined();
    expect(onlyDeadLetter(run('[{"fillingLevel":5}]')).index).toBe(0);
  });

  it('keeps the raw bytes for a single reading, but re-serialises a batch element', () => {
    const single = '{ "fillingLevel" : 5 }';
    expect(onlyDeadLetter(run(single)).payload).toBe(single);
    expect(onlyDeadLetter(run(`[ ${single} ]`)).payload).toBe('{"fillingLevel":5}');
  });
});

describe('numbers', () => {
  it.each([
    ['1e400 (Infinity)', '{"fillingLevel":1e400}', 'fillingLevel'],
    ['-1e400 (-Infinity)', '{"fillingLevel":0.5,"temperature":-1e400}', 'temperature'],
    ['an integer field', '{"fillingLevel":0.5,"seq":1e400}', 'seq'],
    ['ts', '{"fillingLevel":0.5,"ts":1e400}', 'ts'],
  ])('dead-letters a non-finite number in %s as not_finite', (_, payload, path) => {
    const dl = onlyDeadLetter(run(payload));
    expect(dl).toMatchObject({ reason: 'not_finite', path });
    expect(dl.message).toContain('finite');
  });

  it('writes a non-finite batch element back as 1e400, not as null', () => {
    const dl = onlyDeadLetter(run('[{"fillingLevel":0.5,"temperature":-1e400}]'));
    expect(JSON.parse(dl.payload)).toEqual({ fillingLevel: 0.5, temperature: -Infinity });
  });

  it('never coerces a string to a number', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":0.5,"temperature":"12"}'));
    expect(dl).toMatchObject({ reason: 'wrong_type', path: 'temperature' });
    expect(dl.message).toBe('temperature: expected a number, got the string "12"');
  });

  it('tells a non-integer from a wrong JSON type for integer fields', () => {
    const dl = onlyDeadLetter(run('{"totalSpotNumber":10.5,"availableSpotNumber":3}', {}, parkingMeter));
    expect(dl).toMatchObject({ reason: 'wrong_type', path: 'totalSpotNumber' });
    expect(dl.message).toContain('integer');
    expect(dl.message).toContain('10.5');
  });

  it('explains a ratio sent as percent', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":5}'));
    expect(dl.message).toBe('fillingLevel: must be ≤ 1 (a ratio, not percent), got 5');
  });

  it('suggests leaving a key out instead of sending null', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":0.5,"temperature":null}'));
    expect(dl).toMatchObject({ reason: 'wrong_type', path: 'temperature' });
    expect(dl.message).toContain('null');
  });
});

describe('ts', () => {
  const at = (ts: unknown, opts: Partial<ValidateOptions> = {}) => run(JSON.stringify({ fillingLevel: 0.5, ts }), opts);

  it('reads ISO 8601 with an offset as the instant it names', () => {
    expect(onlyReading(at('2026-06-01T13:30:00+02:00')).timeMs).toBe(RECEIVED_AT - 30 * MINUTE);
    expect(onlyReading(at('2026-06-01T11:30:00.5Z')).timeMs).toBe(RECEIVED_AT - 30 * MINUTE + 500);
    expect(onlyReading(at('2026-06-01T06:00-0500')).timeMs).toBe(RECEIVED_AT - MINUTE * 60);
  });

  it('takes epoch milliseconds as they are', () => {
    expect(onlyReading(at(RECEIVED_AT - 1234)).timeMs).toBe(RECEIVED_AT - 1234);
  });

  it('stamps a reading without ts with the receive time, and never writes ts as a field', () => {
    const without = onlyReading(run('{"fillingLevel":0.5}'));
    expect(without.timeMs).toBe(RECEIVED_AT);
    const withTs = onlyReading(at(RECEIVED_AT - MINUTE));
    expect(Object.keys(withTs.fields)).toEqual(['fillingLevel']);
    expect(Object.keys(without.fields)).toEqual(['fillingLevel']);
  });

  it('accepts the oldest instant of the window and dead-letters 1 ms before it', () => {
    onlyReading(at(RECEIVED_AT - OPTS.maxAgeMs));
    const dl = onlyDeadLetter(at(RECEIVED_AT - OPTS.maxAgeMs - 1));
    expect(dl).toMatchObject({ reason: 'ts_too_old', path: 'ts' });
    expect(dl.message).toContain('7 days');
  });

  it('accepts the latest instant of the window and dead-letters 1 ms after it', () => {
    onlyReading(at(RECEIVED_AT + OPTS.maxFutureMs));
    const dl = onlyDeadLetter(at(new Date(RECEIVED_AT + OPTS.maxFutureMs + 1).toISOString()));
    expect(dl).toMatchObject({ reason: 'ts_in_future', path: 'ts' });
    expect(dl.message).toContain('5 min');
  });

  it('recognises epoch seconds', () => {
    const seconds = Math.floor(RECEIVED_AT / 1000) - 60;
    const dl = onlyDeadLetter(at(seconds));
    expect(dl).toMatchObject({ reason: 'ts_in_seconds', path: 'ts' });
    expect(dl.message).toBe(`ts: ${seconds} looks like epoch seconds; send epoch milliseconds`);
    expect(onlyDeadLetter(at(seconds + 0.25)).reason).toBe('ts_in_seconds');
  });

  it('names epoch microseconds and nanoseconds, which land far in the future', () => {
    const micro = onlyDeadLetter(at(RECEIVED_AT * 1000));
    expect(micro).toMatchObject({ reason: 'ts_in_future', path: 'ts' });
    expect(micro.message).toContain('microseconds');
    // Beyond Number.MAX_SAFE_INTEGER: the schema refuses it before the window is looked at.
    const nano = onlyDeadLetter(at(RECEIVED_AT * 1e6));
    expect(nano).toMatchObject({ reason: 'ts_in_future', path: 'ts' });
    expect(nano.message).toContain('nanoseconds');
  });

  it('uses the configured window', () => {
    const twoHoursAgo = RECEIVED_AT - 120 * MINUTE;
    onlyReading(at(twoHoursAgo));
    expect(onlyDeadLetter(at(twoHoursAgo, { maxAgeMs: 60 * MINUTE })).reason).toBe('ts_too_old');
    onlyReading(at(RECEIVED_AT + 1));
    expect(onlyDeadLetter(at(RECEIVED_AT + 1, { maxFutureMs: 0 })).reason).toBe('ts_in_future');
    onlyReading(at(RECEIVED_AT + 10 * MINUTE, { maxFutureMs: 15 * MINUTE }));
  });

  it.each([
    ['without an offset', '2026-06-01T11:00:00'],
    ['with a space for T', '2026-06-01 11:00:00Z'],
    ['a date that does not exist', '2026-02-29T11:00:00Z'],
    ['hour 24', '2026-06-01T24:00:00Z'],
    ['epoch ms as a string', String(RECEIVED_AT)],
    ['a fraction of a millisecond', RECEIVED_AT + 0.5],
    ['a boolean', true],
    ['an object', { $date: RECEIVED_AT }],
  ])('dead-letters a ts %s as ts_invalid', (_, ts) => {
    expect(onlyDeadLetter(at(ts))).toMatchObject({ reason: 'ts_invalid', path: 'ts' });
  });
});

describe('parseIsoTimestamp', () => {
  it.each([
    '2026-06-01T12:00:00Z',
    '2026-06-01T12:00Z',
    '2026-06-01T12:00:00.1Z',
    '2026-06-01T12:00:00.123456789+05:30',
    '2026-06-01T12:00:00-0800',
    '2028-02-29T23:59:59.999+00:00',
    '2000-02-29T00:00:00Z',
    '1970-01-01T00:00:00Z',
    '0099-12-31T23:59:59Z',
  ])('agrees with Date.parse on the valid timestamp %s', (s) => {
    expect(parseIsoTimestamp(s)).toBe(Date.parse(s));
  });

  it.each([
    '2026-02-29T12:00:00Z',
    '1900-02-29T12:00:00Z',
    '2026-04-31T12:00:00Z',
    '2026-13-01T12:00:00Z',
    '2026-00-01T12:00:00Z',
    '2026-06-00T12:00:00Z',
    '2026-06-01T12:60:00Z',
    '2026-06-01T12:00:60Z',
    '2026-06-01T12:00:00',
    '2026-06-01T12:00:00.Z',
    '2026-06-01T12:00:00.1234567890Z',
    '2026-06-01T12:00:00+24:00',
    '2026-06-01T12:00:00+05:60',
    '2026-06-01T12:00:00Zjunk',
    '2026-06-01t12:00:00Z',
    '2026-6-01T12:00:00Z',
    '',
  ])('refuses %j', (s) => {
    expect(parseIsoTimestamp(s)).toBeNaN();
  });
});

describe('unknown keys and prototype pollution', () => {
  it.each([
    ['__proto__', '{"fillingLevel":0.5,"__proto__":{"polluted":true}}'],
    ['constructor', '{"fillingLevel":0.5,"constructor":{"prototype":{"polluted":true}}}'],
    ['toString', '{"fillingLevel":0.5,"toString":"x"}'],
  ])('dead-letters an own key %s as unknown_key and pollutes nothing', (key, payload) => {
    const single = onlyDeadLetter(run(payload));
    expect(single).toMatchObject({ reason: 'unknown_key', path: key });
    const batch = run(`[${payload},${payload}]`);
    expect(batch.readings).toEqual([]);
    expect(batch.deadLetters.map((d) => [d.index, d.reason, d.path])).toEqual([
      [0, 'unknown_key', key],
      [1, 'unknown_key', key],
    ]);
    // The re-serialised element still shows the key the device sent.
    expect(batch.deadLetters[0]!.payload).toContain(`"${key}"`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('lists the unknown keys and the allowed ones', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":0.5,"foo":1,"bar":2}'));
    expect(dl).toMatchObject({ reason: 'unknown_key', path: 'foo' });
    expect(dl.message).toContain('"foo"');
    expect(dl.message).toContain('"bar"');
    for (const key of [...Object.keys(wasteBin.fields), 'ts', 'seq', 'batteryLevel', 'rssi']) {
      expect(dl.message).toContain(key);
    }
  });

  it('bounds the message when a reading carries thousands of unknown keys', () => {
    const reading: Record<string, number> = { fillingLevel: 0.5 };
    for (let i = 0; i < 5000; i++) reading[`k${i}`] = i;
    const dl = onlyDeadLetter(run(JSON.stringify(reading)));
    expect(dl.reason).toBe('unknown_key');
    expect(dl.message.length).toBeLessThan(1000);
  });
});

describe('hostile nesting', () => {
  const DEPTH = 10_000;
  const deepArray = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
  const deepObject = '{"fillingLevel":0.5,"a":' + '{"a":'.repeat(DEPTH - 1) + '1' + '}'.repeat(DEPTH);

  it('dead-letters a 10,000-deep array without throwing', () => {
    const dl = onlyDeadLetter(run(deepArray));
    expect(dl).toMatchObject({ reason: 'not_an_object', index: 0 });
    expect(Buffer.byteLength(dl.payload)).toBeLessThanOrEqual(OPTS.maxDeadLetterPayloadBytes);
    expect(dl.payload.endsWith(TRUNCATION_MARKER)).toBe(true);
  });

  it('dead-letters a 10,000-deep object, alone or in a batch, without throwing', () => {
    expect(onlyDeadLetter(run(deepObject))).toMatchObject({ reason: 'unknown_key', path: 'a', index: undefined });
    const result = run(`[{"fillingLevel":0.5},${deepObject}]`);
    expectAccounted(result, 2);
    const dl = result.deadLetters[0]!;
    expect(dl).toMatchObject({ reason: 'unknown_key', index: 1 });
    expect(Buffer.byteLength(dl.payload)).toBeLessThanOrEqual(OPTS.maxDeadLetterPayloadBytes);
  });

  it('dead-letters a deeply nested field value as wrong_type', () => {
    const dl = onlyDeadLetter(run(`{"fillingLevel":${deepArray}}`));
    expect(dl).toMatchObject({ reason: 'wrong_type', path: 'fillingLevel' });
    expect(dl.message).toContain('an array');
  });
});

describe('several problems in one reading', () => {
  it('takes reason and path from the first and lists them all', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":5,"temperature":"12","status":"full","foo":1}'));
    expect(dl).toMatchObject({ reason: 'out_of_range', path: 'fillingLevel' });
    for (const part of ['fillingLevel', 'temperature', 'status', '"foo"']) expect(dl.message).toContain(part);
  });

  it('puts a ts outside the window first', () => {
    const dl = onlyDeadLetter(run(JSON.stringify({ ts: RECEIVED_AT - 30 * DAY, fillingLevel: 5 })));
    expect(dl).toMatchObject({ reason: 'ts_too_old', path: 'ts' });
    expect(dl.message).toContain('fillingLevel');
  });

  it('reports a missing required enum as missing, not as a bad value', () => {
    const dl = onlyDeadLetter(run('{"status":"ok"}', {}, streetlight));
    expect(dl).toMatchObject({ reason: 'missing_field', path: 'powerState' });
    expect(dl.message).toContain('missing');
  });
});

describe('dead-letter records', () => {
  it('carry the topic, the device, the receive time and the reason', () => {
    const dl = onlyDeadLetter(run('{"fillingLevel":5}'));
    expect(dl).toMatchObject({
      topic: 'city/waste-bin/bin-0001/telemetry',
      deviceId: 'bin-0001',
      type: 'waste-bin',
      receivedAt: RECEIVED_AT,
    });
    expect(DeadLetterReasons).toContain(dl.reason);
  });

  it('cut a long payload on a character boundary, within the limit, with the marker', () => {
    const status = '€'.repeat(200);
    for (const max of [64, 65, 66, 67]) {
      for (const payload of [`{"fillingLevel":5,"status":"${status}"}`, `[{"fillingLevel":5,"status":"${status}"}]`]) {
        const dl = onlyDeadLetter(run(payload, { maxDeadLetterPayloadBytes: max }));
        expect(Buffer.byteLength(dl.payload)).toBeLessThanOrEqual(max);
        expect(dl.payload.endsWith(TRUNCATION_MARKER)).toBe(true);
        expect(dl.payload).not.toContain('\uFFFD');
        const kept = dl.payload.slice(0, -TRUNCATION_MARKER.length);
        expect(payload.replace(/^\[|\]$/g, '').startsWith(kept)).toBe(true);
        expect(Buffer.byteLength(kept)).toBeGreaterThan(max - Buffer.byteLength(TRUNCATION_MARKER) - 3);
      }
    }
  });

  it('keep a payload that fits as it is', () => {
    const payload = `{"fillingLevel":5,"status":"${'é'.repeat(10)}"}`;
    expect(onlyDeadLetter(run(payload, { maxDeadLetterPayloadBytes: Buffer.byteLength(payload) })).payload).toBe(payload);
  });
});

describe('valid readings', () => {
  it('carry the type, the device and the schema output without ts', () => {
    const reading = onlyReading(run('{"status":"ok","ts":"2026-06-01T11:00:00Z","fillingLevel":0.25,"seq":3}'));
    expect(reading).toEqual({
      type: 'waste-bin',
      deviceId: 'bin-0001',
      timeMs: RECEIVED_AT - 60 * MINUTE,
      fields: { status: 'ok', fillingLevel: 0.25, seq: 3 },
      index: undefined,
      stampedAtReceive: false,
    });
  });

  it('are marked when they carry no ts and take the receive time', () => {
    const reading = onlyReading(run('{"fillingLevel":0.25}'));
    expect(reading.timeMs).toBe(RECEIVED_AT);
    expect(reading.stampedAtReceive).toBe(true);
  });
});

describe('a definition rule that throws', () => {
  const fragile = defineDeviceType({
    name: 'fragile',
    measurement: 'fragile',
    fiwareModel: 'Device',
    fields: { v: required(float('test value')) },
    refine: (r) => {
      if (r.v === 13) throw new Error('unlucky');
    },
  });

  it('costs that reading only', () => {
    const result = validateTelemetry(fragile, { type: 'fragile', deviceId: 'x' }, raw('[{"v":1},{"v":13},{"v":2}]'), OPTS);
    expect(result.readings.map((r) => r.index)).toEqual([0, 2]);
    expect(result.deadLetters.map((d) => [d.index, d.reason])).toEqual([[1, 'invalid_value']]);
    expect(result.deadLetters[0]!.message).toContain('unlucky');
  });
});

describe('accounting: every reading ends up in exactly one list', () => {
  interface Fixture {
    reading: Record<string, unknown>;
    reason?: string;
  }
  const load = (type: string, file: 'valid' | 'invalid'): Fixture[] => typeFixtures(typeFolder(type))[file];

  it.each(deviceTypes.map((d) => [d.name, d] as const))('for a batch of all %s fixtures, in both orders', (name, def) => {
    const all = [...load(name, 'valid'), ...load(name, 'invalid')];
    for (const order of [all, [...all].reverse()]) {
      const result = validateTelemetry(def, { type: name, deviceId: 'd' }, raw(JSON.stringify(order.map((f) => f.reading))), OPTS);
      expectAccounted(result, order.length);
      for (const r of result.readings) expect(order[r.index!]!.reason).toBeUndefined();
      for (const d of result.deadLetters) expect(d.reason).toBe(order[d.index!]!.reason);
    }
  });

  it('for randomly mangled readings', () => {
    // A fixed seed: a failure reproduces.
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const junk = ['1e400', '-1', '0', '1', '0.5', '1.5', '1e21', '"ok"', '"0.5"', 'null', 'true', '[]', '{}', '"2026-06-01T11:00:00Z"'];
    const keys = ['ts', 'seq', 'batteryLevel', 'rssi', 'fillingLevel', 'temperature', 'status', 'totalSpotNumber', 'availableSpotNumber', 'powerState', '__proto__', 'x'];
    for (let round = 0; round < 300; round++) {
      const def = deviceTypes[rand(deviceTypes.length)]!;
      const n = 1 + rand(20);
      const elements = Array.from({ length: n }, () => {
        if (rand(10) === 0) return junk[rand(junk.length)]!;
        const pairs = Array.from({ length: rand(5) }, () => `"${keys[rand(keys.length)]!}":${junk[rand(junk.length)]!}`);
        return `{${pairs.join(',')}}`;
      });
      const result = validateTelemetry(def, { type: def.name, deviceId: 'd' }, raw(`[${elements.join(',')}]`), OPTS);
      expectAccounted(result, n);
      for (const d of result.deadLetters) expect(DeadLetterReasons).toContain(d.reason);
    }
  });
});

describe('the fast path (device-types/fast-parse.ts)', () => {
  /** The same type with the fast path switched off: every reading goes through zod, as before it. */
  const zodOnly = (def: DeviceTypeDefinition): DeviceTypeDefinition => ({ ...def, fastParse: () => undefined });

  it('changes no result: readings and dead letters equal zod alone, on fixtures and mangled readings', () => {
    let seed = 0x9e3779b9;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const junk = ['1e400', '-1', '0', '-0', '1', '0.5', '1.5', '1e21', '"ok"', '"on"', '"0.5"', 'null', 'true', '[]', '{}', '"2026-06-01T11:00:00Z"', '1780315200000', '1780315200', '24'];
    for (const def of deviceTypes) {
      const { valid, invalid } = typeFixtures(typeFolder(def.name));
      const fixtures = [...valid, ...invalid].map((f) => JSON.stringify(f.reading));
      const keys = [...new Set([...Object.keys(def.fields), 'ts', 'seq', 'batteryLevel', 'rssi', '__proto__', 'x'])];
      const payloads = [...fixtures, `[${fixtures.join(',')}]`];
      for (let round = 0; round < 300; round++) {
        const base = JSON.parse(fixtures[rand(fixtures.length)]!) as Record<string, unknown>;
        const pairs = Object.entries(base).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
        for (let i = rand(3); i > 0; i--) pairs.splice(rand(pairs.length + 1), rand(2), `"${keys[rand(keys.length)]!}":${junk[rand(junk.length)]!}`);
        payloads.push(`{${pairs.join(',')}}`);
      }
      const topic = { type: def.name, deviceId: 'd' };
      for (const payload of payloads) {
        for (const receivedAt of [RECEIVED_AT, Date.now()]) {
          const withFast = validateTelemetry(def, topic, raw(payload, receivedAt), OPTS);
          const withoutFast = validateTelemetry(zodOnly(def), topic, raw(payload, receivedAt), OPTS);
          expect(withFast, payload).toEqual(withoutFast);
          for (let i = 0; i < withFast.readings.length; i++) {
            expect(Object.keys(withFast.readings[i]!.fields), payload).toEqual(Object.keys(withoutFast.readings[i]!.fields));
          }
        }
      }
    }
  });
});
