import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { createLogger } from '../observability/logger.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { segmentName } from './segment-files.js';
import { nodeSpoolFs, type SpoolFs } from './spool-fs.js';
import { Spool, type SpoolOptions, type SpoolRecord } from './spool.js';
import { crashPayload, crashPayloadIndex } from './testing/crash-payload.js';

const here = path.dirname(fileURLToPath(import.meta.url));

let dir: string;
const open_: Spool[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-spool-'));
});

afterEach(async () => {
  for (const s of open_.splice(0)) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

function spool(opts: Partial<SpoolOptions> = {}): Spool {
  const s = new Spool({ dir, maxBytes: 64 * 1024 * 1024, ...opts });
  open_.push(s);
  return s;
}

function payload(i: number, size = 100): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.write(`rec-${i}-`, 0, 'latin1');
  return b;
}

/** Appends and resolves once `done` fired, with the seq; rejects with the refusal. */
function append(s: Spool, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const seq = s.append(data, (err) => (err ? reject(err) : resolve(seq)));
  });
}

/** Reads until `n` records arrived (in as many read() calls as it takes). */
async function readN(s: Spool, n: number, batch = 1000): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  while (out.length < n) {
    const got = await withTimeout(s.read(Math.min(batch, n - out.length)), 5000, `read: ${out.length} of ${n} records arrived`);
    expect(got.length).toBeGreaterThan(0);
    out.push(...got);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))),
  ]);
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function segmentFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();
}

async function cursorOnDisk(): Promise<number> {
  return (JSON.parse(await readFile(path.join(dir, 'cursor'), 'utf8')) as { firstUnacked: number }).firstUnacked;
}

function frame(size: number): number {
  return FRAME_HEADER_BYTES + size;
}

function refusal(p: Promise<unknown>): Promise<CitypipeError> {
  return p.then(
    () => {
      throw new Error('expected the append to be refused');
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(CitypipeError);
      return err as CitypipeError;
    },
  );
}

describe('Spool: append, read, ack', () => {
  it('round-trips records and moves the cursor to the lowest unacknowledged seq as acks arrive out of order', async () => {
    const s = spool();
    await s.start();
    const before = Date.now();
    const seqs = await Promise.all([1, 2, 3, 4, 5].map((i) => append(s, payload(i))));
    const after = Date.now();
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(s.stats()).toMatchObject({ pendingRecords: 5, pendingBytes: 5 * frame(100), appended: 5, acked: 0, queuedRecords: 0 });

    const got = await s.read(10);
    expect(got.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    got.forEach((r, k) => {
      expect(r.data.equals(payload(k + 1))).toBe(true);
      expect(r.appendedAt).toBeGreaterThanOrEqual(before);
      expect(r.appendedAt).toBeLessThanOrEqual(after);
    });
    expect(s.stats().oldestPendingAt).toBe(got[0]!.appendedAt);

    s.ack(4);
    s.ack(2);
    await s.syncCursor();
    expect(await cursorOnDisk()).toBe(1);
    expect(s.stats()).toMatchObject({ pendingRecords: 3, pendingBytes: 3 * frame(100), acked: 2 });

    s.ack(1);
    await s.syncCursor();
    expect(await cursorOnDisk()).toBe(3);
    s.ack(3);
    s.ack(3); // repeated
    s.ack(99); // never handed out
    await s.syncCursor();
    expect(await cursorOnDisk()).toBe(5);
    expect(s.stats()).toMatchObject({ pendingRecords: 1, acked: 4, appended: 5 });
    expect(s.stats().oldestPendingAt).toBe(got[4]!.appendedAt);

    s.ack(5);
    expect(s.stats()).toMatchObject({ pendingRecords: 0, pendingBytes: 0, oldestPendingAt: undefined, acked: 5 });
  });

  it('hands a record out once, waits for new ones, and answers [] once stopped', async () => {
    const s = spool();
    await s.start();
    const waiting = s.read(10);
    const seq = await append(s, payload(7));
    expect((await waiting).map((r) => r.seq)).toEqual([seq]);
    let settled = false;
    const next = s.read(10).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // the record handed out above does not come again
    await s.stop();
    expect(await next).toEqual([]);
    const err = await refusal(append(s, payload(8)));
    expect(err.code).toBe(ErrorCodes.SPOOL_STOPPED.code);
  });

  it('deletes a segment once all its records are acknowledged, and the last one at stop', async () => {
    // 4 frames of 224 bytes per 1000-byte segment.
    const s = spool({ segmentBytes: 1000 });
    await s.start();
    for (let i = 1; i <= 20; i++) await append(s, payload(i, 200));
    expect(await segmentFiles()).toEqual([1, 5, 9, 13, 17].map(segmentName));
    const got = await readN(s, 20);

    // Segment 5–8 fully acknowledged while seq 1 is not: it goes, although the cursor is before it.
    for (const seq of [8, 6, 5, 7]) s.ack(seq);
    await until(async () => !(await segmentFiles()).includes(segmentName(5)), 'segment 5 deleted');
    expect(await segmentFiles()).toEqual([1, 9, 13, 17].map(segmentName));

    for (const r of [...got].reverse()) s.ack(r.seq);
    await until(async () => (await segmentFiles()).length === 1, 'acknowledged segments deleted');
    expect(await segmentFiles()).toEqual([segmentName(17)]); // still being appended to
    await s.stop();
    expect(await segmentFiles()).toEqual([]);
    expect(await cursorOnDisk()).toBe(21);
    expect(s.stats()).toMatchObject({ pendingRecords: 0, appended: 20, acked: 20 });

    const again = spool();
    expect(await again.start()).toMatchObject({ records: 0, nextSeq: 21 });
    expect(await append(again, payload(21))).toBe(21);
  });

  it('replays after a restart exactly the records from the cursor on, with their data and appendedAt', async () => {
    const s = spool();
    await s.start();
    for (let i = 1; i <= 10; i++) await append(s, payload(i, 10 + i * 13));
    const original = await readN(s, 10);
    for (const seq of [1, 2, 3, 5, 7]) s.ack(seq);
    await s.stop();
    expect(await cursorOnDisk()).toBe(4);

    const r = spool();
    const report = await r.start();
    // 5 and 7 were acknowledged above the cursor: at-least-once, they come again.
    const expected = original.filter((o) => o.seq >= 4);
    expect(report).toMatchObject({ records: 7, bytes: expected.reduce((n, o) => n + frame(o.data.length), 0), truncatedBytes: 0, corruptSegments: [] });
    expect(r.stats()).toMatchObject({ pendingRecords: 7, appended: 7, acked: 0 });
    const replayed = await readN(r, 7);
    expect(replayed.map((x) => ({ seq: x.seq, data: x.data.toString('hex'), at: x.appendedAt }))).toEqual(
      expected.map((x) => ({ seq: x.seq, data: x.data.toString('hex'), at: x.appendedAt })),
    );
    expect(await append(r, payload(11))).toBe(11);
  });

  it('after a crash, replays the records acknowledged since the last cursor write', async () => {
    const crashed = spool({ cursorIntervalMs: 60_000 });
    await crashed.start();
    for (let i = 1; i <= 10; i++) await append(crashed, payload(i));
    await readN(crashed, 10);
    for (let seq = 1; seq <= 4; seq++) crashed.ack(seq);
    await crashed.syncCursor();
    expect(await cursorOnDisk()).toBe(5);
    for (let seq = 5; seq <= 10; seq++) crashed.ack(seq); // the next cursor write is a minute away
    expect(crashed.stats().pendingRecords).toBe(0);

    // No stop(): a second instance finds what a crash would leave.
    const r = new Spool({ dir, maxBytes: 1 << 20 });
    expect((await r.start()).records).toBe(6);
    expect((await readN(r, 6)).map((x) => x.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    await r.stop();
  });

  it('reads a backlog larger than memoryBytes back from disk, in order, in chunks', async () => {
    let reads = 0;
    const fsx: SpoolFs = { ...nodeSpoolFs, read: (...a) => (reads++, nodeSpoolFs.read(...a)) };
    const s = spool({ fs: fsx, memoryBytes: 4096, readChunkBytes: 2048 });
    await s.start();
    const sizes = (i: number) => (i === 150 ? 10_000 : 20 + (i % 90)); // one record larger than a chunk
    const first = Date.now();
    await Promise.all(Array.from({ length: 300 }, (_, k) => append(s, payload(k + 1, sizes(k + 1)))));
    expect(s.stats().oldestPendingAt).toBeGreaterThanOrEqual(first);
    const readsBefore = reads;
    const got = await readN(s, 300, 37);
    expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, k) => k + 1));
    got.forEach((r) => expect(r.data.equals(payload(r.seq, sizes(r.seq)))).toBe(true));
    // ~35 KB through 2 KiB chunks.
    expect(reads - readsBefore).toBeGreaterThanOrEqual(15);

    // Caught up: new records come from memory.
    const readsCaughtUp = reads;
    const more = s.read(10);
    await append(s, payload(301));
    expect((await more).map((r) => r.seq)).toEqual([301]);
    expect(reads).toBe(readsCaughtUp);
    expect(s.stats()).toMatchObject({ pendingRecords: 301, appended: 301 });
  });

  it('tells oldestPendingAt of a backlog still on disk', async () => {
    const s = spool({ memoryBytes: 1024, readChunkBytes: 1024 });
    await s.start();
    for (let i = 1; i <= 40; i++) await append(s, payload(i));
    const firstBatch = await s.read(3);
    for (const r of firstBatch) s.ack(r.seq);
    // The next unacknowledged record is seq 4: read back from disk, but not handed out yet.
    const rest = await readN(s, 37);
    expect(rest[0]!.seq).toBe(4);
    expect(s.stats().oldestPendingAt).toBe(rest[0]!.appendedAt);
  });
});

describe('Spool: group commit', () => {
  /** The real fs, with fdatasyncs counted and held by `hold` first, and what each one made durable. */
  function observedFs(hold: () => Promise<void>) {
    const o = { fdatasyncs: 0, writtenEnd: 0, durableEnd: 0 };
    const fsx: SpoolFs = {
      ...nodeSpoolFs,
      write: async (fd, buffer, offset, length, position) => {
        const n = await nodeSpoolFs.write(fd, buffer, offset, length, position);
        o.writtenEnd = Math.max(o.writtenEnd, position + n);
        return n;
      },
      fdatasync: async (fd) => {
        o.fdatasyncs++;
        const covers = o.writtenEnd;
        await hold();
        await nodeSpoolFs.fdatasync(fd);
        o.durableEnd = Math.max(o.durableEnd, covers);
      },
    };
    return { fsx, o };
  }

  it('writes appends made in one turn of the event loop with one fdatasync', async () => {
    const { fsx, o } = observedFs(() => new Promise((r) => setTimeout(r, 2)));
    const s = spool({ fs: fsx });
    await s.start();
    const seqs = await Promise.all(Array.from({ length: 1000 }, (_, i) => append(s, payload(i, 150))));
    expect(seqs).toHaveLength(1000);
    expect(o.fdatasyncs).toBe(1);
    expect(s.stats()).toMatchObject({ groups: 1, fsyncs: 1, pendingRecords: 1000 });
  });

  it('groups appends that arrive while an fdatasync is in flight, and calls done only after the data is durable', async () => {
    // Each fdatasync is in flight for 10 turns of the loop below, counted, not timed: how many turns
    // a wall-clock delay spans depends on how busy the machine is, and so would the group count.
    const SYNC_TURNS = 10;
    let turnsDone = 0;
    let waiting: { until: number; release: () => void }[] = [];
    const afterTurns = (n: number) => new Promise<void>((release) => waiting.push({ until: turnsDone + n, release }));
    const turnDone = (last: boolean) => {
      turnsDone++;
      for (const w of waiting) if (last || w.until <= turnsDone) w.release();
      waiting = last ? [] : waiting.filter((w) => w.until > turnsDone);
    };
    let appending = true;
    const { fsx, o } = observedFs(() => (appending ? afterTurns(SYNC_TURNS) : Promise.resolve()));
    const s = spool({ fs: fsx });
    await s.start();
    const size = 150;
    const dones: Promise<void>[] = [];
    let violations = 0;
    // 2000 appends, 10 per turn of the event loop, as MQTT packets would arrive.
    const TURNS = 200;
    for (let turn = 0; turn < TURNS; turn++) {
      for (let k = 0; k < 10; k++) {
        dones.push(
          new Promise<void>((resolve, reject) => {
            const seq = s.append(payload(turn * 10 + k, size), (err) => {
              if (err) return reject(err);
              // Seqs start at 1 in one segment, all frames the same size: seq n ends at n frames.
              if (o.durableEnd < seq * frame(size)) violations++;
              resolve();
            });
          }),
        );
      }
      await new Promise((r) => setImmediate(r));
      if (turn === TURNS - 1) appending = false;
      turnDone(turn === TURNS - 1);
    }
    await Promise.all(dones);
    expect(violations).toBe(0);
    // One fdatasync per turn would be 200; one in flight for 10 turns takes what they bring at once
    // (at most one sync starts every 10 turns, and one more for the last turns' appends).
    expect(o.fdatasyncs).toBeGreaterThan(1);
    expect(o.fdatasyncs).toBeLessThanOrEqual(TURNS / SYNC_TURNS + 1);
    expect(s.stats().fsyncs).toBe(o.fdatasyncs);
    const got = await readN(s, 2000);
    got.forEach((r, i) => expect(r.data.equals(payload(i, size))).toBe(true));
  });
});

describe('Spool: crash recovery', () => {
  async function writeAndStop(n: number, size: number, opts: Partial<SpoolOptions> = {}): Promise<void> {
    const s = new Spool({ dir, maxBytes: 1 << 24, ...opts });
    await s.start();
    for (let i = 1; i <= n; i++) await append(s, payload(i, size));
    await s.stop();
  }

  async function flipByte(file: string, offset: number): Promise<void> {
    const fh = await open(file, 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, offset);
      b[0] = b[0]! ^ 0x5a;
      await fh.write(b, 0, 1, offset);
    } finally {
      await fh.close();
    }
  }

  async function checkRecords(s: Spool, seqs: number[], size: number): Promise<void> {
    const got = await readN(s, seqs.length);
    expect(got.map((r) => r.seq)).toEqual(seqs);
    got.forEach((r) => expect(r.data.equals(payload(r.seq, size))).toBe(true));
  }

  it('cuts a torn tail (a record cut mid-way), keeps what precedes it, and goes on appending', async () => {
    await writeAndStop(20, 100);
    const file = path.join(dir, segmentName(1));
    await truncate(file, 20 * frame(100) - 50);

    const logged: Record<string, unknown>[] = [];
    const s = spool({ log: createLogger('warn', { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) }) });
    const report = await s.start();
    expect(report).toMatchObject({ records: 19, bytes: 19 * frame(100), truncatedBytes: frame(100) - 50, corruptSegments: [] });
    expect(logged).toMatchObject([{ level: 40, stage: 'spool', code: 'CP_ERR_SPOOL_CORRUPT', file, offset: 19 * frame(100), droppedBytes: frame(100) - 50 }]);
    expect((await stat(file)).size).toBe(19 * frame(100));
    await checkRecords(s, Array.from({ length: 19 }, (_, k) => k + 1), 100);
    // Record 20 never reached the disk whole, so no producer was told it did: its seq is free.
    expect(await append(s, payload(20))).toBe(20);
    expect(await append(s, payload(21))).toBe(21);
    await s.stop();

    const again = spool();
    expect(await again.start()).toMatchObject({ records: 21, truncatedBytes: 0, corruptSegments: [] });
    await checkRecords(again, Array.from({ length: 21 }, (_, k) => k + 1), 100);
  });

  it('cuts a tail record whose bytes were corrupted (CRC mismatch)', async () => {
    await writeAndStop(20, 100);
    const file = path.join(dir, segmentName(1));
    await flipByte(file, 19 * frame(100) + FRAME_HEADER_BYTES + 40);

    const s = spool();
    expect(await s.start()).toMatchObject({ records: 19, truncatedBytes: frame(100), corruptSegments: [] });
    await checkRecords(s, Array.from({ length: 19 }, (_, k) => k + 1), 100);
    expect(await append(s, payload(20))).toBe(20);
    await s.stop();
    const again = spool();
    expect(await again.start()).toMatchObject({ records: 20, truncatedBytes: 0 });
  });

  it('a header with an impossible length at the tail is cut as well', async () => {
    await writeAndStop(3, 100);
    const file = path.join(dir, segmentName(1));
    const fh = await open(file, 'r+');
    await fh.write(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 2 * frame(100));
    await fh.close();
    const s = spool();
    expect(await s.start()).toMatchObject({ records: 2, truncatedBytes: frame(100) });
  });

  it('skips the rest of an older segment after a corrupt record and keeps the later segments', async () => {
    // 5 frames of 124 bytes per 700-byte segment: 1–5, 6–10, 11–15.
    await writeAndStop(15, 100, { segmentBytes: 700 });
    expect(await segmentFiles()).toEqual([1, 6, 11].map(segmentName));
    await flipByte(path.join(dir, segmentName(1)), 2 * frame(100) + FRAME_HEADER_BYTES + 7);

    const s = spool();
    const report = await s.start();
    expect(report).toMatchObject({ records: 12, truncatedBytes: 0, corruptSegments: [segmentName(1)], skippedBytes: 3 * frame(100) });
    await checkRecords(s, [1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 100);
    expect(await append(s, payload(16))).toBe(16);
  });

  it('replays everything on disk when the cursor file is unreadable', async () => {
    const s = spool();
    await s.start();
    for (let i = 1; i <= 4; i++) await append(s, payload(i));
    for (const r of await readN(s, 4)) s.ack(r.seq);
    await s.syncCursor();
    await writeFile(path.join(dir, 'cursor'), 'not json');
    // No stop(): the last segment (all acknowledged) would be deleted.
    const r = new Spool({ dir, maxBytes: 1 << 20 });
    expect((await r.start()).records).toBe(4);
    await r.stop();
  });

  it('a record found corrupt when the backlog is read back after start: the rest of its segment is counted as lost', async () => {
    // 5 frames of 124 bytes per 700-byte segment; beyond 4 frames in memory, records stay on disk.
    const s = spool({ memoryBytes: 4 * frame(100), segmentBytes: 700 });
    await s.start();
    for (let i = 1; i <= 15; i++) await append(s, payload(i, 100));
    await flipByte(path.join(dir, segmentName(6)), frame(100) + FRAME_HEADER_BYTES + 3); // seq 7

    const got = await readN(s, 11);
    expect(got.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15]);
    got.forEach((r) => expect(r.data.equals(payload(r.seq, 100))).toBe(true));
    const st = s.stats();
    expect(st).toMatchObject({ appended: 15, lost: 4, acked: 0, pendingRecords: 11, pendingBytes: 11 * frame(100) });
    expect(st.pendingRecords).toBe(st.appended - st.acked - st.lost);
    s.ack(6);
    await until(async () => !(await segmentFiles()).includes(segmentName(6)), 'corrupt segment deleted once its readable records are acknowledged');
  });

  it('retries a failed read of the backlog', async () => {
    let failReads = 0;
    const fsx: SpoolFs = {
      ...nodeSpoolFs,
      read: (...a) => {
        if (failReads === 0) return nodeSpoolFs.read(...a);
        failReads--;
        return Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
      },
    };
    const s = spool({ fs: fsx, memoryBytes: 0 });
    await s.start();
    for (let i = 1; i <= 3; i++) await append(s, payload(i));
    failReads = 1;
    const got = await readN(s, 3);
    expect(got.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(failReads).toBe(0);
  });

  it('when a failed write cannot be undone, later appends go to a new segment and the garbage is skipped on restart', async () => {
    let failWrite = false;
    let failTruncate = false;
    const eio = () => Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    const fsx: SpoolFs = {
      ...nodeSpoolFs,
      write: async (fd, buffer, offset, length, position) => {
        if (!failWrite) return nodeSpoolFs.write(fd, buffer, offset, length, position);
        failWrite = false;
        await nodeSpoolFs.write(fd, buffer, offset, Math.floor(length / 2), position);
        throw eio();
      },
      ftruncate: (fd, length) => (failTruncate ? Promise.reject(eio()) : nodeSpoolFs.ftruncate(fd, length)),
    };
    const s = spool({ fs: fsx });
    await s.start();
    for (let i = 1; i <= 3; i++) await append(s, payload(i));
    failWrite = failTruncate = true;
    const err = await refusal(append(s, payload(4)));
    expect(err.code).toBe(ErrorCodes.SPOOL_IO.code);
    failTruncate = false;
    expect(await append(s, payload(5))).toBe(5);
    expect(await append(s, payload(6))).toBe(6);
    expect(await segmentFiles()).toEqual([segmentName(1), segmentName(5)]);
    await s.stop();

    const again = spool();
    const report = await again.start();
    expect(report).toMatchObject({ records: 5, corruptSegments: [segmentName(1)], skippedBytes: Math.floor(frame(100) / 2) });
    await checkRecords(again, [1, 2, 3, 5, 6], 100);
  });

  it('survives kill -9: every record whose done fired is there after a restart, byte for byte', async () => {
    // The child reports to a file (crash-child.ts says why not a pipe), outside the spool's folder.
    const reportDir = await mkdtemp(path.join(tmpdir(), 'citypipe-spool-report-'));
    const reportFile = path.join(reportDir, 'report.txt');
    await writeFile(reportFile, '');
    const child = spawn(process.execPath, ['--import', pathToFileURL(path.join(here, 'testing/register-ts.mjs')).href, path.join(here, 'testing/crash-child.ts'), dir, reportFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {},
    });
    const done = new Map<number, number>(); // seq → payload index
    const acked = new Set<number>();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<string>((resolve) => child.on('close', (code, signal) => resolve(signal ?? `exit code ${code}`)));
    let readTo = 0;
    let partial = '';
    /** Takes in the report's lines written since the last call. */
    const readReport = async () => {
      const fh = await open(reportFile, 'r');
      try {
        const { size } = await fh.stat();
        if (size <= readTo) return;
        const buf = Buffer.alloc(size - readTo);
        const { bytesRead } = await fh.read(buf, 0, buf.length, readTo);
        readTo += bytesRead;
        const lines = (partial + buf.subarray(0, bytesRead).toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          const [kind, a, b] = line.split(' ');
          if (kind === 'd') done.set(Number(a), Number(b));
          else if (kind === 'a') acked.add(Number(a));
          else if (kind === 'e') stderr += `${line}\n`;
        }
      } finally {
        await fh.close();
      }
    };
    try {
      try {
        // ~1 s on a machine to itself, 13 s measured beside two CPU hogs (a child that loads TypeScript
        // and fsyncs every group); the deadline and the test's timeout leave room for worse.
        await until(
          async () => {
            await readReport();
            return (done.size >= 3000 && acked.size >= 1000) || child.exitCode !== null;
          },
          'child appended 3000 records',
          60_000,
        );
        // Then the kill lands anywhere in the child's cycle, not just after a group's dones came in.
        await new Promise((r) => setTimeout(r, Math.random() * 500));
      } finally {
        child.kill('SIGKILL');
      }
      expect(await exited).toBe('SIGKILL');
      // Everything the child reported before it died, now that nothing more can come.
      await readReport();
    } finally {
      await rm(reportDir, { recursive: true, force: true });
    }
    expect(stderr).toBe('');

    const s = spool();
    const report = await s.start();
    const recovered = await readN(s, report.records, 5000);
    const bySeq = new Map(recovered.map((r) => [r.seq, r]));
    let missing = 0;
    for (const [seq, index] of done) {
      const r = bySeq.get(seq);
      if (r === undefined) {
        // Only an acknowledged record may be gone (its segment deleted or behind the cursor).
        if (!acked.has(seq)) missing++;
        continue;
      }
      expect(r.data.equals(crashPayload(index))).toBe(true);
    }
    expect(missing).toBe(0);
    // Recovered records whose done was not seen yet must still be whole.
    for (const r of recovered) {
      const index = crashPayloadIndex(r.data);
      expect(index).toBeDefined();
      expect(r.data.equals(crashPayload(index!))).toBe(true);
    }
    expect(report.corruptSegments).toEqual([]);
  }, 90_000);
});

describe('Spool: bounded disk', () => {
  it('refuses appends at maxBytes without losing what is stored, and takes them again after acks', async () => {
    const size = 100;
    const s = spool({ maxBytes: 10 * frame(size) });
    await s.start();
    for (let i = 1; i <= 10; i++) await append(s, payload(i, size));
    expect(s.isFull()).toBe(true);
    expect(s.fullReason).toMatch(/^spool full: 1\.2 KiB of 1\.2 KiB pending \(InfluxDB unreachable\?\)$/);

    let seq = 0;
    const refused = new Promise<Error | undefined>((resolve) => (seq = s.append(payload(11, size), resolve)));
    expect(seq).toBe(-1);
    const err = (await refused) as CitypipeError;
    expect(err.code).toBe(ErrorCodes.SPOOL_FULL.code);
    expect(err.retryable).toBe(true);
    expect(s.stats()).toMatchObject({ pendingRecords: 10, pendingBytes: 10 * frame(size) });

    const got = await readN(s, 10);
    got.forEach((r, k) => expect(r.data.equals(payload(k + 1, size))).toBe(true));
    for (const r of got.slice(0, 3)) s.ack(r.seq);
    expect(s.isFull()).toBe(false);
    expect(s.fullReason).toBeUndefined();
    for (let i = 11; i <= 13; i++) expect(await append(s, payload(i, size))).toBe(i);
    expect((await refusal(append(s, payload(14, size)))).code).toBe(ErrorCodes.SPOOL_FULL.code);
    await s.stop();

    // Recovered records count against the cap too.
    const again = spool({ maxBytes: 10 * frame(size) });
    expect((await again.start()).records).toBe(10);
    expect(again.isFull()).toBe(true);
  });

  it('refuses a record that could never fit, as not retryable', async () => {
    const s = spool({ maxBytes: 1000 });
    await s.start();
    const err = await refusal(append(s, Buffer.alloc(1000)));
    expect(err.code).toBe(ErrorCodes.SPOOL_RECORD_TOO_LARGE.code);
    expect(err.retryable).toBe(false);
    expect(s.isFull()).toBe(false);
  });

  it('on ENOSPC refuses with CP_ERR_SPOOL_FULL, undoes the partial write, and recovers when acks free a segment', async () => {
    let noSpace = false;
    let partialDone = false;
    const fsx: SpoolFs = {
      ...nodeSpoolFs,
      write: async (fd, buffer, offset, length, position) => {
        if (!noSpace) return nodeSpoolFs.write(fd, buffer, offset, length, position);
        if (!partialDone && length > 1) {
          // What a filling disk does: part of the write lands, the rest fails.
          partialDone = true;
          return nodeSpoolFs.write(fd, buffer, offset, Math.floor(length / 2), position);
        }
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      },
    };
    const size = 100;
    // Two frames per segment: 1–2, 3–4, 5.
    const s = spool({ fs: fsx, segmentBytes: 2 * frame(size) });
    await s.start();
    for (let i = 1; i <= 5; i++) await append(s, payload(i, size));

    noSpace = true;
    const errors = await Promise.all([6, 7].map((i) => refusal(append(s, payload(i, size)))));
    for (const err of errors) {
      expect(err.code).toBe(ErrorCodes.SPOOL_FULL.code);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/disk full.*ENOSPC/);
    }
    expect(partialDone).toBe(true);
    expect(s.isFull()).toBe(true);
    expect(s.fullReason).toMatch(/^spool disk full: no space left on the device of .* \(ENOSPC\)/);
    // While the disk is full, appends are refused without trying.
    expect((await refusal(append(s, payload(8, size)))).message).toMatch(/ENOSPC/);
    expect((await stat(path.join(dir, segmentName(5)))).size).toBe(frame(size));
    expect(s.stats()).toMatchObject({ pendingRecords: 5, queuedRecords: 0, queuedBytes: 0 });

    noSpace = false;
    const got = await readN(s, 5);
    s.ack(got[0]!.seq);
    expect(s.isFull()).toBe(true); // segment 1–2 still holds seq 2
    s.ack(got[1]!.seq);
    await until(() => !s.isFull(), 'acks freed a segment');
    const seq = await append(s, payload(9, size));
    await s.stop();

    const again = spool();
    const report = await again.start();
    expect(report).toMatchObject({ records: 4, truncatedBytes: 0, corruptSegments: [] });
    expect((await readN(again, 4)).map((r) => r.seq)).toEqual([3, 4, 5, seq]);
  });

  it('after ENOSPC tries the disk again a second later even when no ack freed anything', async () => {
    let noSpace = true;
    const fsx: SpoolFs = {
      ...nodeSpoolFs,
      write: (fd, buffer, offset, length, position) =>
        noSpace ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : nodeSpoolFs.write(fd, buffer, offset, length, position),
    };
    const s = spool({ fs: fsx });
    await s.start();
    // The spool reads the disk-full age off Date.now(): a fake Date (timers stay real, the fs needs
    // them) moves it exactly, where a wall-clock wait would depend on the machine's load.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect((await refusal(append(s, payload(1)))).code).toBe(ErrorCodes.SPOOL_FULL.code);
      expect(s.isFull()).toBe(true);
      noSpace = false; // someone else freed space
      vi.advanceTimersByTime(900);
      expect(s.isFull()).toBe(true); // not tried again yet
      vi.advanceTimersByTime(100);
      expect(s.isFull()).toBe(false);
      expect(await append(s, payload(2))).toBeGreaterThan(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
