import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { parkingSpot } from '../../definition.js';
import { boschTpl110 } from './index.js';

describeLorawanModel(boschTpl110, parkingSpot, new URL('./', import.meta.url));

describe('Bosch Parking Lot Sensor specifics', () => {
  it('reads the bay from bit 0 of the status byte and ignores the reserved bits', () => {
    expect(boschTpl110.decode(Uint8Array.of(0xfe), 1)).toEqual({ ok: true, fields: { status: 'free' } });
    expect(boschTpl110.decode(Uint8Array.of(0x81), 1)).toEqual({ ok: true, fields: { status: 'occupied' } });
  });

  it('reads the bay from a heartbeat too, with a signed temperature when the heartbeat has one', () => {
    expect(boschTpl110.decode(hexBytes('01'), 2)).toEqual({ ok: true, fields: { status: 'occupied' } });
    expect(boschTpl110.decode(hexBytes('00d8'), 2)).toEqual({ ok: true, fields: { status: 'free', temperature: -40 } });
    expect(boschTpl110.decode(hexBytes('0055'), 2)).toEqual({ ok: true, fields: { status: 'free', temperature: 85 } });
  });

  it('reads the bay from the last byte of a startup packet, not from its debug codes', () => {
    expect(boschTpl110.decode(hexBytes('ffffffffffffffffffffffff001d020300'), 3)).toEqual({ ok: true, fields: { status: 'free' } });
  });

  it('turns each packet with a status into a valid parking-spot reading', () => {
    for (const [hex, fPort] of [['01', 1], ['01ff', 2], ['0015', 2], ['240300007503000000000000001d020301', 3]] as const) {
      const out = boschTpl110.decode(hexBytes(hex), fPort);
      expect(out.ok).toBe(true);
      if (out.ok) expect(parkingSpot.schema.safeParse({ ts: 0, ...out.fields }).success, `${hex} on fPort ${fPort}`).toBe(true);
    }
  });

  it('names the ports it knows when a packet arrives on another', () => {
    expect(boschTpl110.decode(Uint8Array.of(1), 10)).toEqual({ ok: false, reason: expect.stringMatching(/^fPort 10: .*1 parking status, 2 heartbeat, 3 startup/) });
  });
});
