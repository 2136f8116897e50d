/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of a byte range, as stored in every spool frame.
 * Node's native `zlib.crc32` (Node ≥ 20.15) is used when present; the table version keeps the
 * spool loadable on older Node 20 releases, which `engines` still allows.
 */
import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

let table: Uint32Array | undefined;

/** Table-driven CRC-32; exported so a test can hold it to the native one. */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let crc = ~initial >>> 0;
  for (let i = 0; i < data.length; i++) crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

// A default import: a named `{ crc32 }` import would fail to link on Node < 20.15.
const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`, continuing from `initial` (the CRC of the bytes before it). */
export const crc32: Crc32 = typeof native === 'function' ? native : crc32Portable;
