/**
 * Behaviour of a parking meter that counts the bays it serves (FIWARE OnStreetParking).
 *
 * Bays fill towards an occupancy target set by the local hour and weekday (commuters and shoppers
 * by day, nearly empty at night, a busy Saturday, a late Sunday) with each car staying a random
 * while; arrivals during paid hours buy sessions, some with coins. A crew empties the coin box once
 * it is nearly full. Now and then the meter jams, runs out of receipt paper or breaks; a crew comes
 * to fix it during its next shift.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { ReadingInputOf } from '../types.js';
import { parkingMeter } from './definition.js';
import { clamp, commonFields, happens, positiveAttribute, round, parkingDemand } from '../../../simulators/common-fields.js';
import { crewArrival } from '../../../simulators/crews.js';
import { deviceTimeZone, localTime } from '../../../simulators/local-time.js';
import type { DeviceModel, DeviceSimulation, SimulationOptions } from '../../../simulators/model.js';
import { binomial, chance, uniform, type Rng } from '../../../simulators/prng.js';

type Reading = ReadingInputOf<typeof parkingMeter>;
type Status = NonNullable<Reading['status']>;

const HOUR_MS = 3_600_000;
const STEP_MS = HOUR_MS / 12;

/** Illustrative street tariffs in cents per hour by `attributes.tariffZone` (centre dearest). */
const HOURLY_RATE_CENTS: Record<string, number> = { '1': 750, '2': 550, '3': 400, '4': 250 };
const DEFAULT_RATE_CENTS = 300;

/** Coins a box holds, in cents; payments by card and app never reach it. */
const COIN_BOX_CAPACITY_CENTS = 40_000;
const COIN_SHARE = 0.2;
/** Drivers who pay at all (the rest risk the fine). */
const COMPLIANCE = 0.85;
/** Coin box level at which the default rule calls for emptying (CONTRACT §5). */
const COINS_AT = 0.9;

/**
 * Hazards per hour, before `faultRate`: a coin jam about every three weeks per meter, paper running
 * low monthly, a breakdown a few times a year, vandalism about once a year. Exported so that tests
 * hold the model to its own rates.
 */
export const PARKING_METER_HAZARDS: Readonly<Record<Exclude<Status, 'ok' | 'unknown'>, number>> = Object.freeze({
  coinJam: 0.002,
  paperLow: 0.0014,
  outOfOrder: 4e-4,
  vandalized: 1e-4,
});
const FAULTS = Object.entries(PARKING_METER_HAZARDS) as ReadonlyArray<[Status, number]>;
const ANY_FAULT_PER_HOUR = FAULTS.reduce((sum, [, perHour]) => sum + perHour, 0);

/** Occupancy targets at each local hour 0..24, by kind of day. */
const WEEKDAY = [0.1, 0.08, 0.06, 0.05, 0.05, 0.06, 0.12, 0.35, 0.65, 0.82, 0.88, 0.9, 0.9, 0.9, 0.88, 0.86, 0.82, 0.75, 0.68, 0.62, 0.55, 0.45, 0.3, 0.18, 0.1];
const SATURDAY = [0.15, 0.12, 0.1, 0.08, 0.06, 0.06, 0.08, 0.15, 0.3, 0.55, 0.8, 0.92, 0.95, 0.95, 0.95, 0.93, 0.9, 0.85, 0.78, 0.72, 0.65, 0.55, 0.4, 0.25, 0.15];
const SUNDAY = [0.15, 0.12, 0.1, 0.08, 0.06, 0.05, 0.05, 0.06, 0.1, 0.2, 0.35, 0.5, 0.65, 0.72, 0.75, 0.72, 0.68, 0.6, 0.5, 0.4, 0.3, 0.22, 0.15, 0.12, 0.1];


function targetOccupancy(hour: number, weekday: number, demand: number): number {
  const curve = weekday === 0 ? SUNDAY : weekday === 6 ? SATURDAY : WEEKDAY;
  const i = Math.floor(hour);
  const a = curve[i] ?? 0.1;
  const b = curve[i + 1] ?? a;
  const base = a + (b - a) * (hour - i);
  return clamp(base * demand, 0.02, 0.97);
}

/** Amsterdam-style paid hours: 09:00–24:00, Sundays from 12:00. */
function paidHours(hour: number, weekday: number): boolean {
  return hour >= (weekday === 0 ? 12 : 9);
}

export const parkingMeterModel: DeviceModel<typeof parkingMeter> = {
  type: parkingMeter,
  create(device: DeviceRecord, rng: Rng, startMs: number, opts: SimulationOptions = {}): DeviceSimulation<typeof parkingMeter> {
    const faultRate = opts.faultRate ?? 1;
    const tz = deviceTimeZone(device);
    const bays = Math.min(500, Math.round(positiveAttribute(device.attributes, 'bays', 8)));
    const zone = device.attributes['tariffZone'];
    const rate = (zone === undefined ? undefined : HOURLY_RATE_CENTS[String(zone)]) ?? DEFAULT_RATE_CENTS;
    const common = commonFields(rng, startMs, { batteryLifeDays: 500 });
    // Footfall is relative to an average district (1); demand saturates well before the last bay.
    const demand = parkingDemand(device);

    const startLt = localTime(startMs, tz);
    let occupied = binomial(rng, bays, targetOccupancy(startLt.hour, startLt.weekday, demand));
    let coinBox = uniform(rng, 0, 0.7);
    let emptyCoinsAt: number | undefined;
    let fault: { status: Status; until: number } | undefined;
    let lastMs = startMs;

    return {
      next(simTimeMs: number): Reading {
        const dtMs = Math.max(0, simTimeMs - lastMs);
        let transactions = 0;
        let revenue = 0;
        for (let t = lastMs; t < simTimeMs; t += STEP_MS) {
          const dt = Math.min(STEP_MS, simTimeMs - t);
          const lt = localTime(t + dt / 2, tz);
          const target = targetOccupancy(lt.hour, lt.weekday, demand);
          // Each car leaves with a constant hazard (mean stay ~1.8 h); free bays fill at the rate that
          // makes `target` the equilibrium, so occupancy tracks the day without jumping.
          const pLeave = 1 - Math.exp(-dt / (1.8 * HOUR_MS));
          const pArrive = Math.min(1, (pLeave * target) / (1 - target));
          const leaving = binomial(rng, occupied, pLeave);
          const arriving = binomial(rng, bays - occupied, pArrive);
          occupied = occupied - leaving + arriving;

          const canPay = fault === undefined || fault.status === 'paperLow';
          if (canPay && paidHours(lt.hour, lt.weekday)) {
            const paying = binomial(rng, arriving, COMPLIANCE);
            for (let i = 0; i < paying; i++) {
              const hours = Math.min(4, 0.25 + -Math.log(1 - rng()) * 1.5);
              const cents = Math.max(10, Math.round((hours * rate) / 10) * 10);
              transactions++;
              revenue += cents;
              if (chance(rng, COIN_SHARE)) coinBox = Math.min(1, coinBox + cents / COIN_BOX_CAPACITY_CENTS);
            }
          }
          if (emptyCoinsAt === undefined && coinBox >= COINS_AT) emptyCoinsAt = crewArrival(rng, t + dt, tz, 2, 20);
          if (emptyCoinsAt !== undefined && t + dt >= emptyCoinsAt) {
            coinBox = 0;
            emptyCoinsAt = undefined;
          }
        }
        lastMs = Math.max(lastMs, simTimeMs);

        if (fault && simTimeMs >= fault.until) fault = undefined;
        if (!fault && happens(rng, ANY_FAULT_PER_HOUR * faultRate, dtMs)) {
          // Which fault, in proportion to the hazards.
          let pick = rng() * ANY_FAULT_PER_HOUR;
          let status: Status = 'outOfOrder';
          for (const [s, perHour] of FAULTS) {
            status = s;
            pick -= perHour;
            if (pick < 0) break;
          }
          fault = { status, until: crewArrival(rng, simTimeMs, tz, 2, 30) };
        }

        return {
          ...common(simTimeMs),
          totalSpotNumber: bays,
          availableSpotNumber: bays - occupied,
          status: fault?.status ?? 'ok',
          coinBoxLevel: round(coinBox, 3),
          transactions,
          revenue,
        };
      },
    };
  },
};
