/**
 * Recent fill samples per waste bin (device time, fill ratio), the input of the collection plan's
 * prediction. Fed with validated readings after they are stored, in stored order; kept in memory
 * for the planner and in SQLite so that a restart does not forget the day.
 *
 * Readings can be replayed (spool recovery, a dead-letter replay), so a sample at or before the
 * bin's newest time is ignored: a replay changes nothing. History is bounded per bin, by age
 * (relative to the bin's own newest sample, so a silent bin keeps what it last said) and by count.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { RuleInput } from '../dispatch/types.js';
import { openPrivateDatabase } from '../fs/private-files.js';
import { fillFieldOf } from './containers.js';

/** One fill measurement. */
export interface FillSample {
  /** Device time, epoch ms. */
  readonly timeMs: number;
  /** 0..1. */
  readonly level: number;
}

/** What the planner reads: the samples of a bin's current fill cycle, oldest first. */
export interface FillSource {
  currentCycle(deviceId: string): readonly FillSample[];
}

/** Where and how much {@link FillHistory} keeps. */
export interface FillHistoryOptions {
  /**
   * An open database to keep the table in (the service's own), or a file the history opens itself
   * (`collectionDbFile(dataDir)`; `:memory:` for tests). A given database is not closed by `close()`.
   */
  readonly store: { readonly database: Database.Database } | { readonly file: string };
  /** Samples older than this before the bin's newest are dropped. Default 48 h. */
  readonly maxAgeMs?: number;
  /** At most this many samples per bin (at least 8). Default 300 (48 h at one reading every 10 minutes). */
  readonly maxSamplesPerBin?: number;
  /** A fall at least this large from one sample to the next is an emptying: a new fill cycle. Default 0.2. */
  readonly emptyingDrop?: number;
  /**
   * A reading this soon after the bin's newest kept sample is not kept, unless it is an emptying: a fill
   * rate needs minutes, not every reading, and this keeps a chatty bin from costing a SQLite row each
   * time. Default 60 s.
   */
  readonly minSpacingMs?: number;
}

const HOUR_MS = 3_600_000;
const DEFAULT_MAX_AGE_MS = 48 * HOUR_MS;
const DEFAULT_MAX_SAMPLES = 300;
const DEFAULT_EMPTYING_DROP = 0.2;

/** The history's own file under the data dir. */
export function collectionDbFile(dataDir: string): string {
  return path.join(dataDir, 'collection.db');
}

/**
 * Index of the first sample of the current fill cycle: the newest sample that lies at least `drop`
 * below the median of the (up to) three before it in its cycle, an emptying; 0 when there is none. The median
 * keeps a lone high echo (a bag held over the sensor) from making the next normal reading look
 * like an emptying, and a lone low reading that the next one contradicts (rises by `drop` again) is
 * taken for a glitch.
 */
export function cycleStartIndex(samples: readonly FillSample[], drop: number = DEFAULT_EMPTYING_DROP): number {
  return scanCycles(samples, drop, { at: 1, start: 0 });
}

/**
 * Where a scan for emptyings stands: every index below `at` is decided for good, and `start` is the
 * cycle start after them. Only the newest sample's decision can change (by the glitch rule, when
 * the next sample arrives), so a bin's scan resumes at its newest sample instead of starting over:
 * a reading costs O(1), not O(history).
 */
interface CycleScan {
  at: number;
  start: number;
}

/** Scans `samples` from `scan`, advances `scan` past every final decision, returns the cycle start. */
function scanCycles(samples: readonly FillSample[], drop: number, scan: CycleScan): number {
  let start = scan.start;
  const last = samples.length - 1;
  for (let i = Math.max(1, scan.at); i <= last; i++) {
    // The newest sample's decision is not final yet: resume there next time.
    if (i === last) {
      scan.at = i;
      scan.start = start;
    }
    const level = (samples[i] as FillSample).level;
    // Only samples of the current cycle count as "before": an emptying is measured from the bin's
    // level, not from the previous cycle's.
    if (medianBefore(samples, Math.max(start, i - 3), i) - level < drop) continue;
    const next = samples[i + 1];
    if (next && next.level - level >= drop) continue;
    start = i;
  }
  return start;
}

/** Median level of samples[from..to), one to three of them. */
function medianBefore(samples: readonly FillSample[], from: number, to: number): number {
  const a = (samples[from] as FillSample).level;
  if (to - from === 1) return a;
  const b = (samples[from + 1] as FillSample).level;
  if (to - from === 2) return (a + b) / 2;
  const c = (samples[from + 2] as FillSample).level;
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

interface BinSamples {
  samples: FillSample[];
  /** Index into `samples` where the current cycle begins. */
  cycleStart: number;
  scan: CycleScan;
  /** Rows on disk older than `samples[0]`, deleted a batch at a time. */
  staleRows: number;
}

const newBin = (): BinSamples => ({ samples: [], cycleStart: 0, scan: { at: 1, start: 0 }, staleRows: 0 });

/** Trimmed rows are deleted from disk once a bin has this many (the in-memory copy is exact). */
const DELETE_EVERY = 32;

/** Per-bin recent fill samples, kept in SQLite. `open()` before use, `close()` after. */
export class FillHistory implements FillSource {
  private readonly opts: FillHistoryOptions;
  private readonly maxAgeMs: number;
  private readonly maxSamples: number;
  private readonly drop: number;
  private readonly minSpacingMs: number;
  private readonly bins = new Map<string, BinSamples>();
  private db: Database.Database | undefined;
  private ownsDb = false;
  private write: ((rows: readonly { id: string; s: FillSample }[], trims: ReadonlyMap<string, number>) => void) | undefined;

  constructor(opts: FillHistoryOptions) {
    this.opts = opts;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    // At least a few: deciding an emptying looks at the three samples before it.
    this.maxSamples = Math.max(8, opts.maxSamplesPerBin ?? DEFAULT_MAX_SAMPLES);
    this.drop = opts.emptyingDrop ?? DEFAULT_EMPTYING_DROP;
    this.minSpacingMs = opts.minSpacingMs ?? 60_000;
  }

  /** Opens (or creates) the table and loads what it holds. */
  open(): void {
    let db: Database.Database;
    if ('database' in this.opts.store) {
      db = this.opts.store.database;
    } else {
      const file = this.opts.store.file;
      db = openPrivateDatabase(file);
      db.pragma('journal_mode = WAL');
      // NORMAL: a power cut may lose the last few samples, which the next readings replace; the
      // prediction does not need every one.
      db.pragma('synchronous = NORMAL');
      this.ownsDb = true;
    }
    db.exec(`CREATE TABLE IF NOT EXISTS collection_fill_samples (
      device_id TEXT NOT NULL,
      time_ms INTEGER NOT NULL,
      level REAL NOT NULL,
      PRIMARY KEY (device_id, time_ms)
    ) WITHOUT ROWID`);
    this.bins.clear();
    const rows = db.prepare<[], { device_id: string; time_ms: number; level: number }>('SELECT device_id, time_ms, level FROM collection_fill_samples ORDER BY device_id, time_ms').iterate();
    for (const r of rows) {
      let bin = this.bins.get(r.device_id);
      if (!bin) this.bins.set(r.device_id, (bin = newBin()));
      bin.samples.push({ timeMs: r.time_ms, level: r.level });
    }
    for (const bin of this.bins.values()) {
      // Rows past the bounds (trimmed lazily, or limits lowered since) go at the next write.
      this.trim(bin);
      bin.cycleStart = scanCycles(bin.samples, this.drop, bin.scan);
    }
    const insert = db.prepare<[string, number, number]>('INSERT OR IGNORE INTO collection_fill_samples (device_id, time_ms, level) VALUES (?, ?, ?)');
    const trimBefore = db.prepare<[string, number]>('DELETE FROM collection_fill_samples WHERE device_id = ? AND time_ms < ?');
    this.write = db.transaction((rows: readonly { id: string; s: FillSample }[], trims: ReadonlyMap<string, number>) => {
      for (const { id, s } of rows) insert.run(id, s.timeMs, s.level);
      for (const [id, before] of trims) trimBefore.run(id, before);
    });
    this.db = db;
  }

  /**
   * Takes the readings of collected types (`fillFieldOf`) of a stored batch; other types, readings
   * without a numeric fill field and readings at or before a bin's newest sample are ignored. One transaction per
   * call. Returns how many samples were added.
   */
  observe(inputs: readonly RuleInput[]): number {
    const write = this.write;
    if (!write) throw new Error('FillHistory: open() it first');
    const added: { id: string; s: FillSample }[] = [];
    const touched = new Map<string, BinSamples>();
    for (const input of inputs) {
      const fillField = fillFieldOf(input.type);
      if (fillField === undefined) continue;
      const level = input.fields[fillField];
      if (typeof level !== 'number' || !Number.isFinite(level) || !Number.isFinite(input.timeMs)) continue;
      let bin = this.bins.get(input.deviceId);
      if (!bin) this.bins.set(input.deviceId, (bin = newBin()));
      const last = bin.samples.at(-1);
      if (last && input.timeMs <= last.timeMs) continue;
      if (last && input.timeMs - last.timeMs < this.minSpacingMs && last.level - level < this.drop) continue;
      const s: FillSample = { timeMs: input.timeMs, level };
      bin.samples.push(s);
      added.push({ id: input.deviceId, s });
      touched.set(input.deviceId, bin);
    }
    if (added.length === 0) return 0;
    const trims = new Map<string, number>();
    for (const [id, bin] of touched) {
      this.trim(bin);
      if (bin.staleRows >= DELETE_EVERY) {
        trims.set(id, (bin.samples[0] as FillSample).timeMs);
        bin.staleRows = 0;
      }
      bin.cycleStart = scanCycles(bin.samples, this.drop, bin.scan);
    }
    write(added, trims);
    return added.length;
  }

  /** The bin's samples since its last emptying, oldest first (empty when it never reported). */
  currentCycle(deviceId: string): readonly FillSample[] {
    const bin = this.bins.get(deviceId);
    return bin ? bin.samples.slice(bin.cycleStart) : [];
  }

  /** Every kept sample of the bin, oldest first, earlier cycles included. */
  samples(deviceId: string): readonly FillSample[] {
    return this.bins.get(deviceId)?.samples.slice() ?? [];
  }

  /** Bins with at least one sample. */
  get binCount(): number {
    return this.bins.size;
  }

  /** Drops a bin's history (it left the catalog). */
  forget(deviceId: string): void {
    if (!this.bins.delete(deviceId)) return;
    this.db?.prepare('DELETE FROM collection_fill_samples WHERE device_id = ?').run(deviceId);
  }

  /** Closes the file the history opened itself; a given database stays open. */
  close(): void {
    if (this.ownsDb) this.db?.close();
    this.db = undefined;
    this.write = undefined;
    this.ownsDb = false;
  }

  /** Applies the age and count bounds in memory; the rows on disk follow in batches. */
  private trim(bin: BinSamples): void {
    const newest = bin.samples.at(-1);
    if (!newest) return;
    const cutoff = newest.timeMs - this.maxAgeMs;
    let drop = Math.max(0, bin.samples.length - this.maxSamples);
    while (drop < bin.samples.length && (bin.samples[drop] as FillSample).timeMs < cutoff) drop++;
    if (drop === 0) return;
    bin.samples.splice(0, drop);
    bin.staleRows += drop;
    bin.scan.at = Math.max(1, bin.scan.at - drop);
    bin.scan.start = Math.max(0, bin.scan.start - drop);
  }
}
