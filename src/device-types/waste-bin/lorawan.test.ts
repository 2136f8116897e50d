import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../catalog/types.js';
import { SIMULATED_DEPTH_MM, completeWasteBin, measureWasteBin } from './lorawan.js';
import { wasteBinType } from './index.js';

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

describe('what a distance sensor in a bin measures (the simulator)', () => {
  const bins = [bin({ containerDepthMm: 1200, fullDistanceMm: 300 }), bin({ containerDepthMm: 1300 }), bin({ containerDepthMm: '800', fullDistanceMm: '280' }), bin({ containerDepthMm: 2500, fullDistanceMm: 150 })];

  it('measures a distance that completes back to the same fill, to within 1 mm of distance (and complete’s rounding to 0.001)', () => {
    for (const device of bins) {
      const depth = Number(device.attributes['containerDepthMm']);
      const span = depth - Number(device.attributes['fullDistanceMm'] ?? 0);
      for (let i = 0; i <= 200; i++) {
        const fillingLevel = i / 200;
        const measured = measureWasteBin({ fillingLevel }, device);
        const back = completeWasteBin(measured, device);
        if (!back.ok) throw new Error(back.message);
        // The distance is rounded to whole mm (≤ 0.5 mm) and complete rounds the fill to 0.001.
        expect(Math.abs((back.fields['fillingLevel'] as number) - fillingLevel) * span, `${fillingLevel} in ${depth}`).toBeLessThanOrEqual(1 + 0.0005 * span);
      }
    }
  });

  it('puts the waste at the depth when empty and at fullDistanceMm when full; a fill outside 0..1 is clamped', () => {
    const device = bin({ containerDepthMm: 1200, fullDistanceMm: 300 });
    expect(measureWasteBin({ fillingLevel: 0 }, device)).toEqual({ distanceMm: 1200 });
    expect(measureWasteBin({ fillingLevel: 1 }, device)).toEqual({ distanceMm: 300 });
    expect(measureWasteBin({ fillingLevel: 0.5 }, device)).toEqual({ distanceMm: 750 });
    expect(measureWasteBin({ fillingLevel: 1.2 }, device)).toEqual({ distanceMm: 300 });
    expect(measureWasteBin({ fillingLevel: -0.1 }, device)).toEqual({ distanceMm: 1200 });
  });

  it('keeps temperature and status, and drops what the sensors do not measure', () => {
    expect(measureWasteBin({ fillingLevel: 0.85, temperature: 21.5, status: 'moved', methaneConcentration: 12, cargoWeight: 40 }, bin({ containerDepthMm: 1200 }))).toEqual({ distanceMm: 180, temperature: 21.5, status: 'moved' });
  });

  it(`simulates a bin without a usable depth as ${SIMULATED_DEPTH_MM} mm deep, whose uplinks citypipe then refuses as the catalog's fault`, () => {
    for (const device of [bin({}), bin({ containerDepthMm: 'deep' }), bin({ containerDepthMm: 200, fullDistanceMm: 300 })]) {
      const measured = measureWasteBin({ fillingLevel: 0.25 }, device);
      expect(measured).toEqual({ distanceMm: 900 });
      expect(completeWasteBin(measured, device)).toMatchObject({ ok: false, reason: 'missing_attribute', path: 'attributes.containerDepthMm' });
    }
  });
});

/** What each model's sensor measures besides the distance: the EM310-UDL has no thermometer, the LDDS75 no tilt switch. */
const carries: Readonly<Record<string, readonly string[]>> = {
  'milesight-em400-udl': ['temperature', 'status'],
  'milesight-em310-udl': ['status'],
  'dragino-ldds75': ['temperature'],
};

describe.each(wasteBinType.lorawan!.models.map((m) => [m.name, m] as const))('a simulated %s in a bin', (name, model) => {
  it('sends frames that citypipe decodes and completes back to the fill, temperature (when it has one) and status', () => {
    const device = bin({ containerDepthMm: 1200, fullDistanceMm: 300 });
    for (const reading of [
      { fillingLevel: 0.42, temperature: 18.3, status: 'ok' },
      { fillingLevel: 1, temperature: -5, status: 'moved' },
      { fillingLevel: 0, temperature: 31.7, status: 'ok' },
    ]) {
      const frames = model.encode(measureWasteBin(reading, device), 64);
      expect(frames.length).toBeGreaterThan(0);
      const fields: Record<string, number | string> = {};
      for (const frame of frames) {
        const decoded = model.decode(frame.bytes, frame.fPort);
        if (!decoded.ok) throw new Error(decoded.reason);
        expect(decoded.batteryPercent).toBe(64);
        const completed = completeWasteBin(decoded.fields, device);
        if (!completed.ok) throw new Error(completed.message);
        Object.assign(fields, completed.fields);
      }
      expect(Math.abs((fields['fillingLevel'] as number) - reading.fillingLevel)).toBeLessThanOrEqual(0.002);
      expect(Object.keys(fields).sort()).toEqual(['distanceMm', 'fillingLevel', ...(carries[name] ?? ['(add this model to carries)'])].sort());
      if (fields['temperature'] !== undefined) expect(fields['temperature']).toBeCloseTo(reading.temperature, 5);
      if (fields['status'] !== undefined) expect(fields['status']).toBe(reading.status);
    }
  });
});
