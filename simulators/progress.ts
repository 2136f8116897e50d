/**
 * The progress display of a fleet run: on a terminal, one status line redrawn in place; piped into a
 * file or another program, a plain `key=value` line every few seconds that grep and log shippers can
 * read (no escape codes, no carriage returns).
 */
import type { FleetStats } from './fleet.js';

/** Where progress goes: `process.stdout`, or anything with `write` (tests). */
export interface ProgressStream {
  readonly isTTY?: boolean | undefined;
  /** Terminal width, to keep the status line on one line. */
  readonly columns?: number | undefined;
  write(text: string): unknown;
}

/** Options of {@link ProgressDisplay}. */
export interface ProgressOptions {
  /** Redraw interval on a terminal; default 500 ms. */
  ttyIntervalMs?: number;
  /** Interval of plain lines when not a terminal; default 10 s. */
  plainIntervalMs?: number;
  /** The clock; tests pass their own. */
  now?: () => number;
  /**
   * Bold counts and dim separators on the terminal line (the caller decides: a terminal, NO_COLOR
   * unset…). Plain lines never carry colour.
   */
  colour?: boolean;
}

const CLEAR_LINE = '\r\x1b[2K';

/** Shows a fleet's counters and its rate of readings. */
export class ProgressDisplay {
  private readonly out: ProgressStream;
  private readonly source: () => FleetStats;
  private readonly opts: ProgressOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private last: { at: number; published: number } | undefined;
  private rate = 0;

  constructor(out: ProgressStream, source: () => FleetStats, opts: ProgressOptions = {}) {
    this.out = out;
    this.source = source;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** Starts drawing (a terminal) or printing lines (otherwise). */
  start(): void {
    if (this.timer) return;
    this.last = undefined;
    this.update();
    const every = this.tty ? (this.opts.ttyIntervalMs ?? 500) : (this.opts.plainIntervalMs ?? 10_000);
    this.timer = setInterval(() => this.update(), every);
    // Progress alone must not keep a finished process alive.
    this.timer.unref();
  }

  /** Stops, leaving a final line (and the cursor on a fresh line on a terminal). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.update();
    if (this.tty) this.out.write('\n');
  }

  /** Samples the counters and draws or prints once. */
  update(): void {
    const stats = this.source();
    const at = this.now();
    if (this.last && at > this.last.at) this.rate = ((stats.published - this.last.published) * 1000) / (at - this.last.at);
    this.last = { at, published: stats.published };
    if (this.tty) {
      const line = formatStatusLine(stats, this.rate);
      const width = this.out.columns;
      // Cut by visible characters: a cut line goes without colour rather than with a torn escape code.
      const cut = width !== undefined && width > 1 && line.length >= width;
      this.out.write(CLEAR_LINE + (cut ? line.slice(0, width - 2) + '…' : this.opts.colour ? styleStatusLine(line) : line));
    } else {
      this.out.write(formatPlainLine(stats, this.rate) + '\n');
    }
  }
}

/** The terminal's status line. */
export function formatStatusLine(s: FleetStats, rate: number): string {
  const parts = [
    `${s.connected}/${s.devices} devices connected`,
    `${fmtRate(rate)} readings/s`,
    `${s.published.toLocaleString('en-US')} sent`,
  ];
  if (s.buffered > 0) parts.push(`${s.buffered.toLocaleString('en-US')} buffered`);
  if (s.batches > 0) parts.push(`${s.batches} batches`);
  if (s.skipped > 0) parts.push(`${s.skipped} skipped`);
  parts.push(`${s.errors} errors`);
  parts.push(`sim ${simTime(s)}`);
  return parts.join(SEPARATOR);
}

const SEPARATOR = ' · ';

/** The status line with its leading figures bold and its separators dim (ANSI SGR codes). */
export function styleStatusLine(line: string): string {
  return line
    .split(SEPARATOR)
    .map((part) => part.replace(/^[\d.,/]+/, (figures) => `\x1b[1m${figures}\x1b[22m`))
    .join(`\x1b[2m${SEPARATOR}\x1b[22m`);
}

/** A plain progress line: `progress connected=38/40 rate=12.5/s …`. */
export function formatPlainLine(s: FleetStats, rate: number): string {
  return [
    'progress',
    `connected=${s.connected}/${s.devices}`,
    `connections=${s.connections}`,
    `rate=${fmtRate(rate)}/s`,
    `published=${s.published}`,
    `batches=${s.batches}`,
    `buffered=${s.buffered}`,
    `skipped=${s.skipped}`,
    `errors=${s.errors}`,
    `sim=${new Date(s.simTimeMs).toISOString().slice(0, 19)}Z`,
    `speed=${s.speed}`,
    `live=${s.caughtUp}`,
  ].join(' ');
}

function simTime(s: FleetStats): string {
  const t = new Date(s.simTimeMs).toISOString().slice(0, 16).replace('T', ' ');
  if (s.speed === 1) return `${t} UTC`;
  return `${t} UTC ${s.caughtUp ? '(caught up)' : `×${s.speed}`}`;
}

function fmtRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}
