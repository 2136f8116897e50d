/**
 * How InfluxWriter finds the points a real InfluxDB 1.6 refuses for a reason that applies to a whole
 * class of them (retention, a field type conflict), counted in HTTP requests through a loopback
 * proxy: one refused class must cost a few requests, not one per line.
 */
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { deviceTypes } from '../../device-types/registry.js';
import { createDatabase, influxQuery, uniqueDbName } from '../../../test/helpers/influx.js';
import { startHttpProxy, type TestHttpProxy } from '../../../test/helpers/http-proxy.js';
import { toLine } from './line-protocol.js';
import { pendingLine, type PendingLines } from './types.js';
import { V1InfluxSink } from './v1-sink.js';
import { InfluxWriter } from './writer.js';

const url = inject('influxUrl');
/** Its default retention policy keeps one hour. */
const hourDb = uniqueDbName('refusals_1h');
/** Default retention (infinite, 7-day shard groups): fixed timestamps, so no test depends on the clock. */
const foreverDb = uniqueDbName('refusals');

// Any device type will do; its first float field is the one a conflict is made on.
const def = deviceTypes[0];
const floatField = [...def.fieldKinds].find(([, kind]) => kind === 'float')![0];
const HOUR = 3_600_000;

beforeAll(async () => {
  await createDatabase(url, hourDb);
  await influxQuery(url, hourDb, `CREATE RETENTION POLICY "hour" ON "${hourDb}" DURATION 1h REPLICATION 1 DEFAULT`);
  await createDatabase(url, foreverDb);
});

/** The line line-protocol.ts makes for a reading of `def` with `floatField` set. */
function lineOf(deviceId: string, timeMs: number, value: number): string {
  return toLine(def, { type: def.name, deviceId, timeMs, stampedAtReceive: false, fields: { [floatField]: value }, index: undefined }, 'centrum');
}

const idOf = (p: PendingLines) => (p.context as { deviceId: string }).deviceId;

let proxy: TestHttpProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** A writer to `db` through a forwarding proxy that records each HTTP request. */
async function writerTo(db: string, decide?: Parameters<typeof startHttpProxy>[0]) {
  proxy = await startHttpProxy(decide ?? (() => 'forward'), url);
  const written: PendingLines[] = [];
  const rejected: { point: PendingLines; message: string }[] = [];
  const writer = new InfluxWriter({
    sink: new V1InfluxSink({ url: proxy.url, bucket: db }),
    batchSize: 5000,
    flushIntervalMs: 60_000,
    onWritten: (p) => written.push(...p),
    onRejected: (point, message) => rejected.push({ point, message }),
  });
  writer.start();
  const requests = () => proxy!.requests.filter((r) => r.url.startsWith('/write')).length;
  return { writer, written, rejected, requests };
}

async function storedIds(db: string, prefix: string): Promise<string[]> {
  const rows = await influxQuery(url, db, `SELECT "${floatField}", device_id FROM "${def.measurement}" WHERE device_id =~ /^${prefix}-/`);
  return rows.map((r) => String(r.device_id)).sort();
}

const linesIn = (pieces: readonly PendingLines[]) => pieces.reduce((n, p) => n + p.count, 0);

describe('InfluxWriter and the points InfluxDB refuses as a class', () => {
  it('dead-letters a batch of 1,000 points beyond the retention policy in a few requests, not one per line', async () => {
    const { writer, written, rejected, requests } = await writerTo(hourDb);
    const old = Date.now() - 2 * HOUR;
    for (let i = 0; i < 1000; i++) writer.add(pendingLine(lineOf(`old-${i}`, old + i, i / 1000), { deviceId: `old-${i}` }));
    // stop() flushes and resolves once every line was written or refused; no timer decides the outcome.
    expect(await writer.stop(25_000)).toBe(0);

    expect(requests()).toBeLessThanOrEqual(20);
    expect(linesIn(written)).toBe(0);
    expect(rejected).toHaveLength(1000);
    expect(new Set(rejected.map((r) => idOf(r.point))).size).toBe(1000);
    expect(rejected.every((r) => r.point.count === 1)).toBe(true);
    for (const r of rejected) expect(r.message).toMatch(/^partial write: points beyond retention policy dropped=\d+$/);
    expect(await storedIds(hourDb, 'old')).toEqual([]);
  });

  it('writes the fresh points of a batch that mixes them with points beyond retention, and dead-letters exactly the old ones', async () => {
    const { writer, written, rejected, requests } = await writerTo(hourDb);
    const now = Date.now();
    const ids: { id: string; old: boolean }[] = [];
    // Interleaved, so that no split of the batch into halves separates them cheaply.
    for (let i = 0; i < 1000; i++) {
      const old = i % 2 === 0;
      const id = `${old ? 'mixold' : 'mixnew'}-${i}`;
      ids.push({ id, old });
      writer.add(pendingLine(lineOf(id, old ? now - 2 * HOUR + i : now - 60_000 + i, i / 1000), { deviceId: id }));
    }
    expect(await writer.stop(25_000)).toBe(0);

    expect(requests()).toBeLessThanOrEqual(5);
    const oldIds = ids.filter((x) => x.old).map((x) => x.id);
    const freshIds = ids.filter((x) => !x.old).map((x) => x.id);
    expect(rejected.map((r) => idOf(r.point)).sort()).toEqual([...oldIds].sort());
    for (const r of rejected) expect(r.message).toMatch(/^partial write: points beyond retention policy dropped=\d+$/);
    expect(linesIn(written)).toBe(500);
    expect(written.map(idOf).sort()).toEqual([...freshIds].sort());
    expect(await storedIds(hourDb, 'mixnew')).toEqual([...freshIds].sort());
    expect(await storedIds(hourDb, 'mixold')).toEqual([]);
  });

  it('writes the rest of a batch in which a few lines conflict with a field’s stored type, and dead-letters those lines', async () => {
    const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z: one shard group, whatever the clock says
    // The field exists as an integer in this measurement, so our float lines for it conflict.
    await new V1InfluxSink({ url, bucket: foreverDb }).write([`${def.measurement},device_id=seed,district=x ${floatField}=1i ${T}`]);
    const { writer, written, rejected, requests } = await writerTo(foreverDb);
    const conflicting = new Set([3, 250, 251, 777, 998]);
    const batch: PendingLines[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = `${conflicting.has(i) ? 'conflict' : 'typed'}-${i}`;
      // The other lines carry the field as an integer too, as a device type declaring it so would.
      const line = conflicting.has(i)
        ? lineOf(id, T + 1 + i, i + 0.5)
        : `${def.measurement},device_id=${id},district=centrum ${floatField}=${i}i ${T + 1 + i}`;
      batch.push(pendingLine(line, { deviceId: id }));
    }
    for (const p of batch) writer.add(p);
    expect(await writer.stop(25_000)).toBe(0);

    expect(requests()).toBeLessThanOrEqual(5);
    expect(rejected.map((r) => idOf(r.point))).toEqual([...conflicting].map((i) => `conflict-${i}`));
    for (const r of rejected) {
      expect(r.message).toMatch(
        new RegExp(`^partial write: field type conflict: input field "${floatField}" on measurement "${def.measurement}" is type float, already exists as type integer dropped=\\d+$`),
      );
    }
    expect(linesIn(written)).toBe(995);
    expect((await storedIds(foreverDb, 'typed')).length).toBe(995);
    expect(await storedIds(foreverDb, 'conflict')).toEqual([]);
  });

  it('finds a line InfluxDB cannot parse behind a retention refusal, whose message does not mention it', async () => {
    const { writer, written, rejected, requests } = await writerTo(hourDb);
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `${i % 4 === 0 ? 'hideold' : 'hidenew'}-${i}`;
      ids.push(id);
      writer.add(pendingLine(lineOf(id, i % 4 === 0 ? now - 2 * HOUR + i : now - 60_000 + i, i), { deviceId: id }));
      if (i === 100) {
        // A district ending in a backslash escapes the space after it (see line-protocol.ts).
        writer.add(pendingLine(`${def.measurement},device_id=hidebad,district=x\\ ${floatField}=1 ${now - 60_000}`, { deviceId: 'hidebad' }));
      }
    }
    expect(await writer.stop(25_000)).toBe(0);

    expect(requests()).toBeLessThanOrEqual(5);
    const oldIds = ids.filter((id) => id.startsWith('hideold'));
    expect(rejected.map((r) => idOf(r.point))).toEqual([...oldIds, 'hidebad']);
    for (const r of rejected.slice(0, -1)) expect(r.message).toMatch(/^partial write: points beyond retention policy dropped=\d+$/);
    expect(rejected.at(-1)!.message).toMatch(/^unable to parse '.*device_id=hidebad,district=x\\ .*': /);
    expect(linesIn(written)).toBe(150);
    expect(await storedIds(hourDb, 'hidenew')).toEqual(ids.filter((id) => id.startsWith('hidenew')).sort());
  });

  it('writes the good points even when the server refused a partial write without keeping any (an InfluxDB 2.x 422)', async () => {
    const now = Date.now();
    // The first answer is canned, as a 2.x server words it, and nothing of that request is stored; the
    // rest go to the real server.
    const { writer, written, rejected, requests } = await writerTo(hourDb, (_req, i) =>
      i === 0
        ? {
            status: 422,
            headers: { 'content-type': 'application/json; charset=utf-8' },
            body: JSON.stringify({
              code: 'unprocessable entity',
              message: 'failure writing points to database: partial write: points beyond retention policy dropped=3',
            }),
          }
        : 'forward',
    );
    for (let i = 0; i < 10; i++) {
      const old = i % 3 === 1;
      const id = `${old ? 'v2old' : 'v2new'}-${i}`;
      writer.add(pendingLine(lineOf(id, old ? now - 2 * HOUR + i : now - 60_000 + i, i), { deviceId: id }));
    }
    expect(await writer.stop(25_000)).toBe(0);

    expect(requests()).toBeLessThanOrEqual(3);
    expect(rejected.map((r) => idOf(r.point))).toEqual(['v2old-1', 'v2old-4', 'v2old-7']);
    expect(linesIn(written)).toBe(7);
    expect(await storedIds(hourDb, 'v2new')).toEqual(['v2new-0', 'v2new-2', 'v2new-3', 'v2new-5', 'v2new-6', 'v2new-8', 'v2new-9']);
  });
});
