/**
 * What the `citypipe devices …` commands share: where they write, how an error becomes an exit code,
 * and how option strings become numbers and attributes.
 */
import type { ModelRegistry } from '../../catalog/record-problems.js';
import { attributeValue } from '../../catalog/import/exported-device.js';
import { plain, stderrColours, type Palette } from '../colour.js';
import { catalogCodeOf, CliError, ExitCode, exitCodeFor } from '../exit-codes.js';

/** Where a command writes, and how it reports its exit code. */
export interface DevicesIo {
  /** stdout: results (the new secret, the list). */
  out(text: string): void;
  /** stderr: errors. */
  err(text: string): void;
  /** Called once with the command's exit code. */
  exit(code: number): void;
  /** Colours of `err` (red errors, dim notices); none when absent. */
  readonly errColours?: Palette;
}

/** The real process: stdout, stderr, `process.exitCode` (the process ends on its own). */
export const processIo: DevicesIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  exit: (code) => {
    process.exitCode = code;
  },
  get errColours() {
    return stderrColours();
  },
};

/** What the catalog commands check against; tests give their own LoRaWAN models. */
export interface CatalogDeps {
  readonly models?: ModelRegistry;
}

/** A bad option or argument: exit 2. */
export class UsageError extends Error {}

/** Runs a command's body and turns what it throws into a red line on stderr and an exit code. */
export async function run(io: DevicesIo, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return ExitCode.ok;
  } catch (err) {
    const red = (io.errColours ?? plain).red;
    const code = catalogCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    io.err(red(`citypipe devices: ${message}${code !== undefined && !(err instanceof CliError) ? ` [${code}]` : ''}`) + '\n');
    // Exit codes as everywhere (exit-codes.ts): a bad CITYPIPE_* value is a usage error too.
    return err instanceof UsageError ? ExitCode.usage : exitCodeFor(err);
  }
}

export function requireOption(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`${name} is required`);
  return value;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(text: string, name: string, what: string): number {
  // Number('') is 0 and Number('0x1') is 1: accept plain decimals only.
  const n = DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${name}: expected ${what}, got ${JSON.stringify(text)}`);
  return n;
}

/** `--interval`: whole seconds ≥ 1. */
export function parseInterval(text: string): number {
  const s = parseNumber(text, '--interval', 'whole seconds ≥ 1');
  if (!Number.isInteger(s) || s < 1) throw new UsageError(`--interval: expected whole seconds ≥ 1, got ${JSON.stringify(text)}`);
  return s;
}

/** `--attr key=value` pairs; numbers and true/false are typed. */
export function parseAttributes(pairs: readonly string[]): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--attr: expected key=value, got ${JSON.stringify(pair)}`);
    attributes[pair.slice(0, eq)] = attributeValue(pair.slice(eq + 1));
  }
  return attributes;
}

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
