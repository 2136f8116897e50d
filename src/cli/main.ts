/**
 * `npx citypipe <command>`. Each command lives in its own module under commands/; program.ts puts
 * them together. Exit codes: exit-codes.ts.
 */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { ExitCode, reportError } from './run.js';

// `citypipe … | head` closes the pipe early: that is the reader being done, not an error to crash on.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
  throw err;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version end 0; every other commander error is a usage error (unknown command or
    // option, missing argument, a command given without its subcommand).
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    process.exitCode = reportError(err);
    process.exit(process.exitCode);
  }
}
