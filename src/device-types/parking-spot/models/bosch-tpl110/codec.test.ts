import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../../lorawan.js';
import { readFileSync } from 'node:fs';
import { describeEncoder, describeLorawanModel, vectorsFile } from '../../../testing/codec-contract.js';
import { parkingSpot } from '../../definition.js';
import { boschTpl110 } from './index.js';

describeLorawanModel(boschTpl110, parkingSpot, new URL('./', import.meta.url));
// Heartbeat temperatures travel in whole degrees: a simulated 21.4 °C arrives as 21.
describeEncoder(boschTpl110, new URL('./', import.meta.url), { temperature: 0.5 });

const vectors = vectorsFile.parse(JSON.parse(readFileSync(new URL('vectors.json', import.meta.url), 'utf8'))).vectors;

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

describe('Bosch Parking Lot Sensor: the simulator\'s frames', () => {
  const encode = (fields: Record<string, number | string>) => boschTpl110.encode(fields, undefined);
  const temperatureOf = (t: number) => {
    const [frame] = encode({ status: 'occupied', temperature: t });
    const out = frame ? boschTpl110.decode(frame.bytes, frame.fPort) : undefined;
    return out?.ok ? out.fields['temperature'] : out;
  };

  // The vendor's status packets, and its heartbeats with a temperature (a bay without one is sent as a status).
  const sentAsIs = vectors.filter((v) => (v.fPort === 1 && !('temperature' in v.fields)) || (v.fPort === 2 && 'temperature' in v.fields));
  it.each(sentAsIs.map((v) => [v.name, v] as const))(
    'sends the bytes Bosch\'s sensor sent for %s',
    (_name, v) => {
      expect(encode(v.fields).map((f) => ({ fPort: f.fPort, hex: Buffer.from(f.bytes).toString('hex') }))).toEqual([{ fPort: v.fPort, hex: v.bytes }]);
    },
  );

  it('sends nothing for a bay the sensor cannot report: closed, unknown or no status', () => {
    for (const fields of [{ status: 'closed' }, { status: 'unknown', temperature: 12 }, { temperature: 12 }] as Record<string, number | string>[]) expect(encode(fields)).toEqual([]);
  });

  it('rounds a temperature to whole degrees and clamps it to the signed byte', () => {
    expect(temperatureOf(21.4)).toBe(21);
    expect(temperatureOf(-0.6)).toBe(-1);
    expect(temperatureOf(300)).toBe(127);
    expect(temperatureOf(-300)).toBe(-128);
    expect(encode({ status: 'free', temperature: Number.NaN })).toEqual([{ fPort: 1, bytes: Uint8Array.of(0x00) }]);
  });
});
