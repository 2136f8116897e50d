import { describe, expect, it } from 'vitest';
import { completeParkingSpot } from './lorawan.js';

describe('a bay sensor uplink as a parking-spot reading', () => {
  it('keeps the status and a temperature in range', () => {
    expect(completeParkingSpot({ status: 'occupied', temperature: 21.5 })).toEqual({ ok: true, fields: { status: 'occupied', temperature: 21.5 } });
  });

  it('drops a temperature outside -40..85 °C, keeping the status', () => {
    expect(completeParkingSpot({ status: 'free', temperature: 127 })).toEqual({ ok: true, fields: { status: 'free' } });
    expect(completeParkingSpot({ status: 'free', temperature: -54 })).toEqual({ ok: true, fields: { status: 'free' } });
  });
});
