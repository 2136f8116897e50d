/**
 * The command tree of `citypipe`, built without parsing or running anything, so tests can walk it.
 */
import { packageVersion } from '../paths.js';
import { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { registerStartCommand } from './commands/start.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerDevicesCommand } from './commands/devices.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerDeadLettersCommand } from './commands/dead-letters.js';
import { stderrColours, stdoutColours } from './colour.js';
import { EXIT_CODE_TABLE } from './exit-codes.js';

const ROOT_HELP_AFTER = `
Examples
  npx citypipe demo                      service + local InfluxDB + simulated fleet
  CITYPIPE_INFLUX_URL=http://127.0.0.1:8086 CITYPIPE_INFLUX_API=v1 npx citypipe start
  npx citypipe devices list --json
  npx citypipe <command> --help          every command and subcommand has its own help

${EXIT_CODE_TABLE}

Colour and progress
  Colour only on a terminal; NO_COLOR=1 turns it off, FORCE_COLOR=1 forces it on (FORCE_COLOR=0 off).
  Progress lines only on a terminal; --json output never holds colour or progress.
  See docs/CLI.md.`;

/** Bench is owned elsewhere; its examples are added here, where the tree is put together. */
const BENCH_HELP_AFTER = `
Examples
  npx citypipe bench --quick
  npx citypipe bench --only throughput,latency --json > bench.json`;

/** `citypipe` with every command registered; `parseAsync` is the caller's. Commander errors throw (exitOverride). */
export function buildProgram(): Command {
  const program = new Command();
  // Inherited by every subcommand made after this point.
  program
    .name('citypipe')
    .description('Field-sensor telemetry for cities: MQTT in, validated readings in InfluxDB, rules and Open311 tickets out.')
    .version(packageVersion, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage and examples)')
    .exitOverride()
    .configureHelp({ styleTitle: (title) => stdoutColours().bold(title) })
    .configureOutput({
      getOutHasColors: () => stdoutColours().enabled,
      getErrHasColors: () => stderrColours().enabled,
      outputError: (text, write) => write(stderrColours().red(text)),
    })
    .addHelpText('after', ROOT_HELP_AFTER);

  registerStartCommand(program);
  registerDemoCommand(program);
  registerSimulateCommand(program);
  registerDevicesCommand(program, () => loadConfig(process.env).devicesDir);
  registerBenchCommand(program);
  registerDeadLettersCommand(program);
  program.commands.find((c) => c.name() === 'bench')?.addHelpText('after', BENCH_HELP_AFTER);
  return program;
}
