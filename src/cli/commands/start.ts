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
    .action(async () => {
      const config = loadConfig(process.env);
      const log = createLogger(config.logLevel);
      const service = new CitypipeService(config, log);
      stopOnSignals(
        () => service.stop(),
        (signal) => log.info({ signal }, 'stopping: writing accepted readings to InfluxDB'),
      );
      await service.start();
    });
}
