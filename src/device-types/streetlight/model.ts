/**
 * Behaviour of a streetlight controller (FIWARE Streetlight).
 *
 * The lamp is on from sunset to sunrise at its own coordinates (suncalc), each controller switching
 * within a few minutes of the astronomical time, never before it; during its dimming window (local
 * midnight to 06:00 unless `attributes.dimFromH` / `dimUntilH` say otherwise) it is dimmed. Power
 * follows the dim level and the lamp's `attributes.powerRating`; the mains voltage wanders around
 * 230 V; energy is a cumulative meter. The ambient light sensor sees the sky: sun altitude and cloud.
 * Rarely a lamp fails (it draws next to nothing while switched on), the column or the lantern is
 * damaged, the supply dips below 207 V for a while, or a stuck photocell leaves the lamp burning by
 * day.
 */
import { getPosition } from 'suncalc';
import type { DeviceRecord } from '../../catalog/types.js';
import type { ReadingInputOf } from '../types.js';
import { streetlight } from './definition.js';
import { clamp, commonFields, drift, happens, hourAttribute, positiveAttribute, round, stringAttribute } from '../../../simulators/common-fields.js';
import { crewArrival } from '../../../simulators/crews.js';
import { deviceTimeZone, localTime } from '../../../simulators/local-time.js';
import type { DeviceModel, DeviceSimulation, SimulationOptions } from '../../../simulators/model.js';
import { normal, uniform, type Rng } from '../../../simulators/prng.js';

type Reading = ReadingInputOf<typeof streetlight>;
type PowerState = Reading['powerState'];
type Status = NonNullable<Reading['status']>;

const HOUR_MS = 3_600_000;

/** Sun altitude (degrees) at sunrise and sunset, refraction included; what suncalc uses. */
const SUNSET_ALTITUDE = -0.833;
/** Default dimming window, local hours: from midnight until 06:00. */
const DIM_FROM_H = 0;
const DIM_UNTIL_H = 6;
/** Controller electronics when the lamp is off, W. */
const STANDBY_W = 0.5;

/**
 * Hazards per hour, before `faultRate`. Exported so that tests hold the model to its own rates.
 */
export const STREETLIGHT_HAZARDS = Object.freeze({
  /** Per hour the lamp burns: an LED's ~50 000 h life. */
  lampFailsPerOnHour: 2e-5,
  /** A column knocked or corroded: once in decades. */
  columnIssuePerHour: 2e-6,
  /** A broken lantern (vandalism, a lorry). */
  brokenLanternPerHour: 1e-6,
  /** The feeder sagging below 207 V for 5 to 40 minutes: about one a fortnight per lamp. */
  voltageDipPerHour: 0.003,
  /** Per daylight hour (sun above 10°): a photocell sticks and the lamp burns by day for 1 to 5 h. */
  dayBurnPerDayHour: 6e-4,
});

/** True when local `hour` falls in the window [from, until), which may wrap past midnight. */
function inWindow(hour: number, from: number, until: number): boolean {
  return from <= until ? hour >= from && hour < until : hour >= from || hour < until;
}

interface LampKind {
  /** Dim level after midnight: discharge lamps cannot dim as deep as LEDs. */
  readonly dimLevel: number;
  readonly powerFactor: number;
  /** Discharge lamps spend the first minutes warming up. */
  readonly warmsUp: boolean;
}
const LAMPS: Record<string, LampKind> = {
  LED: { dimLevel: 0.5, powerFactor: 0.95, warmsUp: false },
  HPS: { dimLevel: 0.7, powerFactor: 0.88, warmsUp: true },
  MH: { dimLevel: 0.7, powerFactor: 0.9, warmsUp: true },
};
const DEFAULT_LAMP: LampKind = { dimLevel: 0.5, powerFactor: 0.95, warmsUp: false };

/**
 * Horizontal illuminance under a clear sky (lux) at a sun altitude (degrees): ~100 klx at a high sun,
 * ~400 lx at sunset, ~3 lx at the end of civil twilight, starlight below.
 */
function skyLux(altitude: number): number {
  if (altitude >= 0) return 400 + 110_000 * Math.sin((altitude * Math.PI) / 180);
  if (altitude > -6) return 400 * 10 ** (0.35 * altitude);
  return Math.max(0.002, 3.2 * 10 ** (0.4 * (altitude + 6)));
}

export const streetlightModel: DeviceModel<typeof streetlight> = {
  type: streetlight,
  create(device: DeviceRecord, rng: Rng, startMs: number, opts: SimulationOptions = {}): DeviceSimulation<typeof streetlight> {
    const faultRate = opts.faultRate ?? 1;
    const tz = deviceTimeZone(device);
    const { lat, lon } = device.location;
    const ratingW = positiveAttribute(device.attributes, 'powerRating', 60);
    const lamp = LAMPS[stringAttribute(device.attributes, 'lampType', 'LED')] ?? DEFAULT_LAMP;
    const dimFromH = hourAttribute(device.attributes, 'dimFromH', DIM_FROM_H);
    const dimUntilH = hourAttribute(device.attributes, 'dimUntilH', DIM_UNTIL_H);
    // Each controller's photocell or astro clock is a little late at dusk and early at dawn: up to
    // about six minutes in the Netherlands, never on while the sun is up.
    const switchAltitude = SUNSET_ALTITUDE - uniform(rng, 0, 1);
    const feederOffsetV = uniform(rng, -4, 4);
    const common = commonFields(rng, startMs, { batteryLifeDays: 3650 });
    const cloud = drift(rng, 0.25, 6 * HOUR_MS);

    let energyKWh = uniform(rng, 0, 5) * 4100 * (ratingW / 1000);
    let lastMs = startMs;
    let lastPowerW: number | undefined;
    // A lamp already burning when the simulation starts is not warming up.
    let wasOn = getPosition(new Date(startMs), lat, lon).altitude < switchAltitude;
    let lampFault: { status: Status; until: number } | undefined;
    let dipUntil: number | undefined;
    let stuckUntil: number | undefined;

    return {
      next(simTimeMs: number): Reading {
        const dtMs = Math.max(0, simTimeMs - lastMs);
        lastMs = Math.max(lastMs, simTimeMs);
        const date = new Date(simTimeMs);
        const altitude = getPosition(date, lat, lon).altitude;
        const lt = localTime(simTimeMs, tz);

        if (lampFault && simTimeMs >= lampFault.until) lampFault = undefined;
        if (stuckUntil !== undefined && simTimeMs >= stuckUntil) stuckUntil = undefined;
        if (dipUntil !== undefined && simTimeMs >= dipUntil) dipUntil = undefined;
        const hz = STREETLIGHT_HAZARDS;
        if (!lampFault && wasOn && happens(rng, hz.lampFailsPerOnHour * faultRate, dtMs)) {
          lampFault = { status: 'defectiveLamp', until: crewArrival(rng, simTimeMs, tz, 12, 72) };
        } else if (!lampFault && happens(rng, hz.columnIssuePerHour * faultRate, dtMs)) {
          lampFault = { status: 'columnIssue', until: crewArrival(rng, simTimeMs, tz, 12, 72) };
        } else if (!lampFault && happens(rng, hz.brokenLanternPerHour * faultRate, dtMs)) {
          lampFault = { status: 'brokenLantern', until: crewArrival(rng, simTimeMs, tz, 12, 72) };
        }
        if (stuckUntil === undefined && altitude > 10 && happens(rng, hz.dayBurnPerDayHour * faultRate, dtMs)) {
          stuckUntil = simTimeMs + uniform(rng, 1, 5) * HOUR_MS;
        }
        // A dip that starts now shows in this reading: it lasts at least as long as the step to here.
        if (dipUntil === undefined && happens(rng, hz.voltageDipPerHour * faultRate, dtMs)) {
          dipUntil = simTimeMs + uniform(rng, 5, 40) * 60_000;
        }

        const night = altitude < switchAltitude;
        const on = night || stuckUntil !== undefined;
        const dimmed = night && inWindow(lt.hour, dimFromH, dimUntilH);
        const warming = on && !wasOn && lamp.warmsUp;
        wasOn = on;

        const illuminanceLevel = on ? (dimmed ? lamp.dimLevel : 1) : 0;
        const powerState: PowerState = !on ? 'off' : warming ? 'bootingUp' : dimmed ? 'low' : 'on';
        const lampWorks = lampFault?.status !== 'defectiveLamp';
        // A discharge lamp draws more than its rating for its first minutes.
        const loadW = on && lampWorks ? illuminanceLevel * ratingW * (warming ? 1.15 : 1) * (1 + 0.015 * normal(rng)) : 0;
        const powerW = Math.max(0, loadW + STANDBY_W + 0.05 * normal(rng));

        let voltage = 230 + feederOffsetV + 1.2 * normal(rng);
        if (dipUntil !== undefined) voltage = uniform(rng, 196, 205);
        voltage = clamp(voltage, 0, 400);
        const powerFactor = on && lampWorks ? lamp.powerFactor + 0.01 * normal(rng) : 0.3;
        const pf = clamp(powerFactor, 0.05, 1);

        // Trapezoid between readings; a switch in between is off by at most half an interval.
        energyKWh += (((lastPowerW ?? powerW) + powerW) / 2) * (dtMs / HOUR_MS) / 1000;
        lastPowerW = powerW;

        const cloudFactor = clamp(0.75 + cloud(dtMs), 0.12, 1);
        const ambient = skyLux(altitude) * cloudFactor * (1 + 0.03 * normal(rng));

        const reading: Reading = {
          ...common(simTimeMs),
          powerState,
          status: lampFault?.status ?? 'ok',
          illuminanceLevel,
          powerConsumption: round(powerW, 1),
          voltage: round(voltage, 1),
          current: round(powerW / (voltage * pf), 3),
          powerFactor: round(pf, 2),
          ambientLight: round(Math.max(0, ambient), ambient < 10 ? 3 : 0),
          energyConsumed: round(energyKWh, 3),
        };
        return reading;
      },
    };
  },
};
