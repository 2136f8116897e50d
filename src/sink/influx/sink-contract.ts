/**
 * The contract every PointSink keeps, as a suite each implementation's test file runs against a real
 * server (the MQTT.js `abstractStoreTest(build)` pattern). Status codes that the real servers here
 * cannot be made to send (401, 413, 429, …) come from a canned HTTP server, so both sinks are held
 * to the same mapping.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CitypipeError, ErrorCodes, type ErrorCode } from '../../errors/catalog.js';
import { deviceTypes } from '../../device-types/registry.js';
import { typeFixtures, typeFolder } from '../../device-types/testing/fixtures.js';
import type { ValidReading } from '../../ingest/types.js';
import { closedPort, startHttpProxy, type TestHttpProxy } from '../../../test/helpers/http-proxy.js';
import { toLine } from './line-protocol.js';
import type { PointSink } from './types.js';

/** A point as read back from the server. */
export interface StoredPoint {
  readonly deviceId: string;
  readonly timeMs: number;
  readonly fields: Record<string, number | string>;
}

/** What an implementation's test file provides to the suite. */
export interface SinkContractTarget {
  /** Base URL of the real server. */
  readonly url: string;
  /** A sink for `url` (the real server, a canned one, or a closed port) writing to the test's own database/bucket. */
  build(url: string, opts?: { timeoutMs?: number; gzipThreshold?: number }): PointSink;
  /** All stored points of `measurement` whose device id starts with `deviceIdPrefix`. */
  readBack(measurement: string, deviceIdPrefix: string): Promise<StoredPoint[]>;
  /** False for servers that store numeric fields only (VictoriaMetrics). */
  readonly keepsStrings: boolean;
  /**
   * What the real server says when refusing a malformed line; undefined when it answers 204 and
   * skips the line (VictoriaMetrics), in which case only the canned 400 is checked.
   */
  readonly malformedLineMessage: RegExp | undefined;
}

/**
 * A sample reading of a device type with as many fields as its fixtures have (its valid fixture with
 * the most keys, `ts` dropped): every kind of field it writes.
 */
function sampleOf(type: string): Record<string, number | string> {
  const fullest = typeFixtures(typeFolder(type)).valid.reduce((a, b) => (Object.keys(b.reading).length > Object.keys(a.reading).length ? b : a));
  const { ts: _ts, ...fields } = fullest.reading;
  return fields as Record<string, number | string>;
}
const samples: Record<string, Record<string, number | string>> = Object.fromEntries(deviceTypes.map((d) => [d.name, sampleOf(d.name)]));

async function rejection(p: Promise<unknown>): Promise<CitypipeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CitypipeError);
  return err as CitypipeError;
}

/** Polls until `check` passes; servers like VictoriaMetrics make writes visible after a moment. */
async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (check(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function abstractSinkTest(name: string, setup: () => Promise<SinkContractTarget>): void {
  describe(`PointSink contract: ${name}`, () => {
    let t: SinkContractTarget;
    let sink: PointSink;
    const run = Date.now().toString(36);

    beforeAll(async () => {
      t = await setup();
      sink = t.build(t.url);
    });
    afterAll(async () => {
      await sink?.close();
    });

    it('answers ping and prepares idempotently', async () => {
      await sink.ping();
      await sink.prepare();
      await sink.prepare();
    });

    it('writes a point of each device type and reads back its values', async () => {
      const timeMs = Date.now() - 60_000;
      const lines = deviceTypes.map((def) => {
        const reading: ValidReading = {
          type: def.name,
          deviceId: `ct-${run}-${def.name}`,
          timeMs,
          stampedAtReceive: false,
          fields: samples[def.name]!,
          index: undefined,
        };
        return toLine(def, reading, 'centrum');
      });
      await sink.write(lines);
      for (const def of deviceTypes) {
        const expected = t.keepsStrings
          ? samples[def.name]!
          : Object.fromEntries(Object.entries(samples[def.name]!).filter(([, v]) => typeof v === 'number'));
        const points = await eventually(
          () => t.readBack(def.measurement, `ct-${run}-${def.name}`),
          (p) => p.length > 0 && Object.keys(p[0]!.fields).length >= Object.keys(expected).length,
        );
        expect(points).toHaveLength(1);
        expect(points[0]!.deviceId).toBe(`ct-${run}-${def.name}`);
        expect(points[0]!.timeMs).toBe(timeMs);
        const fields = t.keepsStrings ? points[0]!.fields : Object.fromEntries(Object.keys(expected).map((k) => [k, points[0]!.fields[k]]));
        expect(fields).toEqual(expected);
      }
    });

    it('writeBody sends a ready body byte for byte, gzipped above the threshold as write() does', async () => {
      const proxy = await startHttpProxy(() => 'forward', t.url);
      try {
        const gz = t.build(proxy.url, { gzipThreshold: 1000 });
        const timeMs = Date.now() - 20_000;
        const lines = Array.from({ length: 100 }, (_, i) => `contract_lines,device_id=body-${run}-${i},district=nieuw\\ west voltage=${100 + i} ${timeMs}`);
        const body = Buffer.from(lines.join('\n'));
        await gz.writeBody(body);
        await gz.writeBody(Buffer.from(lines[0]!));
        expect(proxy.requests.map((r) => r.headers['content-encoding'])).toEqual(['gzip', undefined]);
        expect(gunzipSync(proxy.requests[0]!.body)).toEqual(body);
        expect(proxy.requests[1]!.body.toString()).toBe(lines[0]);
        const points = await eventually(
          () => t.readBack('contract_lines', `body-${run}-`),
          (p) => p.length >= 100,
        );
        expect(points.map((p) => p.fields.voltage).sort()).toEqual(lines.map((_, i) => 100 + i).sort());
      } finally {
        await proxy.close();
      }
    });

    it('gzips bodies above the threshold, and the server accepts them', async () => {
      const proxy = await startHttpProxy(() => 'forward', t.url);
      try {
        const gz = t.build(proxy.url, { gzipThreshold: 1000 });
        const timeMs = Date.now() - 30_000;
        const lines = Array.from({ length: 200 }, (_, i) => `contract_lines,device_id=gz-${run}-${i},district=x voltage=${200 + i} ${timeMs}`);
        await gz.write(lines);
        await gz.write(lines.slice(0, 1)); // under the threshold: plain
        expect(proxy.requests.map((r) => r.headers['content-encoding'])).toEqual(['gzip', undefined]);
        expect(gunzipSync(proxy.requests[0]!.body).toString()).toBe(lines.join('\n'));
        const points = await eventually(
          () => t.readBack('contract_lines', `gz-${run}-`),
          (p) => p.length >= 200,
        );
        expect(points.map((p) => p.fields.voltage).sort()).toEqual(lines.map((_, i) => 200 + i).sort());
      } finally {
        await proxy.close();
      }
    });

    it('reports an unreachable server as retryable CP_ERR_INFLUX_UNREACHABLE, naming the URL and what to do', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const dead = t.build(url);
      for (const err of [await rejection(dead.write(['m f=1 1'])), await rejection(dead.ping())]) {
        expect(err.code).toBe(ErrorCodes.INFLUX_UNREACHABLE.code);
        expect(err.retryable).toBe(true);
        expect(err.message).toContain(url);
        expect(err.message).toContain('CITYPIPE_INFLUX_URL');
        expect(err.message).toContain('ECONNREFUSED');
      }
    });

    it('reports a server that does not answer as retryable CP_ERR_INFLUX_TIMEOUT', async () => {
      const silent = await startHttpProxy(() => 'hang');
      try {
        // No bound on how long it took: a loaded machine may fire the 300 ms late, and the only other
        // end of a request that never gets an answer, fetch's own 300 s headers timeout, is far beyond
        // this test's 30 s timeout. The message shows it was ours.
        const err = await rejection(t.build(silent.url, { timeoutMs: 300 }).write(['m f=1 1']));
        expect(err.code).toBe(ErrorCodes.INFLUX_TIMEOUT.code);
        expect(err.retryable).toBe(true);
        expect(err.message).toContain('did not answer within 300 ms');
      } finally {
        await silent.close();
      }
    });

    it('reports a malformed line from the real server as CP_ERR_INFLUX_REJECTED with its own message', async () => {
      if (t.malformedLineMessage === undefined) {
        // This server answers 204 and drops the line (the canned 400 below covers the mapping); if
        // that ever changes, the target should say what it answers instead.
        await expect(sink.write(['this is not line protocol'])).resolves.toBeUndefined();
        return;
      }
      const err = await rejection(sink.write(['this is not line protocol']));
      expect(err.code).toBe(ErrorCodes.INFLUX_REJECTED.code);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(t.malformedLineMessage);
    });

    describe('maps HTTP answers to the error catalog', () => {
      // The clock (Date only) stands still at a whole second, so an HTTP-date Retry-After, which has
      // whole seconds, reads as exactly what the server meant however long the answer took.
      beforeEach(() => {
        vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2026, 0, 1, 12, 0, 0) });
      });
      afterEach(() => {
        vi.useRealTimers();
      });
      const httpDate = () => new Date(Date.now() + 5000).toUTCString();
      const cases: {
        status: number;
        headers?: () => Record<string, string>;
        body?: string;
        code: ErrorCode;
        retryable: boolean;
        message: RegExp;
        retryAfterMs?: [number, number];
      }[] = [
        {
          status: 400,
          headers: () => ({ 'content-type': 'application/json' }),
          body: '{"error":"partial write: field type conflict: input field \\"f\\" on measurement \\"m\\" is type string, already exists as type float dropped=1"}',
          code: ErrorCodes.INFLUX_REJECTED.code,
          retryable: false,
          message: /^partial write: field type conflict: input field "f"/,
        },
        {
          // InfluxDB 2.x answers a partial write with 422; the writer reads the same words as 1.x's.
          status: 422,
          headers: () => ({ 'content-type': 'application/json; charset=utf-8' }),
          body: '{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=1"}',
          code: ErrorCodes.INFLUX_REJECTED.code,
          retryable: false,
          message: /^failure writing points to database: partial write: points beyond retention policy dropped=1$/,
        },
        {
          status: 400,
          headers: () => ({ 'content-type': 'application/json; charset=utf-8' }),
          body: '{"code":"invalid","message":"unable to parse \'m f=\': missing field value"}',
          code: ErrorCodes.INFLUX_REJECTED.code,
          retryable: false,
          message: /^unable to parse 'm f=': missing field value$/,
        },
        { status: 401, body: '{"code":"unauthorized","message":"unauthorized access"}', code: ErrorCodes.INFLUX_AUTH.code, retryable: true, message: /CITYPIPE_INFLUX_TOKEN/ },
        { status: 403, code: ErrorCodes.INFLUX_AUTH.code, retryable: true, message: /refused the credentials/ },
        { status: 404, body: '{"error":"database not found: \\"x\\""}', code: ErrorCodes.INFLUX_NOT_FOUND.code, retryable: true, message: /not found/ },
        { status: 413, code: ErrorCodes.INFLUX_TOO_LARGE.code, retryable: false, message: /batch size/ },
        { status: 429, headers: () => ({ 'retry-after': '7' }), code: ErrorCodes.INFLUX_THROTTLED.code, retryable: true, message: /slow down/, retryAfterMs: [7000, 7000] },
        { status: 503, headers: () => ({ 'retry-after': httpDate() }), code: ErrorCodes.INFLUX_SERVER.code, retryable: true, message: /503/, retryAfterMs: [5000, 5000] },
        { status: 500, body: 'boom', code: ErrorCodes.INFLUX_SERVER.code, retryable: true, message: /500: boom/ },
      ];
      let canned: TestHttpProxy;
      let answer: (typeof cases)[number];
      beforeAll(async () => {
        canned = await startHttpProxy(() => ({ status: answer.status, headers: answer.headers?.(), body: answer.body }));
      });
      afterAll(async () => canned?.close());

      it.each(cases)('$status $body → $code', async (c) => {
        answer = c;
        const err = await rejection(t.build(canned.url).write(['m f=1 1']));
        expect(err.code).toBe(c.code);
        expect(err.retryable).toBe(c.retryable);
        expect(err.message).toMatch(c.message);
        if (c.retryAfterMs) {
          expect(err.retryAfterMs).toBeGreaterThanOrEqual(c.retryAfterMs[0]);
          expect(err.retryAfterMs).toBeLessThanOrEqual(c.retryAfterMs[1]);
        } else {
          expect(err.retryAfterMs).toBeUndefined();
        }
      });
    });
  });
}
