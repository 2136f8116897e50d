import { describe, expect, inject, it } from 'vitest';
import { ErrorCodes } from '../../errors/catalog.js';
import { createDatabase, influxQuery, uniqueDbName } from '../../../test/helpers/influx.js';
import { startHttpProxy } from '../../../test/helpers/http-proxy.js';
import { abstractSinkTest, type StoredPoint } from './sink-contract.js';
import { V1InfluxSink } from './v1-sink.js';

const url = inject('influxUrl');

abstractSinkTest('v1 (InfluxDB 1.6 /write)', async () => {
  const db = uniqueDbName('v1_sink');
  await createDatabase(url, db);
  return {
    url,
    build: (u, o) => new V1InfluxSink({ url: u, bucket: db, ...o }),
    readBack: async (measurement, prefix): Promise<StoredPoint[]> => {
      const rows = await influxQuery(url, db, `SELECT * FROM "${measurement}" WHERE device_id =~ /^${prefix}/`);
      return rows.map(({ time, device_id, district: _district, ...fields }) => ({
        deviceId: String(device_id),
        timeMs: Number(time),
        fields: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null)) as Record<string, number | string>,
      }));
    },
    keepsStrings: true,
    malformedLineMessage: /^unable to parse 'this is not line protocol': invalid field format/,
  };
});

describe('V1InfluxSink against InfluxDB 1.6', () => {
  it('prepare() creates the database, so writes succeed', async () => {
    const db = uniqueDbName('v1_prepare');
    const sink = new V1InfluxSink({ url, bucket: db });
    const before = await sink.write(['m f=1 1000']).catch((e: unknown) => e);
    expect(before).toMatchObject({ code: ErrorCodes.INFLUX_NOT_FOUND.code, retryable: true });
    expect((before as Error).message).toContain(`CREATE DATABASE "${db}"`);
    await sink.prepare();
    await sink.write(['m f=1 1000']);
    expect(await influxQuery(url, db, 'SELECT f FROM m')).toEqual([{ time: 1000, f: 1 }]);
  });

  it('writes to the retention policy given as database/rp', async () => {
    const db = uniqueDbName('v1_rp');
    await createDatabase(url, db);
    await influxQuery(url, db, `CREATE RETENTION POLICY "short" ON "${db}" DURATION 1h REPLICATION 1`);
    const now = Date.now();
    await new V1InfluxSink({ url, bucket: `${db}/short` }).write([`m f=2 ${now}`]);
    expect(await influxQuery(url, db, 'SELECT f FROM "short".m')).toEqual([{ time: now, f: 2 }]);
    expect(await influxQuery(url, db, 'SELECT f FROM "autogen".m')).toEqual([]);
  });

  it('sends user:password as basic auth and keeps credentials out of messages', async () => {
    const proxy = await startHttpProxy(() => ({ status: 401, body: '{"error":"authorization failed"}' }));
    try {
      const sink = new V1InfluxSink({ url: proxy.url.replace('http://', 'http://admin:s3cret@'), bucket: 'x', token: 'city:pa:ss' });
      const err = await sink.write(['m f=1 1']).then(
        () => expect.fail('write should fail'),
        (e: unknown) => e as Error,
      );
      expect(proxy.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('city:pa:ss').toString('base64')}`);
      expect(err).toMatchObject({ code: ErrorCodes.INFLUX_AUTH.code });
      expect(err.message).toContain('authorization failed');
      expect(err.message).not.toContain('s3cret');
    } finally {
      await proxy.close();
    }
  });

  it('prepare() logs and carries on when the user may not create databases', async () => {
    const proxy = await startHttpProxy(() => ({
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: '{"error":"error authorizing query: city not authorized to execute statement \'CREATE DATABASE\', requires admin privilege"}',
    }));
    try {
      await expect(new V1InfluxSink({ url: proxy.url, bucket: 'x', token: 'city:pw' }).prepare()).resolves.toBeUndefined();
      expect(proxy.requests[0]!.url).toBe('/query');
    } finally {
      await proxy.close();
    }
  });
});
