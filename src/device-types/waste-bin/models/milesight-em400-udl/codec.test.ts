import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { milesightEm400Udl } from './index.js';

describeLorawanModel(milesightEm400Udl, wasteBin, new URL('./', import.meta.url));

const bin = deviceRecordSchema.parse({ id: 'bin-7', type: 'waste-bin', district: 'centrum', location: { lat: 52.37, lon: 4.89 }, attributes: { containerDepthMm: 1200, fullDistanceMm: 300 } });

describe('Milesight EM400-UDL, as its documentation shows it', () => {
  it("decodes the vendor README's example (01755C 03670101 04824408 050001) to 2116 mm, 25.7 °C, 92 %, tilted", () => {
    expect(milesightEm400Udl.decode(hexBytes('01755C 03670101 04824408 050001'), 85)).toEqual({
      ok: true,
      fields: { distanceMm: 2116, temperature: 25.7, status: 'moved' },
      batteryPercent: 92,
    });
  });

  it('reads the channels in whatever order they come', () => {
    const inOrder = milesightEm400Udl.decode(hexBytes('01755C 03670101 04824408 050001'), 85);
    expect(milesightEm400Udl.decode(hexBytes('050001 04824408 01755C 03670101'), 85)).toEqual(inOrder);
  });

  it('gives a bin 1200 mm deep and full at 300 mm its fill: full, half full, empty', () => {
    const fill = (hex: string) => {
      const decoded = milesightEm400Udl.decode(hexBytes(hex), 85);
      if (!decoded.ok) throw new Error(decoded.reason);
      return completeWasteBin(decoded.fields, bin);
    };
    expect(fill('0175640367f80004820101050000')).toMatchObject({ ok: true, fields: { fillingLevel: 1, distanceMm: 257 } }); // 257 mm: the user guide's example
    expect(fill('8482ee0201')).toMatchObject({ ok: true, fields: { fillingLevel: 0.5, distanceMm: 750 } });
    expect(fill('0482b004')).toMatchObject({ ok: true, fields: { fillingLevel: 0, distanceMm: 1200 } });
  });
});
