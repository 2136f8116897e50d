/**
 * Real cities a generated fleet can be placed in: a centre, a radius and a time zone (the behaviour
 * models follow the local clock and the local sun). Amsterdam also has its seven stadsdelen, which
 * the shipped demo fleet and the models' district tables use.
 */

/** What kind of area a district is; the waste-bin model fills bins by it (visitors, offices, residents). */
export type AreaKind = 'centre' | 'business' | 'residential';

/** A named district with its centre, for cities whose districts we know. */
export interface KnownDistrict {
  readonly name: string;
  readonly lat: number;
  readonly lon: number;
  readonly areaKind: AreaKind;
  /** Relative busyness, 1 = an average district. */
  readonly footfall: number;
}

/** A city to generate a fleet in. */
export interface City {
  /** Prefix of generated device ids, e.g. `ams` → `ams-bin-00001`. */
  readonly code: string;
  readonly lat: number;
  readonly lon: number;
  /** Radius of the built-up area the districts are spread over, km. */
  readonly radiusKm: number;
  /** IANA time zone, written to each device's `attributes.timeZone`. */
  readonly timeZone: string;
  /** Real districts, used first (in this order) when generating that many or fewer. */
  readonly districts?: readonly KnownDistrict[];
}

export const cities: Readonly<Record<string, City>> = Object.freeze({
  amsterdam: {
    code: 'ams',
    lat: 52.3728,
    lon: 4.8936,
    radiusKm: 8,
    timeZone: 'Europe/Amsterdam',
    districts: [
      { name: 'centrum', lat: 52.3728, lon: 4.8936, areaKind: 'centre', footfall: 1.5 },
      { name: 'west', lat: 52.3785, lon: 4.865, areaKind: 'residential', footfall: 1.1 },
      { name: 'oost', lat: 52.36, lon: 4.94, areaKind: 'residential', footfall: 1.1 },
      { name: 'zuid', lat: 52.345, lon: 4.87, areaKind: 'business', footfall: 1.0 },
      { name: 'noord', lat: 52.395, lon: 4.93, areaKind: 'residential', footfall: 0.85 },
      { name: 'nieuw-west', lat: 52.36, lon: 4.8, areaKind: 'residential', footfall: 0.9 },
      { name: 'zuidoost', lat: 52.31, lon: 4.97, areaKind: 'residential', footfall: 0.9 },
    ],
  },
  rotterdam: { code: 'rtm', lat: 51.9225, lon: 4.4792, radiusKm: 9, timeZone: 'Europe/Amsterdam' },
  utrecht: { code: 'utr', lat: 52.0907, lon: 5.1214, radiusKm: 6, timeZone: 'Europe/Amsterdam' },
  berlin: { code: 'ber', lat: 52.52, lon: 13.405, radiusKm: 15, timeZone: 'Europe/Berlin' },
  paris: { code: 'par', lat: 48.8566, lon: 2.3522, radiusKm: 8, timeZone: 'Europe/Paris' },
  london: { code: 'lon', lat: 51.5072, lon: -0.1276, radiusKm: 15, timeZone: 'Europe/London' },
  barcelona: { code: 'bcn', lat: 41.3874, lon: 2.1686, radiusKm: 7, timeZone: 'Europe/Madrid' },
  'new-york': { code: 'nyc', lat: 40.7128, lon: -74.006, radiusKm: 15, timeZone: 'America/New_York' },
});

/** The city by name (case-insensitive), or undefined. */
export function cityNamed(name: string): City | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(cities, key) ? cities[key] : undefined;
}
