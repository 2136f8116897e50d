/**
 * Process plumbing shared by the commands: turning errors into messages and exit codes, and
 * stopping gracefully on SIGINT/SIGTERM.
 */
import { stderrColours, type Palette } from './colour.js';
import { catalogCodeOf, CliError, ExitCode, exitCodeFor } from './exit-codes.js';

export { ExitCode, CliError } from './exit-codes.js';

/** Where {@link reportError} writes; the process's stderr unless a test passes its own. */
export interface ErrorSink {
  write(text: string): unknown;
}

/** Prints an error the way a user should see it (red on a terminal) and returns the exit code. */
export function reportError(err: unknown, out: ErrorSink = process.stderr, colours: Palette = stderrColours()): number {
  const code = catalogCodeOf(err);
  let text: string;
  if (err instanceof CliError) text = err.message;
  else if (code !== undefined) text = `${(err as Error).message} [${code}]`;
  // Anything else is a bug: the stack is what a report needs.
  else text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  out.write(colours.red(`citypipe: ${text}`) + '\n');
  return exitCodeFor(err);
}

/** Prints a warning (yellow on a terminal). */
export function reportWarning(text: string, out: ErrorSink = process.stderr, colours: Palette = stderrColours()): void {
  out.write(colours.yellow(text) + '\n');
}

/** Options of {@link stopOnSignals}. */
export interface StopOptions {
  /** Called once, with the signal, before `stop` runs. */
  onStopping?: (signal: NodeJS.Signals) => void;
  /**
   * True while the command still has work it was asked to finish (a `simulate --at-now stop` run
   * that has not caught up): a signal then ends it with 130 (SIGINT) or 143 (SIGTERM). Without it,
   * a signal is the normal way to end the command (`start`, `demo`) and the exit code is 0.
   */
  unfinished?: () => boolean;
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM and exits when it is done; a second signal exits at once.
 */
export function stopOnSignals(stop: () => Promise<void>, { onStopping, unfinished }: StopOptions = {}): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    const interruptedCode = signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated;
    if (stopping) {
      reportWarning(`citypipe: ${signal} again, exiting without waiting`);
      process.exit(interruptedCode);
    }
    stopping = true;
    const cut = unfinished?.() === true;
    onStopping?.(signal);
    stop().then(
      () => process.exit(cut ? interruptedCode : ExitCode.ok),
      (err: unknown) => process.exit(reportError(err)),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** A request to stop that a command honours at its next safe point (see {@link catchInterruption}). */
export interface Interruption {
  /** The first SIGINT/SIGTERM received, if any. */
  readonly signal: NodeJS.Signals | undefined;
  /** 130 after SIGINT, 143 after SIGTERM. */
  readonly exitCode: number;
  /** Stops listening (the default handlers are back). */
  dispose(): void;
}

/**
 * For work done in steps: the first SIGINT/SIGTERM is recorded so the work can stop after the step
 * in flight; a second one exits at once.
 */
export function catchInterruption(): Interruption {
  let signal: NodeJS.Signals | undefined;
  const handler = (s: NodeJS.Signals) => {
    if (signal !== undefined) process.exit(s === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated);
    signal = s;
    reportWarning(`\ncitypipe: ${s}: stopping after the step in flight (again to stop at once)`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get signal() {
      return signal;
    },
    get exitCode() {
      return signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
