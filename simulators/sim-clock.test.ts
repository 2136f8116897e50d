import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAY_MS, formatDuration, parseStartTime, planClock, SimClock, START_AGE_MARGIN_MS } from './sim-clock.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-06-18T12:00:00Z');

describe('parseStartTime', () => {
  it.each([
    ['now', { agoMs: 0 }],
    ['-24h', { agoMs: DAY }],
    ['-90m', { agoMs: 90 * 60_000 }],
    ['-1d12h', { agoMs: 36 * HOUR }],
    ['-30s', { agoMs: 30_000 }],
    ['-1.5h', { agoMs: 1.5 * HOUR }],
    ['2026-06-18T06:00:00+02:00', { atMs: Date.parse('2026-06-18T04:00:00Z') }],
    ['2026-06-18T06:00:00Z', { atMs: Date.parse('2026-06-18T06:00:00Z') }],
  ])('%s', (text, expected) => {
    expect(parseStartTime(text)).toEqual(expected);
  });

  it.each(['yesterday', '24h', '-24x', '2026-06-18T06:00:00', '2026-13-45T99:00:00Z', ''])('refuses %j', (text) => {
    expect(() => parseStartTime(text)).toThrow('expected now, an ISO 8601 time with an offset');
  });
});

describe('planClock', () => {
  it('starts a sped-up run 24 h back by default, a real-time run now', () => {
    expect(planClock({ speed: 60, nowMs: NOW })).toEqual({ from: { agoMs: DEFAULT_REPLAY_MS }, speed: 60, atNow: 'live' });
    expect(planClock({ nowMs: NOW })).toEqual({ from: { agoMs: 0 }, speed: 1, atNow: 'live' });
    // citypipe configured to keep less than a day: the default start stays inside its window.
    expect(planClock({ speed: 60, nowMs: NOW, maxAgeMs: 6 * HOUR }).from).toEqual({ agoMs: 6 * HOUR - START_AGE_MARGIN_MS });
  });

  it('refuses what would give timestamps citypipe dead-letters', () => {
    expect(() => planClock({ speed: 60, from: { agoMs: 7 * DAY }, nowMs: NOW })).toThrow('older than citypipe accepts');
    expect(() => planClock({ speed: 60, from: { agoMs: 7 * DAY }, nowMs: NOW })).toThrow('no earlier than -6d23h45m');
    expect(planClock({ speed: 60, from: { agoMs: 7 * DAY - START_AGE_MARGIN_MS }, nowMs: NOW }).speed).toBe(60);
    expect(() => planClock({ from: NOW + 1000, nowMs: NOW })).toThrow('in the future');
    expect(() => planClock({ speed: 0.5, nowMs: NOW })).toThrow('speed: expected a number ≥ 1');
    expect(() => planClock({ speed: Number.NaN, nowMs: NOW })).toThrow('speed');
    expect(() => planClock({ speed: 1, atNow: 'stop', from: { agoMs: HOUR }, nowMs: NOW })).toThrow('stop needs a speed above 1');
  });
});

describe('SimClock', () => {
  it('runs speed times as fast from its start, and never past the wall clock', () => {
    let real = NOW;
    const clock = new SimClock(planClock({ speed: 60, from: { agoMs: HOUR }, nowMs: real }), () => real);
    expect(clock.now()).toBe(NOW - HOUR);
    // Connecting took 10 s: a relative start is anchored when the clock starts.
    real += 10_000;
    clock.start();
    expect(clock.now()).toBe(real - HOUR);
    expect(clock.caughtUp()).toBe(false);
    real += 30_000; // 30 s real = 30 simulated minutes
    expect(clock.now()).toBe(NOW + 10_000 - HOUR + 30 * 60_000);
    expect(clock.realMsUntil(clock.now() + 60_000)).toBe(1_000);
    real += 32_000; // 1 h behind, gaining 59 s a second: caught up after ~61 s
    expect(clock.caughtUp()).toBe(true);
    expect(clock.now()).toBe(real);
    real += 5_000;
    expect(clock.now()).toBe(real);
    expect(clock.realMsUntil(real + 2_000)).toBe(2_000);
  });

  it('keeps an absolute start where it is', () => {
    let real = NOW;
    const at = NOW - 2 * HOUR;
    const clock = new SimClock(planClock({ speed: 3600, from: at, nowMs: real }), () => real);
    real += 5_000;
    clock.start();
    expect(clock.fromMs).toBe(at);
    real += 1_000;
    expect(clock.now()).toBe(at + HOUR);
  });
});

it('formatDuration', () => {
  expect(formatDuration(7 * DAY - 15 * 60_000)).toBe('6d23h45m');
  expect(formatDuration(DAY)).toBe('1d');
  expect(formatDuration(0)).toBe('0m');
});
