/**
 * CPU per reading of citypipe's own hot path, in one process without broker, disk or network:
 * the ingest half (topic → catalog → JSON → validate → line protocol → spool record, what
 * `IngestPipeline.decide` and `encodeOutcome` do per PUBLISH) and the write half (spool records →
 * SpoolDrain → InfluxWriter → gzipped request body, with a sink that only gzips). The payloads are
 * the end-to-end bench's (one reading per message, the registered device types in turn).
 *
 *   npm run build && node dist/src/pipeline/hot-path.bench.js [--readings 300000] [--rounds 3]
 *   node --import ./src/spool/testing/register-ts.mjs src/pipeline/hot-path.bench.ts      (no build)
 *
 * docs/BENCHMARKS.md ("Where the time goes") names the fixes this measures: the write half's lines
 * stay spool-record bytes up to the request body, and valid readings skip zod.
 */
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { DeviceRecord } from '../catalog/types.js';
import { encodeOutcome } from '../ingest/outcome.js';
import type { RawMessage } from '../ingest/types.js';
import { silentLogger } from '../observability/logger.js';
import type { PointSink } from '../sink/influx/types.js';
import { InfluxWriter } from '../sink/influx/writer.js';
import { SpoolDrain } from './drain.js';
import { IngestPipeline } from './ingest.js';
import { BENCH_DEVICE_TYPES, readingBuilder } from '../../bench/payloads.js';

const { values } = parseArgs({
  options: {
    readings: { type: 'string', default: '300000' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.readings);
const ROUNDS = Number(values.rounds);

const TYPES = BENCH_DEVICE_TYPES;

const devices = new Map<string, DeviceRecord>();
for (let i = 0; i < 100; i++) devices.set(`dev-${i}`, { id: `dev-${i}`, type: TYPES[i % TYPES.length]!, district: 'centrum' } as DeviceRecord);
const now = Date.now();
const messages: RawMessage[] = Array.from({ length: 30_000 }, (_, i) => {
  const id = `dev-${i % 100}`;
  const type = TYPES[(i % 100) % TYPES.length]!;
  return { topic: `city/${type}/${id}/telemetry`, payload: Buffer.from(readingBuilder(type)(now - 60_000 + (i % 1000), i)), receivedAt: now, clientId: id, username: id };
});

const cpuUs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return u.user + u.system;
};

function ingestHalf(): { us: number; records: Buffer[] } {
  const ingest = new IngestPipeline({
    catalog: { get: (id) => devices.get(id), byDevEui: () => undefined },
    validate: { maxPayloadBytes: 65536, maxBatch: 1000, maxAgeMs: 7 * 86_400_000, maxFutureMs: 300_000, maxDeadLetterPayloadBytes: 4096 },
  });
  const records = new Array<Buffer>(N);
  const t = process.cpuUsage();
  for (let i = 0; i < N; i++) records[i] = encodeOutcome(ingest.decide(messages[i % messages.length]!)!);
  return { us: cpuUs(t) / N, records };
}

async function writeHalf(records: readonly Buffer[]): Promise<number> {
  let lines = 0;
  const sink: PointSink = {
    api: 'v1',
    write: async (l) => void gzipSync(Buffer.from(l.join('\n'))),
    writeBody: async (body) => void gzipSync(body),
    ping: async () => {},
    prepare: async () => {},
    close: async () => {},
  };
  let drain: SpoolDrain | undefined;
  const writer = new InfluxWriter({ sink, onWritten: (w) => drain!.onWritten(w), onRejected: (l, m) => drain!.onRejected(l, m) });
  let next = 0;
  let acked = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  drain = new SpoolDrain({
    spool: {
      read: async (max) => {
        const out = records.slice(next, next + max).map((data, i) => ({ seq: next + i + 1, data }));
        next += out.length;
        if (out.length === 0) await finished;
        return out;
      },
      ack: () => void (++acked === records.length && finish()),
    },
    writer,
    deadLetters: { add() {}, flush: () => true },
    metrics: { countWritten: (_t, n) => void (lines += n), countDeadLettered() {} },
    log: silentLogger,
    maxInFlight: 20_000,
  });
  const t = process.cpuUsage();
  writer.start();
  drain.start();
  await finished;
  const us = cpuUs(t) / records.length;
  await drain.stop();
  await writer.stop(1000);
  if (lines !== records.length) throw new Error(`wrote ${lines} of ${records.length} readings`);
  return us;
}

console.log(`${N.toLocaleString('en')} readings per round, CPU µs per reading (user + system, all threads)`);
for (let round = 0; round < ROUNDS; round++) {
  const { us: ingestUs, records } = ingestHalf();
  const writeUs = await writeHalf(records);
  console.log(`round ${round + 1}: ingest ${ingestUs.toFixed(2)}  write ${writeUs.toFixed(2)}  total ${(ingestUs + writeUs).toFixed(2)}`);
}
