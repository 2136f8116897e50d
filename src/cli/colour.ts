/**
 * Colour for people, never for programs: escape codes only on a terminal, and never when the user
 * said no (https://no-color.org). The decision is a pure function of the stream and the environment
 * so tests can make it without a terminal.
 */

/** What the decision looks at: `process.stdout`/`process.stderr` or a test double. */
export interface ColourStream {
  readonly isTTY?: boolean | undefined;
}

/**
 * True when text written to `stream` may carry colour:
 * FORCE_COLOR set to anything but `0`/`false` forces it on (FORCE_COLOR=0 forces it off), as in
 * Node.js itself; otherwise it needs a terminal, NO_COLOR unset or empty, and TERM other than `dumb`.
 */
export function colourEnabled(stream: ColourStream, env: Readonly<Record<string, string | undefined>>): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** Styles for one stream; each returns its text unchanged when colour is off. */
export interface Palette {
  readonly enabled: boolean;
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

function sgr(open: number, close: number): (text: string) => string {
  return (text) => `\x1b[${open}m${text}\x1b[${close}m`;
}

const same = (text: string): string => text;

/** No colour at all: tests, `--json`, pipes. */
export const plain: Palette = { enabled: false, red: same, yellow: same, green: same, bold: same, dim: same };

const coloured: Palette = { enabled: true, red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), bold: sgr(1, 22), dim: sgr(2, 22) };

/** The palette for a stream: coloured when {@link colourEnabled}, else {@link plain}. */
export function paletteFor(stream: ColourStream, env: Readonly<Record<string, string | undefined>> = process.env): Palette {
  return colourEnabled(stream, env) ? coloured : plain;
}

/** Palettes of the real process's stdout and stderr, decided once. */
let stdio: { out: Palette; err: Palette } | undefined;
export function stdoutColours(): Palette {
  stdio ??= { out: paletteFor(process.stdout), err: paletteFor(process.stderr) };
  return stdio.out;
}
export function stderrColours(): Palette {
  stdio ??= { out: paletteFor(process.stdout), err: paletteFor(process.stderr) };
  return stdio.err;
}

const ESCAPES = /\x1b\[[0-9;]*m/g;

/** The text without colour codes (for widths). */
export function stripColour(text: string): string {
  return text.replace(ESCAPES, '');
}
