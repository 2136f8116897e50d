import { describe, expect, it } from 'vitest';
import { deviceRecordSchema } from '../../catalog/types.js';
import { hexBytes } from '../lorawan.js';
import { streetlight } from './definition.js';
import { completeStreetlight } from './lorawan.js';
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
