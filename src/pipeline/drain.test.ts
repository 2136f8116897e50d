/**
 * The drain between the spool and the writer: records go to InfluxDB as the bytes ingest encoded
 * (points-only records are never decoded), dead letters to their store, and a record is acked only
 * once every reading in it is done. Spool records written by earlier versions read the same way.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { encodeOutcome, type Outcome } from '../ingest/outcome.js';
import type { DeadLetter } from '../ingest/types.js';
import { silentLogger } from '../observability/logger.js';
import type { PendingLines, PointSink } from '../sink/influx/types.js';
import { InfluxWriter } from '../sink/influx/writer.js';
import { SpoolDrain } from './drain.js';

const line = (id: string, i: number) => `waste_bin,device_id=${id},district=nieuw\\ west fillingLevel=0.${i},status="ok" ${1_780_000_000_000 + i}`;

function points(id: string, n: number, type = 'waste-bin'): Outcome {
  return {
    topic: `city/${type}/${id}/telemetry`,
    receivedAt: 1_780_000_000_123,
    type,
    deviceId: id,
    lines: Array.from({ length: n }, (_, i) => line(id, i)),
    deadLetters: [],
  };
}

const deadLetter = (id: string): DeadLetter => ({
  reason: 'out_of_range',
  path: 'fillingLevel',
  message: 'fillingLevel: must be ≤ 1 (a ratio, not percent), got 5',
  topic: `city/waste-bin/${id}/telemetry`,
  deviceId: id,
  type: 'waste-bin',
  index: 1,
  payload: '{"fillingLevel":5}',
  receivedAt: 1_780_000_000_123,
});

/** A sink that keeps every request body and refuses, like InfluxDB, a body holding a `refuse` line. */
class BodySink implements PointSink {
  readonly api = 'v1' as const;
  readonly bodies: string[] = [];
  constructor(private readonly refuse?: string) {}
  write(lines: readonly string[]): Promise<void> {
    return this.writeBody(Buffer.from(lines.join('\n')));
  }
  async writeBody(body: Buffer): Promise<void> {
    const text = body.toString('utf8');
    if (this.refuse !== undefined && text.split('\n').includes(this.refuse)) {
      throw new CitypipeError(ErrorCodes.INFLUX_REJECTED, `partial write: unable to parse '${this.refuse}'`);
    }
    this.bodies.push(text);
  }
  ping = async () => {};
  prepare = async () => {};
  close = async () => {};
}

/** Refuses every line of every request, as InfluxDB does with points beyond its retention policy. */
class RetentionSink extends BodySink {
  override async writeBody(body: Buffer): Promise<void> {
    throw new CitypipeError(ErrorCodes.INFLUX_REJECTED, `partial write: points beyond retention policy dropped=${body.toString('utf8').split('\n').length}`);
  }
}

async function drainAll(records: Buffer[], sink: BodySink, batchSize = 4) {
  const acked: number[] = [];
  const written: [string, number][] = [];
  const dead: DeadLetter[] = [];
  const deadCounted: [string | undefined, string][] = [];
  let commits = 0;
  let handed = false;
  let drain: SpoolDrain | undefined;
  const writer = new InfluxWriter({
    sink,
    batchSize,
    flushIntervalMs: 10,
    onWritten: (w) => drain!.onWritten(w),
    onRejected: (l, m) => drain!.onRejected(l, m),
  });
  drain = new SpoolDrain({
    spool: {
      read: async () => {
        if (handed) return new Promise(() => {});
        handed = true;
        return records.map((data, i) => ({ seq: i + 1, data }));
      },
      ack: (seq) => void acked.push(seq),
    },
    writer,
    deadLetters: { add: (d) => void dead.push(d), flush: () => (commits++, true) },
    metrics: {
      countWritten: (type, n) => void written.push([type, n]),
      countDeadLettered: (type, reason) => void deadCounted.push([type, reason]),
    },
    log: silentLogger,
    maxInFlight: 1000,
  });
  writer.start();
  drain.start();
  const deadline = Date.now() + 5000;
  while (acked.length < records.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await drain.stop();
  await writer.stop(1000);
  const perType = new Map<string, number>();
  for (const [type, n] of written) perType.set(type, (perType.get(type) ?? 0) + n);
  return { acked: acked.sort((a, b) => a - b), perType, dead, deadCounted, drain, commits };
}

describe('SpoolDrain', () => {
  it('writes the lines of points-only records byte for byte, in order, and acks every record', async () => {
    const outcomes = [points('a', 1), points('b', 3), points('c', 1, 'streetlight'), points('d', 5)];
    const sink = new BodySink();
    const { acked, perType, drain } = await drainAll(outcomes.map(encodeOutcome), sink);
    expect(acked).toEqual([1, 2, 3, 4]);
    expect(sink.bodies.join('\n')).toBe(outcomes.flatMap((o) => o.lines).join('\n'));
    // Batches of exactly batchSize lines, a record split where a batch fills.
    expect(sink.bodies.map((b) => b.split('\n').length)).toEqual([4, 4, 2]);
    expect(Object.fromEntries(perType)).toEqual({ 'waste-bin': 9, streetlight: 1 });
    expect(drain.doneInOpenRecords).toBe(0);
  });

  it('reads a record as the previous version wrote it (spools on disk survive the upgrade)', async () => {
    // Literal bytes of a points record from before the byte path (3fae147).
    const old = Buffer.from(`Pwaste-bin\tbin-7\t1780000000123\tcity/waste-bin/bin-7/telemetry\n${line('bin-7', 1)}\n${line('bin-7', 2)}`, 'utf8');
    const sink = new BodySink();
    const { acked, perType } = await drainAll([old], sink);
    expect(acked).toEqual([1]);
    expect(sink.bodies).toEqual([`${line('bin-7', 1)}\n${line('bin-7', 2)}`]);
    expect(perType.get('waste-bin')).toBe(2);
  });

  it('stores the dead letters of a mixed record and acks it once its points are written too', async () => {
    const mixed: Outcome = { ...points('m', 2), deadLetters: [deadLetter('m')] };
    const onlyDead: Outcome = { ...points('x', 0), type: '', deviceId: '', deadLetters: [{ ...deadLetter('x'), reason: 'invalid_topic', path: '' }] };
    const sink = new BodySink();
    const { acked, dead, deadCounted, perType } = await drainAll([encodeOutcome(mixed), encodeOutcome(onlyDead)], sink);
    expect(acked).toEqual([1, 2]);
    expect(sink.bodies.join('\n')).toBe(mixed.lines.join('\n'));
    expect(dead).toEqual([mixed.deadLetters[0], onlyDead.deadLetters[0]]);
    expect(deadCounted).toEqual([
      ['waste-bin', 'out_of_range'],
      ['waste-bin', 'invalid_topic'],
    ]);
    expect(perType.get('waste-bin')).toBe(2);
  });

  it('turns a line InfluxDB refuses into a dead letter with its record\'s topic, device and receive time', async () => {
    const outcomes = [points('r', 3), points('s', 1)];
    const refused = outcomes[0]!.lines[1]!;
    const sink = new BodySink(refused);
    const { acked, dead, deadCounted, perType } = await drainAll(outcomes.map(encodeOutcome), sink);
    expect(acked).toEqual([1, 2]);
    expect(dead).toEqual([
      {
        reason: 'influx_rejected',
        path: '',
        message: `InfluxDB refused the point: partial write: unable to parse '${refused}'`,
        topic: 'city/waste-bin/r/telemetry',
        deviceId: 'r',
        type: 'waste-bin',
        index: undefined,
        payload: refused,
        receivedAt: 1_780_000_000_123,
      },
    ]);
    expect(deadCounted).toEqual([['waste-bin', 'influx_rejected']]);
    expect(perType.get('waste-bin')).toBe(3);
    expect(sink.bodies.join('\n').split('\n').sort()).toEqual(outcomes.flatMap((o) => o.lines).filter((l) => l !== refused).sort());
  });

  it('commits the dead letters of a whole refused batch at once, decoding its record once', async () => {
    const sink = new RetentionSink();
    const { acked, dead, commits } = await drainAll([encodeOutcome(points('old', 1000))], sink, 1000);
    expect(acked).toEqual([1]);
    expect(dead).toHaveLength(1000);
    expect(new Set(dead.map((d) => d.topic))).toEqual(new Set(['city/waste-bin/old/telemetry']));
    // One commit for the thousand, not one each (each is an fsync with synchronous = FULL).
    expect(commits).toBeLessThanOrEqual(2);
  });

  it('keeps nothing of a read once its records are done: 20,000 reads do not grow memory', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const external = () => {
      gc();
      gc();
      return getHeapStatistics().external_memory;
    };
    const reads = 20_000;
    let served = 0;
    let drain: SpoolDrain | undefined;
    const writer = {
      pending: 0,
      add: (lines: PendingLines) => queueMicrotask(() => drain!.onWritten([lines])),
    };
    let acked = 0;
    let allAcked: () => void = () => {};
    const done = new Promise<void>((resolve) => (allAcked = resolve));
    drain = new SpoolDrain({
      spool: {
        // One record per read, each with 2 KB of its own bytes, as a quiet spool hands them out.
        read: async () => {
          if (served === reads) return new Promise(() => {});
          served++;
          await new Promise((r) => setImmediate(r));
          return [{ seq: served, data: encodeOutcome({ ...points(`d${served}`, 1), lines: [line(`d${served}`, 1)], topic: `city/waste-bin/d${served}/telemetry${'x'.repeat(2048)}` }) }];
        },
        ack: () => {
          if (++acked === reads) allAcked();
        },
      },
      writer,
      deadLetters: { add: () => {}, flush: () => true },
      metrics: { countWritten: () => {}, countDeadLettered: () => {} },
      log: silentLogger,
      maxInFlight: 1000,
    });
    const before = external();
    drain.start();
    await done;
    const after = external();
    await drain.stop();
    // Each read's records (40 MB in all) would stay reachable if a wait kept them (a race against a
    // promise that settles only at stop did, through one reaction per wait).
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
  });
});
