import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../../lorawan.js';
import { readFileSync } from 'node:fs';
import { describeEncoder, describeLorawanModel, vectorsFile } from '../../../testing/codec-contract.js';
import { parkingSpot } from '../../definition.js';
import { nwaveNps405 } from './index.js';

describeLorawanModel(nwaveNps405, parkingSpot, new URL('./', import.meta.url));
// Heartbeat temperatures travel in half degrees.
describeEncoder(nwaveNps405, new URL('./', import.meta.url), { temperature: 0.5 });

const vectors = vectorsFile.parse(JSON.parse(readFileSync(new URL('vectors.json', import.meta.url), 'utf8'))).vectors;

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

describe('Nwave NPS 400-series: the simulator\'s frames', () => {
  const encode = (fields: Record<string, number | string>) => nwaveNps405.encode(fields, 80);
  const temperatureOf = (t: number) => {
    const [frame] = encode({ status: 'free', temperature: t });
    const out = frame ? nwaveNps405.decode(frame.bytes, frame.fPort) : undefined;
    return out?.ok ? out.fields['temperature'] : out;
  };

  it.each(vectors.filter((v) => v.fPort === 2).map((v) => [v.name, v] as const))(
    'puts the occupancy and the temperature where Nwave\'s decoder reads them: %s',
    (_name, v) => {
      const frames = encode(v.fields);
      expect(frames.map((f) => f.fPort)).toEqual([2]);
      const sent = frames[0]!.bytes;
      const vendor = Buffer.from(v.bytes, 'hex');
      expect([sent[0], sent[2]]).toEqual([vendor[0], vendor[2]]);
    },
  );

  it('sends a bay without a temperature as one parking status, occupied in bit 0', () => {
    expect(encode({ status: 'occupied' })).toEqual([{ fPort: 1, bytes: Uint8Array.of(0x01) }]);
    expect(encode({ status: 'free' })).toEqual([{ fPort: 1, bytes: Uint8Array.of(0x00) }]);
    expect(encode({ status: 'free', temperature: Number.NaN })).toEqual([{ fPort: 1, bytes: Uint8Array.of(0x00) }]);
  });

  it('sends nothing for a bay the sensor cannot report: closed, unknown or no status', () => {
    for (const fields of [{ status: 'closed' }, { status: 'unknown', temperature: 12 }, { temperature: 12 }] as Record<string, number | string>[]) expect(encode(fields)).toEqual([]);
  });

  it('rounds a temperature to the nearest half degree and clamps it to -54..73.5 °C', () => {
    expect(temperatureOf(21.3)).toBe(21.5);
    expect(temperatureOf(-7.2)).toBe(-7);
    expect(temperatureOf(85)).toBe(73.5);
    expect(temperatureOf(-60)).toBe(-54);
    expect(temperatureOf(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});
