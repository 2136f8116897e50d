/**
 * The on-disk frame of one spool record, little-endian:
 *
 * ```
 * offset  0  u32  payload length
 * offset  4  u32  CRC-32 of bytes 8 … end (seq, appendedAt and payload)
 * offset  8  u64  seq
 * offset 16  u64  appendedAt (ms since the epoch)
 * offset 24       payload
 * ```
 *
 * The seq is stored rather than derived from the record's position so that a segment may have
 * gaps (a group whose write failed leaves its seqs unused) and so that recovery can tell a frame
 * that belongs there from stale bytes that happen to checksum.
 */
import { crc32 } from './crc32.js';

/** Bytes before the payload. */
export const FRAME_HEADER_BYTES = 24;

/**
 * Largest payload a frame may carry. A length above it is read as corruption, so it must stay
 * fixed for files already written.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

const TWO_POW_32 = 0x1_0000_0000;
/** High word of Number.MAX_SAFE_INTEGER: larger seqs or timestamps are corruption. */
const MAX_SAFE_HIGH = 0x1f_ffff;

/** Bytes one record takes on disk. */
export function frameBytes(payloadLength: number): number {
  return FRAME_HEADER_BYTES + payloadLength;
}

/** Writes one frame into `into` at `offset`; returns the offset just after it. */
export function encodeFrame(into: Buffer, offset: number, seq: number, appendedAt: number, payload: Buffer): number {
  into.writeUInt32LE(payload.length, offset);
  writeU64(into, offset + 8, seq);
  writeU64(into, offset + 16, appendedAt);
  payload.copy(into, offset + FRAME_HEADER_BYTES);
  const end = offset + FRAME_HEADER_BYTES + payload.length;
  into.writeUInt32LE(crc32(into.subarray(offset + 8, end)), offset + 4);
  return end;
}

/**
 * What `decodeFrame` found: `ok`, a whole valid frame (its fields are in the FrameView);
 * `incomplete`, the bytes end before the frame does (`view.needBytes` says how many it needs);
 * `corrupt`, not a frame this spool wrote (`view.reason` says why).
 */
export type FrameStatus = 'ok' | 'incomplete' | 'corrupt';

/** Reused across calls so that scanning a large log allocates nothing per record. */
export class FrameView {
  seq = 0;
  appendedAt = 0;
  /** Offset of the payload in the buffer. */
  payloadStart = 0;
  /** Offset just after the frame in the buffer. */
  end = 0;
  /** Bytes the frame needs from its start (Incomplete). */
  needBytes = 0;
  reason = '';
}

/**
 * Reads the frame that starts at `offset` of `buf`, looking no further than `limit`. A frame cut
 * by `limit` is Incomplete, not Corrupt: whether that is a torn write or just the end of a read
 * chunk only the caller knows.
 */
export function decodeFrame(buf: Buffer, offset: number, limit: number, view: FrameView): FrameStatus {
  const avail = limit - offset;
  if (avail < FRAME_HEADER_BYTES) {
    view.needBytes = FRAME_HEADER_BYTES;
    return 'incomplete';
  }
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_BYTES) {
    view.reason = `bad length ${length}`;
    return 'corrupt';
  }
  const total = FRAME_HEADER_BYTES + length;
  if (avail < total) {
    view.needBytes = total;
    return 'incomplete';
  }
  const end = offset + total;
  if (crc32(buf.subarray(offset + 8, end)) !== buf.readUInt32LE(offset + 4)) {
    view.reason = 'CRC mismatch';
    return 'corrupt';
  }
  const seqHigh = buf.readUInt32LE(offset + 12);
  const atHigh = buf.readUInt32LE(offset + 20);
  if (seqHigh > MAX_SAFE_HIGH || atHigh > MAX_SAFE_HIGH) {
    view.reason = 'seq or timestamp out of range';
    return 'corrupt';
  }
  view.seq = seqHigh * TWO_POW_32 + buf.readUInt32LE(offset + 8);
  view.appendedAt = atHigh * TWO_POW_32 + buf.readUInt32LE(offset + 16);
  view.payloadStart = offset + FRAME_HEADER_BYTES;
  view.end = end;
  return 'ok';
}

/**
 * The seq and appendedAt of a frame whose header is in `buf` at `offset`, without checking its
 * CRC (the payload may not have been read yet). For statistics only.
 */
export function peekHeader(buf: Buffer, offset: number): { seq: number; appendedAt: number } {
  return {
    seq: buf.readUInt32LE(offset + 12) * TWO_POW_32 + buf.readUInt32LE(offset + 8),
    appendedAt: buf.readUInt32LE(offset + 20) * TWO_POW_32 + buf.readUInt32LE(offset + 16),
  };
}

function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}
