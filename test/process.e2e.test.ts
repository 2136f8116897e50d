/**
 * The service as a user runs it: `node bin/citypipe.js start` (what `npm start` runs), configured by
 * the environment, fed by Debian's mosquitto_pub, stopped with SIGTERM.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, influxQuery, uniqueDbName, wholeRows } from './helpers/influx.js';
import { connectClient, testDevice, testEnv, writeCatalog } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { deviceTypes, lorawanModels } from '../src/device-types/registry.js';
import { killChildren, root, spawnCli, startServiceProcess } from './helpers/cli.js';

const run = promisify(execFile);
const influxUrl = inject('influxUrl');

afterEach(killChildren);

const startService = startServiceProcess;

/** A test that starts the service as a process: 2–4 s alone, up to 14 s measured beside two CPU hogs. */
const SERVICE_TEST_MS = 60_000;

describe('npm start', () => {
  it('writes a mosquitto_pub reading with the catalog district and lists a bad one in /api/dead-letters', async () => {
    const bin = testDevice('waste-bin', 'oost');
    const db = uniqueDbName('start');
    await createDatabase(influxUrl, db);
    const svc = await startService(testEnv(influxUrl, db, writeCatalog([bin])));
    const topic = `city/waste-bin/${bin.record.id}/telemetry`;
    const pub = (m: string) =>
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(svc.mqttPort), '-q', '1', '-i', bin.record.id, '-u', bin.record.id, '-P', bin.secret, '-t', topic, '-m', m]);

    await pub('{"fillingLevel":0.5,"temperature":12,"status":"ok"}');
    await pub('{"fillingLevel":5,"temperature":12,"status":"ok"}');

    const rows = await waitFor('the valid reading in waste_bin', async () => {
      const r = await influxQuery(influxUrl, db, `SELECT fillingLevel, temperature, status, district FROM waste_bin WHERE device_id = '${bin.record.id}'`);
      return wholeRows(r, ['fillingLevel', 'temperature', 'status', 'district']);
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ fillingLevel: 0.5, temperature: 12, status: 'ok', district: 'oost' });

    const dl = await waitFor('the dead letter', async () => {
      const res = (await (await fetch(`http://127.0.0.1:${svc.httpPort}/api/dead-letters`)).json()) as { items: { reason: string; path: string; message: string; deviceId: string }[] };
      return res.items.find((x) => x.deviceId === bin.record.id);
    });
    expect(dl).toMatchObject({ reason: 'out_of_range', path: 'fillingLevel' });
    expect(dl.message).toMatch(/fillingLevel/);

    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
  }, SERVICE_TEST_MS);

  it('on SIGTERM writes every accepted reading before it exits', async () => {
    const light = testDevice('streetlight', 'west');
    const db = uniqueDbName('sigterm');
    await createDatabase(influxUrl, db);
    // Nothing would be flushed by size or time during the test: only the graceful stop writes.
    const svc = await startService(testEnv(influxUrl, db, writeCatalog([light]), { CITYPIPE_FLUSH_INTERVAL_MS: '60000', CITYPIPE_BATCH_SIZE: '100000' }));
    const client = await connectClient(`mqtt://127.0.0.1:${svc.mqttPort}`, { clientId: light.record.id, username: light.record.id, password: light.secret });
    const n = 2000;
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < n; i += 100) {
      const batch = Array.from({ length: 100 }, (_, j) => ({ ts: base + (i + j) * 10, seq: i + j, powerState: 'on' }));
      await client.publishAsync(`city/streetlight/${light.record.id}/telemetry`, JSON.stringify(batch), { qos: 1 });
    }
    for (let i = 0; i < 20; i++) {
      await client.publishAsync(`city/streetlight/${light.record.id}/telemetry`, JSON.stringify({ seq: n + i, powerState: 'off' }), { qos: 1 });
    }
    await client.endAsync();
    expect(await influxQuery(influxUrl, db, 'SELECT count(seq) FROM streetlight')).toHaveLength(0);

    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    const rows = await influxQuery(influxUrl, db, 'SELECT count(seq) FROM streetlight');
    expect(rows[0]!.count).toBe(n + 20);
  }, SERVICE_TEST_MS);
});

describe('npx citypipe demo', () => {
  it('starts a local influxd and the demo fleet; readings of every type, then a ticket that opens and closes, within a minute; Ctrl-C stops it cleanly', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'citypipe-demo-'));
    const started = Date.now();
    const p = spawnCli(['demo', '--interval', '2'], {
      CITYPIPE_DATA_DIR: dataDir,
      CITYPIPE_MQTT_HOST: '127.0.0.1',
      CITYPIPE_MQTT_PORT: '0',
      CITYPIPE_HTTP_HOST: '127.0.0.1',
      CITYPIPE_HTTP_PORT: '0',
    });
    // The promise is 10 s on a machine to itself; it takes ~4 s there, but 6–14 s measured beside two
    // CPU hogs and other test files (starting node and influxd is what stretches). The bound is the
    // demo's own patience (it gives up waiting for readings after 30 s) plus start-up: it fails a
    // demo whose readings never become queryable, not one that shares the machine.
    const withinMs = 40_000;
    await waitFor('the demo to confirm readings of every type', () => {
      if (p.child.exitCode !== null) throw new Error(`demo exited with ${p.child.exitCode}: ${p.stderr()}`);
      return p.stdout().includes(`✓ readings of all ${deviceTypes.length} device types are queryable in InfluxDB`);
    }, withinMs);
    expect(Date.now() - started).toBeLessThan(withinMs);
    const out = p.stdout();
    expect(out).toMatch(/InfluxDB\s+http:\/\/127\.0\.0\.1:\d+\s+database "citypipe"\s+\(local influxd, data in .*influxdb\)/);
    expect(out).toMatch(/influx -host 127\.0\.0\.1 -port \d+ -database citypipe -execute 'SELECT/);
    expect(out).toMatch(/Grafana: add an InfluxDB data source with query language InfluxQL/);

    // One simulated LoRaWAN sensor of every model, through a simulated ChirpStack, decoded and stored.
    await waitFor('the LoRaWAN sensors to arrive', () => p.stdout().includes('✓ LoRaWAN uplinks decoded and stored for every model'), 30_000);
    for (const { model } of lorawanModels) expect(p.stdout()).toContain(model.name);

    // The scripted bin's act: its ticket opens and closes while the newcomer watches.
    // (The demo's LoRaWAN sensors replay vendor frames, full bins among them: their tickets are not the act.)
    const lorawanIds = new Set((JSON.parse(readFileSync(path.join(root, 'simulators', 'demo-fleet', 'lorawan-sensors.json'), 'utf8')) as { id: string }[]).map((d) => d.id));
    const ticket = await waitFor('a ticket to open and close', () => {
      const opened = [...p.stdout().matchAll(/✓ ticket (\d+) opened: waste\.collect (\S+) /g)].find((m) => !lorawanIds.has(m[2]!));
      return opened && p.stdout().includes(`✓ ticket ${opened[1]} closed: waste.collect ${opened[2]} `) ? opened : undefined;
    }, 60_000, 200);
    // The request it names is there, closed, for whoever holds the printed token.
    const curl = new RegExp(`curl -s -H "Authorization: Bearer (\\S+)" (http://127\\.0\\.0\\.1:\\d+/open311/v2/requests/${ticket[1]}\\.json)`).exec(p.stdout())!;
    const [request] = (await (await fetch(curl[2]!, { headers: { authorization: `Bearer ${curl[1]}` } })).json()) as { status: string; device_id: string }[];
    expect(request).toMatchObject({ status: 'closed', device_id: ticket[2] });

    // The printed URL really holds the fleet's readings, tagged with the catalog's districts.
    const influx = /InfluxDB\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    for (const m of deviceTypes.map((d) => d.measurement)) {
      const rows = await influxQuery(influx, 'citypipe', `SELECT count(*) FROM "${m}" GROUP BY district`);
      expect(rows.length, m).toBeGreaterThan(1);
    }

    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toBe('');
    // influxd went with it.
    await expect(fetch(`${influx}/ping`)).rejects.toThrow();
  }, 90_000);
});

describe('start-up errors', () => {
  it('stops on a bad value, naming the key, with exit code 2', async () => {
    const p = spawnCli(['start'], { CITYPIPE_MQTT_PORT: 'eighteen', CITYPIPE_INFLUX_URL: influxUrl });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/^citypipe: CITYPIPE_MQTT_PORT: .*got "eighteen" \[CP_ERR_CONFIG_INVALID\]/);
  });

  it('says how to point at InfluxDB when CITYPIPE_INFLUX_URL is not set', async () => {
    const p = spawnCli(['start'], { CITYPIPE_MQTT_PORT: '0', CITYPIPE_HTTP_PORT: '0' });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/CITYPIPE_INFLUX_URL: not set\. Point it at your InfluxDB/);
    expect(p.stderr()).toMatch(/npx citypipe demo/);
  });

  it('names the catalog folder when it is missing', async () => {
    const p = spawnCli(['start'], { ...testEnv(influxUrl, 'x', '/nonexistent/devices'), CITYPIPE_LOG_LEVEL: 'silent' });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/\/nonexistent\/devices/);
    expect(p.stderr()).toMatch(/CITYPIPE_DEVICES_DIR/);
  });
});
