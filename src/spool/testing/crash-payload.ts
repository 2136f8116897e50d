/**
 * Payloads of the kill -9 test: each names its index and is otherwise derived from it, so the test
 * can check any recovered record byte for byte, including ones whose `done` it never saw.
 */

/** Payload number `i`: "i=<i>;" then 10–400 pseudo-random bytes seeded by `i`. */
export function crashPayload(i: number): Buffer {
  const head = Buffer.from(`i=${i};`);
  const length = 10 + ((i * 7919) % 391);
  const body = Buffer.allocUnsafe(length);
  let x = (i + 1) * 2654435761;
  for (let k = 0; k < length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[k] = x & 0xff;
  }
  return Buffer.concat([head, body]);
}

/** The index a payload names, or undefined when it does not look like one. */
export function crashPayloadIndex(data: Buffer): number | undefined {
  const m = /^i=(\d+);/.exec(data.subarray(0, 24).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
