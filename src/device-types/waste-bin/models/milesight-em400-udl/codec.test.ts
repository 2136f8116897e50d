import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../../../catalog/types.js';
import { hexBytes } from '../../../lorawan.js';
import { describeEncoder, describeLorawanModel } from '../../../testing/codec-contract.js';
import { wasteBin } from '../../definition.js';
import { completeWasteBin } from '../../lorawan.js';
import { milesightEm400Udl } from './index.js';

describeLorawanModel(milesightEm400Udl, wasteBin, new URL('./', import.meta.url));
// Temperatures go out in tenths of a degree.
describeEncoder(milesightEm400Udl, new URL('./', import.meta.url), { temperature: 0.1 });

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

describe('Milesight EM400-UDL, simulated', () => {
  const hex = (fields: Record<string, number | string>, battery?: number) => milesightEm400Udl.encode(fields, battery).map((f) => `${f.fPort}:${Buffer.from(f.bytes).toString('hex')}`);

  it("sends the vendor README's example packet for its reading (2116 mm, 25.7 °C, 92 %, tilted), channels in the device's order", () => {
    expect(hex({ distanceMm: 2116, temperature: 25.7, status: 'moved' }, 92)).toEqual(['85:01755c0367010104824408050001']);
  });

  it('leaves out a channel it has no value for, and the position for a status the tilt switch cannot tell', () => {
    expect(hex({ distanceMm: 300 })).toEqual(['85:04822c01']);
    for (const status of ['lidOpen', 'dropped', 'vandalized', 'burning']) expect(hex({ distanceMm: 300, status }, 80), status).toEqual(['85:01755004822c01']);
  });

  it('clamps what a channel cannot carry, and never throws', () => {
    const decode = (fields: Record<string, number | string>, battery?: number) => {
      const [frame] = milesightEm400Udl.encode(fields, battery);
      return frame && milesightEm400Udl.decode(frame.bytes, frame.fPort);
    };
    expect(decode({ distanceMm: 70000, temperature: 4000 }, 150)).toEqual({ ok: true, fields: { distanceMm: 65535, temperature: 120 }, batteryPercent: 100 });
    expect(decode({ distanceMm: -5, temperature: -60.04 }, -3)).toEqual({ ok: true, fields: { distanceMm: 0, temperature: -40 }, batteryPercent: 0 });
    expect(decode({ distanceMm: 812.6, temperature: 21.04 }, 55.4)).toEqual({ ok: true, fields: { distanceMm: 813, temperature: 21 }, batteryPercent: 55 });
    expect(decode({ distanceMm: 500, temperature: Number.NaN }, Number.NaN)).toEqual({ ok: true, fields: { distanceMm: 500 } });
    expect(milesightEm400Udl.encode({ temperature: 20 }, 50)).toEqual([]); // no distance: no reading to send
  });
});
