/**
 * The Spool's reader, for the drain: durable records handed out once, in seq order, from memory while
 * the consumer keeps up and read back from the segment files in chunks when it does not. See
 * "Reading" in README.md.
 */
import { ErrorCodes } from '../errors/catalog.js';
import { SpoolCursor } from './cursor.js';
import { decodeFrame, FRAME_HEADER_BYTES, FrameView, peekHeader } from './frame.js';
import { readFully } from './spool-fs.js';
import type { Segment } from './state.js';
import type { SpoolRecord } from './types.js';

const READ_RETRY_MS = 1000;

/** Reading, on top of the cursor. */
export abstract class SpoolReader extends SpoolCursor {
  /**
   * The next durable records not handed out before, in seq order, at most `max`. Waits until there
   * is at least one; resolves [] only once the spool is stopped. A record is handed out once per
   * process, acknowledged or not; after a restart, unacknowledged ones come again.
   */
  read(max: number): Promise<SpoolRecord[]> {
    if (!(max >= 1)) return Promise.reject(new RangeError(`Spool.read(max): max must be ≥ 1, got ${max}`));
    if (this.state === 'stopped') return Promise.resolve([]);
    return new Promise((resolve) => {
      this.waiters.push({ max: Math.floor(max), resolve });
      this.serve();
    });
  }

  protected serve(): void {
    while (this.waiters.length > 0) {
      if (this.memHead < this.mem.length) {
        const w = this.waiters.shift()!;
        w.resolve(this.handOut(w.max));
        continue;
      }
      if (this.disk !== undefined && this.fetching === undefined && this.fetchRetry === undefined && !this.closing && this.state !== 'starting') {
        this.fetching = this.fetch().finally(() => {
          this.fetching = undefined;
          this.serve();
        });
      }
      return;
    }
  }

  private handOut(max: number): SpoolRecord[] {
    const n = Math.min(max, this.mem.length - this.memHead);
    const out: SpoolRecord[] = new Array<SpoolRecord>(n);
    for (let i = 0; i < n; i++) {
      const m = this.mem[this.memHead + i]!;
      out[i] = m.record;
      this.window.push(m.record.seq, m.bytes, m.weight, m.record.appendedAt);
      this.memBytes -= m.bytes;
    }
    this.memHead += n;
    if (this.memHead === this.mem.length) {
      this.mem = [];
      this.memHead = 0;
    } else if (this.memHead > 4096 && this.memHead * 2 > this.mem.length) {
      this.mem = this.mem.slice(this.memHead);
      this.memHead = 0;
    }
    if (n > 0) this.lastHandedOut = out[n - 1]!.seq;
    return out;
  }

  /** Reads the next chunk of the backlog into `mem`. */
  private async fetch(): Promise<void> {
    try {
      await this.fetchChunk();
      if (this.fetchFailing) {
        this.fetchFailing = false;
        this.log.info('spool: reading the backlog recovered');
      }
    } catch (err) {
      if (!this.fetchFailing) {
        this.fetchFailing = true;
        this.log.error({ err, code: ErrorCodes.SPOOL_IO.code, file: this.disk?.seg.file }, 'spool: reading the backlog failed; retrying every second');
      }
      this.closeReadFd();
      if (!this.closing) {
        this.fetchRetry = setTimeout(() => {
          this.fetchRetry = undefined;
          this.serve();
        }, READ_RETRY_MS);
      }
    }
  }

  private async fetchChunk(): Promise<void> {
    if (!this.normalizeDisk()) return;
    const { seg, offset } = this.disk!;
    const fd = await this.readFdFor(seg);
    const avail = seg.end - offset;
    let buf = Buffer.allocUnsafe(Math.min(this.readChunkBytes, avail));
    let len = await readFully(this.fs, fd, buf, 0, buf.length, offset);
    const view = new FrameView();
    if (decodeFrame(buf, 0, len, view) === 'incomplete' && view.needBytes <= avail) {
      // A frame larger than a chunk: read all of it.
      buf = Buffer.allocUnsafe(view.needBytes);
      len = await readFully(this.fs, fd, buf, 0, buf.length, offset);
    }
    let pos = 0;
    let records = 0;
    let bytes = 0;
    let weight = 0;
    let bad: string | undefined;
    while (pos < len) {
      const status = decodeFrame(buf, pos, len, view);
      if (status === 'incomplete') break;
      if (status === 'corrupt') {
        bad = view.reason;
        break;
      }
      // Copied so that one record kept by the consumer does not pin the whole chunk.
      const data = Buffer.from(buf.subarray(view.payloadStart, view.end));
      const frame = view.end - pos;
      const w = this.weigh(data);
      this.mem.push({ record: { seq: view.seq, data, appendedAt: view.appendedAt }, bytes: frame, weight: w });
      records++;
      bytes += frame;
      weight += w;
      pos = view.end;
    }
    if (records === 0 && bad === undefined) bad = `frame at offset ${offset} does not fit before the end of the durable data (${seg.end})`;
    seg.unread -= records;
    seg.unreadBytes -= bytes;
    seg.unreadWeight -= weight;
    this.memBytes += bytes;
    this.disk = { seg, offset: offset + pos };
    if (bad !== undefined) this.skipRestOfSegment(seg, offset + pos, bad);

    this.diskHead = undefined;
    if (!this.normalizeDisk()) return;
    const d = this.disk!;
    if (d.seg === seg && len - pos >= FRAME_HEADER_BYTES) {
      this.diskHead = peekHeader(buf, pos);
    } else {
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      const n = await readFully(this.fs, await this.readFdFor(d.seg), header, 0, FRAME_HEADER_BYTES, d.offset);
      if (n === FRAME_HEADER_BYTES) this.diskHead = peekHeader(header, 0);
    }
  }

  /**
   * Moves `disk` past exhausted segments. Returns false (and clears `disk`) once it reached the end
   * of the durable log: from then on new records are served from memory.
   */
  private normalizeDisk(): boolean {
    while (this.disk !== undefined && this.disk.offset >= this.disk.seg.end) {
      // By seq, not by index: the segment may have been deleted meanwhile.
      const after = this.disk.seg.firstSeq;
      const next = this.segments.find((s) => s.firstSeq > after);
      if (next === undefined) {
        this.disk = undefined;
        this.diskHead = undefined;
        this.closeReadFd();
        return false;
      }
      this.disk = { seg: next, offset: 0 };
    }
    return this.disk !== undefined;
  }

  /**
   * A frame read back after start failed its check: the disk changed bytes it had confirmed. The
   * rest of that segment cannot be re-synchronised; its records are counted as lost.
   */
  private skipRestOfSegment(seg: Segment, offset: number, reason: string): void {
    this.log.error(
      { code: ErrorCodes.SPOOL_CORRUPT.code, file: seg.file, offset, reason, lostRecords: seg.unread, lostBytes: seg.unreadBytes },
      `spool: corrupt record in ${seg.name} at offset ${offset} (${reason}); the ${seg.unread} records after it are lost`,
    );
    this.lost += seg.unread;
    this.pendingRecords -= seg.unread;
    this.pendingBytes -= seg.unreadBytes;
    this.pendingWeight -= seg.unreadWeight;
    seg.unacked -= seg.unread;
    seg.unread = 0;
    seg.unreadBytes = 0;
    seg.unreadWeight = 0;
    seg.end = offset;
    // Appending after bytes we cannot read would hide the new records too.
    seg.sealed = true;
    if (seg.unacked === 0 && seg !== this.appendSegment()) this.deleteSegment(seg);
  }

  private async readFdFor(seg: Segment): Promise<number> {
    if (this.readFd?.seg === seg) return this.readFd.fd;
    this.closeReadFd();
    const fd = await this.fs.open(seg.file, 'r');
    this.readFd = { seg, fd };
    return fd;
  }

  protected oldestPendingAt(): number | undefined {
    if (this.window.size > 0) return this.window.frontAppendedAt;
    if (this.memHead < this.mem.length) return this.mem[this.memHead]!.record.appendedAt;
    if (this.disk !== undefined) return this.diskHead?.appendedAt;
    return undefined;
  }
}
