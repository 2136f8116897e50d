/**
 * Segment files: `seg-<first seq, 16 digits>.log`, each a run of frames in seq order. The name
 * sorts as the number does, so a directory listing sorted by name is the log in order.
 */
import { decodeFrame, FRAME_HEADER_BYTES, FrameView } from './frame.js';
import { readFully, type SpoolFs } from './spool-fs.js';

const NAME = /^seg-(\d{16})\.log$/;

export function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

/** The first seq a segment file name stands for, or undefined when it is not a segment. */
export function parseSegmentName(name: string): number | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** What a scan of one segment found. */
export interface SegmentScan {
  /** File size when scanned. */
  readonly size: number;
  /** End of the last valid frame: where the readable log ends in this file. */
  readonly validEnd: number;
  /** Highest valid seq, or undefined when there is no valid frame. */
  readonly lastSeq: number | undefined;
  /** Valid frames with seq ≥ the cursor: pending. */
  readonly pendingRecords: number;
  readonly pendingBytes: number;
  readonly pendingWeight: number;
  /** Offset, seq and appendedAt of the first pending frame. */
  readonly firstPending: { readonly offset: number; readonly seq: number; readonly appendedAt: number } | undefined;
  /** Why scanning stopped before the end of the file, and where. */
  readonly bad: { readonly offset: number; readonly reason: string } | undefined;
}

export interface ScanOptions {
  /** Frames with a lower seq are acknowledged and not counted as pending. */
  readonly firstUnacked: number;
  /** Every frame's seq must be above this (the last seq of the segment before, and the name's seq − 1). */
  readonly afterSeq: number;
  readonly chunkBytes: number;
  /** Weight of a pending record's payload. */
  readonly weigh: (payload: Buffer) => number;
}

/**
 * Reads a segment from the start and checks every frame: length, CRC, seq order. Stops at the
 * first frame that is not valid; what comes after it cannot be trusted to start at a frame
 * boundary, so it is not looked at. Memory: one chunk, or one frame when a frame is larger.
 */
export async function scanSegment(fsx: SpoolFs, file: string, opts: ScanOptions): Promise<SegmentScan> {
  const fd = await fsx.open(file, 'r');
  try {
    const size = await fsx.size(fd);
    let buf = Buffer.allocUnsafe(Math.max(FRAME_HEADER_BYTES, Math.min(opts.chunkBytes, size)));
    let bufPos = 0; // file offset of buf[0]
    let bufLen = 0;
    let pos = 0; // file offset of the next frame
    let prevSeq = opts.afterSeq;
    let lastSeq: number | undefined;
    let pendingRecords = 0;
    let pendingBytes = 0;
    let pendingWeight = 0;
    let firstPending: SegmentScan['firstPending'];
    let bad: SegmentScan['bad'];
    const view = new FrameView();

    while (pos < size) {
      const off = pos - bufPos;
      const status = decodeFrame(buf, off, bufLen, view);
      if (status === 'ok') {
        if (view.seq <= prevSeq) {
          bad = { offset: pos, reason: `seq ${view.seq} out of order (after ${prevSeq})` };
          break;
        }
        prevSeq = lastSeq = view.seq;
        if (view.seq >= opts.firstUnacked) {
          if (firstPending === undefined) firstPending = { offset: pos, seq: view.seq, appendedAt: view.appendedAt };
          pendingRecords++;
          pendingBytes += view.end - off;
          pendingWeight += opts.weigh(buf.subarray(view.payloadStart, view.end));
        }
        pos = bufPos + view.end;
        continue;
      }
      if (status === 'corrupt') {
        bad = { offset: pos, reason: view.reason };
        break;
      }
      if (pos + view.needBytes > size) {
        bad = { offset: pos, reason: `short read: frame needs ${view.needBytes} bytes, ${size - pos} left in the file` };
        break;
      }
      // Keep the partial frame, make room for all of it, and read on.
      const keep = bufLen - off;
      if (view.needBytes > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(view.needBytes, opts.chunkBytes));
        buf.copy(bigger, 0, off, bufLen);
        buf = bigger;
      } else {
        buf.copy(buf, 0, off, bufLen);
      }
      bufPos = pos;
      bufLen = keep;
      const want = Math.min(buf.length - bufLen, size - (bufPos + bufLen));
      const n = await readFully(fsx, fd, buf, bufLen, want, bufPos + bufLen);
      bufLen += n;
      if (n < want) {
        bad = { offset: pos, reason: 'short read: the file shrank while it was scanned' };
        break;
      }
    }
    return { size, validEnd: pos, lastSeq, pendingRecords, pendingBytes, pendingWeight, firstPending, bad };
  } finally {
    await fsx.close(fd);
  }
}
