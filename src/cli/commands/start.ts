import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { createLogger } from '../../observability/logger.js';
import { CitypipeService } from '../../service.js';
import { stopOnSignals } from '../run.js';

/** `citypipe start`: the service alone, configured by the environment (CONTRACT §6). */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the service (MQTT broker, validation, InfluxDB writer, HTTP API), configured by CITYPIPE_* variables')
    .addHelpText(
      'after',
      `
Runs until SIGINT (Ctrl-C) or SIGTERM, then writes every accepted reading to InfluxDB and exits 0.
Logs are JSON lines on stdout. An unreachable InfluxDB does not stop it: readings wait in the spool
and /readyz says why it is not ready. A bad CITYPIPE_* value exits 2 before anything starts.

Examples
  CITYPIPE_INFLUX_URL=http://127.0.0.1:8086 CITYPIPE_INFLUX_API=v1 npx citypipe start
  CITYPIPE_CONFIG=/etc/citypipe.json npx citypipe start`,
    )
    .action(async () => {
      const config = loadConfig(process.env);
      const log = createLogger(config.logLevel);
      const service = new CitypipeService(config, log);
      stopOnSignals(() => service.stop(), {
        onStopping: (signal) => log.info({ signal }, 'stopping: writing accepted readings to InfluxDB'),
      });
      await service.start();
    });
}
