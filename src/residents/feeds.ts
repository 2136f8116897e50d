/**
 * The open-data feeds of a snapshot (CONTRACT §9), as the bodies the view serves:
 * - `parking.geojson`: every parking place as a GeoJSON Feature (RFC 7946; coordinates lon, lat);
 * - `outages.geojson`: every public outage, its location rounded to ~10 m;
 * - `parking.json`: the places as a DATEX II-style parking status publication
 *   (`parkingRecordStatus` with `parkingOccupancy` and `parkingSiteStatus`), for consumers that
 *   already read DATEX II parking data. A record's `parkingRecordReference.id` is its GeoJSON
 *   feature's `id`, where names and locations are.
 *
 * No body carries the time it was made, only the data's own times: an unchanged city keeps its ETag.
 */
import type { Outage, ParkingPlace, ResidentSnapshot } from './snapshot.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The newest `updated` of the places, or null. */
export function newestUpdate(places: readonly ParkingPlace[]): number | null {
  let newest: number | null = null;
  for (const p of places) if (p.updated !== null && (newest === null || p.updated > newest)) newest = p.updated;
  return newest;
}

export function parkingGeoJson(s: ResidentSnapshot): string {
  return JSON.stringify({
    type: 'FeatureCollection',
    updated: iso(newestUpdate(s.places)),
    features: s.places.map((p) => ({
      type: 'Feature',
      id: p.id,
      geometry: { type: 'Point', coordinates: [p.lon, p.lat] },
      properties: {
        kind: p.kind,
        name: p.name,
        district: p.district,
        totalSpotNumber: p.totalSpotNumber,
        availableSpotNumber: p.availableSpotNumber,
        unknownSpotNumber: p.unknownSpotNumber,
        status: p.status,
        updated: iso(p.updated),
      },
    })),
  });
}

export function outagesGeoJson(s: ResidentSnapshot): string {
  return JSON.stringify({
    type: 'FeatureCollection',
    features: s.outages.map((o: Outage) => ({
      type: 'Feature',
      id: o.id,
      geometry: { type: 'Point', coordinates: [o.lon, o.lat] },
      properties: { category: o.heading, service: o.service, serviceCode: o.serviceCode, status: 'open', since: iso(o.since), district: o.district },
    })),
  });
}

/** DATEX II `ParkingSiteStatusEnum` values a place maps to. */
const SITE_STATUS = { open: 'spacesAvailable', full: 'full', unknown: 'unknown' } as const;

export function parkingDatex(s: ResidentSnapshot, publisher: string): string {
  return JSON.stringify({
    publicationTime: iso(newestUpdate(s.places) ?? s.at),
    publicationCreator: { nationalIdentifier: publisher },
    parkingRecordStatus: s.places.map((p) => {
      const occupied = p.availableSpotNumber === null || p.totalSpotNumber === null ? null : p.totalSpotNumber - (p.unknownSpotNumber ?? 0) - p.availableSpotNumber;
      const known = occupied === null || p.availableSpotNumber === null ? 0 : occupied + p.availableSpotNumber;
      return {
        parkingRecordReference: { id: p.id, version: '1' },
        parkingRecordName: p.name,
        ...(p.updated === null ? {} : { parkingStatusOriginTime: iso(p.updated) }),
        ...(occupied === null || p.availableSpotNumber === null
          ? {}
          : {
              parkingOccupancy: {
                ...(p.totalSpotNumber === null ? {} : { parkingNumberOfSpacesOverride: p.totalSpotNumber }),
                parkingNumberOfVacantSpaces: p.availableSpotNumber,
                parkingNumberOfOccupiedSpaces: occupied,
                // DATEX II `Percentage`: occupied among the spaces whose state is known.
                ...(known > 0 ? { parkingOccupancy: Math.round((occupied / known) * 1000) / 10 } : {}),
              },
            }),
        parkingSiteStatus: SITE_STATUS[p.status],
      };
    }),
  });
}
