/**
 * What the bench's devices send, and the line protocol citypipe makes of it.
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
import type { DeviceTypeName } from '../src/device-types/registry.js';

/** The JSON text of one reading (an object). */
export type ReadingBuilder = (ts: number, seq: number) => string;

const builders: Record<DeviceTypeName, ReadingBuilder> = {
  // Keys in the schema's order (common fields, then the type's), which is the order of the fields
  // in the line citypipe writes.
  'waste-bin': (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.87,"rssi":-92,"fillingLevel":${(seq % 1000) / 1000},"temperature":${12 + (seq % 10)},"status":"ok"}`,
  'parking-meter': (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.64,"rssi":-101,"totalSpotNumber":24,"availableSpotNumber":${seq % 25},"status":"ok","coinBoxLevel":${(seq % 100) / 100},"transactions":${seq % 7},"revenue":${(seq % 7) * 250}}`,
  streetlight: (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.99,"rssi":-77,"powerState":"on","status":"ok","illuminanceLevel":0.7,"powerConsumption":${40 + (seq % 100) / 10},"voltage":231.5,"current":0.19,"powerFactor":0.95,"ambientLight":3.5,"energyConsumed":${1000 + seq / 100}}`,
};

const measurements: Record<DeviceTypeName, string> = {
  'waste-bin': 'waste_bin',
  'parking-meter': 'parking_meter',
  streetlight: 'streetlight',
};

const fieldBuilders: Record<DeviceTypeName, (seq: number) => string> = {
  'waste-bin': (seq) => `seq=${seq}i,batteryLevel=0.87,rssi=-92,fillingLevel=${(seq % 1000) / 1000},temperature=${12 + (seq % 10)},status="ok"`,
  'parking-meter': (seq) =>
    `seq=${seq}i,batteryLevel=0.64,rssi=-101,totalSpotNumber=24i,availableSpotNumber=${seq % 25}i,status="ok",coinBoxLevel=${(seq % 100) / 100},transactions=${seq % 7}i,revenue=${(seq % 7) * 250}i`,
  streetlight: (seq) =>
    `seq=${seq}i,batteryLevel=0.99,rssi=-77,powerState="on",status="ok",illuminanceLevel=0.7,powerConsumption=${40 + (seq % 100) / 10},voltage=231.5,current=0.19,powerFactor=0.95,ambientLight=3.5,energyConsumed=${1000 + seq / 100}`,
};

export const BENCH_DEVICE_TYPES: readonly DeviceTypeName[] = ['waste-bin', 'parking-meter', 'streetlight'];

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
