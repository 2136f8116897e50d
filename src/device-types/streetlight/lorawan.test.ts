import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../catalog/types.js';
import { hexBytes } from '../lorawan.js';
import { streetlight } from './definition.js';
import { catalogDevice, DECEMBER_TUESDAY, simulate } from '../testing/simulate.js';
import { completeStreetlight, measureStreetlight } from './lorawan.js';
import { nasUl20xx } from './models/nas-ul20xx/index.js';

const lamp = (attributes: Record<string, string | number>) => deviceRecordSchema.parse({ id: 'light-1', type: 'streetlight', district: 'west', location: { lat: 52.37, lon: 4.86 }, attributes });

describe('a lamp controller uplink without the lamp state', () => {
  it('is on above 5 % of the rated power, off at or below it', () => {
    const rated60 = lamp({ powerRating: 60 });
    expect(completeStreetlight({ powerConsumption: 18, voltage: 230 }, rated60)).toEqual({ ok: true, fields: { powerState: 'on', powerConsumption: 18, voltage: 230 } });
    expect(completeStreetlight({ powerConsumption: 3.1 }, rated60)).toMatchObject({ ok: true, fields: { powerState: 'on' } });
    expect(completeStreetlight({ powerConsumption: 3 }, rated60)).toMatchObject({ ok: true, fields: { powerState: 'off' } });
    expect(completeStreetlight({ powerConsumption: 0.5 }, lamp({ powerRating: '28' }))).toMatchObject({ ok: true, fields: { powerState: 'off' } });
  });

  it('names the missing attribute and how to set it when the catalog has no powerRating', () => {
    const out = completeStreetlight({ powerConsumption: 42 }, lamp({ lampType: 'LED' }));
    expect(out).toMatchObject({ ok: false, reason: 'missing_attribute', path: 'attributes.powerRating' });
    expect(out.ok === false && out.message).toMatch(/powerRating.*light-1.*--attr powerRating=60/);
  });

  it('refuses a powerRating that is not a number of W above 0', () => {
    for (const powerRating of ['bright', 0, -60]) {
      expect(completeStreetlight({ powerConsumption: 42 }, lamp({ powerRating }))).toMatchObject({ ok: false, reason: 'missing_attribute', path: 'attributes.powerRating' });
    }
  });

  it('is a decode failure when it carries neither the lamp state nor the power', () => {
    expect(completeStreetlight({ energyConsumed: 0.237 }, lamp({ powerRating: 60 }))).toMatchObject({ ok: false, reason: 'decode_failed', path: 'powerState' });
  });
});

describe('a lamp controller uplink with the lamp state', () => {
  it('keeps it, and needs no powerRating', () => {
    expect(completeStreetlight({ powerState: 'off', status: 'defectiveLamp', illuminanceLevel: 1 }, lamp({}))).toEqual({ ok: true, fields: { powerState: 'off', status: 'defectiveLamp', illuminanceLevel: 1 } });
  });
});

describe('NAS UL20xx uplinks become valid streetlight readings', () => {
  const reading = (hex: string, fPort: number, device = lamp({ powerRating: 60 })) => {
    const decoded = nasUl20xx.decode(hexBytes(hex), fPort);
    if (!decoded.ok) throw new Error(decoded.reason);
    const completed = completeStreetlight(decoded.fields, device);
    if (!completed.ok) throw new Error(completed.message);
    return streetlight.schema.parse(completed.fields);
  };

  it('a usage packet at full power is a lamp on, with its meter in W, V and kWh', () => {
    expect(reading('00ff3340e201003a0060e7', 26)).toMatchObject({ powerState: 'on', powerConsumption: 58, voltage: 231, powerFactor: 0.96, energyConsumed: 123.456 });
  });

  it('a usage packet drawing nothing by day is a lamp off', () => {
    expect(reading('00ff33fce301000000ffe8', 26)).toMatchObject({ powerState: 'off', powerConsumption: 0 });
  });

  it('a status packet with a lamp failure is a defective lamp', () => {
    expect(reading('018c451f6980003c070c2000fe226402', 23, lamp({}))).toMatchObject({ powerState: 'off', status: 'defectiveLamp', illuminanceLevel: 1 });
  });
});

describe('what a lamp controller measures of a simulated reading (measureStreetlight)', () => {
  it('is the reading without the current, which no controller packet carries', () => {
    const reading = { ts: 1_734_400_000_000, seq: 12, powerState: 'low', status: 'ok', illuminanceLevel: 0.5, powerConsumption: 30.2, voltage: 229.8, current: 0.138, powerFactor: 0.95, ambientLight: 0.004, energyConsumed: 12.345 };
    const { current: _current, ...rest } = reading;
    expect(measureStreetlight(reading, lamp({ powerRating: 60 }))).toEqual(rest);
  });

  it('survives the trip through UL20xx packets: two simulated days of a failing lamp become the same valid readings', () => {
    const device = catalogDevice('light-e1', 'streetlight', 'west', 52.37, 4.86, 900, { powerRating: 60, lampType: 'HPS' });
    const samples = simulate(device, DECEMBER_TUESDAY, 48, 2000);
    const states = new Set<unknown>();
    const statuses = new Set<unknown>();
    for (const { r } of samples) {
      const reading = r as Record<string, number | string>;
      states.add(reading['powerState']);
      statuses.add(reading['status']);
      const frames = nasUl20xx.encode(measureStreetlight(reading, device), undefined);
      expect(frames.map((f) => f.fPort)).toEqual([23, 26]);
      const [lampState, meter] = frames.map((f) => {
        const decoded = nasUl20xx.decode(f.bytes, f.fPort);
        if (!decoded.ok) throw new Error(decoded.reason);
        const completed = completeStreetlight(decoded.fields, device);
        if (!completed.ok) throw new Error(completed.message);
        return streetlight.schema.parse(completed.fields);
      });
      // The lamp state: a dimmed or warming lamp is a lit one; damage a driver cannot see is no failure.
      expect(lampState).toMatchObject({
        powerState: reading['powerState'] === 'off' ? 'off' : 'on',
        status: reading['status'] === 'defectiveLamp' ? 'defectiveLamp' : 'ok',
        illuminanceLevel: reading['illuminanceLevel'],
      });
      expect(Math.abs(lampState!.ambientLight! - (reading['ambientLight'] as number))).toBeLessThanOrEqual(Math.max(0.001 * (reading['ambientLight'] as number), 0.001));
      // The meter, to whole W and V; energy and power factor as the simulator rounds them.
      expect(Math.abs(meter!.powerConsumption! - (reading['powerConsumption'] as number))).toBeLessThanOrEqual(0.5);
      expect(Math.abs(meter!.voltage! - (reading['voltage'] as number))).toBeLessThanOrEqual(0.5);
      expect(meter).toMatchObject({ powerFactor: reading['powerFactor'], energyConsumed: reading['energyConsumed'] });
      expect(meter!.current).toBeUndefined();
    }
    // The days cover every lamp state the model has and a failed lamp, or the trip proved less than it says.
    expect(states).toEqual(new Set(['on', 'low', 'off', 'bootingUp']));
    expect(statuses).toContain('defectiveLamp');
  });
});
