import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeEncoder, describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { milesightEm310Udl } from './index.js';

describeLorawanModel(milesightEm310Udl, wasteBin, new URL('./', import.meta.url));
// Temperatures go out in tenths of a degree.
describeEncoder(milesightEm310Udl, new URL('./', import.meta.url), { temperature: 0.1 });

describe('Milesight EM310-UDL, as its documentation shows it', () => {
  it("decodes the vendor README's example (01755C 03824408 040001) to 2116 mm, 92 %, tilted", () => {
    expect(milesightEm310Udl.decode(hexBytes('01755C 03824408 040001'), 85)).toEqual({ ok: true, fields: { distanceMm: 2116, status: 'moved' }, batteryPercent: 92 });
  });

  it('gives that reading a fill in a bin 2500 mm deep: (2500 − 2116) / 2500 ≈ 0.154', () => {
    const decoded = milesightEm310Udl.decode(hexBytes('01755C 03824408 040001'), 85);
    const bin = deviceRecordSchema.parse({ id: 'bin-8', type: 'waste-bin', district: 'centrum', location: { lat: 52.37, lon: 4.89 }, attributes: { containerDepthMm: 2500 } });
    expect(decoded.ok && completeWasteBin(decoded.fields, bin)).toEqual({ ok: true, fields: { fillingLevel: 0.154, distanceMm: 2116, status: 'moved' } });
  });
});

describe('Milesight EM310-UDL, simulated', () => {
  const hex = (fields: Record<string, number | string>, battery?: number) => milesightEm310Udl.encode(fields, battery).map((f) => `${f.fPort}:${Buffer.from(f.bytes).toString('hex')}`);

  it("sends the vendor README's example packet for its reading (2116 mm, 92 %, tilted)", () => {
    expect(hex({ distanceMm: 2116, status: 'moved' }, 92)).toEqual(['85:01755c03824408040001']);
  });

  it('has no thermometer: a temperature is left out, and the position for a status the tilt switch cannot tell', () => {
    expect(hex({ distanceMm: 300, temperature: 20, status: 'ok' }, 80)).toEqual(['85:01755003822c01040000']);
    expect(hex({ distanceMm: 300, status: 'burning' })).toEqual(['85:03822c01']);
  });

  it('clamps what a channel cannot carry, and never throws', () => {
    const [frame] = milesightEm310Udl.encode({ distanceMm: 1e6 }, 101);
    expect(frame && milesightEm310Udl.decode(frame.bytes, frame.fPort)).toEqual({ ok: true, fields: { distanceMm: 65535 }, batteryPercent: 100 });
    expect(milesightEm310Udl.encode({ distanceMm: Number.POSITIVE_INFINITY }, undefined)).toEqual([]);
  });
});
