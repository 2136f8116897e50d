/**
 * The Spool's recovery: `start()` opens the directory, reads the cursor, checks every segment frame by
 * frame and truncates a torn tail of the last one. See "Crash recovery" in README.md.
 */
import path from 'node:path';
import { ErrorCodes } from '../errors/catalog.js';
import { CURSOR_TEMP_FILE, readCursor } from './cursor-file.js';
import { parseSegmentName, scanSegment } from './segment-files.js';
import { fsyncDir } from './spool-fs.js';
import { FIRST_SEQ, formatBytes, MiB, SpoolState, type Segment } from './state.js';
import type { RecoveryReport } from './types.js';

const SCAN_CHUNK_BYTES = 4 * MiB;

/** Recovery, the first layer on SpoolState. */
export abstract class SpoolRecovery extends SpoolState {
  protected async recover(): Promise<RecoveryReport> {
    const { fs, dir, log } = this;
    await fs.mkdir(dir);
    await fs.unlink(path.join(dir, CURSOR_TEMP_FILE)).catch(() => undefined);

    const cursorRead = await readCursor(fs, dir);
    let firstUnacked = FIRST_SEQ;
    if (cursorRead.kind === 'ok') firstUnacked = Math.max(FIRST_SEQ, cursorRead.firstUnacked);
    else if (cursorRead.kind === 'invalid') {
      log.warn({ code: ErrorCodes.SPOOL_CORRUPT.code, file: path.join(dir, 'cursor'), content: cursorRead.content }, 'spool cursor file unreadable: replaying every record on disk');
    }

    const names: { name: string; firstSeq: number }[] = [];
    for (const name of await fs.readdir(dir)) {
      const firstSeq = parseSegmentName(name);
      if (firstSeq !== undefined) names.push({ name, firstSeq });
    }
    names.sort((a, b) => a.firstSeq - b.firstSeq);

    let prevSeq = FIRST_SEQ - 1;
    let maxSeq = firstUnacked - 1;
    let truncatedBytes = 0;
    let skippedBytes = 0;
    const corruptSegments: string[] = [];
    let dirChanged = false;

    for (let i = 0; i < names.length; i++) {
      const { name, firstSeq } = names[i]!;
      const file = path.join(dir, name);
      const isLast = i === names.length - 1;
      // A segment's name is the seq of the first record written to it (or of a group that failed).
      maxSeq = Math.max(maxSeq, firstSeq);
      const scan = await scanSegment(fs, file, {
        firstUnacked,
        afterSeq: Math.max(prevSeq, firstSeq - 1),
        chunkBytes: SCAN_CHUNK_BYTES,
        weigh: (payload) => this.weigh(payload),
      });
      if (scan.lastSeq !== undefined) {
        prevSeq = scan.lastSeq;
        maxSeq = Math.max(maxSeq, scan.lastSeq);
      }
      if (scan.bad !== undefined) {
        const dropped = scan.size - scan.bad.offset;
        if (isLast) {
          // A crash mid-write leaves a torn frame at the very end; nothing after it was ever
          // acknowledged to a producer, because done() waits for the fdatasync that covers it.
          log.warn(
            { code: ErrorCodes.SPOOL_CORRUPT.code, file, offset: scan.bad.offset, droppedBytes: dropped, reason: scan.bad.reason },
            `spool: torn or corrupt tail in ${name} at offset ${scan.bad.offset} (${scan.bad.reason}); truncated, ${dropped} bytes dropped`,
          );
          await this.truncateFile(file, scan.bad.offset);
          truncatedBytes += dropped;
        } else {
          log.error(
            { code: ErrorCodes.SPOOL_CORRUPT.code, file, offset: scan.bad.offset, skippedBytes: dropped, reason: scan.bad.reason },
            `spool: corrupt record in ${name} at offset ${scan.bad.offset} (${scan.bad.reason}); the rest of that segment (${dropped} bytes) cannot be read and is skipped, later segments are kept`,
          );
          corruptSegments.push(name);
          skippedBytes += dropped;
        }
      }
      if (scan.pendingRecords === 0) {
        await fs.unlink(file);
        dirChanged = true;
        continue;
      }
      const seg: Segment = {
        firstSeq,
        name,
        file,
        end: scan.validEnd,
        unacked: scan.pendingRecords,
        unread: scan.pendingRecords,
        unreadBytes: scan.pendingBytes,
        unreadWeight: scan.pendingWeight,
        fd: undefined,
        // Appends after a restart always start a new segment.
        sealed: true,
      };
      this.segments.push(seg);
      this.pendingRecords += scan.pendingRecords;
      this.pendingBytes += scan.pendingBytes;
      this.pendingWeight += scan.pendingWeight;
      if (this.disk === undefined && scan.firstPending !== undefined) {
        this.disk = { seg, offset: scan.firstPending.offset };
        this.diskHead = { seq: scan.firstPending.seq, appendedAt: scan.firstPending.appendedAt };
      }
    }
    if (dirChanged && this.durable) await fsyncDir(fs, dir);

    this.nextSeq = maxSeq + 1;
    this.appended = this.pendingRecords;
    this.lastHandedOut = firstUnacked - 1;
    this.persistedCursor = cursorRead.kind === 'ok' ? cursorRead.firstUnacked : -1;
    this.state = 'running';
    const report: RecoveryReport = {
      records: this.pendingRecords,
      bytes: this.pendingBytes,
      weight: this.pendingWeight,
      segments: this.segments.length,
      truncatedBytes,
      corruptSegments,
      skippedBytes,
      nextSeq: this.nextSeq,
    };
    if (report.records > 0 || truncatedBytes > 0 || corruptSegments.length > 0) {
      log.info({ ...report, dir }, `spool: ${report.records} records (${formatBytes(report.bytes)}) pending from before the last stop`);
    }
    return report;
  }

  private async truncateFile(file: string, length: number): Promise<void> {
    const fd = await this.fs.open(file, 'r+');
    try {
      await this.fs.ftruncate(fd, length);
      if (this.durable) await this.fs.fdatasync(fd);
    } finally {
      await this.fs.close(fd);
    }
  }
}
