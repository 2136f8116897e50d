/**
 * What a device type's behaviour model provides. One model per device type, in its folder
 * (`src/device-types/<type>/model.ts`), each importing its type's definition so the readings it
 * builds are typed by the same schema the ingest validates with.
 */
import type { DeviceRecord } from '../src/catalog/types.js';
import type { DeviceTypeDefinition, ReadingInputOf } from '../src/device-types/types.js';
import type { Rng } from './prng.js';

export type { Rng };

/** Knobs shared by every model. */
export interface SimulationOptions {
  /**
   * Multiplies the probability of every fault (lid open, coin jam, lamp failure, fire …). 1 = the
   * model's realistic rates, 0 = a fault-free device (behaviour tests), larger = fault drills.
   */
  readonly faultRate?: number;
}

/** One simulated device. */
export interface DeviceSimulation<D extends DeviceTypeDefinition> {
  /**
   * The device's next reading at simulated time `simTimeMs` (epoch ms). Calls must move forward in
   * time. Readings carry no `ts`: the fleet stamps `simTimeMs`, which its clock keeps between the
   * start of the run and the wall clock (see sim-clock.ts), so a device never reports the future.
   */
  next(simTimeMs: number): ReadingInputOf<D>;
  /**
   * For a device that reports on change (a parking bay's sensor): when, after the last reading, its
   * next change falls (epoch ms), or undefined/Infinity when none is planned. The fleet then sends a
   * reading at that time as well as at every reporting interval (the heartbeat). Models that report
   * only on the interval leave it out.
   */
  nextChangeMs?(): number | undefined;
}

/** A device type's behaviour model. */
export interface DeviceModel<D extends DeviceTypeDefinition> {
  /** The definition whose schema every reading satisfies. */
  readonly type: D;
  /**
   * Starts simulating `device` at `startMs`. Everything random comes from `rng`, so a seeded `rng`
   * reproduces the run exactly.
   */
  create(device: DeviceRecord, rng: Rng, startMs: number, opts?: SimulationOptions): DeviceSimulation<D>;
}

/** Any model's simulated device (see {@link DeviceSimulation}). */
export interface AnySimulation {
  next(simTimeMs: number): object;
  nextChangeMs?(): number | undefined;
}

/** Any model, for code that handles every type alike (the fleet). */
export interface AnyDeviceModel {
  readonly type: DeviceTypeDefinition;
  create(device: DeviceRecord, rng: Rng, startMs: number, opts?: SimulationOptions): AnySimulation;
}
