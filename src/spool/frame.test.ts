import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Portable } from './crc32.js';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameView } from './frame.js';

describe('crc32', () => {
  it('the portable table version agrees with the standard check value and with zlib', () => {
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
    for (const n of [0, 1, 7, 150, 4096]) {
      const data = randomBytes(n);
      expect(crc32Portable(data)).toBe(crc32(data));
      const half = n >> 1;
      expect(crc32Portable(data.subarray(half), crc32Portable(data.subarray(0, half)))).toBe(crc32(data));
    }
    expect(typeof (zlib as { crc32?: unknown }).crc32).toBe('function'); // Node ≥ 20.15: the native one is used
  });
});

describe('frame', () => {
  const encode = (seq: number, at: number, payload: Buffer) => {
    const buf = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
    encodeFrame(buf, 0, seq, at, payload);
    return buf;
  };

  it('round-trips seq, appendedAt and payload, including values above 2^32', () => {
    const payload = Buffer.from('hello');
    const buf = encode(2 ** 40 + 3, 1_750_000_000_123, payload);
    const v = new FrameView();
    expect(decodeFrame(buf, 0, buf.length, v)).toBe('ok');
    expect(v.seq).toBe(2 ** 40 + 3);
    expect(v.appendedAt).toBe(1_750_000_000_123);
    expect(buf.subarray(v.payloadStart, v.end).toString()).toBe('hello');
  });

  it('tells incomplete from corrupt', () => {
    const buf = encode(1, 2, Buffer.from('payload'));
    const v = new FrameView();
    expect(decodeFrame(buf, 0, 10, v)).toBe('incomplete');
    expect(v.needBytes).toBe(FRAME_HEADER_BYTES);
    expect(decodeFrame(buf, 0, buf.length - 1, v)).toBe('incomplete');
    expect(v.needBytes).toBe(buf.length);
    for (const at of [8, 16, FRAME_HEADER_BYTES + 3]) {
      const bad = Buffer.from(buf);
      bad[at] = bad[at]! ^ 1;
      expect(decodeFrame(bad, 0, bad.length, v)).toBe('corrupt');
      expect(v.reason).toBe('CRC mismatch');
    }
    const long = Buffer.from(buf);
    long.writeUInt32LE(0xffff_ffff, 0);
    expect(decodeFrame(long, 0, long.length, v)).toBe('corrupt');
    expect(v.reason).toMatch(/bad length/);
  });
});
