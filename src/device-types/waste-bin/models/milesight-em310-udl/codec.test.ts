import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { milesightEm310Udl } from './index.js';

describeLorawanModel(milesightEm310Udl, wasteBin, new URL('./', import.meta.url));

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
