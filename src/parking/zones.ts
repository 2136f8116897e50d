/**
 * Parking-zone availability (CONTRACT §7): for every zone (`attributes.zone` of the catalog's bays),
 * `totalSpotNumber` = its bays in the catalog, `availableSpotNumber` = bays whose latest status is
 * free. A bay that is offline (its `offline` rule raised: silent for longer than its rule allows),
 * or has never reported, counts as `unknownSpotNumber`, never as free: a resident must not be sent to
 * a bay nobody has heard from. Written to measurement `parking_zone` (tags `zone`, `district`)
 * whenever a zone's counts change, and once per zone at start.
 *
 * Which types are bays is the definition's `occupancy` capability, not a type name. The counts are
 * derived, not stored: from the catalog and each device's latest reading (kept across restarts with
 * the rule state), so a restart recounts the same zones.
 */
import type { DeviceRecord } from '../catalog/types.js';
import { deviceType } from '../device-types/registry.js';
import { escapeTag } from '../sink/influx/line-protocol.js';

/** One zone's counts. */
export interface ZoneCounts {
  readonly zone: string;
  readonly district: string;
  readonly totalSpotNumber: number;
  readonly availableSpotNumber: number;
  readonly occupiedSpotNumber: number;
  /** Bays offline, never heard from, or reporting `unknown`/`closed`. */
  readonly unknownSpotNumber: number;
  /** When the counts last changed, epoch ms. */
  readonly changedAt: number;
}

export interface ZoneOptions {
  devices: () => Iterable<DeviceRecord>;
  /** The latest stored reading's fields of a device, if any. */
  latestFields: (deviceId: string) => Readonly<Record<string, number | string>> | undefined;
  /** The devices that are offline now (an `offline` rule raised for them); asked once per recount. */
  offlineDevices: () => ReadonlySet<string>;
  now?: () => number;
}

/** The zone of a bay, or undefined for a device that is not a bay with a zone. */
export function bayOf(d: DeviceRecord): { zone: string; field: string; free: string; occupied: string } | undefined {
  const occupancy = deviceType(d.type)?.occupancy;
  const zone = occupancy === undefined ? undefined : d.attributes[occupancy.zoneAttribute];
  if (occupancy === undefined || zone === undefined || zone === '') return undefined;
  return { zone: String(zone), field: occupancy.field, free: occupancy.free, occupied: occupancy.occupied };
}

export class ParkingZones {
  private readonly opts: ZoneOptions;
  private readonly now: () => number;
  private counts = new Map<string, ZoneCounts>();
  /** Zones whose counts changed and are not yet written. */
  private unwritten = new Map<string, ZoneCounts>();
  private dirty = true;

  constructor(opts: ZoneOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Something that may change a count happened (readings stored, a bay offline or back, the catalog). */
  touch(): void {
    this.dirty = true;
  }

  /** Recounts when touched since the last time; returns the zones whose counts changed. */
  refresh(): ZoneCounts[] {
    if (!this.dirty) return [];
    this.dirty = false;
    const next = new Map<string, { zone: string; district: string; total: number; free: number; occupied: number; unknown: number }>();
    const offline = this.opts.offlineDevices();
    for (const d of this.opts.devices()) {
      const bay = bayOf(d);
      if (!bay) continue;
      let z = next.get(bay.zone);
      if (!z) next.set(bay.zone, (z = { zone: bay.zone, district: d.district, total: 0, free: 0, occupied: 0, unknown: 0 }));
      z.total++;
      const status = offline.has(d.id) ? undefined : this.opts.latestFields(d.id)?.[bay.field];
      if (status === bay.free) z.free++;
      else if (status === bay.occupied) z.occupied++;
      else z.unknown++;
    }
    const at = this.now();
    const changed: ZoneCounts[] = [];
    const counts = new Map<string, ZoneCounts>();
    for (const z of next.values()) {
      const held = this.counts.get(z.zone);
      const same =
        held !== undefined &&
        held.district === z.district &&
        held.totalSpotNumber === z.total &&
        held.availableSpotNumber === z.free &&
        held.occupiedSpotNumber === z.occupied &&
        held.unknownSpotNumber === z.unknown;
      const c: ZoneCounts = same
        ? held
        : { zone: z.zone, district: z.district, totalSpotNumber: z.total, availableSpotNumber: z.free, occupiedSpotNumber: z.occupied, unknownSpotNumber: z.unknown, changedAt: at };
      counts.set(z.zone, c);
      if (!same) {
        changed.push(c);
        this.unwritten.set(c.zone, c);
      }
    }
    this.counts = counts;
    return changed;
  }

  /** Every zone, by name. */
  all(): ZoneCounts[] {
    this.refresh();
    return [...this.counts.values()].sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0));
  }

  /** Lines for the zones changed since the last `takeLines` (they are forgotten once `written` is called). */
  takeLines(): { lines: string[]; written: () => void } | undefined {
    this.refresh();
    if (this.unwritten.size === 0) return undefined;
    const taken = [...this.unwritten.values()];
    return {
      lines: taken.map(zoneLine),
      written: () => {
        for (const c of taken) if (this.unwritten.get(c.zone) === c) this.unwritten.delete(c.zone);
      },
    };
  }
}

/** `parking_zone,district=…,zone=… availableSpotNumber=…i,… <ms>` (tags in key order). */
export function zoneLine(c: ZoneCounts): string {
  return (
    `parking_zone,district=${escapeTag(c.district)},zone=${escapeTag(c.zone)} ` +
    `availableSpotNumber=${c.availableSpotNumber}i,occupiedSpotNumber=${c.occupiedSpotNumber}i,totalSpotNumber=${c.totalSpotNumber}i,unknownSpotNumber=${c.unknownSpotNumber}i ${c.changedAt}`
  );
}
