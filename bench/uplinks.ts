/**
 * LoRaWAN uplinks end to end (CONTRACT §7): ChirpStack-shaped `up` events over one network-server
 * connection at QoS 1 (as ChirpStack's MQTT integration sends them), through the codec, the bin's
 * fill from distance, the spool and InfluxDB, counted as points InfluxDB returns. Beside the
 * direct-device figure of the same run: what decoding a server's JSON and a vendor's bytes costs.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { hashSecretAsync } from '../src/catalog/secrets.js';
import { hexBytes } from '../src/device-types/lorawan.js';
import { lorawanModels } from '../src/device-types/registry.js';
import { accountEntry } from '../src/security/accounts.js';
import { chirpstackTopic, chirpstackUp } from '../simulators/network-server.js';
import { settledCount } from './influx-queries.js';
import { round } from './proc-stats.js';
import { fmt, HOST, perSecond, type BenchContext } from './run-context.js';

/** Devices behind the simulated network server, and unacknowledged PUBLISHes it keeps in flight. */
const DEVICES = 1000;
const WINDOW = 200;

export interface UplinkFigures {
  readingsPerS: number;
  acceptedPerS: number;
  cpuUsPerReading: number;
  counted: number;
}

export async function uplinksEndToEnd(ctx: BenchContext, uplinks: number): Promise<UplinkFigures> {
  const label = 'LoRaWAN uplinks end to end, QoS 1, one network-server connection';
  // Every model that has sample frames takes its share of the devices.
  const models = lorawanModels.filter((m) => m.model.samples.length > 0);
  const dir = path.join(ctx.workDir, 'catalog-lorawan');
  mkdirSync(dir, { recursive: true });
  const devices = Array.from({ length: DEVICES }, (_, i) => {
    const { model, type } = models[i % models.length]!;
    const devEui = `b0b0${i.toString(16).padStart(12, '0')}`;
    return {
      record: {
        id: `uplink-${i}`,
        type: type.definition.name,
        location: { lat: 52.3 + (i % 1000) / 10_000, lon: 4.8 },
        district: `bench-d${i % 7}`,
        reportingIntervalS: 600,
        attributes: { containerDepthMm: 2000, powerRating: 60, zone: `bench-z${i % 20}` },
        lorawan: { devEui, model: model.name },
      },
      devEui,
      samples: model.samples,
    };
  });
  writeFileSync(path.join(dir, 'lorawan-fleet.json'), JSON.stringify(devices.map((d) => d.record)));
  const secret = 'bench-network-server-secret';
  const db = 'bench_uplinks_qos1';
  const svc = await ctx.startService('uplinks QoS 1', dir, db, 1024, {
    CITYPIPE_MQTT_ACCOUNTS: accountEntry('bench-ns', 'network-server', await hashSecretAsync(secret)),
  });
  try {
    // Built before the clock starts: the generator's JSON work is not the service's.
    const base = Date.now() - 30_000;
    const bodies = Array.from({ length: uplinks }, (_, n) => {
      const d = devices[n % DEVICES]!;
      const s = d.samples[Math.floor(n / DEVICES) % d.samples.length]!;
      return { topic: chirpstackTopic(d.devEui, 'up'), body: chirpstackUp({ devEui: d.devEui, fPort: s.fPort, bytes: hexBytes(s.bytes), fCnt: n, timeMs: base + Math.floor(n / DEVICES) }) };
    });
    ctx.log(`${label}: ${fmt(uplinks)} uplinks of ${DEVICES} devices (${models.map((m) => m.model.name).join(', ')}), ${WINDOW} in flight`);
    const client = await mqtt.connectAsync(`mqtt://${HOST}:${svc.mqttPort}`, { username: 'bench-ns', password: secret, clientId: 'bench-ns', protocolVersion: 4, reconnectPeriod: 0 });
    const sampler = ctx.sampler({ citypipe: [svc.pid] });
    const firstSendAt = Date.now();
    let next = 0;
    let failed = 0;
    const lane = async () => {
      for (let n = next++; n < bodies.length; n = next++) {
        await client.publishAsync(bodies[n]!.topic, bodies[n]!.body, { qos: 1 }).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
    const ackedAt = Date.now();
    await client.endAsync();
    // Uplinks without a reading (none of the samples) would count 0: every sample carries one.
    const { doneAt, stats } = await ctx.waitWritten(svc, uplinks - failed, ctx.phaseMs, label);
    const usage = sampler.stop();
    ctx.processes[label] = usage;
    const counted = await settledCount(ctx.influx!.url, db, stats.received, 300, 30_000);
    if (counted < uplinks - failed) ctx.note(`${label}: ${fmt(uplinks - failed)} uplinks acknowledged but InfluxDB returns ${fmt(counted)} points`);
    if (failed > 0) ctx.note(`${label}: ${fmt(failed)} uplinks were not acknowledged`);
    const readingsPerS = perSecond(counted, firstSendAt, doneAt);
    const acceptedPerS = perSecond(uplinks - failed, firstSendAt, ackedAt);
    const cpuUsPerReading = counted > 0 ? round((usage.citypipe!.cpuS * 1e6) / counted, 1) : Number.NaN;
    ctx.log(`    ${fmt(readingsPerS)} readings/s into InfluxDB (${fmt(counted)} in ${((doneAt - firstSendAt) / 1000).toFixed(1)} s; PUBACKed ${fmt(acceptedPerS)}/s; citypipe used ${cpuUsPerReading} µs CPU per reading)`);
    return { readingsPerS, acceptedPerS, cpuUsPerReading, counted };
  } finally {
    await ctx.stopService(svc);
  }
}
