/** The Spool's public types; `spool.ts` re-exports them. */
import type { Logger } from '../observability/logger.js';
import type { SpoolFs } from './spool-fs.js';

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
