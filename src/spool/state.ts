/**
 * What the Spool holds, shared by its four parts: recovery (`recovery.ts`), the cursor and acks
 * (`cursor.ts`), the reader (`reader.ts`) and the batched writer (`writer.ts`). The parts touch the
 * same state (a group commit moves the counters, the segment list and the reader's queue at once),
 * so each is a class in its own file stacked on this one, each calling only what is below it:
 * SpoolState → SpoolRecovery → SpoolCursor → SpoolReader → SpoolWriter → Spool. Stacked rather than
 * held in fields so that the per-message paths (`append`, `ack`, handing out) stay method calls on
 * one object, with no delegation per message (`spool.bench.ts`).
 */
import { ErrorCodes } from '../errors/catalog.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { nodeSpoolFs, type SpoolFs } from './spool-fs.js';
import type { RecoveryReport, SpoolOptions, SpoolRecord } from './types.js';
import { UnackedWindow } from './unacked-window.js';

export type Done = (err: Error | undefined) => void;

export interface Queued {
  readonly record: SpoolRecord;
  readonly bytes: number;
  readonly weight: number;
  readonly done: Done;
}

export interface Segment {
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

export interface MemRecord {
  readonly record: SpoolRecord;
  readonly bytes: number;
  readonly weight: number;
}

export interface Waiter {
  readonly max: number;
  readonly resolve: (records: SpoolRecord[]) => void;
}

export const MiB = 1024 * 1024;
export const FIRST_SEQ = 1;

/** The state of one Spool and the helpers every part uses; see the top of this file. */
export abstract class SpoolState {
  protected readonly dir: string;
  /** An append was refused at the cap and no ack has freed space since. */
  protected capReached = false;
  protected readonly maxBytes: number;
  protected readonly segmentBytes: number;
  protected readonly durable: boolean;
  protected readonly log: Logger;
  protected readonly weighFn: (data: Buffer) => number;
  protected readonly memoryBytes: number;
  protected readonly readChunkBytes: number;
  protected readonly cursorIntervalMs: number;
  protected readonly fs: SpoolFs;

  protected state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  protected starting: Promise<RecoveryReport> | undefined;
  protected stopping: Promise<void> | undefined;
  /** stop() is closing files: no new reads from disk. */
  protected closing = false;
  protected nextSeq = FIRST_SEQ;

  /** Sorted by firstSeq; the last one is where appends go (unless sealed). */
  protected segments: Segment[] = [];

  // Producer side: appends waiting for the next group, and the group in flight.
  protected queue: Queued[] = [];
  protected queueHead = 0;
  protected queuedBytes = 0;
  protected queuedRecords = 0;
  protected writing = false;
  protected drained: (() => void)[] = [];
  protected writeBuf = Buffer.allocUnsafe(256 * 1024);
  protected diskFullAt: number | undefined;
  protected diskFullMessage = '';

  // Consumer side: durable records not handed out are in `mem` and then (when `disk` is set) on disk
  // from `disk` to the end of the log. Everything in mem precedes everything on disk.
  protected mem: MemRecord[] = [];
  protected memHead = 0;
  protected memBytes = 0;
  protected disk: { seg: Segment; offset: number } | undefined;
  /** seq and appendedAt of the record at `disk`, for oldestPendingAt. */
  protected diskHead: { seq: number; appendedAt: number } | undefined;
  protected readFd: { seg: Segment; fd: number } | undefined;
  protected fetching: Promise<void> | undefined;
  protected fetchRetry: NodeJS.Timeout | undefined;
  protected fetchFailing = false;
  protected waiters: Waiter[] = [];
  protected readonly window = new UnackedWindow();
  protected readonly ackOut = { bytes: 0, weight: 0 };
  protected lastHandedOut = FIRST_SEQ - 1;

  // Cursor persistence.
  protected persistedCursor = FIRST_SEQ;
  protected cursorTimer: NodeJS.Timeout | undefined;
  protected cursorWrite: Promise<void> | undefined;
  protected lastCursorWriteAt = 0;
  protected cursorFailing = false;

  protected readonly unlinks = new Set<Promise<void>>();

  // Counters.
  protected pendingRecords = 0;
  protected pendingBytes = 0;
  protected pendingWeight = 0;
  protected appended = 0;
  protected acked = 0;
  protected lost = 0;
  protected groups = 0;
  protected fsyncs = 0;

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

  protected weigh(data: Buffer): number {
    try {
      const w = this.weighFn(data);
      return Number.isFinite(w) && w > 0 ? Math.floor(w) : 0;
    } catch (err) {
      this.log.error({ err, code: ErrorCodes.SPOOL_IO.code }, 'spool: weigh() threw; counting the record as 1');
      return 1;
    }
  }

  protected closeReadFd(): void {
    const r = this.readFd;
    if (r === undefined) return;
    this.readFd = undefined;
    this.fs.close(r.fd).catch(() => undefined);
  }
}

/** 1536 → "1.5 KiB"; for messages operators read. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[u]}`;
}
