/**
 * The daily waste collection plan: the bins predicted to reach their collection rule's threshold
 * within the horizon (and those already over it), grouped by district, each district ordered into a
 * short route. Pure: everything it needs comes in, so a test drives it with a fake clock.
 */
import type { DeviceRecord } from '../catalog/types.js';
import { fillFieldOf } from './containers.js';
import type { FillSource } from './fill-history.js';
import { predictFull, type FitOptions } from './predict.js';
import { planRoute, type GeoPoint } from './route.js';

const HOUR_MS = 3_600_000;
export const DEFAULT_HORIZON_MS = 24 * HOUR_MS;
/** A bin whose newest sample is older than this is left off: its sensor, not its fill, needs a visit. */
export const DEFAULT_STALE_AFTER_MS = 48 * HOUR_MS;

/** One bin on the plan. */
export interface PlanStop {
  /** 1-based position on the district's route. */
  readonly order: number;
  readonly deviceId: string;
  readonly lat: number;
  /** Longitude; named as in Open311 requests. */
  readonly long: number;
  readonly address?: string;
  /** Level at `lastReadingAt` (the fitted line's there, smoothing the sensor's jitter), 0..1. */
  readonly fillingLevel: number;
  /** Fitted fill rate, ratio per hour; null when a full bin had too few samples for a fit. */
  readonly fillRatePerHour: number | null;
  /** When it reaches its threshold (ISO 8601); `generatedAt` for a bin already over it. */
  readonly predictedFullAt: string;
  /** Hours from `generatedAt` to `predictedFullAt`; 0 for a bin already over its threshold. */
  readonly hoursToFull: number;
  /** Its collection rule's threshold (role `collection`, `waste.collect` by default), overrides merged. */
  readonly threshold: number;
  /** Device time of its newest reading (ISO 8601). */
  readonly lastReadingAt: string;
}

/** The bins of one district, in route order. */
export interface DistrictPlan {
  readonly district: string;
  readonly stops: readonly PlanStop[];
  /** Length of the route (from the depot when one is set), km. */
  readonly distanceKm: number;
}

/** A collection plan. */
export interface CollectionPlan {
  /** ISO 8601. */
  readonly generatedAt: string;
  readonly horizonHours: number;
  /** Districts with at least one bin to collect, by name. */
  readonly districts: readonly DistrictPlan[];
  /** Bins considered, and why the others are not on the plan. */
  readonly summary: PlanSummary;
}

/** How the bins considered were sorted out. */
export interface PlanSummary {
  readonly bins: number;
  readonly planned: number;
  /** Over their threshold already. */
  readonly due: number;
  /** Rising, but not within the horizon. */
  readonly later: number;
  /** Flat or falling fill, or too few samples for a rate. */
  readonly noPrediction: number;
  /** No reading, or none within `staleAfterMs`. */
  readonly noRecentData: number;
  /** The collection rule is off for the bin (or the rules have none). */
  readonly noThreshold: number;
}

/** Input of {@link buildPlan}. */
export interface BuildPlanInput {
  /** Wall clock, epoch ms. */
  readonly now: number;
  /** Default 24 h. */
  readonly horizonMs?: number;
  /** Catalog devices; those of types the plan does not cover (`fillFieldOf`) are ignored. */
  readonly bins: Iterable<DeviceRecord>;
  readonly history: FillSource;
  /** The bin's collection rule threshold (`RulesStage.roleThresholdAbove`); undefined = the rule is off for it. */
  readonly thresholdOf: (deviceId: string, device: DeviceRecord) => number | undefined;
  /** Where a district's route starts; default its first bin by device id. */
  readonly depots?: Readonly<Record<string, GeoPoint>>;
  /** Default 48 h. */
  readonly staleAfterMs?: number;
  readonly fit?: FitOptions;
}

interface Candidate extends GeoPoint {
  readonly device: DeviceRecord;
  readonly level: number;
  readonly rate: number | undefined;
  readonly fullAtMs: number;
  readonly threshold: number;
  readonly lastTimeMs: number;
}

/** Builds the plan. Deterministic: the same input gives the same plan. */
export function buildPlan(input: BuildPlanInput): CollectionPlan {
  const { now } = input;
  const horizonMs = input.horizonMs ?? DEFAULT_HORIZON_MS;
  const staleAfterMs = input.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const byDistrict = new Map<string, Candidate[]>();
  const summary = { bins: 0, planned: 0, due: 0, later: 0, noPrediction: 0, noRecentData: 0, noThreshold: 0 };
  for (const device of input.bins) {
    if (fillFieldOf(device.type) === undefined) continue;
    summary.bins++;
    const threshold = input.thresholdOf(device.id, device);
    if (threshold === undefined) {
      summary.noThreshold++;
      continue;
    }
    const samples = input.history.currentCycle(device.id);
    const newest = samples.at(-1);
    if (!newest || now - newest.timeMs > staleAfterMs) {
      summary.noRecentData++;
      continue;
    }
    const p = predictFull(samples, threshold, input.fit);
    let fullAtMs: number;
    if (p.kind === 'due') {
      fullAtMs = now;
      summary.due++;
    } else if (p.kind === 'rising') {
      if (p.fullAtMs > now + horizonMs) {
        summary.later++;
        continue;
      }
      // Predicted to have filled up already (readings stopped a while ago): due now.
      fullAtMs = Math.max(now, p.fullAtMs);
    } else {
      summary.noPrediction++;
      continue;
    }
    summary.planned++;
    const candidate: Candidate = {
      device,
      lat: device.location.lat,
      lon: device.location.lon,
      level: p.level,
      rate: p.ratePerHour,
      fullAtMs,
      threshold,
      lastTimeMs: p.lastTimeMs,
    };
    const list = byDistrict.get(device.district);
    if (list) list.push(candidate);
    else byDistrict.set(device.district, [candidate]);
  }

  const districts: DistrictPlan[] = [...byDistrict.keys()].sort(compareStrings).map((district) => {
    const candidates = (byDistrict.get(district) as Candidate[]).sort((a, b) => compareStrings(a.device.id, b.device.id));
    const route = planRoute(candidates, input.depots?.[district]);
    return {
      district,
      stops: route.stops.map((c, i) => toStop(c, i + 1, now)),
      distanceKm: round(route.distanceKm, 3),
    };
  });
  return { generatedAt: new Date(now).toISOString(), horizonHours: round(horizonMs / HOUR_MS, 3), districts, summary };
}

function toStop(c: Candidate, order: number, now: number): PlanStop {
  const stop: PlanStop = {
    order,
    deviceId: c.device.id,
    lat: c.lat,
    long: c.lon,
    ...(c.device.address === undefined ? {} : { address: c.device.address }),
    fillingLevel: round(c.level, 3),
    fillRatePerHour: c.rate === undefined ? null : round(c.rate, 5),
    predictedFullAt: new Date(Math.round(c.fullAtMs)).toISOString(),
    hoursToFull: round((c.fullAtMs - now) / HOUR_MS, 2),
    threshold: c.threshold,
    lastReadingAt: new Date(c.lastTimeMs).toISOString(),
  };
  return stop;
}

/** Keeps only the named district (the HTTP filter). */
export function planForDistrict(plan: CollectionPlan, district: string): CollectionPlan {
  return { ...plan, districts: plan.districts.filter((d) => d.district === district) };
}

// Line protocol escaping, as the InfluxDB sink does it (src/sink/influx/line-protocol.ts); repeated
// here because stages do not import each other.
const TAG_SPECIAL_ALL = /[, =]/g;
const escapeTag = (v: string): string => v.replace(TAG_SPECIAL_ALL, '\\$&');

/**
 * The plan as InfluxDB line protocol, one point per stop at `generatedAt` (ms precision):
 * measurement `collection_plan`, tags `device_id` and `district`, fields `order` (integer),
 * `hours_to_full`, `lat`, `lon`, `filling_level`. A Grafana table or geomap shows the latest plan
 * from the points of its newest timestamp.
 */
export function planLines(plan: CollectionPlan): string[] {
  const ts = Date.parse(plan.generatedAt);
  const lines: string[] = [];
  for (const d of plan.districts) {
    const district = escapeTag(d.district);
    for (const s of d.stops) {
      lines.push(
        `collection_plan,device_id=${escapeTag(s.deviceId)},district=${district} order=${s.order}i,hours_to_full=${s.hoursToFull},lat=${s.lat},lon=${s.long},filling_level=${s.fillingLevel} ${ts}`,
      );
    }
  }
  return lines;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
