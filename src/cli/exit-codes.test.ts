import { describe, expect, it } from 'vitest';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { RulesFileError } from '../dispatch/rules/rule-book.js';
import { paletteFor, plain } from './colour.js';
import { CliError, EXIT_CODE_TABLE, ExitCode, exitCodeFor } from './exit-codes.js';
import { reportError } from './run.js';

describe('exitCodeFor', () => {
  it.each([
    [ErrorCodes.CONFIG_INVALID, 2],
    [ErrorCodes.CONFIG_UNKNOWN_KEY, 2],
    [ErrorCodes.CONFIG_FILE, 2],
    [ErrorCodes.INFLUX_AUTH, 2],
    [ErrorCodes.INFLUX_UNREACHABLE, 3],
    [ErrorCodes.INFLUX_TIMEOUT, 3],
    [ErrorCodes.INFLUXD_MISSING, 3],
    [ErrorCodes.TICKET_NOT_FOUND, 4],
    // A bad catalog file is data the run could not use, not a CITYPIPE_* value.
    [ErrorCodes.CATALOG_INVALID, 1],
    [ErrorCodes.PORT_IN_USE, 1],
    [ErrorCodes.SPOOL_IO, 1],
    [ErrorCodes.INFLUXD_START, 1],
  ])('%o → %i', (spec, code) => {
    expect(exitCodeFor(new CitypipeError(spec, 'x'))).toBe(code);
  });

  it('maps a rules file error (not a CitypipeError, but it carries the catalog code) to a usage error', () => {
    expect(exitCodeFor(new RulesFileError('rules/default.json', ['rule "x": condition.above: must be a number']))).toBe(ExitCode.usage);
  });

  it('keeps a CliError’s own code and makes anything else a failure', () => {
    expect(exitCodeFor(new CliError(ExitCode.notFound, 'no device'))).toBe(4);
    expect(exitCodeFor(new CliError(ExitCode.unavailable, 'cannot reach'))).toBe(3);
    expect(exitCodeFor(new Error('bug'))).toBe(1);
    expect(exitCodeFor('a string')).toBe(1);
  });

  it('documents every code in the table', () => {
    for (const code of Object.values(ExitCode)) expect(EXIT_CODE_TABLE).toMatch(new RegExp(`(^|\\s|\\()${code}(\\s|\\))`, 'm'));
  });
});

describe('reportError', () => {
  function sink() {
    const s = { text: '', write: (t: string) => void (s.text += t) };
    return s;
  }

  it('prints a catalog error as message [code], without a stack, and returns its exit code', () => {
    const out = sink();
    expect(reportError(new CitypipeError(ErrorCodes.CONFIG_INVALID, 'CITYPIPE_MQTT_PORT: bad'), out, plain)).toBe(2);
    expect(out.text).toBe('citypipe: CITYPIPE_MQTT_PORT: bad [CP_ERR_CONFIG_INVALID]\n');
  });

  it('prints a CliError as its message alone', () => {
    const out = sink();
    expect(reportError(new CliError(ExitCode.unavailable, 'cannot reach citypipe'), out, plain)).toBe(3);
    expect(out.text).toBe('citypipe: cannot reach citypipe\n');
  });

  it('prints an unexpected error with its stack: it is a bug', () => {
    const out = sink();
    expect(reportError(new Error('boom'), out, plain)).toBe(1);
    expect(out.text).toMatch(/^citypipe: Error: boom\n\s+at /);
  });

  it('colours the line red only with a colour palette', () => {
    const out = sink();
    reportError(new CliError(ExitCode.failure, 'boom'), out, paletteFor({ isTTY: true }, {}));
    expect(out.text).toBe('\x1b[31mcitypipe: boom\x1b[39m\n');
  });
});
