import { gunzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
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

/**
 * How long stop() may take to flush what a test added. Generous on purpose: it resolves as soon as
 * every line is done, so only a write that hangs waits this long, and a loaded machine (a CPU hog
 * beside the run) must not turn a slow write into a failure.
 */
const STOP_MS = 20_000;

/** One turn of the event loop (setImmediate, which the fake timers below leave alone). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

// The tests that fake timers fake only setTimeout/clearTimeout: the writer's flush timer, backoff
// and stop timeout. Requests, Date and setImmediate stay real.
afterEach(() => {
  vi.useRealTimers();
});

/** The real v1 sink, observed: what each write carried and how many ran at once. */
class ObservedSink implements PointSink {
  readonly api = 'v1' as const;
  readonly writes: { lines: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** While set, requests are recorded but wait for it before they go out. */
  held: Promise<void> | undefined;
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
    this.writes.push({ lines: text.split('\n').length });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await this.held;
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
  // Waits end on the writer's own hooks, not on polling against a deadline.
  const waits: { done: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waits]) {
      if (!w.done()) continue;
      waits.splice(waits.indexOf(w), 1);
      w.resolve();
    }
  };
  const writer = new InfluxWriter({
    sink,
    onWritten: (p) => {
      written.push(...p);
      check();
    },
    onRejected: (point, message) => {
      rejected.push({ point, message });
      check();
    },
    onBatch: (b) => {
      batches.push(b);
      check();
    },
    ...opts,
  });
  /** Resolves once `n` lines were written or refused. */
  const settled = (n: number) => waitFor(() => linesIn(written) + rejected.length >= n);
  /** Resolves once `n` requests were answered. */
  const answered = (n: number) => waitFor(() => batches.length >= n);
  function waitFor(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      waits.push({ done, resolve });
      check();
    });
  }
  return { writer, written, rejected, batches, settled, answered };
}

const realSink = () => new V1InfluxSink({ url, bucket: db });

describe('InfluxWriter', () => {
  it('cuts a batch when it reaches batchSize and keeps the rest until stop() flushes it', async () => {
    const sink = new ObservedSink(realSink());
    const { writer, written, settled } = writerFor(sink, { batchSize: 100, flushIntervalMs: 60_000, maxPending: 250 });
    writer.start();
    for (const p of points('size', 250)) writer.add(p);
    expect(writer.pending).toBe(250);
    expect(writer.isFull()).toBe(true);
    await settled(200);
    expect(sink.writes.map((w) => w.lines)).toEqual([100, 100]);
    expect(writer.pending).toBe(50);
    expect(writer.isFull()).toBe(false);

    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(sink.writes.map((w) => w.lines)).toEqual([100, 100, 50]);
    expect(written).toHaveLength(250);
    expect(writer.pending).toBe(0);
    expect(await stored('size')).toBe(250);
    expect(() => writer.add(points('late', 1)[0]!)).toThrow(/after stop/);
  });

  it('sends a batch flushIntervalMs after its first point, not after its last', async () => {
    // Fake timers: a real one may fire a millisecond early by Date.now() (CI saw 299 for 300), or
    // late on a loaded machine. Here the flush fires when the clock says 300 ms, and only then.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const sink = new ObservedSink(realSink());
    let release!: () => void;
    // The request waits for real timers again before it goes out (fetch has timers of its own).
    sink.held = new Promise((resolve) => (release = resolve));
    const { writer, settled } = writerFor(sink, { flushIntervalMs: 300 });
    writer.start();
    const ps = points('time', 10);
    for (const p of ps.slice(0, 5)) writer.add(p);
    vi.advanceTimersByTime(250);
    for (const p of ps.slice(5)) writer.add(p);
    vi.advanceTimersByTime(49);
    expect(sink.writes).toHaveLength(0); // 299 ms after the first point
    vi.advanceTimersByTime(1);
    expect(sink.writes.map((w) => w.lines)).toEqual([10]); // 300 ms after the first point, 50 after the sixth
    vi.useRealTimers();
    release();
    await settled(10);
    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(await stored('time')).toBe(10);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const sink = new ObservedSink(realSink(), 80);
    const { writer, settled } = writerFor(sink, { batchSize: 10, backlogConcurrency: 2 }); // default concurrency: 2
    writer.start();
    for (const p of points('conc', 100)) writer.add(p);
    await settled(100);
    expect(sink.writes).toHaveLength(10);
    expect(sink.maxInFlight).toBe(2);
    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(await stored('conc')).toBe(100);
  });

  it('uses three times the slots while full batches wait (a backlog), and goes back to `concurrency` when it has caught up', async () => {
    const sink = new ObservedSink(realSink(), 80);
    // Every batch is started by add() itself, before any request can end: whatever the timers do,
    // the counts below are the writer's decisions.
    const { writer, settled } = writerFor(sink, { batchSize: 10, flushIntervalMs: 20 });
    writer.start();
    for (const p of points('backlog', 100)) writer.add(p);
    await settled(100);
    expect(sink.maxInFlight).toBe(6);
    sink.maxInFlight = 0;
    for (const p of points('caughtup', 15)) writer.add(p); // one full batch and one that waits for its time
    await settled(115);
    expect(sink.maxInFlight).toBeLessThanOrEqual(2);
    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(await stored('backlog')).toBe(100);
  });

  it('retryNow() ends a backoff at once (InfluxDB is back), but not a wait the server asked for', async () => {
    // Fake timers: the backoff and the Retry-After wait end only when the test moves the clock.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let failures = 1;
    let attempts = 0;
    let retryAfterMs: number | undefined;
    const inner = realSink();
    const flaky: PointSink = {
      api: 'v1',
      write: (lines) => inner.write(lines),
      writeBody: async (body) => {
        attempts++;
        if (failures-- > 0) throw new CitypipeError(ErrorCodes.INFLUX_UNREACHABLE, 'connection refused', { retryAfterMs });
        return inner.writeBody(body);
      },
      ping: () => inner.ping(),
      prepare: () => inner.prepare(),
      close: () => inner.close(),
    };
    const { writer, written, settled, answered } = writerFor(flaky, { batchSize: 5, retryInitialMs: 60_000, retryMaxMs: 60_000 });
    writer.start();
    for (const p of points('wake', 5)) writer.add(p);
    await answered(1);
    vi.advanceTimersByTime(29_999);
    await turn();
    expect(attempts).toBe(1); // waiting out a backoff of 30–60 s
    writer.retryNow();
    await settled(5);
    expect(attempts).toBe(2);

    failures = 1;
    retryAfterMs = 60_000;
    for (const p of points('asked', 5)) writer.add(p);
    await answered(3);
    writer.retryNow();
    // Short of the 60 s, so that only stop() below can end the wait.
    vi.advanceTimersByTime(59_000);
    await turn();
    expect(attempts).toBe(3); // Retry-After: 60 is kept
    expect(written).toHaveLength(5);
    const stopped = writer.stop(50);
    vi.advanceTimersByTime(50);
    expect(await stopped).toBe(5);
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
    // Fake timers: the waits are the writer's decisions, read off the clock the test moves, where the
    // requests' arrival times (a real timer may fire a millisecond early by Date.now(), or late on a
    // loaded machine) were not.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const sink = new ObservedSink(new V1InfluxSink({ url: proxy.url, bucket: db }));
      const { writer, written, batches, settled, answered } = writerFor(sink, {
        batchSize: 20,
        retryInitialMs: 50,
        log,
        target: proxy.url,
      });
      writer.start();
      for (const p of points('retry', 20)) writer.add(p);
      await answered(1); // 503, Retry-After: 1
      vi.advanceTimersByTime(999);
      await turn();
      expect(sink.writes).toHaveLength(1);
      vi.advanceTimersByTime(1);
      await answered(2); // 429: a backoff of 50–100 ms (retryInitialMs doubled once, half of it jitter)
      vi.advanceTimersByTime(49);
      await turn();
      expect(sink.writes).toHaveLength(2);
      vi.advanceTimersByTime(51);
      await turn();
      expect(sink.writes).toHaveLength(3);
      await settled(20);
      vi.useRealTimers();
      expect(await writer.stop(STOP_MS)).toBe(0);

      expect(proxy.requests).toHaveLength(3);
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
    const { writer, written, rejected, batches, settled } = writerFor(realSink(), { batchSize: 16 });
    writer.start();
    const batch = points('part', 16, (i) =>
      i === 5
        ? `waste_bin,device_id=part-${i},district=x fillingLevel="full" ${T0 + i}` // type conflict
        : i === 12
          ? `waste_bin,device_id=part-${i},district=x fillingLevel=` // unparseable
          : `waste_bin,device_id=part-${i},district=x fillingLevel=${i / 100} ${T0 + i}`,
    );
    for (const p of batch) writer.add(p);
    await settled(16);
    expect(await writer.stop(STOP_MS)).toBe(0);

    expect(rejected.map((r) => idOf(r.point))).toEqual(['part-5', 'part-12']);
    expect(rejected[0]!.message).toMatch(/^partial write: field type conflict: input field "fillingLevel" on measurement "waste_bin" is type string, already exists as type float/);
    expect(rejected[1]!.message).toMatch(/unable to parse 'waste_bin,device_id=part-12,district=x fillingLevel='/);
    expect(written.map(idOf).sort()).toEqual(batch.map(idOf).filter((id) => id !== 'part-5' && id !== 'part-12').sort());
    expect(await stored('part')).toBe(14);
    expect(batches[0]).toMatchObject({ lines: 16, ok: false, code: ErrorCodes.INFLUX_REJECTED.code });
    // Each refused class costs its own request and one for the rest: 1 + 2 (type conflict) + 2 (the
    // line it could not parse, whose error the type conflict's message hid).
    expect(batches.length).toBeLessThanOrEqual(5);
  });

  it('sends the lines of multi-line records byte for byte, filling every batch exactly by splitting a record', async () => {
    const sink = new ObservedSink(realSink());
    const { writer, written, settled } = writerFor(sink, { batchSize: 10, flushIntervalMs: 60_000 });
    writer.start();
    // 3 + 7 + 4 + 9 lines: batches of 10, 10 and (at stop) 3; the third and fourth records are split.
    const records = [record('multi', 0, 3), record('multi', 3, 7), record('multi', 10, 4), record('multi', 14, 9)];
    for (const r of records) writer.add(r);
    expect(writer.pending).toBe(23);
    await settled(20);
    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(sink.writes.map((w) => w.lines)).toEqual([10, 10, 3]);
    expect(sink.bodies.join('\n')).toBe(Array.from({ length: 23 }, (_, i) => lineOf('multi', i)).join('\n'));
    expect(linesIn(written)).toBe(23);
    // Every piece keeps its record's context.
    expect(new Set(written.map(idOf))).toEqual(new Set(['multi-0', 'multi-3', 'multi-10', 'multi-14']));
    expect(await stored('multi')).toBe(23);
  });

  it('sets apart the one line InfluxDB refuses inside a multi-line record', async () => {
    await realSink().write([`waste_bin,device_id=typed-base,district=x fillingLevel=0.5 ${T0}`]); // fillingLevel is a float
    const { writer, written, rejected, settled } = writerFor(realSink(), { batchSize: 100 });
    writer.start();
    const bad = (i: number) => (i === 6 ? `waste_bin,device_id=mpart-${i},district=x fillingLevel="full" ${T0 + i}` : lineOf('mpart', i));
    writer.add(record('mpart', 0, 5, bad));
    writer.add(record('mpart', 5, 6, bad));
    await settled(11);
    expect(await writer.stop(STOP_MS)).toBe(0);
    expect(rejected).toHaveLength(1);
    const r = rejected[0]!.point;
    expect(r.count).toBe(1);
    expect(r.data.toString('utf8', r.start, r.end)).toBe(bad(6));
    expect(idOf(r)).toBe('mpart-5');
    expect(linesIn(written)).toBe(10);
    expect(await stored('mpart')).toBe(10);
  });

  it('falls back to bisection where InfluxDB’s message does not say which lines it refused', async () => {
    // A refusal that gives neither the lines nor a count of them, as a proxy in front of InfluxDB
    // might: for any request that holds the one poisoned line.
    const refuse = { status: 400, headers: { 'content-type': 'application/json' }, body: '{"error":"write refused by policy"}' };
    const proxy = await startHttpProxy((req) => {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(req.body) : req.body;
      return body.includes('device_id=bisect-37,') ? refuse : 'forward';
    }, url);
    try {
      const { writer, written, rejected, batches, settled } = writerFor(new V1InfluxSink({ url: proxy.url, bucket: db }), { batchSize: 64 });
      writer.start();
      for (const p of points('bisect', 64)) writer.add(p);
      await settled(64);
      expect(await writer.stop(STOP_MS)).toBe(0);
      expect(rejected.map((r) => [idOf(r.point), r.message])).toEqual([['bisect-37', 'write refused by policy']]);
      expect(linesIn(written)).toBe(63);
      expect(await stored('bisect')).toBe(63);
      expect(batches).toHaveLength(1 + 2 * 6); // the batch, then both halves at each of log2(64) levels
    } finally {
      await proxy.close();
    }
  });

  it('stop() gives up after its timeout when InfluxDB stays away, and reports what was not written', async () => {
    const logs: { level: number; msg: string; unwritten?: number; code?: string }[] = [];
    const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s)) });
    const dead = new V1InfluxSink({ url: `http://127.0.0.1:${await closedPort()}`, bucket: db });
    // Fake timers: stop() must give up when its timeout is over, not when a loaded machine gets
    // round to a timer; the backoff between retries moves with the same clock.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { writer, written } = writerFor(dead, { retryInitialMs: 20, log });
    writer.start();
    for (const p of points('dead', 7)) writer.add(p);
    let unwritten: number | undefined;
    const stopped = writer.stop(400).then((n) => (unwritten = n));
    await vi.advanceTimersByTimeAsync(399);
    expect(unwritten).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    expect(unwritten).toBe(7);
    expect(written).toHaveLength(0);
    const warnings = logs.filter((l) => l.level === 40);
    const gaveUp = warnings.find((l) => l.unwritten !== undefined);
    expect(gaveUp).toMatchObject({ unwritten: 7, code: ErrorCodes.INFLUX_UNREACHABLE.code });
    expect(gaveUp!.msg).toMatch(/7 points not written to InfluxDB before the stop timeout/);
    expect(warnings).toHaveLength(2); // the outage once (not per retry), and the stop
  });
});
