import { describe, expect, it } from 'vitest';
import { deviceType } from '../../device-types/registry.js';
import { toLine } from './line-protocol.js';
import { readingFromLine } from './line-protocol-reader.js';

describe('readingFromLine', () => {
  it('gives back exactly what toLine wrote, for every device type, escaped tags and strings included', () => {
    const cases = [
      { type: 'waste-bin', fields: { fillingLevel: 0.85, temperature: 21.5, status: 'ok', batteryLevel: 0.9 } },
      { type: 'parking-meter', fields: { status: 'ok', availableSpotNumber: 3, coinBoxLevel: 0.4 } },
      { type: 'streetlight', fields: { powerState: 'on', powerConsumption: 42.5, voltage: 230, status: 'ok' } },
    ];
    for (const c of cases) {
      const def = deviceType(c.type)!;
      // Only fields the type declares (the registry is the authority on names and kinds).
      const fields = Object.fromEntries(Object.entries(c.fields).filter(([k]) => def.fieldKinds.has(k)));
      expect(Object.keys(fields).length).toBeGreaterThan(1);
      const reading = { type: c.type, deviceId: 'dev, =1', timeMs: 1_780_000_000_123, stampedAtReceive: false, fields, index: undefined };
      const line = toLine(def, reading, 'Oud West, =x');
      expect(readingFromLine(line)).toEqual({ deviceId: 'dev, =1', district: 'Oud West, =x', timeMs: 1_780_000_000_123, fields });
    }
  });

  it('refuses a line it cannot read instead of guessing', () => {
    expect(readingFromLine('waste_bin,device_id=a fillingLevel=0.5 12')).toBeUndefined(); // no district
    expect(readingFromLine('waste_bin,device_id=a,district=b fillingLevel=x 12')).toBeUndefined();
    expect(readingFromLine('garbage')).toBeUndefined();
  });
});
