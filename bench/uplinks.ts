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
import { deviceRecordSchema } from '../src/catalog/types.js';
import { mulberry32 } from '../simulators/prng.js';
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
  // Every model takes its share of the devices.
  const models = lorawanModels;
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
      model,
      type,
    };
  });
  writeFileSync(path.join(dir, 'lorawan-fleet.json'), JSON.stringify(devices.map((d) => d.record)));
  const secret = 'bench-network-server-secret';
  const db = 'bench_uplinks_qos1';
  const svc = await ctx.startService('uplinks QoS 1', dir, db, 1024, {
    CITYPIPE_MQTT_ACCOUNTS: accountEntry('bench-ns', 'network-server', await hashSecretAsync(secret)),
  });
  try {
    // Built before the clock starts: the generator's JSON work is not the service's. Each is a
    // steady reading of the device's type (it raises none of its rules, like the direct devices'
    // readings), as the sensor measures it, in its model's frames.
    const base = Date.now() - 30_000;
    const rand = mulberry32(7);
    const bodies: { topic: string; body: string }[] = [];
    for (let n = 0; bodies.length < uplinks; n++) {
      const d = devices[n % DEVICES]!;
      const reading = d.type.bench.rules.steady(rand);
      const record = deviceRecordSchema.parse(d.record);
      const measured = d.type.lorawan?.measure ? d.type.lorawan.measure(reading, record) : reading;
      // A reading in two frames (a lamp's status and usage) goes as two uplinks a millisecond apart.
      d.model.encode(measured, 80).forEach((f, i) => {
        if (bodies.length < uplinks) bodies.push({ topic: chirpstackTopic(d.devEui, 'up'), body: chirpstackUp({ devEui: d.devEui, fPort: f.fPort, bytes: f.bytes, fCnt: n, timeMs: base + 10 * Math.floor(n / DEVICES) + i }) });
      });
    }
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
    // Every frame carries a reading (an encoder sends none without one).
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
