import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { parkingSpot } from '../../definition.js';
import { nwaveNps405 } from './index.js';

describeLorawanModel(nwaveNps405, parkingSpot, new URL('./', import.meta.url));

describe('Nwave NPS 400-series specifics', () => {
  it('reads the bay from bit 0 of a status byte, whatever the duration bits (1..7) hold', () => {
    for (let byte = 0; byte < 256; byte++) {
      expect(nwaveNps405.decode(Uint8Array.of(byte), 1)).toEqual({ ok: true, fields: { status: byte & 1 ? 'occupied' : 'free' } });
    }
  });

  it('gives heartbeat temperatures in half degrees around 10 °C, signed (-54..73.5)', () => {
    const temperature = (byte: number) => {
      const out = nwaveNps405.decode(Uint8Array.of(0x00, 0xd3, byte), 2);
      return out.ok ? out.fields['temperature'] : out.reason;
    };
    expect(temperature(0x00)).toBe(10);
    expect(temperature(0x01)).toBe(10.5);
    expect(temperature(0x7f)).toBe(73.5);
    expect(temperature(0x80)).toBe(-54);
    expect(temperature(0xff)).toBe(9.5);
  });

  it('turns each vector with a status into a valid parking-spot reading', () => {
    for (const [hex, fPort] of [['95', 1], ['00d3d800590b', 2], ['0204090101', 3], ['d11f345678', 10]] as const) {
      const out = nwaveNps405.decode(hexBytes(hex), fPort);
      expect(out.ok).toBe(true);
      if (out.ok) expect(parkingSpot.schema.safeParse({ ts: 0, ...out.fields }).success, `${hex} on fPort ${fPort}`).toBe(true);
    }
  });

  it('names the ports it knows when a packet arrives on another', () => {
    expect(nwaveNps405.decode(Uint8Array.of(1), 99)).toEqual({ ok: false, reason: expect.stringMatching(/^fPort 99: .*1 parking status, 2 heartbeat, 3 startup/) });
  });
});
