/**
 * What the configuration promises less than the defaults do, said once at start (codes in
 * errors/catalog.ts `NoticeCodes`), and the one setting `citypipe start` cannot do without.
 */
import type { Config } from './config.js';
import type { Logger } from '../observability/logger.js';
import { CitypipeError, ErrorCodes, NoticeCodes } from '../errors/catalog.js';

/** CITYPIPE_INFLUX_URL, or a CONFIG_INVALID error that says where to point it. */
export function influxUrlOf(config: Config): string {
  const url = config.influx.url;
  if (url) return url;
  throw new CitypipeError(
    ErrorCodes.CONFIG_INVALID,
    'CITYPIPE_INFLUX_URL: not set. Point it at your InfluxDB, e.g. CITYPIPE_INFLUX_URL=http://127.0.0.1:8086 ' +
      "(with CITYPIPE_INFLUX_API=v1 for Debian's influxdb 1.6), or run `npx citypipe demo`, which starts a local one.",
  );
}

export function logStartWarnings(config: Config, log: Logger): void {
  if (config.influx.api === 'v2' && !config.influx.org) {
    log.warn({ code: NoticeCodes.INFLUX_ORG.code }, 'CITYPIPE_INFLUX_ORG is empty: InfluxDB 2.x needs it (1.8 and 3.x ignore it); set it to your organisation');
  }
  if (!config.spool.fsync) {
    log.warn({ code: NoticeCodes.SPOOL_NO_FSYNC.code }, 'CITYPIPE_SPOOL_FSYNC=false: a PUBACK no longer means the reading is on disk; a crash can lose acknowledged readings');
  }
  if (config.mqtt.open) {
    log.warn(
      { code: NoticeCodes.MQTT_OPEN.code, key: config.mqtt.openKey },
      `LAB MODE (${config.mqtt.openKey}=true): the MQTT broker accepts ANONYMOUS clients and applies NO topic ACL and NO client-id binding; ` +
        'anyone who can reach it can publish as any device. For interoperability testing only; limits stay on.' +
        (config.mqtt.openKey === 'CITYPIPE_MQTT_ALLOW_ANONYMOUS' ? ' (CITYPIPE_MQTT_ALLOW_ANONYMOUS is deprecated: use CITYPIPE_MQTT_OPEN.)' : ''),
    );
  }
  if (!config.http.token) {
    log.info(
      { code: NoticeCodes.HTTP_NO_TOKEN.code },
      'CITYPIPE_HTTP_TOKEN is not set: HTTP endpoints that change state (dead-letter replay), show device locations or list rule events answer 401',
    );
  }
}
