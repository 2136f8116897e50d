import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../catalog/types.js';
import { completeWasteBin } from './lorawan.js';

const bin = (attributes: Record<string, string | number>) => deviceRecordSchema.parse({ id: 'bin-1', type: 'waste-bin', district: 'centrum', location: { lat: 52.37, lon: 4.89 }, attributes });

describe('a bin measured by distance', () => {
  it('fills from the catalog depth: 85 % at 180 mm of 1200', () => {
    expect(completeWasteBin({ distanceMm: 180, temperature: 21 }, bin({ containerDepthMm: 1200 }))).toEqual({ ok: true, fields: { fillingLevel: 0.85, distanceMm: 180, temperature: 21 } });
  });

  it('counts from fullDistanceMm, and clamps to 0..1', () => {
    expect(completeWasteBin({ distanceMm: 300 }, bin({ containerDepthMm: 1300, fullDistanceMm: 300 }))).toMatchObject({ fields: { fillingLevel: 1 } });
    expect(completeWasteBin({ distanceMm: 100 }, bin({ containerDepthMm: 1300, fullDistanceMm: 300 }))).toMatchObject({ fields: { fillingLevel: 1 } });
    expect(completeWasteBin({ distanceMm: 1500 }, bin({ containerDepthMm: 1300 }))).toMatchObject({ fields: { fillingLevel: 0 } });
    expect(completeWasteBin({ distanceMm: 800 }, bin({ containerDepthMm: '1300', fullDistanceMm: '300' }))).toMatchObject({ fields: { fillingLevel: 0.5 } });
  });

  it('names the missing attribute when the catalog has no depth', () => {
    const out = completeWasteBin({ distanceMm: 180 }, bin({}));
    expect(out).toMatchObject({ ok: false, reason: 'missing_attribute', path: 'attributes.containerDepthMm' });
    expect(out.ok === false && out.message).toMatch(/containerDepthMm.*bin-1.*--attr containerDepthMm=/);
  });

  it('refuses a depth that is not a number larger than fullDistanceMm', () => {
    expect(completeWasteBin({ distanceMm: 180 }, bin({ containerDepthMm: 'deep' }))).toMatchObject({ ok: false, reason: 'missing_attribute' });
    expect(completeWasteBin({ distanceMm: 180 }, bin({ containerDepthMm: 200, fullDistanceMm: 300 }))).toMatchObject({ ok: false, reason: 'missing_attribute' });
  });

  it('leaves a reading that has no distance, or its own fill level, as it is', () => {
    expect(completeWasteBin({ temperature: 20 }, bin({}))).toEqual({ ok: true, fields: { temperature: 20 } });
    expect(completeWasteBin({ fillingLevel: 0.4, distanceMm: 10 }, bin({}))).toEqual({ ok: true, fields: { fillingLevel: 0.4, distanceMm: 10 } });
  });
});
