/**
 * Behaviour of one parking bay seen by an in-ground or overhead sensor (FIWARE ParkingSpot).
 *
 * Cars arrive at a free bay at a rate set by the local hour and weekday and by how busy the district
 * is, so that on average the bay is occupied as often as a street's bays are at that hour (busy by day,
 * nearly empty at night, a busy Saturday, a late Sunday). Each car stays a while drawn from a
 * log-normal distribution; most drivers leave by the zone's `attributes.maxStayMin`, some overstay.
 * Now and then the bay is closed (road works, a market, a removal van: from the next moment it is
 * free, for hours to days), and now and then the sensor cannot tell (snow, a magnetic disturbance)
 * and reports `unknown` for a while.
 *
 * The model is event-driven, like the sensor: every arrival, departure, closure and fault has its
 * exact time, and `nextChangeMs` tells the fleet when the next one falls, so a reading goes out on
 * each change as well as on the heartbeat (`reportingIntervalS`).
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { ReadingInputOf } from '../types.js';
import { parkingSpot } from './definition.js';
import { clamp, commonFields, drift, positiveAttribute, round, parkingDemand } from '../../../simulators/common-fields.js';
import { deviceTimeZone, localTime } from '../../../simulators/local-time.js';
import type { DeviceModel, DeviceSimulation, SimulationOptions } from '../../../simulators/model.js';
import { chance, normal, uniform, type Rng } from '../../../simulators/prng.js';

type Reading = ReadingInputOf<typeof parkingSpot>;
type Status = Reading['status'];

const MIN_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Step over which the arrival rate is taken as constant (it follows the hour of day). */
const STEP_MS = 5 * MIN_MS;
/** A bay that sees no car for this long is simply left empty until the next look. */
const MAX_WAIT_MS = 14 * DAY_MS;

/**
 * How long a car stays: log-normal with this median and spread (σ of the log); a driver whose stay
 * would pass the zone's `maxStayMin` leaves shortly before it, except `overstayShare` of them.
 * Exported so that tests hold the model to its own distribution.
 */
export const PARKING_SPOT_STAY = Object.freeze({ medianMin: 55, sigma: 0.85, overstayShare: 0.2 });
/** The mean of the drawn stay, before drivers heed the maximum: what the arrival rate is set from. */
const MEAN_STAY_MS = PARKING_SPOT_STAY.medianMin * Math.exp((PARKING_SPOT_STAY.sigma * PARKING_SPOT_STAY.sigma) / 2) * MIN_MS;
/** Default `maxStayMin`: two hours, the common on-street limit. */
const DEFAULT_MAX_STAY_MIN = 120;

/**
 * Hazards per hour, before `faultRate`: a bay closed about once in eight months, the sensor unsure
 * about once in three months. Exported so that tests hold the model to its own rates.
 */
export const PARKING_SPOT_HAZARDS = Object.freeze({ closedPerHour: 1.5e-4, unknownPerHour: 4.5e-4 });
/** How long a closure lasts (hours) and a sensor fault (minutes). */
const CLOSED_H = [4, 72] as const;
const UNKNOWN_MIN = [10, 360] as const;

/** Occupancy targets at each local hour 0..24, by kind of day. */
const WEEKDAY = [0.2, 0.15, 0.12, 0.1, 0.1, 0.12, 0.2, 0.4, 0.65, 0.8, 0.85, 0.88, 0.88, 0.88, 0.86, 0.85, 0.82, 0.76, 0.7, 0.64, 0.56, 0.46, 0.35, 0.26, 0.2];
const SATURDAY = [0.25, 0.2, 0.16, 0.13, 0.12, 0.12, 0.14, 0.2, 0.35, 0.58, 0.8, 0.9, 0.92, 0.92, 0.92, 0.9, 0.88, 0.83, 0.76, 0.7, 0.64, 0.56, 0.45, 0.33, 0.25];
const SUNDAY = [0.25, 0.2, 0.16, 0.13, 0.12, 0.11, 0.11, 0.12, 0.16, 0.25, 0.38, 0.52, 0.64, 0.7, 0.72, 0.7, 0.66, 0.58, 0.5, 0.42, 0.34, 0.28, 0.22, 0.2, 0.2];


/** The share of the time a bay is occupied at this local hour, in a district this busy. */
export function targetOccupancy(hour: number, weekday: number, demand: number): number {
  const curve = weekday === 0 ? SUNDAY : weekday === 6 ? SATURDAY : WEEKDAY;
  const i = Math.floor(hour);
  const a = curve[i] ?? 0.2;
  const b = curve[i + 1] ?? a;
  return clamp((a + (b - a) * (hour - i)) * demand, 0.03, 0.95);
}

/** Exponential waiting time for a constant hazard per hour (Infinity when there is none). */
function waitMs(rng: Rng, perHour: number): number {
  return perHour > 0 ? (-Math.log(1 - rng()) / perHour) * HOUR_MS : Number.POSITIVE_INFINITY;
}

/** Road-surface temperature, °C: the season, the day, and the weather's drift (Amsterdam-like). */
function surfaceTemperature(dayOfYear: number, hour: number, weather: number): number {
  const season = 10.5 - 7.5 * Math.cos((2 * Math.PI * (dayOfYear - 20)) / 365.25);
  const day = 4 * Math.cos((2 * Math.PI * (hour - 15)) / 24);
  return clamp(round(season + day + weather, 1), -40, 85);
}

export const parkingSpotModel: DeviceModel<typeof parkingSpot> = {
  type: parkingSpot,
  create(device: DeviceRecord, rng: Rng, startMs: number, opts: SimulationOptions = {}): DeviceSimulation<typeof parkingSpot> {
    const faultRate = opts.faultRate ?? 1;
    const tz = deviceTimeZone(device);
    const maxStayMs = positiveAttribute(device.attributes, 'maxStayMin', DEFAULT_MAX_STAY_MIN) * MIN_MS;
    const demand = parkingDemand(device);
    const common = commonFields(rng, startMs, { batteryLifeDays: 3650 });
    const weather = drift(rng, 2.5, 12 * HOUR_MS);

    /** A driver's stay: drawn, then mostly cut short of the zone's maximum. */
    const stayMs = (): number => {
      const s = PARKING_SPOT_STAY;
      const drawn = s.medianMin * MIN_MS * Math.exp(s.sigma * normal(rng));
      return drawn > maxStayMs && !chance(rng, s.overstayShare) ? maxStayMs * uniform(rng, 0.85, 1) : drawn;
    };

    /**
     * When the next car arrives at the bay, free from `fromMs`: the hazard follows the occupancy
     * target (arrival rate p / ((1 − p) × mean stay) makes p the bay's long-run occupancy), summed
     * step by step until it passes an exponential draw.
     */
    const arrivalAfter = (fromMs: number): number => {
      let need = -Math.log(1 - rng());
      for (let t = fromMs; t < fromMs + MAX_WAIT_MS; t += STEP_MS) {
        const lt = localTime(t + STEP_MS / 2, tz);
        const p = targetOccupancy(lt.hour, lt.weekday, demand);
        const perMs = p / ((1 - p) * MEAN_STAY_MS);
        const got = perMs * STEP_MS;
        if (got >= need) return t + need / perMs;
        need -= got;
      }
      return fromMs + MAX_WAIT_MS;
    };

    const startLt = localTime(startMs, tz);
    let occupied = chance(rng, targetOccupancy(startLt.hour, startLt.weekday, demand));
    /** The next arrival (free) or departure (occupied); Infinity while closed. */
    let carMs = occupied ? startMs + stayMs() * rng() : arrivalAfter(startMs);
    let closedUntil = Number.NEGATIVE_INFINITY;
    /** A closure announced while a car is in the bay starts when it leaves. */
    let closurePending = false;
    let closureMs = startMs + waitMs(rng, PARKING_SPOT_HAZARDS.closedPerHour * faultRate);
    let unknownUntil = Number.NEGATIVE_INFINITY;
    let faultMs = startMs + waitMs(rng, PARKING_SPOT_HAZARDS.unknownPerHour * faultRate);
    let lastMs = startMs;
    let lastReadingMs = startMs;

    const closeAt = (t: number): void => {
      closedUntil = t + uniform(rng, CLOSED_H[0], CLOSED_H[1]) * HOUR_MS;
      closurePending = false;
      carMs = Number.POSITIVE_INFINITY;
    };

    /** The earliest thing that happens next, at or before `untilMs`; false when nothing does. */
    const step = (untilMs: number): boolean => {
      const reopen = closedUntil > lastMs ? closedUntil : Number.POSITIVE_INFINITY;
      const healed = unknownUntil > lastMs ? unknownUntil : Number.POSITIVE_INFINITY;
      const t = Math.min(carMs, closureMs, faultMs, reopen, healed);
      if (t > untilMs) return false;
      if (t === carMs) {
        occupied = !occupied;
        if (occupied) carMs = t + stayMs();
        else if (closurePending) closeAt(t);
        else carMs = arrivalAfter(t);
      } else if (t === closureMs) {
        closureMs = t + waitMs(rng, PARKING_SPOT_HAZARDS.closedPerHour * faultRate);
        if (closedUntil > t) closedUntil = Math.max(closedUntil, t + CLOSED_H[0] * HOUR_MS);
        else if (occupied) closurePending = true;
        else closeAt(t);
      } else if (t === faultMs) {
        faultMs = t + waitMs(rng, PARKING_SPOT_HAZARDS.unknownPerHour * faultRate);
        unknownUntil = Math.max(unknownUntil, t + uniform(rng, UNKNOWN_MIN[0], UNKNOWN_MIN[1]) * MIN_MS);
      } else if (t === reopen) {
        carMs = arrivalAfter(t);
      }
      // `healed` needs nothing done: the status is read from `unknownUntil`.
      lastMs = t;
      return true;
    };

    const status = (t: number): Status => (t < unknownUntil ? 'unknown' : t < closedUntil ? 'closed' : occupied ? 'occupied' : 'free');

    return {
      next(simTimeMs: number): Reading {
        while (step(simTimeMs));
        lastMs = Math.max(lastMs, simTimeMs);
        const wandered = weather(Math.max(0, simTimeMs - lastReadingMs));
        lastReadingMs = Math.max(lastReadingMs, simTimeMs);
        const lt = localTime(simTimeMs, tz);
        return { ...common(simTimeMs), status: status(simTimeMs), temperature: surfaceTemperature(lt.dayOfYear, lt.hour, wandered) };
      },
      nextChangeMs(): number {
        const after = (t: number) => (t > lastMs ? t : Number.POSITIVE_INFINITY);
        return Math.min(after(carMs), after(closureMs), after(faultMs), after(closedUntil), after(unknownUntil));
      },
    };
  },
};
