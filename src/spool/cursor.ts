/**
 * The Spool's acknowledged position: acks in any order, the cursor (the first seq not acknowledged)
 * written to the cursor file at most every `cursorIntervalMs`, and segments deleted once every record
 * in them is acknowledged. See "Acknowledging, the cursor, and at-least-once" in README.md.
 */
import { ErrorCodes } from '../errors/catalog.js';
import { writeCursor } from './cursor-file.js';
import { SpoolRecovery } from './recovery.js';
import { errnoCode } from './spool-fs.js';
import type { Segment } from './state.js';

/** Acks and the cursor, on top of recovery. */
export abstract class SpoolCursor extends SpoolRecovery {
  /**
   * Marks a handed-out record as fully processed. Acks may come in any order; the cursor moves to
   * just before the lowest record still unacknowledged. Unknown or repeated seqs are ignored.
   */
  ack(seq: number): void {
    if (this.state !== 'running' && this.state !== 'stopping') return;
    const out = this.ackOut;
    if (!this.window.ack(seq, out)) return;
    this.acked++;
    this.pendingRecords--;
    this.pendingBytes -= out.bytes;
    this.capReached = false;
    this.pendingWeight -= out.weight;
    const seg = this.segmentOf(seq);
    if (seg !== undefined) {
      seg.unacked--;
      if (seg.unacked === 0 && seg !== this.appendSegment()) this.deleteSegment(seg);
    }
    if (this.cursor() !== this.persistedCursor) this.scheduleCursor();
  }

  /** Writes the cursor now if acks moved it; `stop()` does this too. */
  async syncCursor(): Promise<void> {
    while (this.cursorWrite) await this.cursorWrite;
    clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    await this.writeCursorNow();
  }

  /** The first seq not acknowledged: everything below it is done. */
  protected cursor(): number {
    // Records are handed out in seq order and only once durable, so every record not handed out
    // (or still being written) has a seq above the last one handed out.
    return this.window.size > 0 ? this.window.frontSeq : this.lastHandedOut + 1;
  }

  private segmentOf(seq: number): Segment | undefined {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    let found: Segment | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid]!.firstSeq <= seq) {
        found = segs[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private scheduleCursor(): void {
    if (this.cursorTimer !== undefined || this.cursorWrite !== undefined || this.state === 'stopped') return;
    const wait = Math.max(0, this.lastCursorWriteAt + this.cursorIntervalMs - Date.now());
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      void this.writeCursorNow();
    }, wait);
    this.cursorTimer.unref();
  }

  private async writeCursorNow(): Promise<void> {
    while (this.cursorWrite) await this.cursorWrite;
    const value = this.cursor();
    if (value === this.persistedCursor) return;
    this.cursorWrite = (async () => {
      try {
        await writeCursor(this.fs, this.dir, value, this.durable);
        this.persistedCursor = value;
        if (this.cursorFailing) {
          this.cursorFailing = false;
          this.log.info('spool: writing the cursor recovered');
        }
      } catch (err) {
        if (!this.cursorFailing) {
          this.cursorFailing = true;
          this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, dir: this.dir }, 'spool: writing the cursor failed; a restart will replay more records than needed');
        }
      } finally {
        this.lastCursorWriteAt = Date.now();
      }
    })();
    await this.cursorWrite;
    this.cursorWrite = undefined;
    if (this.cursor() !== this.persistedCursor) this.scheduleCursor();
  }

  /**
   * Removes a segment whose records are all acknowledged. Safe before the cursor is persisted past
   * it: a restart replays from the cursor whatever segments exist, and these records need no replay.
   */
  protected deleteSegment(seg: Segment): void {
    const i = this.segments.indexOf(seg);
    if (i < 0) return;
    this.segments.splice(i, 1);
    if (this.readFd?.seg === seg) this.closeReadFd();
    const p = (async () => {
      try {
        if (seg.fd !== undefined) {
          const fd = seg.fd;
          seg.fd = undefined;
          await this.fs.close(fd);
        }
        await this.fs.unlink(seg.file);
        // Space came back: let appends try the disk again.
        this.diskFullAt = undefined;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, file: seg.file }, 'spool: could not delete an acknowledged segment');
      }
    })();
    this.unlinks.add(p);
    void p.finally(() => this.unlinks.delete(p));
  }

  /** The segment appends go to, if it exists. */
  protected appendSegment(): Segment | undefined {
    const last = this.segments[this.segments.length - 1];
    return last !== undefined && !last.sealed ? last : undefined;
  }
}
