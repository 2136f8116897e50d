import { describe, expect, it } from 'vitest';
import { MAX_SEGMENT_LENGTH, parseStatusTopic, parseTelemetryTopic } from './topic.js';

const id64 = 'a'.repeat(MAX_SEGMENT_LENGTH);

describe('parseTelemetryTopic', () => {
  it.each([
    ['city/waste-bin/bin-0001/telemetry', 'waste-bin', 'bin-0001'],
    ['city/parking-meter/PM_12.b/telemetry', 'parking-meter', 'PM_12.b'],
    ['city/streetlight/x/telemetry', 'streetlight', 'x'],
    [`city/streetlight/${id64}/telemetry`, 'streetlight', id64],
    // The parser splits; whether the type exists is the registry's call (unknown_type, not invalid_topic).
    ['city/no-such-type/dev/telemetry', 'no-such-type', 'dev'],
    ['city/telemetry/telemetry/telemetry', 'telemetry', 'telemetry'],
  ])('splits %s', (topic, type, deviceId) => {
    expect(parseTelemetryTopic(topic)).toEqual({ type, deviceId });
  });

  it.each([
    ['empty', ''],
    ['no device id', 'city/waste-bin/telemetry'],
    ['an empty device id', 'city/waste-bin//telemetry'],
    ['an empty type', 'city//bin-0001/telemetry'],
    ['a device id over 64 characters', `city/waste-bin/${id64}b/telemetry`],
    ['an extra level', 'city/waste-bin/bin/0001/telemetry'],
    ['a trailing slash', 'city/waste-bin/bin-0001/telemetry/'],
    ['a leading slash', '/city/waste-bin/bin-0001/telemetry'],
    ['another root', 'town/waste-bin/bin-0001/telemetry'],
    ['the status topic', 'city/waste-bin/bin-0001/status'],
    ['an events topic', 'city/events/waste-bin/bin-0001'],
    ['a wildcard', 'city/waste-bin/+/telemetry'],
    ['a multi-level wildcard', 'city/#/telemetry'],
    ['a space in the id', 'city/waste-bin/bin 1/telemetry'],
    ['a non-ASCII id', 'city/waste-bin/bin-ü/telemetry'],
    ['a NUL in the id', 'city/waste-bin/bin\u00001/telemetry'],
    ['a suffix that only starts right', 'city/waste-bin/bin-0001/telemetryx'],
    ['upper-case root', 'City/waste-bin/bin-0001/telemetry'],
  ])('refuses a topic with %s', (_, topic) => {
    expect(parseTelemetryTopic(topic)).toBeUndefined();
  });

  it('answers in linear time for hostile topics', () => {
    const hostile = [`city/${'a/'.repeat(100_000)}telemetry`, `city/${'a/'.repeat(100_000)}telemetr`, `city/${'a'.repeat(200_000)}/telemetry`];
    const start = performance.now();
    for (let i = 0; i < 100; i++) {
      for (const topic of hostile) expect(parseTelemetryTopic(topic)).toBeUndefined();
    }
    // 300 scans of 200 kB take well under a second unless parsing goes quadratic (a backtracking regex).
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('parseStatusTopic', () => {
  it('splits a status topic', () => {
    expect(parseStatusTopic('city/streetlight/light-0001/status')).toEqual({ type: 'streetlight', deviceId: 'light-0001' });
  });

  it.each(['city/streetlight/light-0001/telemetry', 'city/streetlight/status', 'city/streetlight/a/b/status', 'city/streetlight/light 1/status'])(
    'refuses %s',
    (topic) => {
      expect(parseStatusTopic(topic)).toBeUndefined();
    },
  );
});
