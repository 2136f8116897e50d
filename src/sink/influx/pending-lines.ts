/**
 * Cutting and joining PendingLines without copying their bytes: the writer's batches are pieces of
 * spool records, split where a batch fills up or a refused request is narrowed down, and copied
 * once, into the request body.
 */
import type { PendingLines } from './types.js';

const NEWLINE = 0x0a;

/** `lines` split after its first `n` lines (0 < n < count): two pieces over the same bytes. */
export function splitLines(lines: PendingLines, n: number): [PendingLines, PendingLines] {
  let nl = lines.start - 1;
  for (let i = 0; i < n; i++) nl = lines.data.indexOf(NEWLINE, nl + 1);
  if (nl < 0 || nl >= lines.end) throw new Error(`PendingLines holds fewer than its count of ${lines.count} lines`);
  const { data, context } = lines;
  return [
    { data, start: lines.start, end: nl, count: n, context },
    { data, start: nl + 1, end: lines.end, count: lines.count - n, context },
  ];
}

/** The first `lines >>> 1` lines of a batch and the rest, splitting a piece where the cut falls in it. */
export function halves(items: readonly PendingLines[], lines: number): [PendingLines[], PendingLines[]] {
  const want = lines >>> 1;
  const first: PendingLines[] = [];
  let taken = 0;
  let i = 0;
  for (; i < items.length && taken < want; i++) {
    const item = items[i]!;
    if (taken + item.count <= want) {
      first.push(item);
      taken += item.count;
    } else {
      const [head, tail] = splitLines(item, want - taken);
      first.push(head);
      taken = want;
      return [first, [tail, ...items.slice(i + 1)]];
    }
  }
  return [first, items.slice(i)];
}

/** Each line of a batch as its own piece (over the same bytes): only after a refusal. */
export function singleLines(items: readonly PendingLines[], lines: number): PendingLines[] {
  const out: PendingLines[] = new Array(lines);
  let n = 0;
  for (const { data, start, end, count, context } of items) {
    let from = start;
    for (let i = 0; i < count; i++) {
      const to = i === count - 1 ? end : data.indexOf(NEWLINE, from);
      if (to < 0 || to > end) throw new Error(`PendingLines holds fewer than its count of ${count} lines`);
      out[n++] = { data, start: from, end: to, count: 1, context };
      from = to + 1;
    }
  }
  return out;
}

/** Single lines back into as few pieces as they allow: neighbours in one buffer, with one context. */
export function joinRuns(lines: readonly PendingLines[]): PendingLines[] {
  const out: PendingLines[] = [];
  let run: PendingLines | undefined;
  for (const line of lines) {
    if (run !== undefined && run.data === line.data && run.context === line.context && run.end + 1 === line.start) {
      run = { data: run.data, start: run.start, end: line.end, count: run.count + 1, context: run.context };
    } else {
      if (run !== undefined) out.push(run);
      run = line;
    }
  }
  if (run !== undefined) out.push(run);
  return out;
}

/** The request body: every piece's bytes, newline-separated, in one Buffer. */
export function requestBody(items: readonly PendingLines[]): Buffer {
  let size = items.length - 1;
  for (const item of items) size += item.end - item.start;
  const body = Buffer.allocUnsafe(size);
  let off = 0;
  for (let i = 0; i < items.length; i++) {
    const { data, start, end } = items[i]!;
    if (i > 0) body[off++] = NEWLINE;
    body.set(start === 0 && end === data.length ? data : data.subarray(start, end), off);
    off += end - start;
  }
  return body;
}
