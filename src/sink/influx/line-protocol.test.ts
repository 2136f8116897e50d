import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parkingMeter, streetlight, wasteBin } from '../../device-types/registry.js';
import type { ValidReading } from '../../ingest/types.js';
import { createDatabase, influxQuery, uniqueDbName } from '../../../test/helpers/influx.js';
import { escapeTag, quoteString, toLine } from './line-protocol.js';

const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function reading(type: string, deviceId: string, fields: Record<string, number | string>, timeMs = T): ValidReading {
  return { type, deviceId, timeMs, stampedAtReceive: false, fields, index: undefined };
}

describe('toLine', () => {
  it.each([
    {
      name: 'waste-bin: floats, integer seq, enum as string',
      line: toLine(
        wasteBin,
        reading('waste-bin', 'bin-0001', { seq: 7, batteryLevel: 0.93, fillingLevel: 0.5, temperature: -3.25, status: 'lidOpen' }),
        'centrum',
      ),
      expected: `waste_bin,device_id=bin-0001,district=centrum seq=7i,batteryLevel=0.93,fillingLevel=0.5,temperature=-3.25,status="lidOpen" ${T}`,
    },
    {
      name: 'parking-meter: counters as integers, a whole-number float stays a float',
      line: toLine(
        parkingMeter,
        reading('parking-meter', 'pm-7', { totalSpotNumber: 12, availableSpotNumber: 0, coinBoxLevel: 1, revenue: 450 }),
        'west',
      ),
      expected: `parking_meter,device_id=pm-7,district=west totalSpotNumber=12i,availableSpotNumber=0i,coinBoxLevel=1,revenue=450i ${T}`,
    },
    {
      name: 'streetlight: rssi negative, tiny float in exponent form',
      line: toLine(streetlight, reading('streetlight', 'sl.1', { rssi: -101, powerState: 'on', current: 1e-7 }), 'noord'),
      expected: `streetlight,device_id=sl.1,district=noord rssi=-101,powerState="on",current=1e-7 ${T}`,
    },
  ])('$name', ({ line, expected }) => {
    expect(line).toBe(expected);
  });

  it('escapes comma, space and equals in tag values and leaves a backslash as it is', () => {
    expect(escapeTag('a,b c=d\\e')).toBe('a\\,b\\ c\\=d\\e');
    expect(escapeTag('plain')).toBe('plain');
    const line = toLine(wasteBin, reading('waste-bin', 'b1', { fillingLevel: 0.1 }), 'Oud West, Zuid=1');
    expect(line).toBe(`waste_bin,device_id=b1,district=Oud\\ West\\,\\ Zuid\\=1 fillingLevel=0.1 ${T}`);
  });

  it('quotes string fields, escaping double quote and backslash only', () => {
    expect(quoteString('ok')).toBe('"ok"');
    expect(quoteString('say "hi", \\o/ a=b')).toBe('"say \\"hi\\", \\\\o/ a=b"');
  });

  it('throws on a field the device type does not declare', () => {
    expect(() => toLine(wasteBin, reading('waste-bin', 'b1', { fillingLevel: 0.1, colour: 'red' }), 'x')).toThrow(
      /waste-bin: field "colour"/,
    );
  });
});

describe('toLine against a real InfluxDB 1.x', () => {
  const url = inject('influxUrl');
  const db = uniqueDbName('line_protocol');
  const district = 'Oud West, "Zuid"=1 C:\\tmp';

  beforeAll(async () => {
    await createDatabase(url, db);
    const lines = [
      toLine(wasteBin, reading('waste-bin', 'bin-1', { seq: 3, fillingLevel: 0.75, status: 'ok', cargoWeight: 12 }), district),
      toLine(
        parkingMeter,
        reading('parking-meter', 'pm-1', { totalSpotNumber: 10, availableSpotNumber: 4, status: 'coinJam' }),
        district,
      ),
      toLine(
        streetlight,
        reading('streetlight', 'sl-1', { powerState: 'low', voltage: 229.5, energyConsumed: 12345.678 }),
        'centrum',
      ),
    ];
    const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
    expect(res.status, await res.text()).toBe(204);
  });

  it('stores values, tags and the timestamp as written', async () => {
    expect(await influxQuery(url, db, 'SELECT * FROM waste_bin')).toEqual([
      { time: T, device_id: 'bin-1', district, seq: 3, fillingLevel: 0.75, status: 'ok', cargoWeight: 12 },
    ]);
    expect(await influxQuery(url, db, 'SELECT * FROM parking_meter')).toEqual([
      { time: T, device_id: 'pm-1', district, totalSpotNumber: 10, availableSpotNumber: 4, status: 'coinJam' },
    ]);
    expect(await influxQuery(url, db, 'SELECT * FROM streetlight')).toEqual([
      { time: T, device_id: 'sl-1', district: 'centrum', powerState: 'low', voltage: 229.5, energyConsumed: 12345.678 },
    ]);
  });

  it('cannot store a tag value that ends in a backslash: InfluxDB refuses the line', async () => {
    const line = toLine(wasteBin, reading('waste-bin', 'bin-2', { fillingLevel: 0.5 }), 'trailing\\');
    const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: line });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid tag format');
  });

  it('stores each field with the type its kind declares', async () => {
    const types = Object.fromEntries(
      (await influxQuery(url, db, 'SHOW FIELD KEYS FROM waste_bin, parking_meter')).map((r) => [r.fieldKey, r.fieldType]),
    );
    expect(types).toEqual({
      seq: 'integer',
      fillingLevel: 'float',
      status: 'string',
      cargoWeight: 'float',
      totalSpotNumber: 'integer',
      availableSpotNumber: 'integer',
    });
  });
});
