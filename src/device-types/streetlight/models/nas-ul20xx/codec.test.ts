import { describe, expect, it } from 'vitest';
import { hexBytes, type Measured } from '../../../lorawan.js';
import { describeEncoder, describeLorawanModel } from '../../../testing/codec-contract.js';
import { streetlight } from '../../definition.js';
import { nasUl20xx } from './index.js';

describeLorawanModel(nasUl20xx, streetlight, new URL('./', import.meta.url));

// The wire's precision: whole W, whole V, power factor and dim level in hundredths, energy in whole Wh, and
// light on a log scale (steps of 0.058 %) that NAS shows to four digits: at most 0.15 lx off at the
// vectors' brightest 300 lx (the relative bound over the whole range is tested below). Vectors decoded
// from D4i drivers' meters (summed power and energy, the first driver's voltage) come back exactly: the
// encoder sends those totals as the controller's own meter, which the codec takes first.
describeEncoder(nasUl20xx, new URL('./', import.meta.url), {
  powerConsumption: 0.5,
  voltage: 0.5,
  powerFactor: 0.005,
  illuminanceLevel: 0.005,
  energyConsumed: 0.0005,
  ambientLight: 0.15,
});

describe('nas-ul20xx beyond its golden vectors', () => {
  const status = (tail: string) => nasUl20xx.decode(hexBytes(`01 8c451f69 8000 3c070c 00 ${tail}`), 23);

  it('reads a dimmed lamp with a failed driver as lit but defective', () => {
    // dali_single_9 at 30 %: driver error (bit 0) and lamp on (bit 2).
    expect(status('00 12 22 1e 05')).toEqual({ ok: true, fields: { powerState: 'on', status: 'defectiveLamp', illuminanceLevel: 0.3 } });
  });

  it('takes the D4i light sensor when the controller has no light sensor of its own, and skips an unavailable one', () => {
    // 0x02 light sensor unavailable (0xFFFF), then 0x03 D4i light sensor 299.9 lx.
    expect(status('06 02 ffff 03 9455 fe 22 64 04')).toMatchObject({ ok: true, fields: { ambientLight: 299.9 } });
  });

  it('refuses a status packet that leaves the lamp state unknown: relay closed, no DALI status, no level', () => {
    const out = status('00 01 22 ff ff');
    expect(out.ok).toBe(false);
    expect(!out.ok && out.reason).toMatch(/^fPort 23: .*neither a lamp state nor a dimming level/);
  });

  it('gives a usage packet without a lamp state, for the type to derive it from the power', () => {
    const out = nasUl20xx.decode(hexBytes('00 ff 02 3a00'), 26);
    expect(out).toEqual({ ok: true, fields: { powerConsumption: 58 } });
  });
});

describe('nas-ul20xx encoder, for the simulator', () => {
  /** Decodes every frame of a reading and merges the fields, as ingest would see them. */
  const roundTrip = (fields: Measured) => {
    const frames = nasUl20xx.encode(fields, undefined);
    const back: Record<string, number | string> = {};
    for (const f of frames) {
      const out = nasUl20xx.decode(f.bytes, f.fPort);
      if (!out.ok) throw new Error(out.reason);
      expect(out.batteryPercent).toBeUndefined();
      Object.assign(back, out.fields);
    }
    return { ports: frames.map((f) => f.fPort), back };
  };

  it('sends the lamp fields as a status packet, the meter as a usage packet, and both when both are given', () => {
    expect(roundTrip({ powerState: 'on', illuminanceLevel: 1 }).ports).toEqual([23]);
    expect(roundTrip({ powerConsumption: 42, energyConsumed: 1.5 }).ports).toEqual([26]);
    const full = roundTrip({ powerState: 'off', status: 'ok', illuminanceLevel: 0, ambientLight: 5200, powerConsumption: 0.5, voltage: 229.6, current: 0.01, powerFactor: 0.3, energyConsumed: 81.234 });
    expect(full.ports).toEqual([23, 26]);
    expect(full.back).toEqual({ powerState: 'off', status: 'ok', illuminanceLevel: 0, ambientLight: 5200, powerConsumption: 1, voltage: 230, powerFactor: 0.3, energyConsumed: 81.234 });
  });

  it('sends a dimmed lamp (`low`) lit below 100 %, and a lamp warming up as lit', () => {
    expect(roundTrip({ powerState: 'low', illuminanceLevel: 0.7 }).back).toMatchObject({ powerState: 'on', illuminanceLevel: 0.7 });
    expect(roundTrip({ powerState: 'low', illuminanceLevel: 1 }).back).toMatchObject({ powerState: 'on', illuminanceLevel: 0.99 });
    expect(roundTrip({ powerState: 'low' }).back).toMatchObject({ powerState: 'on', illuminanceLevel: 0.5 });
    expect(roundTrip({ powerState: 'bootingUp', illuminanceLevel: 1 }).back).toMatchObject({ powerState: 'on', illuminanceLevel: 1 });
  });

  it('reports a failed lamp, lit or not, and no failure for damage the driver cannot see', () => {
    expect(roundTrip({ powerState: 'on', status: 'defectiveLamp' }).back).toMatchObject({ powerState: 'on', status: 'defectiveLamp' });
    expect(roundTrip({ powerState: 'off', status: 'defectiveLamp' }).back).toMatchObject({ powerState: 'off', status: 'defectiveLamp' });
    expect(roundTrip({ powerState: 'on', status: 'brokenLantern' }).back).toMatchObject({ powerState: 'on', status: 'ok' });
  });

  it('gives the ambient light back to 0.1 % (or 0.001 lx in the dark) from starlight to sunlight', () => {
    for (let e = -3; e <= 5; e += 0.01) {
      const lx = Number((10 ** e).toPrecision(4));
      const back = roundTrip({ powerState: 'off', ambientLight: lx }).back['ambientLight'] as number;
      expect(Math.abs(back - lx), `${lx} lx came back as ${back}`).toBeLessThanOrEqual(Math.max(0.001 * lx, 0.001));
    }
  });

  it('clamps what the wire cannot carry instead of failing', () => {
    const { back } = roundTrip({ powerState: 'on', illuminanceLevel: 1.4, ambientLight: 2e6, powerConsumption: 70_000, voltage: 400, powerFactor: 1.2, energyConsumed: 5e6 });
    expect(back).toMatchObject({ illuminanceLevel: 1, powerConsumption: 65_535, voltage: 255, powerFactor: 1, energyConsumed: 4_294_967.295 });
    expect(back['ambientLight']).toBeGreaterThan(150_000);
    expect(roundTrip({ powerState: 'off', illuminanceLevel: -0.2, ambientLight: 0, powerConsumption: -3, voltage: -1, powerFactor: -0.5, energyConsumed: -1 }).back).toEqual({
      powerState: 'off',
      status: 'ok',
      illuminanceLevel: 0,
      ambientLight: 0.001,
      powerConsumption: 0,
      voltage: 0,
      powerFactor: 0,
      energyConsumed: 0,
    });
  });

  it('leaves out values that are not numbers, and sends nothing for a reading it has no packet for', () => {
    expect(roundTrip({ powerState: 'on', illuminanceLevel: Number.NaN, ambientLight: 'bright', voltage: Number.POSITIVE_INFINITY }).back).toEqual({ powerState: 'on', status: 'ok' });
    expect(nasUl20xx.encode({ current: 0.2, ts: 1_700_000_000_000 }, 80)).toEqual([]);
  });
});
