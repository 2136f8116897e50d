/**
 * Wires the ingest half of citypipe: a device's message → decide (pipeline/ingest.ts) → durable
 * spool → PUBACK, and spool → InfluxDB writer and dead letters (pipeline/drain.ts). The stages do
 * not know each other; this module connects them, as dispatch.ts does for the dispatch half.
 *
 * Per message (`onTelemetry`, called by the broker): a full spool refuses it before any validation
 * work; otherwise its outcome is appended to the spool, and only once that is durable is it counted,
 * handed to the rules (RulesTap) and acknowledged. Nothing here allocates per message beyond what
 * the spool append needs (its completion callback); the methods the broker calls are bound once.
 */
import path from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ServiceStats } from '../observability/service-stats.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { DeviceRecord } from '../catalog/types.js';
import { DeadLetterStore } from '../deadletter/store.js';
import { CitypipeError, ErrorCodes, NoticeCodes, type DeadLetterReason } from '../errors/catalog.js';
import { decodeOutcome, encodeOutcome, outcomeSize, weighOutcome, type Outcome } from '../ingest/outcome.js';
import type { DeadLetter, RawMessage } from '../ingest/types.js';
import type { UplinkCounts } from '../pipeline/uplink-ingest.js';
import { IngestPipeline } from '../pipeline/ingest.js';
import { SpoolDrain } from '../pipeline/drain.js';
import { replayDeadLetters, type ReplayDeps, type ReplayResult } from '../pipeline/replay.js';
import { Spool } from '../spool/spool.js';
import { InfluxWriter } from '../sink/influx/writer.js';
import type { PointSink } from '../sink/influx/types.js';
import type { RulesTap } from './rules-tap.js';

const DEAD_LETTER_PAYLOAD_MAX = 4096;
/** A refused publish is logged at most this often (they come in floods: a full spool refuses all). */
const REFUSAL_LOG_MS = 10_000;

export interface IngestStores {
  readonly deadLetters: DeadLetterStore;
  readonly spool: Spool;
  /** Where this run's spool records begin: those below were stored before the last stop. */
  readonly firstLiveSeq: number;
  close(): Promise<void>;
}

/**
 * Opens the ingest half's stores: the dead letters, and the spool, which recovers what the last run
 * left (counted as received and pending, written first).
 */
export async function openIngestStores(config: Config, log: Logger, metrics: Metrics): Promise<IngestStores> {
  const deadLetters = new DeadLetterStore({ file: path.join(config.dataDir, 'dead-letters.db'), maxRecords: config.deadLetterMax, log: log.child({ stage: 'dead-letters' }) });
  deadLetters.start();
  const spool = new Spool({ dir: path.join(config.dataDir, 'spool'), maxBytes: config.spool.maxBytes, fsync: config.spool.fsync, weigh: weighOutcome, log });
  const recovery = await spool.start().catch((err: unknown) => {
    deadLetters.stop();
    throw err;
  });
  metrics.countRecovered(recovery.weight);
  if (recovery.records > 0 || recovery.truncatedBytes > 0) {
    log.info({ ...recovery }, `spool: ${recovery.weight} readings from before the last stop will be written first`);
  }
  const close = async (): Promise<void> => {
    deadLetters.stop();
    await spool.stop();
  };
  return { deadLetters, spool, firstLiveSeq: recovery.nextSeq, close };
}

export interface IngestWiringOptions {
  config: Config;
  log: Logger;
  /** The catalog now (it is replaced when the folder changes). */
  catalog: () => { get(id: string): DeviceRecord | undefined; byDevEui(devEui: string): DeviceRecord | undefined };
  /** Started: what it recovered is read first. */
  spool: Spool;
  /** Records below this seq were stored before the last stop (the spool's `nextSeq` at recovery). */
  firstLiveSeq: number;
  sink: PointSink;
  deadLetters: DeadLetterStore;
  metrics: Metrics;
  stats: ServiceStats;
  /**
   * Dispatch: `tap` takes stored readings for the rules; `persistDeviceState` saves the device state
   * that done records changed, before the spool releases them.
   */
  dispatch: { readonly tap: RulesTap; persistDeviceState(): void | Promise<void> };
  /** A write request to InfluxDB succeeded. */
  onWriteOk(): void;
}

export class IngestWiring {
  readonly writer: InfluxWriter;
  readonly drain: SpoolDrain;
  private readonly log: Logger;
  private readonly spool: Spool;
  private readonly metrics: Metrics;
  private readonly tap: RulesTap;
  private readonly pipeline: IngestPipeline;
  private readonly refusals: RateLimitedLog;
  private readonly deadLetters: DeadLetterStore;

  constructor(opts: IngestWiringOptions) {
    const { config, log, spool, metrics, stats, firstLiveSeq, dispatch } = opts;
    const tap = dispatch.tap;
    this.log = log;
    this.spool = spool;
    this.metrics = metrics;
    this.tap = tap;
    this.deadLetters = opts.deadLetters;
    this.refusals = new RateLimitedLog(log, REFUSAL_LOG_MS);
    this.pipeline = new IngestPipeline({
      catalog: { get: (id) => opts.catalog().get(id), byDevEui: (devEui) => opts.catalog().byDevEui(devEui) },
      validate: {
        maxPayloadBytes: config.ingest.maxPayloadBytes,
        maxBatch: config.ingest.maxBatch,
        maxAgeMs: config.ingest.maxAgeMs,
        maxFutureMs: config.ingest.maxFutureMs,
        maxDeadLetterPayloadBytes: DEAD_LETTER_PAYLOAD_MAX,
      },
    });
    metrics.watchUplinks(() => this.pipeline.uplinks.counts);
    // The writer reports to the drain, which is built next and hands the writer its lines: neither
    // calls the other before start().
    this.writer = new InfluxWriter({
      sink: opts.sink,
      batchSize: config.writer.batchSize,
      flushIntervalMs: config.writer.flushIntervalMs,
      retryMaxMs: config.influx.retryMaxMs,
      target: config.influx.url,
      log,
      onWritten: (points) => this.drain.onWritten(points),
      onRejected: (point, message) => this.drain.onRejected(point, message),
      onBatch: (outcome) => {
        metrics.observeWrite(outcome);
        stats.observeWrite(outcome);
        if (outcome.ok) opts.onWriteOk();
      },
    });
    this.drain = new SpoolDrain({
      spool: {
        // Records from before the last stop go to the rules as the drain reads them: their evaluation
        // may have been cut off by the stop (a second evaluation of a reading changes nothing).
        read: async (max) => {
          const records = await spool.read(max);
          for (const r of records) if (r.seq < firstLiveSeq) tap.recovered(decodeOutcome(r.data));
          return records;
        },
        ack: (seq) => spool.ack(seq),
      },
      writer: this.writer,
      deadLetters: opts.deadLetters,
      metrics,
      // Device state (last seen, latest reading) is saved before the records it came from are released.
      beforeRelease: () => dispatch.persistDeviceState(),
      log: log.child({ stage: 'drain' }),
      // Enough to keep every write slot busy with full batches (three times as many slots in a
      // backlog) and two more ready, no more: the rest waits on disk.
      maxInFlight: config.writer.batchSize * 8,
    });
  }

  start(): void {
    this.writer.start();
    this.drain.start();
  }

  /**
   * Hands everything in the spool to the writer and lets the writer finish, until `deadline`; what
   * is not written by then stays in the spool for the next start.
   */
  async stop(deadline: number): Promise<void> {
    await this.drain.finish(deadline);
    const left = await this.writer.stop(Math.max(0, deadline - Date.now()));
    if (left > 0) {
      this.log.warn({ code: NoticeCodes.STOP_UNWRITTEN.code, unwritten: left }, `${left} readings not yet written to InfluxDB stay in the spool for the next start`);
    }
    // What the writer finished meanwhile: device state saved, records released, while dispatch runs.
    await this.drain.releaseCompleted();
  }

  /** The broker's telemetry handler. Returns the readings the message carried (they count against the client's reading rate). */
  readonly onTelemetry = (msg: RawMessage, done: (err?: Error) => void): number => {
    // Checked first so that a full spool costs no validation work.
    if (this.spool.isFull()) {
      this.refuse('spool_full', new CitypipeError(ErrorCodes.SPOOL_FULL, this.spool.fullReason ?? 'spool full'), msg.clientId, done);
      return 0;
    }
    const outcome = this.pipeline.decide(msg);
    if (!outcome) {
      done();
      return 0;
    }
    this.append(outcome, msg.clientId, done);
    return outcomeSize(outcome);
  };

  /**
   * A network server's message that came over HTTP (`POST /api/uplinks/…`): the same path as a
   * PUBLISH. Resolves once it is on disk, with what it became; rejects when it could not be stored
   * (a full spool: the server should retry).
   */
  takeUplink(msg: RawMessage): Promise<{ readings: number; deadLetters: readonly DeadLetter[] }> {
    return new Promise((resolve, reject) => {
      if (this.spool.isFull()) {
        this.refuse('spool_full', new CitypipeError(ErrorCodes.SPOOL_FULL, this.spool.fullReason ?? 'spool full'), msg.clientId, reject);
        return;
      }
      const outcome = this.pipeline.decide(msg);
      if (!outcome) return resolve({ readings: 0, deadLetters: [] });
      this.append(outcome, msg.clientId, (err) => (err ? reject(err) : resolve({ readings: outcome.lines.length, deadLetters: outcome.deadLetters })));
    });
  }

  /** Counts of the network-server path (metrics). */
  get uplinkCounts(): UplinkCounts {
    return this.pipeline.uplinks.counts;
  }

  /**
   * Dead letters through ingest again (after a fix), appended to the spool like fresh messages;
   * `from` the shared store when there is one (more than one worker), else this worker's.
   */
  replay(q: { reason?: DeadLetterReason | undefined; limit?: number | undefined }, from: ReplayDeps['deadLetters'] = this.deadLetters): Promise<ReplayResult> {
    return replayDeadLetters(
      {
        deadLetters: from,
        decide: (msg, clock) => this.pipeline.decide(msg, clock),
        append: (outcome) => new Promise<void>((resolve, reject) => this.append(outcome, 'replay', (err) => (err ? reject(err) : resolve()))),
      },
      q,
    );
  }

  /** Stores an outcome durably; `done()` only once it is on disk. */
  private append(outcome: Outcome, clientId: string, done: (err?: Error) => void): void {
    this.spool.append(encodeOutcome(outcome), (err) => {
      if (err) this.pipeline.uplinks.failed(outcome);
      if (err) return this.refuse(this.spool.isFull() ? 'spool_full' : 'spool_error', err, clientId, done);
      this.metrics.countReceived(outcome.type || undefined, outcomeSize(outcome));
      this.tap.stored(outcome);
      done();
    });
  }

  private refuse(reason: string, err: Error, clientId: string, done: (err?: Error) => void): void {
    this.metrics.countRefused(reason);
    this.refusals.warn({ code: (err as CitypipeError).code, clientId }, `publish refused: ${err.message}`);
    done(err);
  }
}
