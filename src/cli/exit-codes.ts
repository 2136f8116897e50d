/**
 * The exit codes of every citypipe command, and the one place that decides which code an error gets.
 * Scripts rely on these: change them only with docs/CLI.md and the root `--help`.
 */

/** Exit codes scripts can rely on. */
export const ExitCode = {
  /** The command did what it was asked; a graceful stop of `start`, `demo` or live `simulate` too. */
  ok: 0,
  /** Something went wrong at run time. */
  failure: 1,
  /** Bad option, argument or command, or a bad CITYPIPE_* value / configuration file. */
  usage: 2,
  /** The service or a dependency could not be reached (citypipe's HTTP API, InfluxDB, influxd). */
  unavailable: 3,
  /** What the command names does not exist (e.g. an unknown device id). */
  notFound: 4,
  /** Interrupted by SIGINT (Ctrl-C) before the work was finished. */
  interrupted: 130,
  /** Stopped by SIGTERM before the work was finished. */
  terminated: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The table as `--help` and docs/CLI.md show it. */
export const EXIT_CODE_TABLE = `Exit codes
  0    ok (a graceful stop of start, demo or live simulate on Ctrl-C/SIGTERM is ok too)
  1    failure: something went wrong at run time
  2    usage or configuration error: bad command, option or argument, bad CITYPIPE_* value
  3    unavailable: the citypipe service or a dependency (InfluxDB, influxd) could not be reached
  4    not found: e.g. rotate-secret or revoke of a device that is not in the catalog
  130  interrupted by Ctrl-C (SIGINT) before the work was finished (143 for SIGTERM)`;

/** An error a command expects, with the exit code it means; printed without a stack trace. */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(exitCode: ExitCodeValue, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/**
 * Error-catalog codes (src/errors/catalog.ts) that do not mean a plain run-time failure. Codes not
 * listed exit {@link ExitCode.failure}. A bad catalog file stays a failure: it is data, not a
 * CITYPIPE_* value.
 */
const BY_CATALOG_CODE: Readonly<Record<string, ExitCodeValue>> = {
  CP_ERR_CONFIG_INVALID: ExitCode.usage,
  CP_ERR_CONFIG_UNKNOWN_KEY: ExitCode.usage,
  CP_ERR_CONFIG_FILE: ExitCode.usage,
  CP_ERR_RULES_INVALID: ExitCode.usage,
  // A refused token or a missing database names a wrong CITYPIPE_INFLUX_* value.
  CP_ERR_INFLUX_AUTH: ExitCode.usage,
  CP_ERR_INFLUX_NOT_FOUND: ExitCode.usage,
  CP_ERR_HTTP_UNAUTHORIZED: ExitCode.usage,
  CP_ERR_INFLUX_UNREACHABLE: ExitCode.unavailable,
  CP_ERR_INFLUX_TIMEOUT: ExitCode.unavailable,
  CP_ERR_INFLUXD_MISSING: ExitCode.unavailable,
  CP_ERR_HTTP_RATE_LIMITED: ExitCode.unavailable,
  CP_ERR_TICKET_NOT_FOUND: ExitCode.notFound,
};

/** The stable `CP_ERR_…` code an error carries (CitypipeError, RulesFileError), if any. */
export function catalogCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('CP_ERR_') ? code : undefined;
}

/** The exit code an error thrown out of a command means. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof CliError) return err.exitCode;
  const code = catalogCodeOf(err);
  return (code !== undefined ? BY_CATALOG_CODE[code] : undefined) ?? ExitCode.failure;
}
