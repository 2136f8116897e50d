import type { Config } from '../../config/config.js';
import type { Logger } from '../../observability/logger.js';
import type { PointSink } from './types.js';
import { V1InfluxSink } from './v1-sink.js';
import { V2InfluxSink } from './v2-sink.js';

/** The write path CONTRACT §4 names in CITYPIPE_INFLUX_API. */
export function createSink(influx: Config['influx'], log: Logger): PointSink {
  const url = influx.url;
  if (!url) throw new Error('createSink needs CITYPIPE_INFLUX_URL');
  const common = { url, bucket: influx.bucket, token: influx.token || undefined, timeoutMs: influx.timeoutMs };
  return influx.api === 'v1' ? new V1InfluxSink({ ...common, log }) : new V2InfluxSink({ ...common, org: influx.org || undefined });
}
