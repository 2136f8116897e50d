import { z } from 'zod';
import { commonFields, type FieldBlock, type FieldKind } from './common/fields.js';
import { compileFastParse, type CrossFieldRule, type FastParse } from './fast-parse.js';

type Blocks = Record<string, FieldBlock>;

type ShapeOf<F extends Blocks> = {
  [K in keyof F]: F[K] extends FieldBlock<infer S> ? (F[K]['required'] extends true ? S : z.ZodOptional<S>) : never;
};

/** The zod shape of a reading: the common fields plus the type's own. */
export type ReadingShape<F extends Blocks> = ShapeOf<typeof commonFields> & ShapeOf<F>;

/**
 * One device type: its topic name, its InfluxDB measurement, its FIWARE model, and one declaration of
 * fields from which the strict zod schema and the line-protocol field kinds are both derived.
 */
export interface DeviceTypeDefinition<F extends Blocks = Blocks, N extends string = string> {
  /** Topic segment and catalog `type`, e.g. `waste-bin`. */
  readonly name: N;
  /** InfluxDB measurement, e.g. `waste_bin`. */
  readonly measurement: string;
  /** FIWARE Smart Data Model this follows. */
  readonly fiwareModel: string;
  /** What people call these devices, in the plural (`air quality stations`); boards and the city overview use it. Default: the name with an `s`. */
  readonly plural: string;
  readonly fields: F;
  /** Strict schema for one reading (unknown keys rejected, numbers finite, no coercion). */
  readonly schema: z.ZodType<z.output<z.ZodObject<ReadingShape<F>>>, z.input<z.ZodObject<ReadingShape<F>>>>;
  /** Line-protocol kind of every field that may be written (common ones included, `ts` excluded). */
  readonly fieldKinds: ReadonlyMap<string, FieldKind>;
  /**
   * `schema` without zod, generated from the same blocks (and cross-field rule): the fields of a
   * reading it accepts (`ts` excluded, schema order), or undefined when `schema` must decide.
   */
  readonly fastParse: FastParse;
  /**
   * Set when devices of this type are containers a crew empties: the collection plan
   * (`src/collection/`) predicts when each is full from this ratio field (0..1).
   */
  readonly collection?: CollectionCapability;
  /**
   * Set when devices of this type are parking bays: their zone's availability (`src/parking/zones.ts`)
   * counts them by this enum field's latest value.
   */
  readonly occupancy?: OccupancyCapability;
  /**
   * Set when each device of this type counts the bays it serves (a parking meter): the open parking
   * feed (`src/residents/`) shows it as a place with these two integer fields.
   */
  readonly capacity?: CapacityCapability;
  /**
   * Set when residents see this type's open tickets as outages (`src/residents/`: the outage map and
   * the status page), for the service codes the rules file does not mark private.
   */
  readonly outages?: OutagesCapability;
}

/** What the collection plan needs of a type: the field that holds a container's fill ratio. */
export interface CollectionCapability {
  readonly fillField: string;
}

/** What zone availability needs of a bay type: its status field, its free and occupied values, and the catalog attribute naming its zone. */
export interface OccupancyCapability {
  readonly field: string;
  readonly free: string;
  readonly occupied: string;
  readonly zoneAttribute: string;
}

/** What the open parking feed needs of a type that counts the bays it serves: its total and free fields. */
export interface CapacityCapability {
  readonly totalField: string;
  readonly availableField: string;
}

/** How the status page heads this type's outages, e.g. `Streetlights`. */
export interface OutagesCapability {
  readonly heading: string;
}

/** A validated reading of some type, as the schema outputs it. */
export type ReadingOf<D extends DeviceTypeDefinition> = z.output<D['schema']>;
/** What a device sends for that type (the simulators build these). */
export type ReadingInputOf<D extends DeviceTypeDefinition> = z.input<D['schema']>;

export interface DefineOptions<F extends Blocks, N extends string> {
  name: N;
  measurement: string;
  fiwareModel: string;
  /** What people call these devices, in the plural; default: the name with an `s` (`waste bins`). */
  plural?: string;
  fields: F;
  /** Cross-field rules; add issues with a `path` naming the field. */
  refine?: (reading: z.output<z.ZodObject<ReadingShape<F>>>, ctx: z.RefinementCtx) => void;
  /** Devices of this type are containers the collection plan covers; `fillField` is their fill ratio. */
  collection?: { fillField: keyof F & string };
  /** Devices of this type are parking bays counted per zone (catalog attribute `zoneAttribute`) by `field`. */
  occupancy?: { field: keyof F & string; free: string; occupied: string; zoneAttribute: string };
  /** Each device of this type counts the bays it serves: `totalField` of them, `availableField` free. */
  capacity?: { totalField: keyof F & string; availableField: keyof F & string };
  /** Residents see this type's open public tickets as outages, under this heading on the status page. */
  outages?: { heading: string };
}

export function defineDeviceType<const N extends string, const F extends Blocks>(opts: DefineOptions<F, N>): DeviceTypeDefinition<F, N> {
  const all: Blocks = { ...commonFields, ...opts.fields };
  const shape: Record<string, z.ZodType> = {};
  const fieldKinds = new Map<string, FieldKind>();
  for (const [key, b] of Object.entries(all)) {
    shape[key] = b.required ? b.schema : b.schema.optional();
    if (key !== 'ts') fieldKinds.set(key, b.kind);
  }
  const obj = z.strictObject(shape) as unknown as z.ZodObject<ReadingShape<F>>;
  const schema = opts.refine ? obj.superRefine(opts.refine as never) : obj;
  return Object.freeze({
    name: opts.name,
    measurement: opts.measurement,
    fiwareModel: opts.fiwareModel,
    plural: opts.plural ?? `${opts.name.replace(/-/g, ' ')}s`,
    fields: opts.fields,
    schema: schema as unknown as DeviceTypeDefinition<F, N>['schema'],
    fieldKinds,
    fastParse: compileFastParse(all, opts.refine as CrossFieldRule | undefined),
    ...(opts.collection ? { collection: Object.freeze({ fillField: opts.collection.fillField }) } : {}),
    ...(opts.occupancy ? { occupancy: Object.freeze({ ...opts.occupancy }) } : {}),
    ...(opts.capacity ? { capacity: Object.freeze({ ...opts.capacity }) } : {}),
    ...(opts.outages ? { outages: Object.freeze({ ...opts.outages }) } : {}),
  });
}
