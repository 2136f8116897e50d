/**
 * What residents see (CONTRACT §9), made in one pass from the catalog, each device's latest reading
 * and the open tickets: parking places with their free spaces, and outages. Pure: the view
 * (view.ts) calls it at most once a second and serves what it returns from memory.
 *
 * Privacy: no device id, secret or exact sensor position leaves this module. A parking place is a
 * zone (its bays' centre) or a meter (where a passer-by sees it); an outage is a service, a district
 * and a location rounded to ~10 m, only for types whose definition has `outages` and service codes
 * the rules file does not mark `"public": false`.
 *
 * Freshness: a reading older than 3 × its device's `reportingIntervalS` is not used; a place with no
 * fresh reading is `unknown`, never open (a resident must not drive to a bay nobody has heard from).
 */
import type { DeviceRecord } from '../catalog/types.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import type { DeviceTypeDefinition } from '../device-types/types.js';
import { deviceType as registeredType } from '../device-types/registry.js';
import type { LatestLookup } from '../http/dispatch-ports.js';
import { bayOf } from '../parking/zones.js';
import type { Ticket } from '../tickets/open311-view.js';

/** A reading older than this many reporting intervals is not used (CONTRACT §9). */
export const STALE_INTERVALS = 3;
/** Decimals of an outage's location: 1e-4° is 11 m of latitude, and less of longitude. */
export const OUTAGE_DECIMALS = 4;
/** Decimals of a parking place's location (public places; 1e-5° ≈ 1 m). */
export const PLACE_DECIMALS = 5;

export type PlaceStatus = 'open' | 'full' | 'unknown';

/** A parking zone (its bays, counted) or a meter (the bays it counts), as residents see it. */
export interface ParkingPlace {
  /** `zone:<zone>` or `meter:<lat>,<lon>`: stable, and no device id. */
  readonly id: string;
  readonly kind: 'zone' | 'meter';
  readonly name: string;
  readonly district: string;
  readonly lat: number;
  readonly lon: number;
  /** Bays in the catalog (zone) or the meter's last count; null when never heard from. */
  readonly totalSpotNumber: number | null;
  /** Free bays known now; null when nothing about the place is fresh. */
  readonly availableSpotNumber: number | null;
  /** Bays with no fresh reading (zones; 0 for a meter with a fresh count). */
  readonly unknownSpotNumber: number | null;
  readonly status: PlaceStatus;
  /** Device time of the newest fresh reading behind it, epoch ms; null when none is fresh. */
  readonly updated: number | null;
}

/** An open public ticket of an outage type, as residents see it. */
export interface Outage {
  /** `outage:<service_request_id>`. */
  readonly id: string;
  /** The type's `outages.heading`, e.g. `Streetlights`. */
  readonly heading: string;
  readonly service: string;
  readonly serviceCode: string;
  readonly district: string;
  /** When the problem was reported (the ticket's `requested_datetime`), epoch ms. */
  readonly since: number;
  readonly lat: number;
  readonly lon: number;
}

export interface ResidentInput {
  readonly devices: readonly DeviceRecord[];
  readonly latest: LatestLookup;
  /** Open tickets (any service code; the private ones are dropped here). */
  readonly openTickets: readonly Ticket[];
  readonly services: readonly ServiceDefinition[];
  readonly now: number;
  /** The device types by name; default the registry. */
  readonly typeOf?: ((name: string) => DeviceTypeDefinition | undefined) | undefined;
}

export interface ResidentSnapshot {
  /** When it was made, epoch ms. */
  readonly at: number;
  /** Zones by name, then meters by place. */
  readonly places: readonly ParkingPlace[];
  /** Newest report first. */
  readonly outages: readonly Outage[];
  /** The outage headings of the catalog's types (a section each on the page, even with nothing open). */
  readonly outageHeadings: readonly string[];
  /** The earliest time a reading used here goes stale: the snapshot must be made again by then. */
  readonly staleAt: number;
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** True when a reading of device time `timeMs` is still fresh at `now`; `staleAt` is when it is not. */
function freshUntil(d: DeviceRecord, timeMs: number): number {
  return timeMs + STALE_INTERVALS * d.reportingIntervalS * 1000;
}

interface ZoneAcc {
  zone: string;
  district: string;
  latSum: number;
  lonSum: number;
  total: number;
  free: number;
  known: number;
  updated: number | null;
}

export function buildResidentSnapshot(input: ResidentInput): ResidentSnapshot {
  const { now } = input;
  const typeOf = input.typeOf ?? registeredType;
  let staleAt = Number.POSITIVE_INFINITY;
  /** The fields of `d`'s latest reading when fresh at `now`, and its time. */
  const fresh = (d: DeviceRecord): { fields: Readonly<Record<string, number | string>>; timeMs: number } | undefined => {
    const l = input.latest.get(d.id);
    if (!l) return undefined;
    const until = freshUntil(d, l.timeMs);
    if (now >= until) return undefined;
    staleAt = Math.min(staleAt, until);
    return { fields: l.fields, timeMs: l.timeMs };
  };

  const zones = new Map<string, ZoneAcc>();
  const meters: { place: Omit<ParkingPlace, 'id'>; deviceId: string }[] = [];
  const byId = new Map<string, DeviceRecord>();
  for (const d of input.devices) {
    byId.set(d.id, d);
    const type = typeOf(d.type);
    const bay = bayOf(d);
    if (bay) {
      let z = zones.get(bay.zone);
      if (!z) zones.set(bay.zone, (z = { zone: bay.zone, district: d.district, latSum: 0, lonSum: 0, total: 0, free: 0, known: 0, updated: null }));
      z.total++;
      z.latSum += d.location.lat;
      z.lonSum += d.location.lon;
      const r = fresh(d);
      if (r) {
        z.known++;
        if (r.fields[bay.field] === bay.free) z.free++;
        z.updated = Math.max(z.updated ?? r.timeMs, r.timeMs);
      }
      continue;
    }
    const capacity = type?.capacity;
    if (capacity) {
      const held = input.latest.get(d.id);
      const r = fresh(d);
      const total = numberOr(held?.fields[capacity.totalField]);
      const available = r ? numberOr(r.fields[capacity.availableField]) : null;
      const status: PlaceStatus = available === null ? 'unknown' : available > 0 ? 'open' : 'full';
      meters.push({
        deviceId: d.id,
        place: {
          kind: 'meter',
          name: d.address ?? `Parking meter, ${d.district}`,
          district: d.district,
          lat: round(d.location.lat, PLACE_DECIMALS),
          lon: round(d.location.lon, PLACE_DECIMALS),
          totalSpotNumber: total,
          availableSpotNumber: available,
          unknownSpotNumber: available === null ? total : 0,
          status,
          updated: r ? r.timeMs : null,
        },
      });
    }
  }

  const places: ParkingPlace[] = [];
  for (const z of [...zones.values()].sort((a, b) => compare(a.zone, b.zone))) {
    const status: PlaceStatus = z.free > 0 ? 'open' : z.known === z.total ? 'full' : 'unknown';
    places.push({
      id: `zone:${z.zone}`,
      kind: 'zone',
      name: z.zone,
      district: z.district,
      lat: round(z.latSum / z.total, PLACE_DECIMALS),
      lon: round(z.lonSum / z.total, PLACE_DECIMALS),
      totalSpotNumber: z.total,
      availableSpotNumber: z.known === 0 ? null : z.free,
      unknownSpotNumber: z.total - z.known,
      status,
      updated: z.updated,
    });
  }
  // Meters are named by where they stand; two at one spot get a suffix, in device order so it is stable.
  meters.sort((a, b) => a.place.lat - b.place.lat || a.place.lon - b.place.lon || compare(a.deviceId, b.deviceId));
  const seen = new Map<string, number>();
  for (const m of meters) {
    const key = `meter:${m.place.lat.toFixed(PLACE_DECIMALS)},${m.place.lon.toFixed(PLACE_DECIMALS)}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    places.push({ id: n === 1 ? key : `${key}-${n}`, ...m.place });
  }

  const publicCodes = new Set(input.services.filter((s) => s.public).map((s) => s.serviceCode));
  const outages: Outage[] = [];
  for (const t of input.openTickets) {
    if (t.status !== 'open' || !publicCodes.has(t.service_code)) continue;
    const d = byId.get(t.device_id);
    const heading = d ? typeOf(d.type)?.outages?.heading : undefined;
    if (!d || heading === undefined) continue;
    const lat = t.lat ?? d.location.lat;
    const lon = t.long ?? d.location.lon;
    outages.push({
      id: `outage:${t.service_request_id}`,
      heading,
      service: t.service_name,
      serviceCode: t.service_code,
      district: d.district,
      since: Date.parse(t.requested_datetime),
      lat: round(lat, OUTAGE_DECIMALS),
      lon: round(lon, OUTAGE_DECIMALS),
    });
  }
  outages.sort((a, b) => b.since - a.since || compare(a.id, b.id));
  return { at: now, places, outages, outageHeadings: typeHeadings(input.devices, typeOf), staleAt };
}

/** The outage headings of the types the catalog has, in the order the types are first met. */
function typeHeadings(devices: readonly DeviceRecord[], typeOf: (name: string) => DeviceTypeDefinition | undefined): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const d of devices) {
    if (seen.has(d.type)) continue;
    seen.add(d.type);
    const h = typeOf(d.type)?.outages?.heading;
    if (h !== undefined && !out.includes(h)) out.push(h);
  }
  return out;
}

function numberOr(v: number | string | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
