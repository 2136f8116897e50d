/**
 * The durable spool: an append-only log on local disk between the broker and the InfluxDB writer.
 * A record is acknowledged to its producer only once it is on disk (write + fdatasync), so "PUBACK
 * means on disk" holds across a crash; it stays there until the consumer acks it. Records are
 * opaque Buffers: the spool knows nothing of readings. See README.md in this folder for the file
 * format, the delivery guarantee and the crash-recovery rules.
 */
import { ErrorCodes } from '../errors/catalog.js';
import type { RecoveryReport, SpoolStats } from './types.js';
import { SpoolWriter } from './writer.js';

export type { RecoveryReport, SpoolOptions, SpoolRecord, SpoolStats } from './types.js';

/**
 * The spool. `start()` recovers what is on disk; `append()` is the producer's hot path; `read()` and
 * `ack()` are the consumer's; `stop()` completes outstanding appends and persists the cursor.
 *
 * Delivery is at-least-once: the cursor file is rewritten at most every `cursorIntervalMs`, and a
 * restart replays every record from the lowest unacknowledged seq it names, including records
 * acknowledged after that write (or acknowledged out of order above it). Consumers must be
 * idempotent; InfluxDB writes are, since a point with the same series and time overwrites itself.
 *
 * The parts live in one file each, stacked (see `state.ts`): `recovery.ts`, `cursor.ts` (acks and the
 * cursor), `reader.ts`, `writer.ts`; this class adds the lifecycle and `stats()`.
 */
export class Spool extends SpoolWriter {
  /**
   * Opens the directory and recovers the log: every segment is checked frame by frame. A torn or
   * corrupt tail of the last segment is cut off; a corrupt record in an older segment ends that
   * segment (the rest of it is skipped, later segments are kept). Neither makes start fail; both
   * are logged and reported. Rejects only when the directory cannot be used at all.
   */
  async start(): Promise<RecoveryReport> {
    if (this.state !== 'new') throw new Error('Spool.start() called twice');
    this.state = 'starting';
    this.starting = this.recover();
    try {
      const report = await this.starting;
      this.serve();
      return report;
    } catch (err) {
      this.state = 'stopped';
      for (const w of this.waiters.splice(0)) w.resolve([]);
      throw err;
    }
  }

  stats(): SpoolStats {
    return {
      pendingRecords: this.pendingRecords,
      pendingBytes: this.pendingBytes,
      pendingWeight: this.pendingWeight,
      oldestPendingAt: this.oldestPendingAt(),
      appended: this.appended,
      acked: this.acked,
      lost: this.lost,
      queuedRecords: this.queuedRecords,
      queuedBytes: this.queuedBytes,
      groups: this.groups,
      fsyncs: this.fsyncs,
      segments: this.segments.length,
    };
  }

  /**
   * Refuses new appends, completes the outstanding ones (their `done` is called), resolves waiting
   * reads with [], persists the cursor and closes the files. Records not acknowledged stay for the
   * next start. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      for (const w of this.waiters.splice(0)) w.resolve([]);
      return;
    }
    if (this.starting) await this.starting.catch(() => undefined);
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    if (this.writing) await new Promise<void>((resolve) => this.drained.push(resolve));
    this.closing = true;
    clearTimeout(this.fetchRetry);
    this.fetchRetry = undefined;
    while (this.fetching) await this.fetching;
    this.state = 'stopped';
    for (const w of this.waiters.splice(0)) w.resolve([]);
    await this.syncCursor();
    for (const seg of this.segments) {
      if (seg.fd === undefined) continue;
      const fd = seg.fd;
      seg.fd = undefined;
      await this.fs.close(fd).catch((err: unknown) => this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, file: seg.file }, 'spool: closing a segment failed'));
    }
    // Once the cursor is durable past the last segment, even that one may go.
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.unacked === 0 && this.persistedCursor === this.cursor()) this.deleteSegment(last);
    this.closeReadFd();
    while (this.unlinks.size > 0) await Promise.all(this.unlinks);
  }
}
