import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeEncoder, describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { batteryPercentFromMillivolts } from './codec.js';
import { draginoLdds75 } from './index.js';

describeLorawanModel(draginoLdds75, wasteBin, new URL('./', import.meta.url));
// Temperatures go out in tenths of a degree.
describeEncoder(draginoLdds75, new URL('./', import.meta.url), { temperature: 0.1 });

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

describe('Dragino LDDS75, simulated', () => {
  const hex = (fields: Record<string, number | string>, battery?: number) => draginoLdds75.encode(fields, battery).map((f) => `${f.fPort}:${Buffer.from(f.bytes).toString('hex')}`);
  const decode = (fields: Record<string, number | string>, battery?: number) => {
    const [frame] = draginoLdds75.encode(fields, battery);
    return frame && draginoLdds75.decode(frame.bytes, frame.fPort);
  };

  it('sends the firmware 1.1.4 packet Dragino decodes to 300 mm, 20.0 °C, 3.6 V', () => {
    expect(hex({ distanceMm: 300, temperature: 20 }, 100)).toEqual(['2:0e10012c0000c801']);
  });

  it('gives every whole battery percent back through the 3.0–3.6 V mapping; a fresh cell when none is given', () => {
    for (let percent = 0; percent <= 100; percent++) expect(decode({ distanceMm: 900 }, percent), `${percent} %`).toMatchObject({ batteryPercent: percent });
    expect(decode({ distanceMm: 900 })).toMatchObject({ batteryPercent: 100 });
  });

  it('sends no probe as 0, as the device does, so 0.0 °C reads as no temperature', () => {
    expect(hex({ distanceMm: 300 }, 100)).toEqual(['2:0e10012c0000' + '0001']);
    expect(decode({ distanceMm: 300, temperature: 0.04 }, 100)).toEqual({ ok: true, fields: { distanceMm: 300 }, batteryPercent: 100 });
  });

  it("clamps what a word cannot carry: a distance of 0 (its no-sensor code) goes out as 1 mm, a temperature within the probe's range", () => {
    expect(decode({ distanceMm: 0, temperature: 200 }, 150)).toEqual({ ok: true, fields: { distanceMm: 1, temperature: 120 }, batteryPercent: 100 });
    expect(decode({ distanceMm: 99999, temperature: -80 }, -1)).toEqual({ ok: true, fields: { distanceMm: 65535, temperature: -40 }, batteryPercent: 0 });
    expect(decode({ distanceMm: 640.4, temperature: -0.26 }, 33.3)).toEqual({ ok: true, fields: { distanceMm: 640, temperature: -0.3 }, batteryPercent: 33 });
    expect(draginoLdds75.encode({ temperature: 20 }, 50)).toEqual([]); // no distance: no reading to send
  });
});
