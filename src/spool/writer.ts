/**
 * The Spool's batched writer: `append()` queues, and one write plus one fdatasync per group (group
 * commit) makes the records durable before their `done` is called. See "Writing: group commit" and
 * "Bounded disk" in README.md.
 */
import path from 'node:path';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { encodeFrame, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES } from './frame.js';
import { SpoolReader } from './reader.js';
import { segmentName } from './segment-files.js';
import { errnoCode, fsyncDir } from './spool-fs.js';
import { formatBytes, MiB, type Done, type Queued, type Segment } from './state.js';

/** One write carries at most this much, so a burst queued behind a slow fsync is not one huge write. */
const GROUP_MAX_BYTES = 4 * MiB;
/** After ENOSPC, appends are refused this long before the disk is tried again. */
const DISK_FULL_RETRY_MS = 1000;

/** Appending, on top of the reader (a durable group goes to the reader's queue). */
export abstract class SpoolWriter extends SpoolReader {
  /**
   * Takes one record. Returns its seq, or -1 when refused. `done` is called exactly once and never
   * from inside `append()`: with undefined once the record is on disk (its group written and
   * fdatasynced), or with a CitypipeError: CP_ERR_SPOOL_FULL (retryable) at `maxBytes` or when the
   * disk is full, CP_ERR_SPOOL_IO when the disk failed, CP_ERR_SPOOL_RECORD_TOO_LARGE,
   * CP_ERR_SPOOL_STOPPED. Never throws. The spool keeps `data` (without copying) until it is
   * acknowledged: do not modify it after appending.
   */
  append(data: Buffer, done: (err: Error | undefined) => void): number {
    if (this.state !== 'running') {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_STOPPED, this.state === 'new' || this.state === 'starting' ? 'spool not started' : 'spool is stopping'));
      return -1;
    }
    const bytes = FRAME_HEADER_BYTES + data.length;
    if (data.length > MAX_PAYLOAD_BYTES || bytes > this.maxBytes) {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_RECORD_TOO_LARGE, `record of ${data.length} bytes is larger than the spool takes (${formatBytes(Math.min(MAX_PAYLOAD_BYTES, this.maxBytes - FRAME_HEADER_BYTES))})`));
      return -1;
    }
    if (this.diskFull()) {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_FULL, this.diskFullMessage));
      return -1;
    }
    if (this.pendingBytes + this.queuedBytes + bytes > this.maxBytes) {
      // Full from now until an ack frees space, even if a smaller record would still fit: readiness
      // and the broker's early refusal must agree with the refusal the device just got.
      this.capReached = true;
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_FULL, this.capMessage()));
      return -1;
    }
    const seq = this.nextSeq++;
    this.queue.push({ record: { seq, data, appendedAt: Date.now() }, bytes, weight: this.weigh(data), done });
    this.queuedBytes += bytes;
    this.queuedRecords++;
    if (!this.writing) {
      this.writing = true;
      // Deferred so that appends made in the same turn of the event loop (a socket read carrying
      // many PUBLISH packets) share the first write and fdatasync.
      setImmediate(() => void this.writeLoop());
    }
    return seq;
  }

  /**
   * True when appends are refused: unacknowledged bytes reached `maxBytes`, or the last write hit a
   * full disk (cleared when acks free a segment, or after a second so the disk is tried again).
   */
  isFull(): boolean {
    return this.diskFull() || this.capReached || this.pendingBytes + this.queuedBytes >= this.maxBytes;
  }

  /** Why `isFull()` is true, for /readyz; undefined when it is not. */
  get fullReason(): string | undefined {
    if (this.diskFull()) return this.diskFullMessage;
    if (this.capReached || this.pendingBytes + this.queuedBytes >= this.maxBytes) return this.capMessage();
    return undefined;
  }

  private async writeLoop(): Promise<void> {
    while (this.queueHead < this.queue.length) {
      const group = this.takeGroup();
      await this.writeGroup(group);
    }
    this.queue = [];
    this.queueHead = 0;
    this.writing = false;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  private takeGroup(): Queued[] {
    const start = this.queueHead;
    let end = start;
    let bytes = 0;
    while (end < this.queue.length && (end === start || bytes + this.queue[end]!.bytes <= GROUP_MAX_BYTES)) {
      bytes += this.queue[end]!.bytes;
      end++;
    }
    const group = this.queue.slice(start, end);
    this.queueHead = end;
    if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return group;
  }

  /** One write and one fdatasync for the whole group; every `done` after the fdatasync returned. */
  private async writeGroup(group: Queued[]): Promise<void> {
    let total = 0;
    for (const q of group) total += q.bytes;
    let buf = this.writeBuf;
    if (buf.length < total) {
      buf = Buffer.allocUnsafe(Math.max(total, buf.length * 2));
      if (buf.length <= GROUP_MAX_BYTES) this.writeBuf = buf;
    }
    let off = 0;
    for (const q of group) off = encodeFrame(buf, off, q.record.seq, q.record.appendedAt, q.record.data);

    let seg: Segment;
    try {
      seg = await this.segmentFor(group[0]!.record.seq, total);
    } catch (err) {
      this.failGroup(group, total, err, undefined);
      return;
    }
    const start = seg.end;
    const fd = seg.fd!;
    try {
      let written = 0;
      while (written < total) written += await this.fs.write(fd, buf, written, total - written, start + written);
      if (this.durable) {
        this.fsyncs++;
        await this.fs.fdatasync(fd);
      }
    } catch (err) {
      // Undo the partial write so that the next group starts at a frame boundary; when even that
      // fails, the segment's tail is garbage and the next group goes to a new segment.
      try {
        await this.fs.ftruncate(fd, start);
      } catch (truncErr) {
        this.log.error({ err: truncErr, code: ErrorCodes.SPOOL_IO.code, file: seg.file }, 'spool: could not undo a failed write; starting a new segment');
        seg.sealed = true;
      }
      this.failGroup(group, total, err, seg.file);
      return;
    }
    if (seg.sealed) {
      // The reader found this segment corrupt while the group was being written: records behind
      // unreadable bytes would be lost at the next start, so the producer must send them again.
      this.failGroup(group, total, new Error(`${seg.name} was found corrupt while it was written`), seg.file);
      return;
    }
    this.groups++;
    seg.end = start + total;
    this.queuedBytes -= total;
    this.queuedRecords -= group.length;
    this.diskFullAt = undefined;
    const n = group.length;
    this.appended += n;
    this.pendingRecords += n;
    this.pendingBytes += total;
    let weight = 0;
    for (const q of group) weight += q.weight;
    this.pendingWeight += weight;
    seg.unacked += n;

    if (this.disk === undefined && this.memBytes + total <= this.memoryBytes) {
      for (const q of group) this.mem.push({ record: q.record, bytes: q.bytes, weight: q.weight });
      this.memBytes += total;
    } else {
      // The reader is behind by more than memoryBytes: this group is read back from disk later.
      if (this.disk === undefined) {
        this.disk = { seg, offset: start };
        this.diskHead = { seq: group[0]!.record.seq, appendedAt: group[0]!.record.appendedAt };
      }
      seg.unread += n;
      seg.unreadBytes += total;
      seg.unreadWeight += weight;
    }
    for (const q of group) this.callDone(q.done, undefined);
    this.serve();
  }

  /** The segment the group goes to, starting a new one when the current one is full or sealed. */
  private async segmentFor(firstSeq: number, bytes: number): Promise<Segment> {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.fd !== undefined && !last.sealed && (last.end === 0 || last.end + bytes <= this.segmentBytes)) return last;
    if (last !== undefined && last.fd !== undefined) {
      const fd = last.fd;
      last.fd = undefined;
      last.sealed = true;
      await this.fs.close(fd).catch((err: unknown) => this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, file: last.file }, 'closing a spool segment failed'));
      if (last.unacked === 0) this.deleteSegment(last);
    }
    const name = segmentName(firstSeq);
    const file = path.join(this.dir, name);
    const fd = await this.fs.open(file, 'wx');
    try {
      // The new file's directory entry must be durable before any record in it is acknowledged.
      if (this.durable) await fsyncDir(this.fs, this.dir);
    } catch (err) {
      await this.fs.close(fd).catch(() => undefined);
      await this.fs.unlink(file).catch(() => undefined);
      throw err;
    }
    const seg: Segment = { firstSeq, name, file, end: 0, unacked: 0, unread: 0, unreadBytes: 0, unreadWeight: 0, fd, sealed: false };
    this.segments.push(seg);
    return seg;
  }

  private failGroup(group: Queued[], total: number, err: unknown, file: string | undefined): void {
    this.queuedBytes -= total;
    this.queuedRecords -= group.length;
    const code = errnoCode(err);
    let error: CitypipeError;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.diskFullAt = Date.now();
      this.diskFullMessage =
        `spool disk full: no space left on the device of ${this.dir} (${code}); ` +
        `${formatBytes(this.pendingBytes)} pending, publishes are refused until InfluxDB catches up or space is freed`;
      error = new CitypipeError(ErrorCodes.SPOOL_FULL, this.diskFullMessage, { cause: err });
    } else {
      const message = err instanceof Error ? err.message : String(err);
      error = new CitypipeError(ErrorCodes.SPOOL_IO, `spool could not write ${file ?? this.dir}: ${message}`, { cause: err });
    }
    this.log.error({ code: error.code, file, err, records: group.length }, `spool: ${group.length} appends failed: ${error.message}`);
    for (const q of group) this.callDone(q.done, error);
  }

  private diskFull(): boolean {
    if (this.diskFullAt === undefined) return false;
    if (Date.now() - this.diskFullAt < DISK_FULL_RETRY_MS) return true;
    this.diskFullAt = undefined;
    return false;
  }

  private capMessage(): string {
    return `spool full: ${formatBytes(this.pendingBytes + this.queuedBytes)} of ${formatBytes(this.maxBytes)} pending (InfluxDB unreachable?)`;
  }

  private refuse(done: Done, err: CitypipeError): void {
    process.nextTick(() => this.callDone(done, err));
  }

  private callDone(done: Done, err: Error | undefined): void {
    try {
      done(err);
    } catch (thrown) {
      this.log.error({ err: thrown, code: ErrorCodes.SPOOL_IO.code }, 'spool: an append callback threw; continuing');
    }
  }
}
