/**
 * Test fixtures for the rules stage: catalog records, a mutable catalog, readings and a compact way
 * to compare events. Not part of the build (tsconfig.build excludes `testing/`).
 */
import { deviceRecordSchema, type DeviceRecord } from '../../catalog/types.js';
import type { z } from 'zod';
import type { DeviceList, RuleEvent, RuleInput } from '../types.js';

/** 2026-06-01 10:00 UTC (noon in Amsterdam, sun high). */
export const T0 = Date.parse('2026-06-01T10:00:00Z');
export const MIN = 60_000;

type RecordInput = Partial<z.input<typeof deviceRecordSchema>> & { id: string; type: DeviceRecord['type'] };

/** A catalog record with Amsterdam defaults. */
export function device(input: RecordInput): DeviceRecord {
  return deviceRecordSchema.parse({ location: { lat: 52.37, lon: 4.89 }, district: 'centrum', reportingIntervalS: 300, ...input });
}

/** A catalog the test can change (a reload replaces record objects). */
export class TestCatalog implements DeviceList {
  private readonly byId = new Map<string, DeviceRecord>();
  constructor(records: readonly DeviceRecord[] = []) {
    for (const r of records) this.byId.set(r.id, r);
  }
  get(id: string): DeviceRecord | undefined {
    return this.byId.get(id);
  }
  /** A LoRaWAN device by DevEUI (any case). */
  byDevEui(devEui: string): DeviceRecord | undefined {
    const want = devEui.toLowerCase();
    for (const r of this.byId.values()) if (r.lorawan?.devEui.toLowerCase() === want) return r;
    return undefined;
  }
  all(): Iterable<DeviceRecord> {
    return this.byId.values();
  }
  set(record: DeviceRecord): void {
    this.byId.set(record.id, record);
  }
  delete(id: string): void {
    this.byId.delete(id);
  }
}

/** A `waste.collect` event of bin-1 in centrum at T0 (value 0.85), with what the test changes. */
export function collectEvent(over: Partial<RuleEvent> & Pick<RuleEvent, 'state'>): RuleEvent {
  return {
    rule: 'waste.collect',
    serviceCode: 'waste.collect',
    deviceId: 'bin-1',
    district: 'centrum',
    type: 'waste-bin',
    severity: 'info',
    at: T0,
    value: 0.85,
    message: `waste.collect ${over.state}`,
    late: false,
    ...over,
  };
}

/** A reading of `d` at device time `timeMs`, received then unless said otherwise. */
export function reading(d: DeviceRecord, timeMs: number, fields: Record<string, number | string>, receivedAt = timeMs): RuleInput {
  return { type: d.type, deviceId: d.id, district: d.district, timeMs, receivedAt, fields };
}

/**
 * One line per event, for table assertions: `bin-1 raised waste.collect`, with ` late`,
 * ` flapping=true|false` and ` clearedAt=+Nmin` (minutes after T0) when set.
 */
export function summary(e: RuleEvent): string {
  let s = `${e.deviceId} ${e.state} ${e.rule}`;
  if (e.late) s += ' late';
  if (e.flapping !== undefined) s += ` flapping=${e.flapping}`;
  if (e.clearedAt !== undefined) s += ` clearedAt=+${(e.clearedAt - T0) / MIN}min`;
  return s;
}
