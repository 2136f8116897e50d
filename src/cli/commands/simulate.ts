import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { createLogger } from '../../observability/logger.js';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { demoCredentialsFile } from '../../paths.js';
import { startFleet } from '../../../simulators/fleet.js';
import { loadCredentials } from './demo.js';
import { stopOnSignals } from '../run.js';

/** `citypipe simulate`: the catalog's fleet over real MQTT connections, one per device. */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('simulate the device catalog: every device publishes over its own MQTT connection')
    .option('--mqtt-url <url>', 'broker to publish to (default: this machine, CITYPIPE_MQTT_PORT)')
    .option('--interval <seconds>', "seconds between readings (default: each device's reportingIntervalS)")
    .option('--credentials <file>', 'JSON { "<device id>": "<secret>" }', demoCredentialsFile)
    .option('--qos <0|1>', 'MQTT QoS of readings', '1')
    .option('--seed <n>', 'random seed, for reproducible runs', '1')
    .action(async (opts: { mqttUrl?: string; interval?: string; credentials: string; qos: string; seed: string }) => {
      const config = loadConfig(process.env);
      const log = createLogger(config.logLevel);
      const qos = opts.qos === '0' ? 0 : opts.qos === '1' ? 1 : undefined;
      if (qos === undefined) throw new Error(`--qos: expected 0 or 1, got ${opts.qos}`);
      const intervalS = opts.interval === undefined ? undefined : Number(opts.interval);
      if (intervalS !== undefined && !(intervalS > 0)) throw new Error(`--interval: expected seconds > 0, got ${opts.interval}`);
      const catalog = await DeviceCatalog.load(config.devicesDir);
      const fleet = await startFleet({
        mqttUrl: opts.mqttUrl ?? `mqtt://127.0.0.1:${config.mqtt.port}`,
        devices: catalog.all(),
        credentials: loadCredentials(opts.credentials),
        ...(intervalS !== undefined ? { intervalS } : {}),
        qos,
        seed: Number(opts.seed),
        log,
      });
      log.info({ devices: catalog.size }, 'simulating; Ctrl-C stops');
      stopOnSignals(() => fleet.stop());
    });
}
