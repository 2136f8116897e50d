import { describe, expect, it } from 'vitest';
import { decodeOutcome, encodeOutcome, outcomeSize, weighOutcome, type Outcome } from './outcome.js';
import type { DeadLetter } from './types.js';

const deadLetter: DeadLetter = {
  reason: 'out_of_range',
  path: 'fillingLevel',
  message: 'fillingLevel: must be ≤ 1 (a ratio, not percent), got 5',
  topic: 'city/waste-bin/bin-0001/telemetry',
  deviceId: 'bin-0001',
  type: 'waste-bin',
  index: 1,
  payload: '{"fillingLevel":5,"status":"ok\\n"}',
  receivedAt: 1_780_000_000_123,
};

const cases: [string, Outcome][] = [
  [
    'one point',
    { topic: 'city/waste-bin/bin-0001/telemetry', receivedAt: 1_780_000_000_123, type: 'waste-bin', deviceId: 'bin-0001', lines: ['waste_bin,device_id=bin-0001,district=centrum fillingLevel=0.5 1780000000000'], deadLetters: [] },
  ],
  [
    'a batch of points, a district with spaces and commas escaped',
    {
      topic: 'city/streetlight/light-7/telemetry',
      receivedAt: 1,
      type: 'streetlight',
      deviceId: 'light-7',
      lines: ['streetlight,device_id=light-7,district=nieuw\\ west powerState="on" 1', 'streetlight,device_id=light-7,district=nieuw\\ west powerState="off" 2', 'streetlight,device_id=light-7,district=a\\,b seq=3i 3'],
      deadLetters: [],
    },
  ],
  [
    'points and dead letters',
    { topic: deadLetter.topic, receivedAt: deadLetter.receivedAt, type: 'waste-bin', deviceId: 'bin-0001', lines: ['waste_bin,device_id=bin-0001,district=centrum fillingLevel=0.1 1'], deadLetters: [deadLetter] },
  ],
  [
    'a dead letter only, for a topic that names no device',
    { topic: 'city/nonsense', receivedAt: 5, type: '', deviceId: '', lines: [], deadLetters: [{ ...deadLetter, reason: 'invalid_topic', path: '', deviceId: undefined, type: undefined, index: undefined, topic: 'city/nonsense' }] },
  ],
];

describe('spool record encoding of an outcome', () => {
  it.each(cases)('%s round-trips exactly', (_name, outcome) => {
    const decoded = decodeOutcome(encodeOutcome(outcome));
    expect(decoded).toEqual(JSON.parse(JSON.stringify(outcome)));
  });

  it.each(cases)('%s weighs as many readings as it accounts for', (_name, outcome) => {
    expect(weighOutcome(encodeOutcome(outcome))).toBe(outcomeSize(outcome));
  });

  it('keeps the common case compact: a one-point record is the line plus a short header', () => {
    const [, one] = cases[0]!;
    const bytes = encodeOutcome(one).length;
    expect(bytes).toBeLessThan(one.lines[0]!.length + one.topic.length + 40);
  });

  it('refuses a record it does not know', () => {
    expect(() => decodeOutcome(Buffer.from('Xjunk'))).toThrow(/unknown spool record kind 0x58/);
  });
});
