import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../src/catalog/types.js';
import { deviceTimeZone, localTime } from './local-time.js';

describe('localTime', () => {
  it.each([
    // Amsterdam: CET in winter, CEST in summer, across both switches of 2024.
    ['2024-01-15T11:30:00Z', 'Europe/Amsterdam', 12.5, 1, 15],
    ['2024-06-18T22:15:00Z', 'Europe/Amsterdam', 0.25, 3, 171],
    ['2024-03-31T00:59:00Z', 'Europe/Amsterdam', 1 + 59 / 60, 0, 91],
    ['2024-03-31T01:00:00Z', 'Europe/Amsterdam', 3, 0, 91],
    ['2024-10-27T00:30:00Z', 'Europe/Amsterdam', 2.5, 0, 301],
    ['2024-10-27T01:30:00Z', 'Europe/Amsterdam', 2.5, 0, 301],
    ['2024-12-31T23:00:00Z', 'Europe/Amsterdam', 0, 3, 1],
    // A half-hour zone.
    ['2024-01-15T00:00:00Z', 'Asia/Kolkata', 5.5, 1, 15],
  ] as const)('%s in %s is %s h, weekday %s, day %s', (iso, tz, hour, weekday, dayOfYear) => {
    expect(localTime(Date.parse(iso), tz)).toEqual({ hour, weekday, dayOfYear });
  });

  it('takes a device’s zone from attributes.timeZone, else Amsterdam, and refuses an unknown one', () => {
    const d = (attributes: Record<string, string | number>) =>
      deviceRecordSchema.parse({ id: 'x', type: 'waste-bin', district: 'c', location: { lat: 0, lon: 0 }, attributes });
    expect(deviceTimeZone(d({}))).toBe('Europe/Amsterdam');
    expect(deviceTimeZone(d({ timeZone: 'America/New_York' }))).toBe('America/New_York');
    expect(() => deviceTimeZone(d({ timeZone: 'Mars/Olympus' }))).toThrow('device x: attributes.timeZone "Mars/Olympus"');
    expect(() => deviceTimeZone(d({ timeZone: 5 }))).toThrow('IANA');
  });
});
