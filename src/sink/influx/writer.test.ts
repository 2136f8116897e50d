import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CitypipeError, ErrorCodes } from '../../errors/catalog.js';
import { createLogger } from '../../observability/logger.js';
import { createDatabase, influxQuery, uniqueDbName } from '../../../test/helpers/influx.js';
import { closedPort, startHttpProxy } from '../../../test/helpers/http-proxy.js';
import { pendingLine, type PendingLines, type PointSink } from './types.js';
import { V1InfluxSink } from './v1-sink.js';
import { InfluxWriter, type BatchOutcome } from './writer.js';

const url = inject('influxUrl');
const db = uniqueDbName('writer');
const T0 = Date.now() - 3_600_000;

beforeAll(async () => {
  await createDatabase(url, db);
});

const lineOf = (prefix: string, i: number) => `waste_bin,device_id=${prefix}-${i},district=x fillingLevel=${i / 1000} ${T0 + i}`;

function points(prefix: string, n: number, line?: (i: number) => string): PendingLines[] {
  return Array.from({ length: n }, (_, i) => pendingLine(line?.(i) ?? lineOf(prefix, i), { deviceId: `${prefix}-${i}` }));
}

/** The device id the test put in a line's context. */
const idOf = (p: PendingLines) => (p.context as { deviceId: string }).deviceId;

/** The lines of one multi-line PendingLines (as a drain hands over a batch payload's record). */
function record(prefix: string, from: number, n: number, line: (i: number) => string = (i) => lineOf(prefix, i)): PendingLines {
  const data = Buffer.from(`Pheader\n${Array.from({ length: n }, (_, k) => line(from + k)).join('\n')}`);
  return { data, start: data.indexOf(0x0a) + 1, end: data.length, count: n, context: { deviceId: `${prefix}-${from}` } };
}

const linesIn = (pieces: readonly PendingLines[]) => pieces.reduce((n, p) => n + p.count, 0);

async function stored(prefix: string): Promise<number> {
  const rows = await influxQuery(url, db, `SELECT count(fillingLevel) FROM waste_bin WHERE device_id =~ /^${prefix}-/`);
  return Number(rows[0]?.count ?? 0);
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The real v1 sink, observed: what each write carried, when, and how many ran at once. */
class ObservedSink implements PointSink {
  readonly api = 'v1' as const;
  readonly writes: { lines: number; at: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly inner: PointSink,
    private readonly delayMs = 0,
  ) {}
  readonly bodies: string[] = [];
  write(lines: readonly string[]): Promise<void> {
    return this.writeBody(Buffer.from(lines.join('\n')));
  }
  async writeBody(body: Buffer): Promise<void> {
    const text = body.toString('utf8');
    this.bodies.push(text);
    this.writes.push({ lines: text.split('\n').length, at: Date.now() });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      await this.inner.writeBody(body);
    } finally {
      this.inFlight--;
    }
  }
  ping = () => this.inner.ping();
  prepare = () => this.inner.prepare();
  close = () => this.inner.close();
}

/** A writer wired to collect everything its hooks report. */
function writerFor(sink: PointSink, opts: Partial<ConstructorParameters<typeof InfluxWriter>[0]> = {}) {
  const written: PendingLines[] = [];
  const rejected: { point: PendingLines; message: string }[] = [];
  const batches: BatchOutcome[] = [];
  const writer = new InfluxWriter({
    sink,
    onWritten: (p) => written.push(...p),
    onRejected: (point, message) => rejected.push({ point, message }),
    onBatch: (b) => batches.push(b),
    ...opts,
  });
  return { writer, written, rejected, batches };
}

const realSink = () => new V1InfluxSink({ url, bucket: db });

describe('InfluxWriter', () => {
  it('cuts a batch when it reaches batchSize and keeps the rest until stop() flushes it', async () => {
    const sink = new ObservedSink(realSink());
    const { writer, written } = writerFor(sink, { batchSize: 100, flushIntervalMs: 60_000, maxPending: 250 });
    writer.start();
    for (const p of points('size', 250)) writer.add(p);
    expect(writer.pending).toBe(250);
    expect(writer.isFull()).toBe(true);
    await until(() => written.length === 200);
    expect(sink.writes.map((w) => w.lines)).toEqual([100, 100]);
    expect(writer.pending).toBe(50);
    expect(writer.isFull()).toBe(false);

    expect(await writer.stop(5000)).toBe(0);
    expect(sink.writes.map((w) => w.lines)).toEqual([100, 100, 50]);
    expect(written).toHaveLength(250);
    expect(writer.pending).toBe(0);
    expect(await stored('size')).toBe(250);
    expect(() => writer.add(points('late', 1)[0]!)).toThrow(/after stop/);
  });

  it('sends a batch flushIntervalMs after its first point, not after its last', async () => {
    const sink = new ObservedSink(realSink());
    const { writer, written } = writerFor(sink, { flushIntervalMs: 300 });
    writer.start();
    const ps = points('time', 10);
    const first = Date.now();
    for (const p of ps.slice(0, 5)) writer.add(p);
    await new Promise((r) => setTimeout(r, 250));
    for (const p of ps.slice(5)) writer.add(p);
    expect(sink.writes).toHaveLength(0);
    await until(() => written.length === 10);
    expect(sink.writes).toHaveLength(1);
    expect(sink.writes[0]!.at - first).toBeGreaterThanOrEqual(300);
    expect(sink.writes[0]!.at - first).toBeLessThan(540); // 300 after the first point, not after the sixth (550)
    expect(await writer.stop(5000)).toBe(0);
    expect(await stored('time')).toBe(10);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const sink = new ObservedSink(realSink(), 80);
    const { writer, written } = writerFor(sink, { batchSize: 10, backlogConcurrency: 2 }); // default concurrency: 2
    writer.start();
    for (const p of points('conc', 100)) writer.add(p);
    await until(() => written.length === 100);
    expect(sink.writes).toHaveLength(10);
    expect(sink.maxInFlight).toBe(2);
    expect(await writer.stop(5000)).toBe(0);
    expect(await stored('conc')).toBe(100);
  });

  it('uses three times the slots while full batches wait (a backlog), and goes back to `concurrency` when it has caught up', async () => {
    const sink = new ObservedSink(realSink(), 80);
    const { writer, written } = writerFor(sink, { batchSize: 10, flushIntervalMs: 20 });
    writer.start();
    for (const p of points('backlog', 100)) writer.add(p);
    await until(() => written.length === 100);
    expect(sink.maxInFlight).toBe(6);
    sink.maxInFlight = 0;
    for (const p of points('caughtup', 15)) writer.add(p); // one full batch and one that waits for its time
    await until(() => written.length === 115);
    expect(sink.maxInFlight).toBeLessThanOrEqual(2);
    expect(await writer.stop(5000)).toBe(0);
    expect(await stored('backlog')).toBe(100);
  });

  it('retryNow() ends a backoff at once (InfluxDB is back), but not a wait the server asked for', async () => {
    let failures = 1;
    let retryAfterMs: number | undefined;
    const inner = realSink();
    const flaky: PointSink = {
      api: 'v1',
      write: (lines) => inner.write(lines),
      writeBody: async (body) => {
        if (failures-- > 0) throw new CitypipeError(ErrorCodes.INFLUX_UNREACHABLE, 'connection refused', { retryAfterMs });
        return inner.writeBody(body);
      },
      ping: () => inner.ping(),
      prepare: () => inner.prepare(),
      close: () => inner.close(),
    };
    const { writer, written } = writerFor(flaky, { batchSize: 5, retryInitialMs: 60_000, retryMaxMs: 60_000 });
    writer.start();
    for (const p of points('wake', 5)) writer.add(p);
    await until(() => failures === 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toHaveLength(0); // waiting out a backoff of 30–60 s
    writer.retryNow();
    await until(() => written.length === 5, 2000);

    failures = 1;
    retryAfterMs = 60_000;
    for (const p of points('asked', 5)) writer.add(p);
    await until(() => failures === 0);
    writer.retryNow();
    await new Promise((r) => setTimeout(r, 200));
    expect(written).toHaveLength(5); // Retry-After: 60 is kept
    expect(await writer.stop(50)).toBe(5);
  });

  it('retries 503 and 429, waits at least Retry-After, writes every point exactly once, and logs the outage once and its recovery once', async () => {
    // 1st request: 503 + Retry-After: 1; 2nd: 429 without it; then through to the real influxd.
    const proxy = await startHttpProxy(
      (_req, i) =>
        i === 0
          ? { status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"error":"overloaded"}' }
          : i === 1
            ? { status: 429, body: 'slow down' }
            : 'forward',
      url,
    );
    const logs: { level: number; msg: string; code?: string; url?: string; retryInMs?: number }[] = [];
    const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s)) });
    try {
      const { writer, written, batches } = writerFor(new V1InfluxSink({ url: proxy.url, bucket: db }), {
        batchSize: 20,
        retryInitialMs: 50,
        log,
        target: proxy.url,
      });
      writer.start();
      for (const p of points('retry', 20)) writer.add(p);
      await until(() => written.length === 20);
      expect(await writer.stop(5000)).toBe(0);

      const [r503, r429, ok] = proxy.requests;
      expect(proxy.requests).toHaveLength(3);
      expect(r429!.at - r503!.at).toBeGreaterThanOrEqual(1000);
      expect(ok!.at - r429!.at).toBeGreaterThanOrEqual(50);
      expect(ok!.at - r429!.at).toBeLessThan(1000);
      expect(batches.map((b) => [b.ok, b.code])).toEqual([
        [false, ErrorCodes.INFLUX_SERVER.code],
        [false, ErrorCodes.INFLUX_THROTTLED.code],
        [true, undefined],
      ]);
      expect(new Set(written.map(idOf)).size).toBe(20);
      expect(written).toHaveLength(20);
      expect(await stored('retry')).toBe(20);

      expect(logs.map((l) => [l.level, l.code])).toEqual([
        [40, ErrorCodes.INFLUX_SERVER.code],
        [30, undefined],
      ]);
      expect(logs[0]).toMatchObject({ url: proxy.url, retryInMs: 1000 });
      expect(logs[1]!.msg).toMatch(/recovered/);
    } finally {
      await proxy.close();
    }
  });

  it('keeps the good points of a partial write and hands each refused line to onRejected with InfluxDB’s message', async () => {
    await realSink().write([`waste_bin,device_id=typed-base,district=x fillingLevel=0.5 ${T0}`]); // fillingLevel is a float
    const { writer, written, rejected, batches } = writerFor(realSink(), { batchSize: 16 });
    writer.start();
    const batch = points('part', 16, (i) =>
      i === 5
        ? `waste_bin,device_id=part-${i},district=x fillingLevel="full" ${T0 + i}` // type conflict
        : i === 12
          ? `waste_bin,device_id=part-${i},district=x fillingLevel=` // unparseable
          : `waste_bin,device_id=part-${i},district=x fillingLevel=${i / 100} ${T0 + i}`,
    );
    for (const p of batch) writer.add(p);
    await until(() => written.length + rejected.length === 16);
    expect(await writer.stop(5000)).toBe(0);

    expect(rejected.map((r) => idOf(r.point))).toEqual(['part-5', 'part-12']);
    expect(rejected[0]!.message).toMatch(/^partial write: field type conflict: input field "fillingLevel" on measurement "waste_bin" is type string, already exists as type float/);
    expect(rejected[1]!.message).toMatch(/unable to parse 'waste_bin,device_id=part-12,district=x fillingLevel='/);
    expect(written.map(idOf).sort()).toEqual(batch.map(idOf).filter((id) => id !== 'part-5' && id !== 'part-12').sort());
    expect(await stored('part')).toBe(14);
    expect(batches[0]).toMatchObject({ lines: 16, ok: false, code: ErrorCodes.INFLUX_REJECTED.code });
    expect(batches.length).toBeLessThanOrEqual(2 * 16);
  });

  it('sends the lines of multi-line records byte for byte, filling every batch exactly by splitting a record', async () => {
    const sink = new ObservedSink(realSink());
    const { writer, written } = writerFor(sink, { batchSize: 10, flushIntervalMs: 60_000 });
    writer.start();
    // 3 + 7 + 4 + 9 lines: batches of 10, 10 and (at stop) 3; the third and fourth records are split.
    const records = [record('multi', 0, 3), record('multi', 3, 7), record('multi', 10, 4), record('multi', 14, 9)];
    for (const r of records) writer.add(r);
    expect(writer.pending).toBe(23);
    await until(() => linesIn(written) === 20);
    expect(await writer.stop(5000)).toBe(0);
    expect(sink.writes.map((w) => w.lines)).toEqual([10, 10, 3]);
    expect(sink.bodies.join('\n')).toBe(Array.from({ length: 23 }, (_, i) => lineOf('multi', i)).join('\n'));
    expect(linesIn(written)).toBe(23);
    // Every piece keeps its record's context.
    expect(new Set(written.map(idOf))).toEqual(new Set(['multi-0', 'multi-3', 'multi-10', 'multi-14']));
    expect(await stored('multi')).toBe(23);
  });

  it('bisects into a multi-line record down to the one line InfluxDB refuses', async () => {
    await realSink().write([`waste_bin,device_id=typed-base,district=x fillingLevel=0.5 ${T0}`]); // fillingLevel is a float
    const { writer, written, rejected } = writerFor(realSink(), { batchSize: 100 });
    writer.start();
    const bad = (i: number) => (i === 6 ? `waste_bin,device_id=mpart-${i},district=x fillingLevel="full" ${T0 + i}` : lineOf('mpart', i));
    writer.add(record('mpart', 0, 5, bad));
    writer.add(record('mpart', 5, 6, bad));
    await until(() => linesIn(written) + rejected.length === 11);
    expect(await writer.stop(5000)).toBe(0);
    expect(rejected).toHaveLength(1);
    const r = rejected[0]!.point;
    expect(r.count).toBe(1);
    expect(r.data.toString('utf8', r.start, r.end)).toBe(bad(6));
    expect(idOf(r)).toBe('mpart-5');
    expect(linesIn(written)).toBe(10);
    expect(await stored('mpart')).toBe(10);
  });

  it('stop() gives up after its timeout when InfluxDB stays away, and reports what was not written', async () => {
    const logs: { level: number; msg: string; unwritten?: number; code?: string }[] = [];
    const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s)) });
    const dead = new V1InfluxSink({ url: `http://127.0.0.1:${await closedPort()}`, bucket: db });
    const { writer, written } = writerFor(dead, { retryInitialMs: 20, log });
    writer.start();
    for (const p of points('dead', 7)) writer.add(p);
    const started = Date.now();
    expect(await writer.stop(400)).toBe(7);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(written).toHaveLength(0);
    const warnings = logs.filter((l) => l.level === 40);
    const gaveUp = warnings.find((l) => l.unwritten !== undefined);
    expect(gaveUp).toMatchObject({ unwritten: 7, code: ErrorCodes.INFLUX_UNREACHABLE.code });
    expect(gaveUp!.msg).toMatch(/7 points not written to InfluxDB before the stop timeout/);
    expect(warnings).toHaveLength(2); // the outage once (not per retry), and the stop
  });
});
