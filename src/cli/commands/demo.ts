import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { makePrivateDir } from '../../fs/private-files.js';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, withOverrides, type Config } from '../../config/config.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { CitypipeService } from '../../service.js';
import { DeviceCatalog } from '../../catalog/catalog.js';
import type { DeviceRecord } from '../../catalog/types.js';
import { startLocalInfluxd, type LocalInfluxd } from '../../influxd/local-influxd.js';
import { influxql } from '../../query/influxql.js';
import { deviceType, deviceTypeModule, deviceTypeModules, deviceTypes } from '../../device-types/registry.js';
import type { DeviceTypeModule } from '../../device-types/module.js';
import { demoCredentialsFile, demoFleetDir } from '../../paths.js';
import { credentialsFileFor, loadCredentials } from '../../../simulators/credentials.js';
import { lorawanDevices, startFleet, type Fleet } from '../../../simulators/fleet.js';
import { hashSecretAsync } from '../../catalog/secrets.js';
import { pickScriptedDevice, startDemoScript, type DemoScript } from '../../../simulators/demo-script.js';
import type { HubSubscription } from '../../events/event-hub.js';
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
      let script: DemoScript | undefined;
      let tickets: HubSubscription | undefined;
      const stopAll = async () => {
        tickets?.close();
        await script?.stop();
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
        // Tickets are shown with a token: one for this run unless the environment sets one.
        if (!config.http.token) {
          const token = randomBytes(18).toString('base64url');
          config = withOverrides(config, (d) => {
            d.http.token = token;
          });
        }
        // The LoRaWAN sensors arrive through a simulated network server, with an account for this run.
        const nsSecret = randomBytes(18).toString('base64url');
        const nsHash = await hashSecretAsync(nsSecret);
        config = withOverrides(config, (d) => {
          d.mqtt.accounts.push({ name: DEMO_NETWORK_SERVER, role: 'network-server', secretHash: nsHash });
        });
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
        const mqttUrl = `mqtt://127.0.0.1:${service.mqttPort}`;
        tickets = service.dispatcher!.subscribeEvents();
        void printTickets(tickets, `http://127.0.0.1:${service.httpPort}`, config.http.token!, catalog);
        // One bin plays a short act (full in seconds, emptied half a minute later) so that a ticket
        // opens and closes while the person who started the demo watches; the rest is the real thing.
        const scripted = pickScriptedDevice(devices, credentials);
        // The LoRaWAN sensors' readings go as their models' frames through a simulated ChirpStack.
        fleet = await startFleet({ mqttUrl, devices: devices.filter((d) => d !== scripted), credentials, intervalS, log, networkServer: { username: DEMO_NETWORK_SERVER, password: nsSecret } });
        if (scripted) script = await startDemoScript({ mqttUrl, device: scripted, secret: credentials.get(scripted.id)!, intervalS });
        printBanner(config, service, local, devices.length, intervalS, logFile, scripted, lorawanDevices(devices).length);
        await confirmArrival(config, log, devices);
      } catch (err) {
        await stopAll().catch(() => undefined);
        throw err;
      }
    });
}

/** The network-server account the demo makes for its simulated ChirpStack. */
const DEMO_NETWORK_SERVER = 'demo-network-server';

/** Prints every ticket transition as it happens, with the Open311 request to look at. */
async function printTickets(events: HubSubscription, httpUrl: string, token: string, catalog: DeviceCatalog): Promise<void> {
  const c = stdoutColours();
  for await (const e of events) {
    if (e.transition === undefined || e.ticketId === undefined || e.transition === 'updated') continue;
    const where = catalog.get(e.deviceId)?.address;
    process.stdout.write(c.green(`✓ ticket ${e.ticketId} ${e.transition}: ${e.rule} ${e.deviceId}${where ? ` (${where})` : ''}: ${e.message}`) + '\n');
    process.stdout.write(`    curl -s -H "Authorization: Bearer ${token}" ${httpUrl}/open311/v2/requests/${e.ticketId}.json\n`);
  }
}

/**
 * The reading the banner's `mosquitto_pub` example sends: the type's required fields, with the values
 * of its bench reading (seq 500 puts a ratio at 0.5).
 */
function exampleReading(mod: DeviceTypeModule): Record<string, unknown> {
  const bench = JSON.parse(mod.bench.reading(0, 500)) as Record<string, unknown>;
  const required = Object.entries(mod.definition.fields).filter(([, block]) => block.required).map(([key]) => key);
  return Object.fromEntries(required.map((key) => [key, bench[key]]));
}

function printBanner(config: Config, service: CitypipeService, local: LocalInfluxd | undefined, devices: number, intervalS: number, logFile: string, scripted: DeviceRecord | undefined, lorawan: number): void {
  // The examples are about the scripted device's type, or the first registered one.
  const mod = (scripted && deviceTypeModule(scripted.type)) || deviceTypeModules[0];
  const { name, measurement } = mod.definition;
  const reading = exampleReading(mod);
  const story = scripted && mod.demo.act?.story;
  const url = config.influx.url!;
  const [db] = config.influx.bucket.split('/');
  const u = new URL(url);
  const lines = [
    '',
    stdoutColours().bold('citypipe demo is running'),
    `  MQTT broker  mqtt://127.0.0.1:${service.mqttPort}   ${devices} simulated devices, a reading every ${intervalS} s each${lorawan ? ` (${lorawan} of them LoRaWAN sensors, as ChirpStack uplinks through network-server account ${DEMO_NETWORK_SERVER})` : ''}`,
    `  InfluxDB     ${url}   database "${db}"${local ? `   (local influxd, data in ${local.dataDir})` : ''}`,
    `  HTTP         http://127.0.0.1:${service.httpPort}/api/stats   /api/dead-letters   /metrics   /readyz`,
    `  Tickets      http://127.0.0.1:${service.httpPort}/open311/v2/requests.json   (Authorization: Bearer ${config.http.token})`,
    ...(config.residents.enabled ? [`  Residents    http://127.0.0.1:${service.httpPort}/status   /open/v1/parking.geojson   /open/v1/outages.geojson   /open/v1/parking.json`] : []),
    `  Log          ${logFile}`,
    '',
    ...(story ? [`${scripted!.id} ${story}`, ''] : []),
    'Look at the data (InfluxQL):',
    `  influx -host ${u.hostname} -port ${u.port || 8086} -database ${db} -execute 'SELECT * FROM ${measurement} GROUP BY district ORDER BY time DESC LIMIT 1'`,
    `  curl -sG ${url}/query --data-urlencode db=${db} --data-urlencode "q=SELECT count(${Object.keys(reading)[0] ?? 'seq'}) FROM ${measurement} GROUP BY district"`,
    '',
    `Grafana: add an InfluxDB data source with query language InfluxQL, URL ${url}, database ${db};`,
    `  the measurements are ${listed(deviceTypes.map((d) => d.measurement))}, tagged by device_id and district.`,
    '',
    'Publish a reading yourself, as a demo device (its secret is in simulators/demo-credentials.json):',
    `  mosquitto_pub -p ${service.mqttPort} -i <id> -u <id> -P <secret> -t city/${name}/<id>/telemetry -m '${JSON.stringify(reading)}'`,
    '',
    'Ctrl-C stops the demo (accepted readings are written first).',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * Waits until every device type the demo drives has points in InfluxDB and says so (or says what is
 * missing). Types without a device in the catalog are not waited for: none of them can arrive.
 */
async function confirmArrival(config: Config, log: Logger, devices: readonly DeviceRecord[]): Promise<void> {
  const started = Date.now();
  const target = { url: config.influx.url!, api: config.influx.api, bucket: config.influx.bucket, token: config.influx.token };
  const driven = new Set(devices.map((d) => d.type));
  const types = deviceTypes.filter((d) => driven.has(d.name));
  const missing = new Set(types.map((d) => d.measurement));
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
  // Each LoRaWAN sensor (one per model in the demo fleet): its uplinks decoded and stored.
  const sensors = new Map(lorawanDevices(devices).map((d) => [d.id, d]));
  while (sensors.size && Date.now() - started < 45_000) {
    for (const d of [...sensors.values()]) {
      try {
        const m = deviceType(d.type)!.measurement;
        if ((await influxql(target, `SELECT count(*) FROM "${m}" WHERE "device_id" = '${d.id}' AND time > now() - 1h`)).length) sensors.delete(d.id);
      } catch (err) {
        log.debug({ err }, 'demo arrival check failed');
      }
    }
    if (sensors.size) await new Promise((r) => setTimeout(r, 500));
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const c = stdoutColours();
  if (missing.size === 0) process.stdout.write(c.green(`✓ readings of all ${types.length} device types are queryable in InfluxDB (${secs} s after start)`) + '\n');
  else process.stdout.write(c.yellow(`! no readings yet in ${[...missing].join(', ')} after ${secs} s: see the log and /api/dead-letters`) + '\n');
  const lora = lorawanDevices(devices);
  if (lora.length && sensors.size === 0) {
    process.stdout.write(c.green(`✓ LoRaWAN uplinks decoded and stored for every model: ${lora.map((d) => `${d.lorawan!.model} (${d.id})`).join(', ')}`) + '\n');
  } else if (lora.length) {
    process.stdout.write(c.yellow(`! no LoRaWAN uplinks stored yet from ${[...sensors.values()].map((d) => `${d.id} (${d.lorawan!.model})`).join(', ')}: see /api/dead-letters`) + '\n');
  }
}

