/**
 * Behaviour of a waste bin fill sensor (FIWARE WasteContainer).
 *
 * A bin fills at a rate set by its district (its footfall), the kind of area and the weekday (a busy
 * centre at weekends, business districts on weekdays, residential areas when people are home), the
 * hour (quiet nights) and how popular its spot is. Collection rounds run Monday to Saturday: each
 * district's crew sets out in the morning and passes every bin at the same point of its route,
 * emptying those at or above the `waste.collect` threshold. Temperature follows season and day (the
 * sensor sits in the sun); organic and residual waste gives off a little methane. Now and then a lid
 * is left open or a bin is tipped over, moved or vandalised, and very rarely one burns.
 */
import type { DeviceRecord } from '../../catalog/types.js';
import type { ReadingInputOf } from '../types.js';
import { wasteBin } from './definition.js';
import { clamp, commonFields, drift, happens, positiveAttribute, round, stringAttribute } from '../../../simulators/common-fields.js';
import { crewArrival } from '../../../simulators/crews.js';
import { deviceTimeZone, localTime, type LocalTime } from '../../../simulators/local-time.js';
import type { DeviceModel, DeviceSimulation, SimulationOptions } from '../../../simulators/model.js';
import { deviceSeed, normal, uniform, type Rng } from '../../../simulators/prng.js';

type Reading = ReadingInputOf<typeof wasteBin>;
type Status = NonNullable<Reading['status']>;

const HOUR_MS = 3_600_000;
/** Integration step: rates change with the hour, readings may be further apart. */
const STEP_MS = HOUR_MS / 4;

/** Fill level at which the default rule asks for collection (CONTRACT §5). */
const COLLECT_AT = 0.8;

/**
 * How much busier than average a district's bins fill, for the demo city's districts. Any other
 * district takes `attributes.footfall` (the fleet generator sets it), else 1.
 */
const DISTRICT_RATE: Record<string, number> = {
  centrum: 1.5,
  west: 1.1,
  oost: 1.1,
  zuid: 1.0,
  noord: 0.85,
  'nieuw-west': 0.9,
  zuidoost: 0.9,
};

/** Bulk density, kg per litre, for cargoWeight. */
const DENSITY: Record<string, number> = {
  residual: 0.12,
  paper: 0.06,
  plastic: 0.03,
  glass: 0.35,
  organic: 0.45,
  textile: 0.1,
};

/** Waste that ferments, and so gives off methane and warmth. */
const FERMENTS = new Set(['residual', 'organic']);

/**
 * Hazards per hour, before `faultRate`. Exported so that tests hold the model to its own rates.
 */
export const WASTE_BIN_HAZARDS = Object.freeze({
  /** Very rare: a few a year across a city's thousands of bins. */
  firePerHour: 2e-6,
  /** A lid left open: about one every four days per bin. */
  lidOpenPerHour: 0.01,
  /** Tipped over (`dropped`, 40 %), `moved` (30 %) or `vandalized` (30 %): about seven a year per bin. */
  damagePerHour: 8e-4,
});

/** Collection rounds: Monday to Saturday; a district's crew sets out at 07:00, 08:00 or 09:00. */
const ROUND_FIRST_START_H = 7;
const ROUND_START_CHOICES = 3;
/** Hours from a round's start until it passes the last bin of its route. */
const ROUND_LENGTH_H = 6;

/** When this district's crew sets out: fixed per district, so all its bins share one round. */
function roundStartHour(district: string): number {
  return ROUND_FIRST_START_H + (deviceSeed(0, district) % ROUND_START_CHOICES);
}

/** Relative fill rate by local hour: little at night, a daytime plateau peaking in the afternoon. */
function hourActivity(hour: number): number {
  return 0.15 + 1.5 * Math.exp(-(((hour - 14.5) / 5) ** 2));
}
/** hourActivity normalised to a daily mean of 1, so `daysToFull` means what it says. */
const HOUR_NORM = (() => {
  let sum = 0;
  for (let m = 0; m < 24 * 60; m += 5) sum += hourActivity(m / 60);
  return sum / ((24 * 60) / 5);
})();

/** What kind of area a bin stands in, from `attributes.areaKind`; the demo's `centrum` is a centre. */
type AreaKind = 'centre' | 'business' | 'residential';

function areaKind(device: DeviceRecord): AreaKind {
  const kind = stringAttribute(device.attributes, 'areaKind', device.district === 'centrum' ? 'centre' : 'residential');
  return kind === 'centre' || kind === 'business' ? kind : 'residential';
}

function dayFactor(kind: AreaKind, weekday: number): number {
  const weekend = weekday === 0 || weekday === 6;
  const fridayOrWeekend = weekend || weekday === 5;
  if (kind === 'centre') return fridayOrWeekend ? 1.35 : 0.9; // visitors
  if (kind === 'business') return weekend ? 0.45 : 1.2; // offices and their lunch crowds
  return weekend ? 1.15 : 0.95; // residents at home
}

/** Outdoor air temperature, Amsterdam-like climate: ~3 °C in January, ~18 °C in July. */
function airTemperature(lt: LocalTime): number {
  const season = -Math.cos((2 * Math.PI * (lt.dayOfYear - 20)) / 365);
  const mean = 10.5 + 7.5 * season;
  const amplitude = 3.5 + 1.5 * season;
  return mean + amplitude * Math.cos((2 * Math.PI * (lt.hour - 15)) / 24);
}

export const wasteBinModel: DeviceModel<typeof wasteBin> = {
  type: wasteBin,
  create(device: DeviceRecord, rng: Rng, startMs: number, opts: SimulationOptions = {}): DeviceSimulation<typeof wasteBin> {
    const faultRate = opts.faultRate ?? 1;
    const tz = deviceTimeZone(device);
    const capacityL = positiveAttribute(device.attributes, 'binCapacity', 240);
    const kind = stringAttribute(device.attributes, 'wasteKind', 'residual');
    const density = DENSITY[kind] ?? 0.12;
    const ferments = FERMENTS.has(kind);
    const districtRate = positiveAttribute(device.attributes, 'footfall', DISTRICT_RATE[device.district] ?? 1);
    const area = areaKind(device);
    // Where along its district's route the bin stands: the crew passes it at the same hour each round.
    const passHour = roundStartHour(device.district) + uniform(rng, 0, ROUND_LENGTH_H);
    // How popular the spot is: the same district has quiet corners and bins by a snack bar.
    const daysToFull = 2.6 / uniform(rng, 0.6, 1.5);
    const common = commonFields(rng, startMs, { batteryLifeDays: 900 });
    const weather = drift(rng, 2, 2 * 24 * HOUR_MS);
    const sunOnLid = uniform(rng, 0, 3);

    let fill = uniform(rng, 0, 0.7);
    let fault: { status: Status; until: number } | undefined;
    let fireUntil: number | undefined;
    let lastMs = startMs;

    const advance = (from: number, to: number): void => {
      for (let t = from; t < to; t += STEP_MS) {
        const dt = Math.min(STEP_MS, to - t);
        const lt = localTime(t + dt / 2, tz);
        const perHour = (districtRate * dayFactor(area, lt.weekday) * hourActivity(lt.hour)) / HOUR_NORM / (24 * daysToFull);
        fill = Math.min(1, fill + (perHour * dt) / HOUR_MS);
        // The round passes this bin within this step (steps tile time, so it is seen exactly once).
        const halfStepH = dt / HOUR_MS / 2;
        const roundPasses = lt.weekday !== 0 && lt.hour - halfStepH <= passHour && passHour < lt.hour + halfStepH;
        if (roundPasses && fill >= COLLECT_AT) fill = uniform(rng, 0, 0.04);
        if (fireUntil === undefined && happens(rng, WASTE_BIN_HAZARDS.firePerHour * faultRate, dt)) {
          fireUntil = t + dt + uniform(rng, 0.5, 1.5) * HOUR_MS;
        }
      }
    };

    return {
      next(simTimeMs: number): Reading {
        const dtMs = Math.max(0, simTimeMs - lastMs);
        advance(lastMs, simTimeMs);
        lastMs = Math.max(lastMs, simTimeMs);
        const lt = localTime(simTimeMs, tz);

        let status: Status = 'ok';
        let heat = 0;
        if (fireUntil !== undefined) {
          if (simTimeMs < fireUntil) {
            status = 'burning';
            heat = uniform(rng, 55, 95);
          } else {
            // The fire brigade leaves an empty, cooled bin behind.
            fireUntil = undefined;
            fill = uniform(rng, 0, 0.03);
          }
        }
        if (status === 'ok') {
          if (fault && simTimeMs >= fault.until) fault = undefined;
          if (!fault && happens(rng, WASTE_BIN_HAZARDS.lidOpenPerHour * faultRate, dtMs)) {
            fault = { status: 'lidOpen', until: simTimeMs + uniform(rng, 0.2, 1) * HOUR_MS };
          } else if (!fault && happens(rng, WASTE_BIN_HAZARDS.damagePerHour * faultRate, dtMs)) {
            const pick = rng();
            const damage: Status = pick < 0.4 ? 'dropped' : pick < 0.7 ? 'moved' : 'vandalized';
            fault = { status: damage, until: crewArrival(rng, simTimeMs, tz, 2, 24) };
          }
          if (fault) status = fault.status;
        }

        const ferment = ferments ? 1.5 * fill : 0;
        const sun = lt.hour > 8 && lt.hour < 18 ? sunOnLid : 0;
        const temperature = clamp(airTemperature(lt) + weather(dtMs) + sun + ferment + heat + 0.2 * normal(rng), -40, 120);
        // Ultrasonic fill sensors jitter by about a centimetre.
        const measuredFill = clamp(fill + 0.008 * normal(rng), 0, 1);
        const reading: Reading = {
          ...common(simTimeMs),
          fillingLevel: round(measuredFill, 3),
          temperature: round(temperature, 1),
          status,
          cargoWeight: round(fill * capacityL * density, 1),
        };
        if (ferments) {
          // Ambient air is ~2 ppm; fermenting waste adds more when warm and full.
          reading.methaneConcentration = round(2 + fill * Math.max(0, temperature) * 2 * (1 + 0.1 * normal(rng) ** 2), 1);
        }
        return reading;
      },
    };
  },
};
