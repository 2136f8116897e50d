/**
 * `npx citypipe <command>`. Each command lives in its own module under commands/.
 */
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/config.js';
import { registerStartCommand } from './commands/start.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerDevicesCommand } from './commands/devices.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerDeadLettersCommand } from './commands/dead-letters.js';
import { ExitCode, reportError } from './run.js';

const program = new Command();
program
  .name('citypipe')
  .description('Field-sensor telemetry for cities: MQTT in, validated readings in InfluxDB.')
  .showHelpAfterError()
  .exitOverride();

registerStartCommand(program);
registerDemoCommand(program);
registerSimulateCommand(program);
registerDevicesCommand(program, () => loadConfig(process.env).devicesDir);
registerBenchCommand(program);
registerDeadLettersCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    process.exitCode = reportError(err);
    process.exit(process.exitCode);
  }
}
