/**
 * One line of progress redrawn in place on a terminal, and nothing at all anywhere else: piped
 * output and log files get the command's final summary only.
 */
import type { Palette } from './colour.js';
import { stripColour } from './colour.js';

/** Where the line goes: `process.stderr`, or a test double. */
export interface StatusStream {
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
  write(text: string): unknown;
}

const CLEAR_LINE = '\r\x1b[2K';

/** A progress line for long work; silent unless its stream is a terminal. */
export class StatusLine {
  private readonly out: StatusStream;
  private readonly colours: Palette;
  private drawn = false;

  constructor(out: StatusStream, colours: Palette) {
    this.out = out;
    this.colours = colours;
  }

  /** True when {@link draw} shows anything. */
  get active(): boolean {
    return this.out.isTTY === true;
  }

  /** Replaces the line with `text` (which may hold the palette's styles). */
  draw(text: string): void {
    if (!this.active) return;
    const width = this.out.columns;
    const visible = stripColour(text);
    // A cut line goes without colour rather than with a torn escape code.
    const line = width !== undefined && width > 1 && visible.length >= width ? visible.slice(0, width - 2) + '…' : text;
    this.out.write(CLEAR_LINE + line);
    this.drawn = true;
  }

  /** Removes the line, leaving the cursor where it was before the first {@link draw}. */
  clear(): void {
    if (!this.drawn) return;
    this.out.write(CLEAR_LINE);
    this.drawn = false;
  }

  /** `done of total` with the figures bold and the rest dim. */
  counter(verb: string, done: number, total: number, noun: string): string {
    const c = this.colours;
    return `${c.dim(verb)} ${c.bold(done.toLocaleString('en-US'))} ${c.dim('of')} ${c.bold(total.toLocaleString('en-US'))} ${c.dim(noun)}`;
  }
}
