/**
 * What one device type folder (`src/device-types/<type>/`) hands to the rest of citypipe, through its
 * `index.ts`. The registry is a list of these; ingest, the simulators, the fleet generator, the bench
 * and the demo read a type only from here, so adding a type touches its folder and one registry line.
 */
import type { DeviceTypeDefinition } from './types.js';
import type { LorawanSupport } from './lorawan.js';
import type { AnyDeviceModel } from '../../simulators/model.js';
import type { Rng } from '../../simulators/prng.js';
import type { GeneratedDistrict } from '../../simulators/generate-fleet.js';

/** How `devices generate` makes devices of this type. */
export interface FleetDefaults {
  /** Middle part of a generated id: `bin` → `ams-bin-00001`. */
  readonly idPart: string;
  /**
   * Weight of this type in a generated fleet when no mix is given (the weights are normalised). Types
   * are dealt out largest share first, so equal-seed fleets stay the same when a type is added.
   */
  readonly share: number;
  /** Seconds between readings, for generated and demo devices alike. */
  readonly reportingIntervalS: number;
  /**
   * The catalog attributes the model and the rules read, for one generated device: drawn from `rng`
   * only, so a seed gives the same fleet. `fromCentre` is the distance from the city centre as a
   * share of the city's radius (0 = centre, 1 = edge).
   */
  attributes(rng: Rng, district: GeneratedDistrict, fromCentre: number): Record<string, string | number>;
}

/**
 * What the bench's devices of this type send, built by string concatenation (the load generator
 * shares the broker's cores, so it spends as little per message as it can). `bench/payloads.test.ts`
 * proves, for every registered type, that `reading` passes the schema and that `fields` is byte for
 * byte what citypipe writes for it.
 */
export interface BenchPayload {
  /** The JSON text of one reading (an object), keys in schema order; values vary with `seq`. */
  reading(ts: number, seq: number): string;
  /** The line-protocol field set citypipe writes for `reading(ts, seq)`. */
  fields(seq: number): string;
  /**
   * Readings for the rules' bench (`src/dispatch/rules/evaluate.bench.ts`): `steady` raises none of
   * the type's default rules (values drawn from `rand`); `flip(i)` alternates, reading by reading,
   * between raising one of them and clearing it.
   */
  readonly rules: {
    steady(rand: () => number): Record<string, number | string>;
    flip(i: number): Record<string, number | string>;
  };
}

/** One device of the shipped demo fleet (`scripts/make-demo-fleet.ts` writes the catalog from these). */
export interface DemoDevice {
  readonly id: string;
  readonly district: string;
  readonly address: string;
  readonly lat: number;
  readonly lon: number;
  readonly attributes: Readonly<Record<string, string | number>>;
}

/** One step of a scripted demo act: seconds after the start, and the value reported then. */
export interface DemoStep {
  readonly atS: number;
  readonly value: number;
}

/**
 * A short act one device of this type plays at the start of `citypipe demo`, so that a rule raises
 * and clears (and a ticket opens and closes) while someone watches. At most one type needs one.
 */
export interface DemoAct {
  /** What the act shows, as the demo's banner says it after the device id: `fills up now and …`. */
  readonly story: string;
  readonly steps: readonly DemoStep[];
  /** The reading (without `ts` and `seq`) that reports `value`. */
  reading(value: number): Record<string, string | number>;
  /** After the act, the value of each next reading, given the last one. */
  next(value: number): number;
}

/** This type's devices in the shipped demo fleet. */
export interface DemoDevices {
  /** Catalog file in `simulators/demo-fleet/`, e.g. `waste-bins.json`. */
  readonly file: string;
  readonly devices: readonly DemoDevice[];
  readonly act?: DemoAct;
}

/** One device type: its folder's `index.ts` exports one of these. */
export interface DeviceTypeModule<D extends DeviceTypeDefinition = DeviceTypeDefinition> {
  /** Topic name, measurement, fields and schema (`definition.ts`). */
  readonly definition: D;
  /** The simulator's behaviour model (`model.ts`). */
  readonly model: AnyDeviceModel;
  /** Generated fleets (`fleet.ts`). */
  readonly fleet: FleetDefaults;
  /** The bench's payload (`bench.ts`). */
  readonly bench: BenchPayload;
  /** The shipped demo fleet (`demo.ts`). */
  readonly demo: DemoDevices;
  /** Its LoRaWAN device models (`models/<model>/`) and how their uplinks become its readings; none when no model is supported. */
  readonly lorawan?: LorawanSupport;
}
