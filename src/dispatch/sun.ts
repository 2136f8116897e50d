/**
 * The sun's position at a lamp, for the day-burner rule: a lamp that is on while the sun is up at
 * its own coordinates. suncalc 2 works in degrees (1.x used radians) and takes UTC instants, so
 * no time zone enters here.
 */
import { getPosition } from 'suncalc';

/**
 * The sun's apparent altitude (refraction included, as suncalc 2 reports it) in degrees above the
 * horizon at `timeMs` (epoch ms) at lat/lon. At sunrise and sunset it is a little under 0°.
 */
export function sunAltitude(timeMs: number, lat: number, lon: number): number {
  return getPosition(new Date(timeMs), lat, lon).altitude;
}

/**
 * True while the sun stands above `minAltitude` degrees at lat/lon. Rules use a few degrees above
 * the horizon rather than sunrise itself: photocells switch lamps on in an overcast dusk, and that
 * is not a day-burner.
 */
export function isSunUp(timeMs: number, lat: number, lon: number, minAltitude = 0): boolean {
  return sunAltitude(timeMs, lat, lon) > minAltitude;
}
