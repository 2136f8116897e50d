/**
 * Sensors behind a LoRaWAN network server, end to end (CONTRACT §7): the real service, a real
 * InfluxDB, real MQTT clients (mqtt.js and Debian's mosquitto_pub) publishing ChirpStack v4 events as
 * a network-server account, and real HTTP posts of ChirpStack and The Things Stack bodies. The bytes
 * are golden vectors of the models' vendor decoders (each model's vectors.json).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMosquitto } from '../bench/processes.js';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeviceRecord } from '../src/catalog/types.js';
import { hashSecret } from '../src/catalog/secrets.js';
import { hexBytes } from '../src/device-types/lorawan.js';
import { accountEntry } from '../src/security/accounts.js';
import { chirpstackCodecLog, chirpstackStatus, chirpstackTopic, chirpstackUp, ttsUp } from '../simulators/network-server.js';
import { connectClient, startTestService, testDevice, type RunningService, type TestDevice } from './helpers/service.js';
import { createDatabase, uniqueDbName } from './helpers/influx.js';
import { killChildren, startServiceProcess } from './helpers/cli.js';
import { testEnv, writeCatalog } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { lorawanModel } from '../src/device-types/registry.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observability/logger.js';
import { CitypipeService } from '../src/service.js';

const influxUrl = inject('influxUrl');
const run = promisify(execFile);
const TOKEN = 'uplink-token-0123456789abcdef';
const NS_SECRET = 'network-server-secret-0123456789';

/** A golden vector of a model, by its name in vectors.json. */
function vector(model: string, name: RegExp): { fPort: number; bytes: Uint8Array; fields: Record<string, number | string> } {
  const r = lorawanModel(model)!;
  const file = new URL(`../src/device-types/${r.type.definition.name}/models/${model}/vectors.json`, import.meta.url);
  const v = (JSON.parse(readFileSync(file, 'utf8')) as { vectors: { name: string; fPort: number; bytes: string; fields: Record<string, number | string> }[] }).vectors.find((x) => name.test(x.name));
  if (!v) throw new Error(`${model}: no vector matches ${name}`);
  return { fPort: v.fPort, bytes: hexBytes(v.bytes), fields: v.fields };
}

let euiCounter = 0;
/** A LoRaWAN catalog device: no MQTT secret, a DevEUI and a model. */
function loraDevice(type: DeviceRecord['type'], model: string, district: string, attributes: DeviceRecord['attributes'] = {}): TestDevice {
  const d = testDevice(type, district, attributes);
  euiCounter++;
  const devEui = `a84041${process.pid.toString(16).padStart(6, '0').slice(-6)}${euiCounter.toString(16).padStart(4, '0')}`;
  const { secretHash: _none, ...record } = d.record;
  return { secret: '', record: { ...record, lorawan: { devEui, model } } as DeviceRecord };
}

const eui = (d: TestDevice) => d.record.lorawan!.devEui;

// 300 mm from a 2000 mm deep bin: 85 % full. 1200 mm: 40 %.
const full = vector('milesight-em400-udl', /full bin, upright/);
const half = vector('milesight-em400-udl', /empty bin, upright: 1200/);
const bin = loraDevice('waste-bin', 'milesight-em400-udl', 'centrum', { containerDepthMm: 2000 });
const binQos0 = loraDevice('waste-bin', 'milesight-em400-udl', 'noord', { containerDepthMm: 2000 });
const binCli = loraDevice('waste-bin', 'milesight-em400-udl', 'oost', { containerDepthMm: 2000 });
const noDepth = loraDevice('waste-bin', 'milesight-em400-udl', 'west');
const binHttp = loraDevice('waste-bin', 'dragino-ldds75', 'zuid', { containerDepthMm: 2000 });
const binTts = loraDevice('waste-bin', 'milesight-em310-udl', 'zuid', { containerDepthMm: 2000 });
const direct = testDevice('waste-bin', 'centrum');
const busy = loraDevice('waste-bin', 'milesight-em400-udl', 'west', { containerDepthMm: 2000 });

let svc: RunningService;
let ns: MqttClient;
const clients: MqttClient[] = [];

async function query(q: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${influxUrl}/query?db=${svc.db}&epoch=ms&q=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { results: { series?: { columns: string[]; values: unknown[][] }[] }[] };
  const s = body.results[0]?.series?.[0];
  return s ? s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))) : [];
}

const rowsOf = (d: TestDevice) => query(`SELECT * FROM "waste_bin" WHERE "device_id" = '${d.record.id}'`);

async function deadLetters(deviceOrReason: string): Promise<{ reason: string; message: string; deviceId?: string; payload: string }[]> {
  const res = await fetch(`${svc.httpUrl}/api/dead-letters?limit=100`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = (await res.json()) as { items: { reason: string; message: string; deviceId?: string; payload: string }[] };
  return body.items.filter((d) => d.deviceId === deviceOrReason || d.reason === deviceOrReason);
}

beforeAll(async () => {
  svc = await startTestService(influxUrl, [bin, binQos0, binCli, noDepth, binHttp, binTts, direct, busy], {
    CITYPIPE_MQTT_ACCOUNTS: accountEntry('chirpstack', 'network-server', hashSecret(NS_SECRET)),
    CITYPIPE_UPLINK_TOKEN: TOKEN,
    CITYPIPE_HTTP_TOKEN: TOKEN,
    // Sized for one device: a network server's connection, carrying a fleet, is not held to it.
    CITYPIPE_MQTT_CLIENT_RATE: '5',
  });
  ns = await connectClient(svc.mqttUrl, { username: 'chirpstack', password: NS_SECRET, clientId: 'chirpstack' });
  clients.push(ns);
}, 60_000);

afterAll(async () => {
  killChildren();
  // Some were closed by the broker (the ACL test): end them without waiting for a DISCONNECT.
  for (const c of clients) c.end(true);
  await svc?.stop();
});

describe('ChirpStack over MQTT, as a network-server account', () => {
  it('stores an up event at QoS 1 with the catalog tags, the server time, fCnt as seq, the best RSSI; a duplicate once', async () => {
    const timeMs = Date.now() - 5000;
    const body = chirpstackUp({ devEui: eui(bin), ...half, fCnt: 41, timeMs, rssi: -88, deduplicationId: 'b3c1a7f0-0000-4000-8000-000000000041' });
    await ns.publishAsync(chirpstackTopic(eui(bin), 'up'), body, { qos: 1 });
    // ChirpStack delivers it again (a reconnect before its PUBACK): the same deduplicationId.
    await ns.publishAsync(chirpstackTopic(eui(bin), 'up'), body, { qos: 1 });
    const rows = await waitFor('the reading in InfluxDB', async () => ((await rowsOf(bin)).length > 0 ? rowsOf(bin) : undefined));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ time: timeMs, district: 'centrum', seq: 41, rssi: -88, fillingLevel: 0.4, distanceMm: 1200, temperature: half.fields['temperature'], batteryLevel: 0.9 });
    const stats = (await (await fetch(`${svc.httpUrl}/metrics`)).text()).match(/citypipe_uplink_duplicates_total (\d+)/);
    expect(Number(stats?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('opens a waste.collect ticket for a bin whose distance says 85 % full', async () => {
    await ns.publishAsync(chirpstackTopic(eui(bin), 'up'), chirpstackUp({ devEui: eui(bin), ...full, fCnt: 42, timeMs: Date.now() - 1000 }), { qos: 1 });
    const ticket = await waitFor('a waste.collect ticket', async () => {
      const res = await fetch(`${svc.httpUrl}/open311/v2/requests.json?service_code=waste.collect`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const list = (await res.json()) as { service_request_id: string; status: string; description?: string; attribute?: Record<string, string> }[];
      return list.find((t) => JSON.stringify(t).includes(bin.record.id));
    });
    expect(ticket.status).toBe('open');
    await waitFor('the 85 % reading in InfluxDB', async () => (await rowsOf(bin)).some((r) => r['fillingLevel'] === 0.85));
  });

  it('takes QoS 0 and mosquitto_pub the same way', async () => {
    await ns.publishAsync(chirpstackTopic(eui(binQos0), 'up'), chirpstackUp({ devEui: eui(binQos0), ...half, fCnt: 7, timeMs: Date.now() - 2000 }), { qos: 0 });
    const port = new URL(svc.mqttUrl).port;
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'chirpstack', '-P', NS_SECRET, '-i', 'chirpstack:cli', '-q', '1', '-t', chirpstackTopic(eui(binCli), 'up'), '-m', chirpstackUp({ devEui: eui(binCli), ...full, fCnt: 3, timeMs: Date.now() - 1000 })], { timeout: 10_000 });
    await waitFor('both readings', async () => (await rowsOf(binQos0)).length === 1 && (await rowsOf(binCli)).length === 1);
    expect((await rowsOf(binCli))[0]).toMatchObject({ fillingLevel: 0.85, seq: 3, district: 'oost' });
  });

  it('writes the battery of a status event with the next reading', async () => {
    const d = binQos0;
    await ns.publishAsync(chirpstackTopic(eui(d), 'status'), chirpstackStatus(eui(d), Date.now() - 1500, 63), { qos: 1 });
    // A distance-only alarm packet carries no battery of its own.
    const alarm = vector('milesight-em400-udl', /distance alarm dismissed/);
    await ns.publishAsync(chirpstackTopic(eui(d), 'up'), chirpstackUp({ devEui: eui(d), ...alarm, fCnt: 8, timeMs: Date.now() - 1000 }), { qos: 1 });
    const rows = await waitFor('the second reading', async () => ((await rowsOf(d)).length === 2 ? rowsOf(d) : undefined));
    expect(rows[1]).toMatchObject({ seq: 8, batteryLevel: 0.63, distanceMm: 1500 });
  });

  it('dead-letters a codec log, an unknown DevEUI and a bin without a depth, each naming why, with the whole uplink', async () => {
    await ns.publishAsync(chirpstackTopic(eui(bin), 'log'), chirpstackCodecLog(eui(bin), Date.now(), 'JS error: Error: foo is not defined'), { qos: 1 });
    const stranger = 'ffeeddccbbaa0099';
    await ns.publishAsync(chirpstackTopic(stranger, 'up'), chirpstackUp({ devEui: stranger, ...full, fCnt: 1, timeMs: Date.now() }), { qos: 1 });
    await ns.publishAsync(chirpstackTopic(eui(noDepth), 'up'), chirpstackUp({ devEui: eui(noDepth), ...full, fCnt: 1, timeMs: Date.now() }), { qos: 1 });
    await ns.publishAsync(chirpstackTopic(eui(bin), 'up'), chirpstackUp({ devEui: eui(bin), fPort: 85, bytes: hexBytes('0175'), fCnt: 43, timeMs: Date.now() }), { qos: 1 });
    const codec = await waitFor('the codec log dead letter', async () => (await deadLetters(bin.record.id)).find((d) => d.message.includes('foo is not defined')));
    expect(codec.reason).toBe('decode_failed');
    const unknown = await waitFor('the unknown DevEUI', async () => (await deadLetters('unknown_device')).find((d) => d.message.includes(stranger)));
    expect(unknown.message).toMatch(/devices add .*--dev-eui ffeeddccbbaa0099/);
    expect(unknown.payload).toContain('"deduplicationId"');
    const depth = await waitFor('the missing depth', async () => (await deadLetters(noDepth.record.id))[0]);
    expect(depth).toMatchObject({ reason: 'missing_attribute' });
    expect(depth.message).toMatch(/attributes\.containerDepthMm/);
    const cut = await waitFor('the truncated packet', async () => (await deadLetters(bin.record.id)).find((d) => d.message.includes('milesight-em400-udl')));
    expect(cut.reason).toBe('decode_failed');
    expect(cut.message).toMatch(/fPort 85: /);
    const stats = (await (await fetch(`${svc.httpUrl}/api/stats`)).json()) as { received: number; written: number; deadLettered: number; pending: number };
    expect(stats.received).toBe(stats.written + stats.deadLettered + stats.pending);
  });

  it('is not held to the per-connection message rate of a device: 400 uplinks at QoS 1 beyond a rate of 5/s', async () => {
    // At CITYPIPE_MQTT_CLIENT_RATE=5 (a burst of 50) a device's connection would need 70 s for these.
    const started = Date.now();
    const base = Date.now() - 60_000;
    await Promise.all(Array.from({ length: 400 }, (_, i) => ns.publishAsync(chirpstackTopic(eui(busy), 'up'), chirpstackUp({ devEui: eui(busy), ...half, fCnt: 1000 + i, timeMs: base + i }), { qos: 1 })));
    expect(Date.now() - started).toBeLessThan(35_000);
    await waitFor('400 readings', async () => (await rowsOf(busy)).length === 400);
  });

  it('lets the network server publish only its uplink events, and a device not publish them', async () => {
    const denied = new Promise<void>((resolve) => ns.once('close', () => resolve()));
    const other = await connectClient(svc.mqttUrl, { username: 'chirpstack', password: NS_SECRET, clientId: 'chirpstack:acl' });
    clients.push(other);
    const closed = new Promise<void>((resolve) => other.once('close', () => resolve()));
    other.publish(`city/waste-bin/${direct.record.id}/telemetry`, '{"fillingLevel":0.5}', { qos: 1 });
    await closed;
    const device = await connectClient(svc.mqttUrl, { username: direct.record.id, password: direct.secret, clientId: direct.record.id });
    clients.push(device);
    const deviceClosed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish(chirpstackTopic(eui(bin), 'up'), chirpstackUp({ devEui: eui(bin), ...full, fCnt: 99, timeMs: Date.now() }), { qos: 1 });
    await deviceClosed;
    expect((await rowsOf(bin)).map((r) => r['seq'])).not.toContain(99);
    void denied;
  });
});

describe('over HTTP', () => {
  const post = (path: string, body: string, token: string | null = TOKEN) =>
    fetch(`${svc.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });

  it('takes a ChirpStack HTTP integration body and a TTS webhook body, answering once stored', async () => {
    const ldds = vector('dragino-ldds75', /./);
    const a = await post('/api/uplinks/chirpstack?event=up', chirpstackUp({ devEui: eui(binHttp), ...ldds, fCnt: 5, timeMs: Date.now() - 1000 }));
    expect(a.status).toBe(200);
    expect(await a.json()).toEqual({ stored: 1, deadLettered: [] });
    const em310 = vector('milesight-em310-udl', /./);
    const b = await post('/api/uplinks/tts', ttsUp({ devEui: eui(binTts), ...em310, fCnt: 0, timeMs: Date.now() - 1000 }));
    expect(b.status).toBe(200);
    expect(((await b.json()) as { stored: number }).stored).toBe(1);
    const rows = await waitFor('both readings', async () => ((await rowsOf(binHttp)).length === 1 && (await rowsOf(binTts)).length === 1 ? [...(await rowsOf(binHttp)), ...(await rowsOf(binTts))] : undefined));
    expect(rows[0]).toMatchObject({ seq: 5, distanceMm: ldds.fields['distanceMm'] });
    expect(rows[1]).toMatchObject({ seq: 0, district: 'zuid' });
  });

  it('refuses a wrong or missing token (401), a body that is no uplink (400, kept as a dead letter), and a status event is 200 with nothing stored', async () => {
    expect((await post('/api/uplinks/tts', ttsUp({ devEui: eui(binTts), fPort: 85, bytes: half.bytes, fCnt: 2, timeMs: Date.now() }), 'wrong-token-0123456789')).status).toBe(401);
    const none = await post('/api/uplinks/chirpstack?event=up', '{}', null);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { message: string }).message).toMatch(/CITYPIPE_UPLINK_TOKEN/);
    const bad = await post('/api/uplinks/tts', '{"end_device_ids":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^invalid_json/);
    const status = await post('/api/uplinks/chirpstack?event=status', chirpstackStatus(eui(binHttp), Date.now(), 50));
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({ stored: 0, deadLettered: [] });
  });
});

describe('parking zones from bay sensors', () => {
  it('counts free and occupied bays per zone from their uplinks, a silent bay as unknown, and the same after a restart', async () => {
    const zone = `z-${process.pid}`;
    const bays = [0, 1, 2].map(() => loraDevice('parking-spot', 'nwave-nps405', 'centrum', { zone, maxStayMin: 120 }));
    // The third bay reports every minute, the others every hour: moving the service's clock on by
    // 200 s makes only the third silent (offline), without waiting for it.
    bays[0]!.record.reportingIntervalS = bays[1]!.record.reportingIntervalS = 3600;
    let skewMs = 0;
    const now = () => Date.now() + skewMs;
    const db = uniqueDbName('zones');
    await createDatabase(influxUrl, db);
    const env = testEnv(influxUrl, db, writeCatalog(bays), {
      CITYPIPE_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'citypipe-zones-')),
      CITYPIPE_MQTT_ACCOUNTS: accountEntry('chirpstack', 'network-server', hashSecret(NS_SECRET)),
    });
    const status = (s: 'free' | 'occupied') => vector('nwave-nps405', s === 'free' ? /parking status, free/ : /parking status, occupied/);
    const zonesOf = async (http: string) =>
      ((await (await fetch(`${http}/api/parking/zones`)).json()) as { zones: { zone: string; availableSpotNumber: number; occupiedSpotNumber: number; unknownSpotNumber: number; totalSpotNumber: number }[] }).zones.find((z) => z.zone === zone);
    const counts = (z: Awaited<ReturnType<typeof zonesOf>>) => z && `${z.availableSpotNumber} free ${z.occupiedSpotNumber} occupied ${z.unknownSpotNumber} unknown of ${z.totalSpotNumber}`;

    let service = new CitypipeService(loadConfig(env), silentLogger, { now });
    await service.start();
    let http = `http://127.0.0.1:${service.httpPort}`;
    try {
      expect(counts(await zonesOf(http))).toBe('0 free 0 occupied 3 unknown of 3'); // never heard from
      const client = await connectClient(`mqtt://127.0.0.1:${service.mqttPort}`, { username: 'chirpstack', password: NS_SECRET, clientId: 'chirpstack' });
      clients.push(client);
      const send = (d: TestDevice, s: 'free' | 'occupied', fCnt: number) =>
        client.publishAsync(chirpstackTopic(eui(d), 'up'), chirpstackUp({ devEui: eui(d), ...status(s), fCnt, timeMs: Date.now() - 100 }), { qos: 1 });
      await send(bays[0]!, 'occupied', 1); // an arrival
      await send(bays[1]!, 'free', 1);
      await send(bays[2]!, 'free', 1);
      await waitFor('the arrivals counted', async () => counts(await zonesOf(http)) === '2 free 1 occupied 0 unknown of 3');
      await send(bays[0]!, 'free', 2); // the departure
      await waitFor('the departure counted', async () => counts(await zonesOf(http)) === '3 free 0 occupied 0 unknown of 3');
      await send(bays[1]!, 'occupied', 2);
      await waitFor('the second arrival counted', async () => counts(await zonesOf(http)) === '2 free 1 occupied 0 unknown of 3');
      // The third bay falls silent: offline, so unknown, never free.
      skewMs = 200_000;
      service.dispatcher!.sweep();
      await waitFor('the silent bay unknown', async () => counts(await zonesOf(http)) === '1 free 1 occupied 1 unknown of 3');
      // parking_zone in InfluxDB follows (the side writer is asked to write now rather than on its schedule).
      await service.dispatcher!.flushToInflux({ stats: false });
      await waitFor('the zone in InfluxDB', async () => {
        const res = await fetch(`${influxUrl}/query?db=${db}&q=${encodeURIComponent(`SELECT last("availableSpotNumber"), last("unknownSpotNumber") FROM "parking_zone" WHERE "zone" = '${zone}'`)}`);
        const v = ((await res.json()) as { results: { series?: { values: [string, number, number][] }[] }[] }).results[0]?.series?.[0]?.values[0];
        return v !== undefined && v[1] === 1 && v[2] === 1;
      });
      client.end(true);
    } finally {
      await service.stop();
    }
    // A restart recounts the same zone from the catalog, the bays' kept latest readings and their kept rule state.
    service = new CitypipeService(loadConfig(env), silentLogger, { now });
    await service.start();
    http = `http://127.0.0.1:${service.httpPort}`;
    try {
      expect(counts(await zonesOf(http))).toBe('1 free 1 occupied 1 unknown of 3');
    } finally {
      await service.stop();
    }
  });
});

describe("The Things Stack's MQTT server", () => {
  it('is subscribed to, and its uplinks stored like the webhook\'s (a real Mosquitto stands in for it)', async () => {
    const work = mkdtempSync(path.join(tmpdir(), 'citypipe-tts-'));
    const broker = await startMosquitto('/usr/sbin/mosquitto', work, 1024);
    const sensor = loraDevice('waste-bin', 'milesight-em400-udl', 'noord', { containerDepthMm: 2000 });
    const own = await startTestService(influxUrl, [sensor], {
      CITYPIPE_TTS_MQTT_URL: `mqtt://127.0.0.1:${broker.port}`,
      CITYPIPE_TTS_MQTT_USERNAME: 'bins@ttn',
      CITYPIPE_TTS_MQTT_PASSWORD: 'NNSXS.TESTKEY',
    });
    const tts = await connectClient(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'tts-stand-in' });
    try {
      const topic = `v3/bins@ttn/devices/eui-${eui(sensor)}/up`;
      // Published until citypipe's subscription is in place (QoS 0: nothing is queued for it before).
      let fCnt = 0;
      const rows = await waitFor('a reading through the subscription', async () => {
        await tts.publishAsync(topic, ttsUp({ devEui: eui(sensor), ...full, fCnt: ++fCnt, timeMs: Date.now() - 1000 }, 'bins'), { qos: 0 });
        const res = await fetch(`${influxUrl}/query?db=${own.db}&q=${encodeURIComponent(`SELECT "fillingLevel", "seq" FROM "waste_bin" WHERE "device_id" = '${sensor.record.id}'`)}`);
        const body = (await res.json()) as { results: { series?: { values: [string, number, number][] }[] }[] };
        return body.results[0]?.series?.[0]?.values;
      }, 20_000, 200);
      expect(rows[0]![1]).toBe(0.85);
    } finally {
      tts.end(true);
      await own.stop();
      await broker.stop();
    }
  });
});

describe('kill -9 between receipt and answer', () => {
  it('loses no uplink that was answered 2xx', async () => {
    const bay = loraDevice('waste-bin', 'milesight-em400-udl', 'centrum', { containerDepthMm: 2000 });
    const db = uniqueDbName('lorawan-kill9');
    await createDatabase(influxUrl, db);
    // Nothing is written to InfluxDB before the kill: what was answered must come back from the spool.
    const env = testEnv(influxUrl, db, writeCatalog([bay]), { CITYPIPE_UPLINK_TOKEN: TOKEN, CITYPIPE_FLUSH_INTERVAL_MS: '60000', CITYPIPE_BATCH_SIZE: '100000', CITYPIPE_HTTP_RATE: '0' });
    const first = await startServiceProcess(env);
    const answered: number[] = [];
    let stop = false;
    const base = Date.now() - 60_000;
    const poster = (async () => {
      for (let fCnt = 1; !stop && fCnt < 100_000; fCnt++) {
        const body = chirpstackUp({ devEui: eui(bay), ...half, fCnt, timeMs: base + fCnt });
        const res = await fetch(`http://127.0.0.1:${first.httpPort}/api/uplinks/chirpstack?event=up`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body }).catch(() => undefined);
        if (!res) return;
        if (res.status === 200) answered.push(fCnt);
      }
    })();
    await waitFor('200 answered uplinks', () => answered.length >= 200, 40_000);
    first.child.kill('SIGKILL');
    await first.exited;
    stop = true;
    await poster;
    const second = await startServiceProcess({ ...env, CITYPIPE_FLUSH_INTERVAL_MS: '100' });
    const seqs = await waitFor('every answered uplink in InfluxDB', async () => {
      const res = await fetch(`${influxUrl}/query?db=${db}&q=${encodeURIComponent(`SELECT "seq" FROM "waste_bin" WHERE "device_id" = '${bay.record.id}'`)}`);
      const body = (await res.json()) as { results: { series?: { values: [string, number][] }[] }[] };
      const got = new Set((body.results[0]?.series?.[0]?.values ?? []).map((v) => v[1]));
      return answered.every((s) => got.has(s)) ? got : undefined;
    }, 30_000);
    expect(seqs.size).toBeGreaterThanOrEqual(answered.length);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);
});
