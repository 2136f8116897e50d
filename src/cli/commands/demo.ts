import { createWriteStream } from 'node:fs';
import { makePrivateDir } from '../../fs/private-files.js';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, withOverrides, type Config } from '../../config/config.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { CitypipeService } from '../../service.js';
import { DeviceCatalog } from '../../catalog/catalog.js';
import { startLocalInfluxd, type LocalInfluxd } from '../../influxd/local-influxd.js';
import { influxql } from '../../query/influxql.js';
import { deviceTypes } from '../../device-types/registry.js';
import { demoCredentialsFile, demoFleetDir } from '../../paths.js';
import { credentialsFileFor, loadCredentials } from '../../../simulators/credentials.js';
import { startFleet, type Fleet } from '../../../simulators/fleet.js';
import { stdoutColours } from '../colour.js';
import { CliError, ExitCode, stopOnSignals } from '../run.js';

/**
 * `citypipe demo`: the service, a local influxd (unless CITYPIPE_INFLUX_URL is set) and the catalog's
 * fleet simulated over real MQTT connections; prints where to look and confirms the data arrived.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the service with a local InfluxDB and a simulated fleet from the device catalog')
    .option('--interval <seconds>', 'seconds between readings of each simulated device', '5')
    .addHelpText(
      'after',
      `
Starts influxd from PATH with its data in CITYPIPE_DATA_DIR (default data/) unless CITYPIPE_INFLUX_URL
is set, then the service and the catalog's fleet; prints where to look. Ctrl-C stops it and exits 0.

Examples
  npx citypipe demo
  npx citypipe demo --interval 1
  CITYPIPE_INFLUX_URL=http://127.0.0.1:8086 CITYPIPE_INFLUX_API=v1 npx citypipe demo`,
    )
    .action(async (opts: { interval: string }) => {
      const intervalS = Number(opts.interval);
      if (!Number.isFinite(intervalS) || intervalS <= 0) throw new CliError(ExitCode.usage, `demo: --interval: expected seconds > 0, got ${opts.interval}`);
      // The shipped demo fleet unless CITYPIPE_DEVICES_DIR names another catalog.
      let config = loadConfig(process.env, { CITYPIPE_DEVICES_DIR: demoFleetDir });
      makePrivateDir(config.dataDir);
      const logFile = path.join(config.dataDir, 'citypipe.log');
      // The console is for the person running the demo; the full log goes to a file, warnings to both.
      const log = createLogger(
        config.logLevel,
        pino.multistream([
          { level: config.logLevel === 'silent' ? 'fatal' : config.logLevel, stream: createWriteStream(logFile, { flags: 'a', mode: 0o600 }) },
          { level: 'warn', stream: process.stderr },
        ]),
      );

      let local: LocalInfluxd | undefined;
      let service: CitypipeService | undefined;
      let fleet: Fleet | undefined;
      const stopAll = async () => {
        await fleet?.stop();
        await service?.stop();
        await local?.stop();
      };
      stopOnSignals(stopAll, { onStopping: () => process.stdout.write('\nstopping: writing what was received, then shutting down…\n') });

      try {
        if (!config.influx.url) {
          local = await startLocalInfluxd({ dataDir: path.join(config.dataDir, 'influxdb'), log });
          const url = local.url;
          config = withOverrides(config, (d) => {
            d.influx.url = url;
            d.influx.api = 'v1';
            d.influx.token = '';
          });
        }
        // The demo fleet's secrets are published: only the demo accepts them.
        service = new CitypipeService(config, log, { acceptPublishedSecrets: true });
        await service.start();
        const catalog = await DeviceCatalog.load(config.devicesDir);
        const devices = catalog.all();
        // The demo fleet's secrets, and those `devices generate` wrote beside any generated catalog file.
        const credentials = loadCredentials(demoCredentialsFile);
        for (const file of new Set(devices.map((d) => catalog.fileOf(d.id)))) {
          if (file !== undefined) for (const [id, secret] of loadCredentials(credentialsFileFor(file))) credentials.set(id, secret);
        }
        fleet = await startFleet({
          mqttUrl: `mqtt://127.0.0.1:${service.mqttPort}`,
          devices,
          credentials,
          intervalS,
          log,
        });
        printBanner(config, service, local, devices.length, intervalS, logFile);
        await confirmArrival(config, log);
      } catch (err) {
        await stopAll().catch(() => undefined);
        throw err;
      }
    });
}

function printBanner(config: Config, service: CitypipeService, local: LocalInfluxd | undefined, devices: number, intervalS: number, logFile: string): void {
  const url = config.influx.url!;
  const [db] = config.influx.bucket.split('/');
  const u = new URL(url);
  const lines = [
    '',
    stdoutColours().bold('citypipe demo is running'),
    `  MQTT broker  mqtt://127.0.0.1:${service.mqttPort}   ${devices} simulated devices, a reading every ${intervalS} s each`,
    `  InfluxDB     ${url}   database "${db}"${local ? `   (local influxd, data in ${local.dataDir})` : ''}`,
    `  HTTP         http://127.0.0.1:${service.httpPort}/api/stats   /api/dead-letters   /metrics   /readyz`,
    `  Log          ${logFile}`,
    '',
    'Look at the data (InfluxQL):',
    `  influx -host ${u.hostname} -port ${u.port || 8086} -database ${db} -execute 'SELECT * FROM waste_bin GROUP BY district ORDER BY time DESC LIMIT 1'`,
    `  curl -sG ${url}/query --data-urlencode db=${db} --data-urlencode "q=SELECT count(fillingLevel) FROM waste_bin GROUP BY district"`,
    '',
    `Grafana: add an InfluxDB data source with query language InfluxQL, URL ${url}, database ${db};`,
    '  the measurements are waste_bin, parking_meter and streetlight, tagged by device_id and district.',
    '',
    'Publish a reading yourself, as a demo device (its secret is in simulators/demo-credentials.json):',
    `  mosquitto_pub -p ${service.mqttPort} -i <id> -u <id> -P <secret> -t city/waste-bin/<id>/telemetry -m '{"fillingLevel":0.5}'`,
    '',
    'Ctrl-C stops the demo (accepted readings are written first).',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** Waits until every device type has points in InfluxDB and says so (or says what is missing). */
async function confirmArrival(config: Config, log: Logger): Promise<void> {
  const started = Date.now();
  const target = { url: config.influx.url!, api: config.influx.api, bucket: config.influx.bucket, token: config.influx.token };
  const missing = new Set(deviceTypes.map((d) => d.measurement));
  while (missing.size && Date.now() - started < 30_000) {
    await new Promise((r) => setTimeout(r, 500));
    for (const m of [...missing]) {
      try {
        const rows = await influxql(target, `SELECT count(*) FROM "${m}" WHERE time > now() - 1h`);
        if (rows.length) missing.delete(m);
      } catch (err) {
        log.debug({ err }, 'demo arrival check failed');
      }
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const c = stdoutColours();
  if (missing.size === 0) process.stdout.write(c.green(`✓ readings of all ${deviceTypes.length} device types are queryable in InfluxDB (${secs} s after start)`) + '\n');
  else process.stdout.write(c.yellow(`! no readings yet in ${[...missing].join(', ')} after ${secs} s: see the log and /api/dead-letters`) + '\n');
}

