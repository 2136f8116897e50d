/**
 * The durable spool: an append-only log on local disk between the broker and the InfluxDB writer.
 * A record is acknowledged to its producer only once it is on disk (write + fdatasync), so "PUBACK
 * means on disk" holds across a crash; it stays there until the consumer acks it. Records are
 * opaque Buffers: the spool knows nothing of readings. See README.md in this folder for the file
 * format, the delivery guarantee and the crash-recovery rules.
 */
import path from 'node:path';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { CURSOR_TEMP_FILE, readCursor, writeCursor } from './cursor-file.js';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameView, MAX_PAYLOAD_BYTES, peekHeader } from './frame.js';
import { parseSegmentName, scanSegment, segmentName } from './segment-files.js';
import { errnoCode, fsyncDir, nodeSpoolFs, readFully, type SpoolFs } from './spool-fs.js';
import { UnackedWindow } from './unacked-window.js';

/** Everything a Spool needs; `dir` and `maxBytes` are required. */
export interface SpoolOptions {
  /** Directory of the log, created if missing, e.g. `<CITYPIPE_DATA_DIR>/spool`. Owned by one Spool. */
  dir: string;
  /** Cap on the bytes of records not yet acknowledged (frames included); at the cap `append()` refuses. */
  maxBytes: number;
  /** A new segment file is started before one would grow past this; default 64 MiB. */
  segmentBytes?: number;
  /**
   * Default true. False skips every fdatasync/fsync: `done` then means "handed to the OS", and a
   * power loss can lose acknowledged records. Only for benchmarks measuring what durability costs.
   */
  fsync?: boolean;
  log?: Logger;
  /**
   * The weight of a record, e.g. the readings it holds; summed in `stats().pendingWeight` and
   * `RecoveryReport.weight`. Default: every record weighs 1.
   */
  weigh?: (data: Buffer) => number;
  /**
   * Durable records not yet handed out are kept in memory up to this many bytes; beyond it they are
   * read back from the segment files in chunks. Default 64 MiB.
   */
  memoryBytes?: number;
  /** Bytes per read of the backlog from disk; default 1 MiB. */
  readChunkBytes?: number;
  /** The cursor file is rewritten at most this often while acks move it; default 100 ms. */
  cursorIntervalMs?: number;
  /** File operations; default the real file system. Tests inject failures and counters here. */
  fs?: SpoolFs;
}

/** One record as `read()` hands it out. */
export interface SpoolRecord {
  readonly seq: number;
  /** The bytes given to `append()`; shared with the producer's Buffer when it never left memory. */
  readonly data: Buffer;
  /** `Date.now()` when `append()` took it. */
  readonly appendedAt: number;
}

/** What `start()` found on disk. */
export interface RecoveryReport {
  /** Records pending after recovery (not acknowledged before the last cursor write). */
  readonly records: number;
  /** Their bytes on disk, frames included. */
  readonly bytes: number;
  /** Their summed weight (see `SpoolOptions.weigh`). */
  readonly weight: number;
  /** Segment files kept. */
  readonly segments: number;
  /** Bytes cut off the end of the last segment: a torn or corrupt tail. */
  readonly truncatedBytes: number;
  /** Older segments with a corrupt record; what follows it in that file was skipped. */
  readonly corruptSegments: string[];
  /** Bytes skipped in `corruptSegments`. */
  readonly skippedBytes: number;
  /** First seq a new `append()` will get. */
  readonly nextSeq: number;
}

/** Counters at one moment; `pendingRecords === appended - acked - lost` always holds. */
export interface SpoolStats {
  /** Durable records not yet acknowledged (handed out or not). */
  readonly pendingRecords: number;
  /** Their bytes on disk, frames included. */
  readonly pendingBytes: number;
  readonly pendingWeight: number;
  /** appendedAt of the lowest unacknowledged record. */
  readonly oldestPendingAt: number | undefined;
  /** Records made durable since start, plus those recovered at start. */
  readonly appended: number;
  readonly acked: number;
  /** Records found unreadable on disk after start (bit rot); 0 unless the disk failed. */
  readonly lost: number;
  /** Appends taken but not yet on disk. */
  readonly queuedRecords: number;
  readonly queuedBytes: number;
  /** Write+fdatasync groups since start, and the fdatasyncs they cost. */
  readonly groups: number;
  readonly fsyncs: number;
  readonly segments: number;
}

type Done = (err: Error | undefined) => void;

interface Queued {
  readonly record: SpoolRecord;
  readonly bytes: number;
  readonly weight: number;
  readonly done: Done;
}

interface Segment {
  readonly firstSeq: number;
  readonly name: string;
  readonly file: string;
  /** End of the durable frames: nothing reads past it. */
  end: number;
  /** Durable records in it not acknowledged, handed out or not. */
  unacked: number;
  /** Durable records in it that exist only on disk: neither handed out nor in memory. */
  unread: number;
  unreadBytes: number;
  unreadWeight: number;
  /** Write descriptor while this is the segment being appended to. */
  fd: number | undefined;
  /** Its tail cannot be trusted (a failed write could not be undone): never written again. */
  sealed: boolean;
}

interface MemRecord {
  readonly record: SpoolRecord;
  readonly bytes: number;
  readonly weight: number;
}

interface Waiter {
  readonly max: number;
  readonly resolve: (records: SpoolRecord[]) => void;
}

const MiB = 1024 * 1024;
const FIRST_SEQ = 1;
/** One write carries at most this much, so a burst queued behind a slow fsync is not one huge write. */
const GROUP_MAX_BYTES = 4 * MiB;
const SCAN_CHUNK_BYTES = 4 * MiB;
/** After ENOSPC, appends are refused this long before the disk is tried again. */
const DISK_FULL_RETRY_MS = 1000;
const READ_RETRY_MS = 1000;

/**
 * The spool. `start()` recovers what is on disk; `append()` is the producer's hot path; `read()` and
 * `ack()` are the consumer's; `stop()` completes outstanding appends and persists the cursor.
 *
 * Delivery is at-least-once: the cursor file is rewritten at most every `cursorIntervalMs`, and a
 * restart replays every record from the lowest unacknowledged seq it names, including records
 * acknowledged after that write (or acknowledged out of order above it). Consumers must be
 * idempotent; InfluxDB writes are, since a point with the same series and time overwrites itself.
 */
export class Spool {
  private readonly dir: string;
  /** An append was refused at the cap and no ack has freed space since. */
  private capReached = false;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly durable: boolean;
  private readonly log: Logger;
  private readonly weighFn: (data: Buffer) => number;
  private readonly memoryBytes: number;
  private readonly readChunkBytes: number;
  private readonly cursorIntervalMs: number;
  private readonly fs: SpoolFs;

  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private starting: Promise<RecoveryReport> | undefined;
  private stopping: Promise<void> | undefined;
  /** stop() is closing files: no new reads from disk. */
  private closing = false;
  private nextSeq = FIRST_SEQ;

  /** Sorted by firstSeq; the last one is where appends go (unless sealed). */
  private segments: Segment[] = [];

  // Producer side: appends waiting for the next group, and the group in flight.
  private queue: Queued[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private queuedRecords = 0;
  private writing = false;
  private drained: (() => void)[] = [];
  private writeBuf = Buffer.allocUnsafe(256 * 1024);
  private diskFullAt: number | undefined;
  private diskFullMessage = '';

  // Consumer side: durable records not handed out are in `mem` and then (when `disk` is set) on disk
  // from `disk` to the end of the log. Everything in mem precedes everything on disk.
  private mem: MemRecord[] = [];
  private memHead = 0;
  private memBytes = 0;
  private disk: { seg: Segment; offset: number } | undefined;
  /** seq and appendedAt of the record at `disk`, for oldestPendingAt. */
  private diskHead: { seq: number; appendedAt: number } | undefined;
  private readFd: { seg: Segment; fd: number } | undefined;
  private fetching: Promise<void> | undefined;
  private fetchRetry: NodeJS.Timeout | undefined;
  private fetchFailing = false;
  private waiters: Waiter[] = [];
  private readonly window = new UnackedWindow();
  private readonly ackOut = { bytes: 0, weight: 0 };
  private lastHandedOut = FIRST_SEQ - 1;

  // Cursor persistence.
  private persistedCursor = FIRST_SEQ;
  private cursorTimer: NodeJS.Timeout | undefined;
  private cursorWrite: Promise<void> | undefined;
  private lastCursorWriteAt = 0;
  private cursorFailing = false;

  private readonly unlinks = new Set<Promise<void>>();

  // Counters.
  private pendingRecords = 0;
  private pendingBytes = 0;
  private pendingWeight = 0;
  private appended = 0;
  private acked = 0;
  private lost = 0;
  private groups = 0;
  private fsyncs = 0;

  constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? 64 * MiB;
    this.durable = opts.fsync ?? true;
    this.log = (opts.log ?? silentLogger).child({ stage: 'spool' });
    this.weighFn = opts.weigh ?? (() => 1);
    this.memoryBytes = opts.memoryBytes ?? 64 * MiB;
    this.readChunkBytes = opts.readChunkBytes ?? MiB;
    this.cursorIntervalMs = opts.cursorIntervalMs ?? 100;
    this.fs = opts.fs ?? nodeSpoolFs;
  }

  /**
   * Opens the directory and recovers the log: every segment is checked frame by frame. A torn or
   * corrupt tail of the last segment is cut off; a corrupt record in an older segment ends that
   * segment (the rest of it is skipped, later segments are kept). Neither makes start fail; both
   * are logged and reported. Rejects only when the directory cannot be used at all.
   */
  async start(): Promise<RecoveryReport> {
    if (this.state !== 'new') throw new Error('Spool.start() called twice');
    this.state = 'starting';
    this.starting = this.recover();
    try {
      const report = await this.starting;
      this.serve();
      return report;
    } catch (err) {
      this.state = 'stopped';
      for (const w of this.waiters.splice(0)) w.resolve([]);
      throw err;
    }
  }

  /**
   * Takes one record. Returns its seq, or -1 when refused. `done` is called exactly once and never
   * from inside `append()`: with undefined once the record is on disk (its group written and
   * fdatasynced), or with a CitypipeError: CP_ERR_SPOOL_FULL (retryable) at `maxBytes` or when the
   * disk is full, CP_ERR_SPOOL_IO when the disk failed, CP_ERR_SPOOL_RECORD_TOO_LARGE,
   * CP_ERR_SPOOL_STOPPED. Never throws. The spool keeps `data` (without copying) until it is
   * acknowledged: do not modify it after appending.
   */
  append(data: Buffer, done: (err: Error | undefined) => void): number {
    if (this.state !== 'running') {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_STOPPED, this.state === 'new' || this.state === 'starting' ? 'spool not started' : 'spool is stopping'));
      return -1;
    }
    const bytes = FRAME_HEADER_BYTES + data.length;
    if (data.length > MAX_PAYLOAD_BYTES || bytes > this.maxBytes) {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_RECORD_TOO_LARGE, `record of ${data.length} bytes is larger than the spool takes (${formatBytes(Math.min(MAX_PAYLOAD_BYTES, this.maxBytes - FRAME_HEADER_BYTES))})`));
      return -1;
    }
    if (this.diskFull()) {
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_FULL, this.diskFullMessage));
      return -1;
    }
    if (this.pendingBytes + this.queuedBytes + bytes > this.maxBytes) {
      // Full from now until an ack frees space, even if a smaller record would still fit: readiness
      // and the broker's early refusal must agree with the refusal the device just got.
      this.capReached = true;
      this.refuse(done, new CitypipeError(ErrorCodes.SPOOL_FULL, this.capMessage()));
      return -1;
    }
    const seq = this.nextSeq++;
    this.queue.push({ record: { seq, data, appendedAt: Date.now() }, bytes, weight: this.weigh(data), done });
    this.queuedBytes += bytes;
    this.queuedRecords++;
    if (!this.writing) {
      this.writing = true;
      // Deferred so that appends made in the same turn of the event loop (a socket read carrying
      // many PUBLISH packets) share the first write and fdatasync.
      setImmediate(() => void this.writeLoop());
    }
    return seq;
  }

  /**
   * True when appends are refused: unacknowledged bytes reached `maxBytes`, or the last write hit a
   * full disk (cleared when acks free a segment, or after a second so the disk is tried again).
   */
  isFull(): boolean {
    return this.diskFull() || this.capReached || this.pendingBytes + this.queuedBytes >= this.maxBytes;
  }

  /** Why `isFull()` is true, for /readyz; undefined when it is not. */
  get fullReason(): string | undefined {
    if (this.diskFull()) return this.diskFullMessage;
    if (this.capReached || this.pendingBytes + this.queuedBytes >= this.maxBytes) return this.capMessage();
    return undefined;
  }

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

  stats(): SpoolStats {
    return {
      pendingRecords: this.pendingRecords,
      pendingBytes: this.pendingBytes,
      pendingWeight: this.pendingWeight,
      oldestPendingAt: this.oldestPendingAt(),
      appended: this.appended,
      acked: this.acked,
      lost: this.lost,
      queuedRecords: this.queuedRecords,
      queuedBytes: this.queuedBytes,
      groups: this.groups,
      fsyncs: this.fsyncs,
      segments: this.segments.length,
    };
  }

  /** Writes the cursor now if acks moved it; `stop()` does this too. */
  async syncCursor(): Promise<void> {
    while (this.cursorWrite) await this.cursorWrite;
    clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    await this.writeCursorNow();
  }

  /**
   * Refuses new appends, completes the outstanding ones (their `done` is called), resolves waiting
   * reads with [], persists the cursor and closes the files. Records not acknowledged stay for the
   * next start. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      for (const w of this.waiters.splice(0)) w.resolve([]);
      return;
    }
    if (this.starting) await this.starting.catch(() => undefined);
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    if (this.writing) await new Promise<void>((resolve) => this.drained.push(resolve));
    this.closing = true;
    clearTimeout(this.fetchRetry);
    this.fetchRetry = undefined;
    while (this.fetching) await this.fetching;
    this.state = 'stopped';
    for (const w of this.waiters.splice(0)) w.resolve([]);
    await this.syncCursor();
    for (const seg of this.segments) {
      if (seg.fd === undefined) continue;
      const fd = seg.fd;
      seg.fd = undefined;
      await this.fs.close(fd).catch((err: unknown) => this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, file: seg.file }, 'spool: closing a segment failed'));
    }
    // Once the cursor is durable past the last segment, even that one may go.
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.unacked === 0 && this.persistedCursor === this.cursor()) this.deleteSegment(last);
    this.closeReadFd();
    while (this.unlinks.size > 0) await Promise.all(this.unlinks);
  }

  // ---------------------------------------------------------------------------------------------
  // Recovery

  private async recover(): Promise<RecoveryReport> {
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

  // ---------------------------------------------------------------------------------------------
  // Appending: group commit

  private async writeLoop(): Promise<void> {
    while (this.queueHead < this.queue.length) {
      const group = this.takeGroup();
      await this.writeGroup(group);
    }
    this.queue = [];
    this.queueHead = 0;
    this.writing = false;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  private takeGroup(): Queued[] {
    const start = this.queueHead;
    let end = start;
    let bytes = 0;
    while (end < this.queue.length && (end === start || bytes + this.queue[end]!.bytes <= GROUP_MAX_BYTES)) {
      bytes += this.queue[end]!.bytes;
      end++;
    }
    const group = this.queue.slice(start, end);
    this.queueHead = end;
    if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return group;
  }

  /** One write and one fdatasync for the whole group; every `done` after the fdatasync returned. */
  private async writeGroup(group: Queued[]): Promise<void> {
    let total = 0;
    for (const q of group) total += q.bytes;
    let buf = this.writeBuf;
    if (buf.length < total) {
      buf = Buffer.allocUnsafe(Math.max(total, buf.length * 2));
      if (buf.length <= GROUP_MAX_BYTES) this.writeBuf = buf;
    }
    let off = 0;
    for (const q of group) off = encodeFrame(buf, off, q.record.seq, q.record.appendedAt, q.record.data);

    let seg: Segment;
    try {
      seg = await this.segmentFor(group[0]!.record.seq, total);
    } catch (err) {
      this.failGroup(group, total, err, undefined);
      return;
    }
    const start = seg.end;
    const fd = seg.fd!;
    try {
      let written = 0;
      while (written < total) written += await this.fs.write(fd, buf, written, total - written, start + written);
      if (this.durable) {
        this.fsyncs++;
        await this.fs.fdatasync(fd);
      }
    } catch (err) {
      // Undo the partial write so that the next group starts at a frame boundary; when even that
      // fails, the segment's tail is garbage and the next group goes to a new segment.
      try {
        await this.fs.ftruncate(fd, start);
      } catch (truncErr) {
        this.log.error({ err: truncErr, code: ErrorCodes.SPOOL_IO.code, file: seg.file }, 'spool: could not undo a failed write; starting a new segment');
        seg.sealed = true;
      }
      this.failGroup(group, total, err, seg.file);
      return;
    }
    if (seg.sealed) {
      // The reader found this segment corrupt while the group was being written: records behind
      // unreadable bytes would be lost at the next start, so the producer must send them again.
      this.failGroup(group, total, new Error(`${seg.name} was found corrupt while it was written`), seg.file);
      return;
    }
    this.groups++;
    seg.end = start + total;
    this.queuedBytes -= total;
    this.queuedRecords -= group.length;
    this.diskFullAt = undefined;
    const n = group.length;
    this.appended += n;
    this.pendingRecords += n;
    this.pendingBytes += total;
    let weight = 0;
    for (const q of group) weight += q.weight;
    this.pendingWeight += weight;
    seg.unacked += n;

    if (this.disk === undefined && this.memBytes + total <= this.memoryBytes) {
      for (const q of group) this.mem.push({ record: q.record, bytes: q.bytes, weight: q.weight });
      this.memBytes += total;
    } else {
      // The reader is behind by more than memoryBytes: this group is read back from disk later.
      if (this.disk === undefined) {
        this.disk = { seg, offset: start };
        this.diskHead = { seq: group[0]!.record.seq, appendedAt: group[0]!.record.appendedAt };
      }
      seg.unread += n;
      seg.unreadBytes += total;
      seg.unreadWeight += weight;
    }
    for (const q of group) this.callDone(q.done, undefined);
    this.serve();
  }

  /** The segment the group goes to, starting a new one when the current one is full or sealed. */
  private async segmentFor(firstSeq: number, bytes: number): Promise<Segment> {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.fd !== undefined && !last.sealed && (last.end === 0 || last.end + bytes <= this.segmentBytes)) return last;
    if (last !== undefined && last.fd !== undefined) {
      const fd = last.fd;
      last.fd = undefined;
      last.sealed = true;
      await this.fs.close(fd).catch((err: unknown) => this.log.warn({ err, code: ErrorCodes.SPOOL_IO.code, file: last.file }, 'closing a spool segment failed'));
      if (last.unacked === 0) this.deleteSegment(last);
    }
    const name = segmentName(firstSeq);
    const file = path.join(this.dir, name);
    const fd = await this.fs.open(file, 'wx');
    try {
      // The new file's directory entry must be durable before any record in it is acknowledged.
      if (this.durable) await fsyncDir(this.fs, this.dir);
    } catch (err) {
      await this.fs.close(fd).catch(() => undefined);
      await this.fs.unlink(file).catch(() => undefined);
      throw err;
    }
    const seg: Segment = { firstSeq, name, file, end: 0, unacked: 0, unread: 0, unreadBytes: 0, unreadWeight: 0, fd, sealed: false };
    this.segments.push(seg);
    return seg;
  }

  private failGroup(group: Queued[], total: number, err: unknown, file: string | undefined): void {
    this.queuedBytes -= total;
    this.queuedRecords -= group.length;
    const code = errnoCode(err);
    let error: CitypipeError;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.diskFullAt = Date.now();
      this.diskFullMessage =
        `spool disk full: no space left on the device of ${this.dir} (${code}); ` +
        `${formatBytes(this.pendingBytes)} pending, publishes are refused until InfluxDB catches up or space is freed`;
      error = new CitypipeError(ErrorCodes.SPOOL_FULL, this.diskFullMessage, { cause: err });
    } else {
      const message = err instanceof Error ? err.message : String(err);
      error = new CitypipeError(ErrorCodes.SPOOL_IO, `spool could not write ${file ?? this.dir}: ${message}`, { cause: err });
    }
    this.log.error({ code: error.code, file, err, records: group.length }, `spool: ${group.length} appends failed: ${error.message}`);
    for (const q of group) this.callDone(q.done, error);
  }

  /** The segment appends go to, if it exists. */
  private appendSegment(): Segment | undefined {
    const last = this.segments[this.segments.length - 1];
    return last !== undefined && !last.sealed ? last : undefined;
  }

  private diskFull(): boolean {
    if (this.diskFullAt === undefined) return false;
    if (Date.now() - this.diskFullAt < DISK_FULL_RETRY_MS) return true;
    this.diskFullAt = undefined;
    return false;
  }

  private capMessage(): string {
    return `spool full: ${formatBytes(this.pendingBytes + this.queuedBytes)} of ${formatBytes(this.maxBytes)} pending (InfluxDB unreachable?)`;
  }

  private refuse(done: Done, err: CitypipeError): void {
    process.nextTick(() => this.callDone(done, err));
  }

  private callDone(done: Done, err: Error | undefined): void {
    try {
      done(err);
    } catch (thrown) {
      this.log.error({ err: thrown, code: ErrorCodes.SPOOL_IO.code }, 'spool: an append callback threw; continuing');
    }
  }

  private weigh(data: Buffer): number {
    try {
      const w = this.weighFn(data);
      return Number.isFinite(w) && w > 0 ? Math.floor(w) : 0;
    } catch (err) {
      this.log.error({ err, code: ErrorCodes.SPOOL_IO.code }, 'spool: weigh() threw; counting the record as 1');
      return 1;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  private serve(): void {
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

  private closeReadFd(): void {
    const r = this.readFd;
    if (r === undefined) return;
    this.readFd = undefined;
    this.fs.close(r.fd).catch(() => undefined);
  }

  private oldestPendingAt(): number | undefined {
    if (this.window.size > 0) return this.window.frontAppendedAt;
    if (this.memHead < this.mem.length) return this.mem[this.memHead]!.record.appendedAt;
    if (this.disk !== undefined) return this.diskHead?.appendedAt;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Acknowledgement, cursor, segment deletion

  /** The first seq not acknowledged: everything below it is done. */
  private cursor(): number {
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
  private deleteSegment(seg: Segment): void {
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
}

/** 1536 → "1.5 KiB"; for messages operators read. */
function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[u]}`;
}
