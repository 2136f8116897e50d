import { getTimes } from 'suncalc';
import { describe, expect, it } from 'vitest';
import { isSunUp, sunAltitude } from './sun.js';

const AMSTERDAM = { lat: 52.37, lon: 4.89 };

describe('sun', () => {
  it('stands high at noon in June and below the horizon at midnight in Amsterdam', () => {
    expect(sunAltitude(Date.parse('2026-06-21T11:40:00Z'), AMSTERDAM.lat, AMSTERDAM.lon)).toBeGreaterThan(55);
    expect(sunAltitude(Date.parse('2026-06-21T23:40:00Z'), AMSTERDAM.lat, AMSTERDAM.lon)).toBeLessThan(-10);
    expect(isSunUp(Date.parse('2026-12-21T11:40:00Z'), AMSTERDAM.lat, AMSTERDAM.lon, 5)).toBe(true);
    expect(isSunUp(Date.parse('2026-12-21T17:00:00Z'), AMSTERDAM.lat, AMSTERDAM.lon)).toBe(false);
  });

  it('crosses the horizon at sunrise and sunset by the location, in degrees', () => {
    const day = new Date('2026-03-20T12:00:00Z');
    const t = getTimes(day, AMSTERDAM.lat, AMSTERDAM.lon);
    const sunrise = t.sunrise!.getTime();
    // Apparent altitude: the upper limb touches the horizon while the centre is just below it.
    const atSunrise = sunAltitude(sunrise, AMSTERDAM.lat, AMSTERDAM.lon);
    expect(atSunrise).toBeLessThan(0);
    expect(atSunrise).toBeGreaterThan(-0.9);
    expect(isSunUp(sunrise - 10 * 60_000, AMSTERDAM.lat, AMSTERDAM.lon)).toBe(false);
    expect(isSunUp(sunrise + 10 * 60_000, AMSTERDAM.lat, AMSTERDAM.lon)).toBe(true);
    // The same instant is night in Honolulu.
    expect(isSunUp(sunrise + 10 * 60_000, 21.3, -157.86)).toBe(false);
  });

  it('is above 5° only some time after sunrise', () => {
    const t = getTimes(new Date('2026-03-20T12:00:00Z'), AMSTERDAM.lat, AMSTERDAM.lon);
    const sunrise = t.sunrise!.getTime();
    expect(isSunUp(sunrise + 15 * 60_000, AMSTERDAM.lat, AMSTERDAM.lon, 5)).toBe(false);
    expect(isSunUp(sunrise + 60 * 60_000, AMSTERDAM.lat, AMSTERDAM.lon, 5)).toBe(true);
  });
});
