/**
 * What the bench's devices send, and the line protocol citypipe makes of it: each type's
 * `src/device-types/<type>/bench.ts`, by type name.
 *
 * Built by string concatenation, not JSON.stringify: the load generator runs on the same two cores
 * as the broker under test, and every microsecond it spends per message is taken from the broker.
 * `payloads.test.ts` proves that every payload passes its device type's schema and that
 * {@link lineFor} is byte for byte what citypipe's own `toLine` writes for it, so the raw InfluxDB
 * baseline writes exactly the points the pipeline writes.
 *
 * Values vary with `seq` so that InfluxDB cannot compress a run of identical floats to nothing,
 * which a real fleet would not let it do either.
 */
import type { BenchPayload } from '../src/device-types/module.js';
import { deviceTypeModules, type DeviceTypeName } from '../src/device-types/registry.js';

/** The JSON text of one reading (an object). */
export type ReadingBuilder = (ts: number, seq: number) => string;

// Each type's payload is its folder's `bench.ts`; these tables are built once, so a message costs
// the same property read it always did.
const builders = Object.fromEntries(deviceTypeModules.map((m) => [m.definition.name, m.bench.reading])) as Record<DeviceTypeName, ReadingBuilder>;
const measurements = Object.fromEntries(deviceTypeModules.map((m) => [m.definition.name, m.definition.measurement])) as Record<DeviceTypeName, string>;
const fieldBuilders = Object.fromEntries(deviceTypeModules.map((m) => [m.definition.name, m.bench.fields])) as Record<DeviceTypeName, BenchPayload['fields']>;

/** Every registered type: the bench's publishers take them in turn. */
export const BENCH_DEVICE_TYPES: readonly DeviceTypeName[] = deviceTypeModules.map((m) => m.definition.name);

/** The reading builder for a device type. */
export function readingBuilder(type: DeviceTypeName): ReadingBuilder {
  return builders[type];
}

/** `count` readings as one batch payload (a JSON array), one second apart, ending at `lastTs`. */
export function batchPayload(type: DeviceTypeName, firstSeq: number, count: number, lastTs: number): string {
  const build = builders[type];
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(build(lastTs - (count - 1 - i) * 1000, firstSeq + i));
  return `[${parts.join(',')}]`;
}

/**
 * The line citypipe writes for `readingBuilder(type)(ts, seq)` from a device with this id and
 * catalog district. Device ids and districts of the bench need no escaping (checked by the caller).
 */
export function lineFor(type: DeviceTypeName, deviceId: string, district: string, seq: number, ts: number): string {
  return `${measurements[type]},device_id=${deviceId},district=${district} ${fieldBuilders[type](seq)} ${ts}`;
}

/** The InfluxDB measurement of a device type. */
export function measurementOf(type: DeviceTypeName): string {
  return measurements[type];
}
