import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { batteryPercentFromMillivolts } from './codec.js';
import { draginoLdds75 } from './index.js';

describeLorawanModel(draginoLdds75, wasteBin, new URL('./', import.meta.url));

describe('Dragino LDDS75, beyond the vectors', () => {
  it('reads the distance from the second word, not the battery word (the community decoder reports 0x0E1C & 0x3FFF = 3612 as the distance)', () => {
    // The example of TheThingsNetwork/lorawan-devices vendor/dragino/ldds75-codec.yaml: battery 0x0E1C, distance 0x0B05.
    for (const hex of ['0E1C 0B05', '0E1C 0B05 00', '0E1C 0B05 00 0000 01']) {
      const out = draginoLdds75.decode(hexBytes(hex), 2);
      expect(out, hex).toMatchObject({ ok: true, fields: { distanceMm: 0x0b05 } });
      expect(out.ok && out.fields['distanceMm'], hex).not.toBe(0x0e1c & 0x3fff);
    }
  });

  it('maps the battery linearly from 3.0 V (0 %) to 3.6 V (100 %), clamped', () => {
    expect([2500, 3000, 3150, 3300, 3450, 3600, 3650].map(batteryPercentFromMillivolts)).toEqual([0, 0, 25, 50, 75, 100, 100]);
  });

  it('gives a bin 1200 mm deep and full at 300 mm its fill from a firmware 1.1.4 reading of 750 mm', () => {
    const decoded = draginoLdds75.decode(hexBytes('0D48 02EE 00 00C8 01'), 2);
    const bin = deviceRecordSchema.parse({ id: 'bin-9', type: 'waste-bin', district: 'centrum', location: { lat: 52.37, lon: 4.89 }, attributes: { containerDepthMm: 1200, fullDistanceMm: 300 } });
    expect(decoded.ok && completeWasteBin(decoded.fields, bin)).toEqual({ ok: true, fields: { fillingLevel: 0.5, distanceMm: 750, temperature: 20 } });
  });
});

describe('Dragino LDDS75: a full bin and a join', () => {
  it('keeps a distance inside the 280 mm blind zone (a full bin is a reading, not a dead letter)', () => {
    expect(draginoLdds75.decode(hexBytes('0d48009600000001'), 2)).toMatchObject({ ok: true, fields: { distanceMm: 150 } });
  });

  it('ignores the device status packet it sends on fPort 5 after a join', () => {
    expect(draginoLdds75.decode(hexBytes('0b450b0500000001'), 5)).toEqual({ ok: true, fields: {} });
  });
});
