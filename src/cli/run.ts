/**
 * Process plumbing shared by the commands: turning errors into messages and exit codes, and
 * stopping gracefully on SIGINT/SIGTERM.
 */
import { CitypipeError } from '../errors/catalog.js';

/** Exit codes scripts can rely on. */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** Prints an error the way a user should see it and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CitypipeError) {
    process.stderr.write(`citypipe: ${err.message} [${err.code}]\n`);
    return err.code.startsWith('CP_ERR_CONFIG') ? ExitCode.usage : ExitCode.failure;
  }
  process.stderr.write(`citypipe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.failure;
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM and exits when it is done; a second signal exits at once.
 */
export function stopOnSignals(stop: () => Promise<void>, onStopping?: (signal: string) => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`citypipe: ${signal} again, exiting without waiting\n`);
      process.exit(ExitCode.failure);
    }
    stopping = true;
    onStopping?.(signal);
    stop().then(
      () => process.exit(ExitCode.ok),
      (err: unknown) => process.exit(reportError(err)),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
