/**
 * Devices are who they say they are (README "Security"): a matrix of attacks from real MQTT clients
 * (mqtt.js, Debian's mosquitto_pub, raw sockets) against the real service in its default, secure
 * configuration. Each is refused, nothing of it reaches InfluxDB, and a legitimate device publishing
 * all along is unaffected.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { influxQuery } from './helpers/influx.js';
import { publishPacket, PUBACK, RawClient, SUBACK, subscribePacket, type ConnectOptions } from './helpers/mqtt-raw.js';
import {
  connectClient,
  connectDevice,
  metricValue,
  startPublisher,
  startTestService,
  telemetryTopic,
  testDevice,
  waitForClose,
  type BackgroundPublisher,
  type RunningService,
} from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { hashSecret } from '../src/catalog/secrets.js';
import { revokeDevice, rotateSecret } from '../src/catalog/catalog-edits.js';

const run = promisify(execFile);
const influxUrl = inject('influxUrl');

const binA = testDevice('waste-bin', 'centrum');
const binB = testDevice('waste-bin', 'west');
const lightC = testDevice('streetlight', 'noord');
const legit = testDevice('parking-meter', 'zuid');
const revokee = testDevice('waste-bin', 'oost');
const rotatee = testDevice('waste-bin', 'oost');
const OPS_SECRET = 'ops-secret-for-the-test-0123456789';
const HTTP_TOKEN = 'test-http-token-0123456789abcdef';
/** Readings that attacks try to get written carry seq ≥ this; none may appear in InfluxDB. */
const ATTACK_SEQ = 900_000;

let svc: RunningService;
let legitPublisher: BackgroundPublisher;
const clients: MqttClient[] = [];

async function device(d: typeof binA, opts = {}): Promise<MqttClient> {
  const c = await connectDevice(svc.mqttUrl, d, opts);
  clients.push(c);
  return c;
}

function reading(seq: number): string {
  return JSON.stringify({ seq, fillingLevel: 0.5 });
}

async function connackCode(p: Promise<MqttClient>): Promise<number | undefined> {
  try {
    const c = await p;
    clients.push(c);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

/** SUBACK return codes per filter (mqtt.js turns any 0x80 into an error, so this uses a raw socket). */
async function granted(login: ConnectOptions, filters: [string, 0 | 1][]): Promise<{ codes: Record<string, number>; client: RawClient }> {
  const { client, connack } = await RawClient.handshake(svc.mqttPort, login);
  expect(connack.returnCode).toBe(0);
  client.send(subscribePacket(1, filters));
  const suback = await client.next(SUBACK);
  return { codes: Object.fromEntries(filters.map(([t], i) => [t, suback.granted![i]!])), client };
}

async function q(influxql: string) {
  return influxQuery(influxUrl, svc.db, influxql);
}

beforeAll(async () => {
  svc = await startTestService(influxUrl, [binA, binB, lightC, legit, revokee, rotatee], {
    CITYPIPE_MQTT_ACCOUNTS: `ops:${hashSecret(OPS_SECRET)}`,
    CITYPIPE_HTTP_TOKEN: HTTP_TOKEN,
  });
  legitPublisher = startPublisher(svc.mqttUrl, legit, { intervalMs: 25 });
});

afterAll(async () => {
  await legitPublisher?.stop();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await svc?.stop();
});

describe('authentication', () => {
  it('refuses a wrong secret, an unknown device, and a client without credentials', async () => {
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: binA.record.id, username: binA.record.id, password: 'wrong-secret' }))).toBe(4);
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: 'ghost', username: 'ghost', password: 'whatever' }))).toBe(4);
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: 'anon' }))).toBe(5);
    // A username alone is no proof of anything.
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: binA.record.id, username: binA.record.id }))).toBe(5);
    // Another device's secret does not open this one.
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: binA.record.id, username: binA.record.id, password: binB.secret }))).toBe(4);
  });

  it("refuses Debian's mosquitto_pub without credentials and accepts it with the device's", async () => {
    const port = String(svc.mqttPort);
    const anonymous = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', telemetryTopic(binA), '-m', reading(ATTACK_SEQ)]).then(
      () => 'published',
      (err: { stderr?: string }) => err.stderr ?? 'failed',
    );
    expect(anonymous).toMatch(/not authori[sz]ed|refused/i);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-i', binA.record.id, '-u', binA.record.id, '-P', binA.secret, '-t', telemetryTopic(binA), '-m', reading(1)]);
    await waitFor('the authenticated mosquitto_pub reading', async () => (await q(`SELECT seq FROM waste_bin WHERE device_id = '${binA.record.id}' AND seq = 1`)).length === 1);
  });

  it('refuses keep alive 0 and keep alive over the limit with CONNACK 2', async () => {
    expect(await connackCode(connectDevice(svc.mqttUrl, binA, { keepalive: 0 }))).toBe(2);
    expect(await connackCode(connectDevice(svc.mqttUrl, binA, { keepalive: 7200 }))).toBe(2);
  });

  it('refuses a zero-length client id with clean session 0 with CONNACK 2 [MQTT-3.1.3-8], accepts it with clean session 1', async () => {
    const creds = { username: binA.record.id, password: binA.secret };
    const unclean = await RawClient.handshake(svc.mqttPort, { clientId: '', clean: false, ...creds });
    expect(unclean.connack.returnCode).toBe(2);
    expect(await unclean.client.waitClosed()).toBe(true);
    const clean = await RawClient.handshake(svc.mqttPort, { clientId: '', clean: true, ...creds });
    expect(clean.connack.returnCode).toBe(0);
    clean.client.end();
  });
});

describe('client id binding', () => {
  it("refuses a device that takes another device's client id (CONNACK 2); the owner's session survives", async () => {
    const b = await device(binB);
    let bClosed = false;
    b.on('close', () => (bClosed = true));
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: binB.record.id, username: binA.record.id, password: binA.secret }))).toBe(2);
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: `${binB.record.id}:x`, username: binA.record.id, password: binA.secret }))).toBe(2);
    // A prefix of another id is not a way in either.
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: `${binA.record.id}x`, username: binA.record.id, password: binA.secret }))).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(bClosed).toBe(false);
    await b.publishAsync(telemetryTopic(binB), reading(2), { qos: 1 });
  });

  it('accepts the device id, or the device id followed by ":" and a suffix', async () => {
    const a = await device(binA, { clientId: `${binA.record.id}:diagnostics` });
    expect(a.connected).toBe(true);
  });
});

describe('topic ACL', () => {
  it("closes the connection of a device that publishes to another device's topic or another type's; nothing is written", async () => {
    for (const topic of [telemetryTopic(binB), `city/streetlight/${binA.record.id}/telemetry`, `city/events/waste-bin/${binA.record.id}`, 'other/topic']) {
      const a = await device(binA);
      const closed = waitForClose(a);
      a.publish(topic, reading(ATTACK_SEQ + 1), { qos: 1 });
      expect(await closed, topic).toBe(true);
    }
    expect(await metricValue(svc.httpUrl, 'citypipe_mqtt_acl_denied_total{action="publish"}')).toBeGreaterThanOrEqual(4);
  });

  it('closes the connection of a client that publishes to $SYS', async () => {
    const a = await device(binA);
    const closed = waitForClose(a);
    a.publish('$SYS/broker/clients/connected', '0', { qos: 1 });
    expect(await closed).toBe(true);
  });

  it('refuses subscriptions outside the device’s own topics with SUBACK 0x80, and keeps the connection', async () => {
    const { codes, client } = await granted({ clientId: binA.record.id, username: binA.record.id, password: binA.secret }, [
      ['#', 1],
      ['city/#', 1],
      ['$SYS/#', 0],
      [`city/waste-bin/${binB.record.id}/#`, 1],
      ['city/events/#', 1],
      [`city/+/${binA.record.id}/#`, 1],
      [`city/waste-bin/${binA.record.id}/#`, 1],
    ]);
    expect(codes).toEqual({
      '#': 128,
      'city/#': 128,
      '$SYS/#': 128,
      [`city/waste-bin/${binB.record.id}/#`]: 128,
      'city/events/#': 128,
      [`city/+/${binA.record.id}/#`]: 128,
      [`city/waste-bin/${binA.record.id}/#`]: 1,
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(client.closed).toBe(false);
    client.end();
  });

  it('refuses a Will on a foreign topic (CONNACK 5): the Will is never published', async () => {
    const foreign = `city/waste-bin/${binB.record.id}/status`;
    expect(await connackCode(connectDevice(svc.mqttUrl, binA, { clientId: `${binA.record.id}:w`, will: { topic: foreign, payload: Buffer.from('offline'), qos: 1, retain: true } }))).toBe(5);
    expect(await connackCode(connectDevice(svc.mqttUrl, binA, { clientId: `${binA.record.id}:w`, will: { topic: '$SYS/spoof', payload: Buffer.from('x'), qos: 0, retain: false } }))).toBe(5);
    // binB sees no retained "offline" on its status topic.
    const b = await device(binB, { clientId: `${binB.record.id}:watch` });
    const seen: string[] = [];
    b.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
    await b.subscribeAsync(foreign, { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it("publishes a device's own Will when it drops", async () => {
    const own = `city/waste-bin/${binA.record.id}/status`;
    const watcher = await device(binA, { clientId: `${binA.record.id}:watch` });
    const seen: string[] = [];
    watcher.on('message', (_t, payload) => seen.push(payload.toString()));
    await watcher.subscribeAsync(own, { qos: 1 });
    const a = await connectDevice(svc.mqttUrl, binA, { will: { topic: own, payload: Buffer.from('offline'), qos: 1, retain: true } });
    a.stream.destroy(); // no DISCONNECT: the broker publishes the Will
    await waitFor('the Will', () => seen.includes('offline'));
  });

  it('lets an operator account subscribe to city/events/# and nothing else, and publish nowhere', async () => {
    expect(await connackCode(connectClient(svc.mqttUrl, { clientId: 'ops', username: 'ops', password: 'wrong' }))).toBe(4);
    const { codes, client } = await granted({ clientId: 'ops:dashboard', username: 'ops', password: OPS_SECRET }, [
      ['city/events/#', 1],
      ['city/events/waste-bin/+', 0],
      ['#', 0],
      ['city/waste-bin/#', 0],
      ['$SYS/#', 0],
    ]);
    expect(codes).toEqual({ 'city/events/#': 1, 'city/events/waste-bin/+': 0, '#': 128, 'city/waste-bin/#': 128, '$SYS/#': 128 });
    client.end();
    const ops = await connectClient(svc.mqttUrl, { clientId: 'ops', username: 'ops', password: OPS_SECRET });
    clients.push(ops);
    await ops.subscribeAsync('city/events/#', { qos: 1 });
    const closed = waitForClose(ops);
    ops.publish('city/events/waste-bin/x', '{}', { qos: 1 });
    expect(await closed).toBe(true);
  });
});

describe('malformed input on the wire', () => {
  it('refuses a PUBLISH whose topic is not valid UTF-8 by closing the connection', async () => {
    const { client, connack } = await RawClient.handshake(svc.mqttPort, { clientId: binA.record.id, username: binA.record.id, password: binA.secret });
    expect(connack.returnCode).toBe(0);
    const topic = Buffer.concat([Buffer.from(`city/waste-bin/${binA.record.id}/tele`), Buffer.from([0xc3, 0x28]), Buffer.from('metry')]);
    client.send(publishPacket(topic, reading(ATTACK_SEQ + 2), { qos: 1, id: 7 }));
    expect(await client.waitClosed()).toBe(true);
    expect(client.received.filter((p) => p.type === PUBACK)).toEqual([]);
  });
});

describe('revocation and rotation', () => {
  it('disconnects a revoked device at once and refuses it afterwards (CONNACK 5)', async () => {
    const c = await connectDevice(svc.mqttUrl, revokee);
    const closed = waitForClose(c, 5000);
    await revokeDevice(svc.devicesDir, revokee.record.id);
    expect(await closed).toBe(true);
    c.end(true);
    expect(await connackCode(connectDevice(svc.mqttUrl, revokee))).toBe(5);
  });

  it('disconnects a session that used the old secret when the secret is rotated; the new one works', async () => {
    const c = await connectDevice(svc.mqttUrl, rotatee);
    const closed = waitForClose(c, 5000);
    const rotated = await rotateSecret(svc.devicesDir, rotatee.record.id);
    expect(await closed).toBe(true);
    c.end(true);
    expect(await connackCode(connectDevice(svc.mqttUrl, rotatee))).toBe(4);
    const fresh = await connectDevice(svc.mqttUrl, { ...rotatee, secret: rotated!.secret });
    clients.push(fresh);
    await fresh.publishAsync(telemetryTopic(rotatee), reading(3), { qos: 1 });
  });
});

describe('HTTP API', () => {
  const replay = (headers: Record<string, string> = {}) =>
    fetch(`${svc.httpUrl}/api/dead-letters/replay`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"limit":1}' });

  it('needs the bearer token to replay dead letters', async () => {
    const none = await replay();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { code: string }).code).toBe('CP_ERR_HTTP_UNAUTHORIZED');
    expect((await replay({ authorization: 'Bearer not-the-token-at-all' })).status).toBe(401);
    expect((await replay({ authorization: HTTP_TOKEN })).status).toBe(401);
    const ok = await replay({ authorization: `Bearer ${HTTP_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(await metricValue(svc.httpUrl, 'citypipe_http_requests_refused_total{reason="unauthorized"}')).toBe(3);
  });

  it('sends security headers, and refuses a body over 64 KiB with 413', async () => {
    const res = await fetch(`${svc.httpUrl}/healthz`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const big = await fetch(`${svc.httpUrl}/api/dead-letters/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${HTTP_TOKEN}` },
      body: JSON.stringify({ reason: 'x'.repeat(70 * 1024) }),
    });
    expect(big.status).toBe(413);
  });
});

describe('client certificates over TLS', () => {
  let pki: Pki;
  let tlsSvc: RunningService;
  beforeAll(async () => {
    pki = await makePki([binA.record.id, 'ghost']);
    tlsSvc = await startTestService(influxUrl, [binA, binB], {
      CITYPIPE_MQTT_TLS_PORT: '0',
      CITYPIPE_MQTT_TLS_CERT: pki.serverCert,
      CITYPIPE_MQTT_TLS_KEY: pki.serverKey,
      CITYPIPE_MQTT_TLS_CA: pki.caCert,
    });
  });
  afterAll(async () => {
    await tlsSvc?.stop();
  });
  const tlsUrl = () => `mqtts://127.0.0.1:${tlsSvc.service.mqttTlsPort}`;
  const tlsOpts = (cn?: string, rogue = false) => ({
    ca: pki.caPem,
    rejectUnauthorized: true,
    ...(cn ? { cert: pki.clientCerts[rogue ? `rogue-${cn}` : cn]!.cert, key: pki.clientCerts[rogue ? `rogue-${cn}` : cn]!.key } : {}),
  });

  it('authenticates a device by the CN of its client certificate and writes its readings', async () => {
    const c = await connectClient(tlsUrl(), { clientId: binA.record.id, ...tlsOpts(binA.record.id) });
    clients.push(c);
    await c.publishAsync(telemetryTopic(binA), reading(10), { qos: 1 });
    // The certificate binds the identity: another device's topic is still refused.
    const closed = waitForClose(c);
    c.publish(telemetryTopic(binB), reading(ATTACK_SEQ + 3), { qos: 1 });
    expect(await closed).toBe(true);
    await waitFor('the certificate-authenticated reading', async () => (await influxQuery(influxUrl, tlsSvc.db, `SELECT seq FROM waste_bin WHERE seq = 10`)).length === 1);
  });

  it('accepts a secret over TLS without a client certificate', async () => {
    const c = await connectClient(tlsUrl(), { clientId: binB.record.id, username: binB.record.id, password: binB.secret, ...tlsOpts() });
    clients.push(c);
    expect(c.connected).toBe(true);
  });

  it('refuses a certificate for a device not in the catalog, one from another CA, and a username that is not the CN', async () => {
    expect(await connackCode(connectClient(tlsUrl(), { clientId: 'ghost', ...tlsOpts('ghost') }))).toBe(4);
    expect(await connackCode(connectClient(tlsUrl(), { clientId: binA.record.id, ...tlsOpts(binA.record.id, true) }))).toBe(5);
    expect(await connackCode(connectClient(tlsUrl(), { clientId: binB.record.id, username: binB.record.id, password: binB.secret, ...tlsOpts(binA.record.id) }))).toBe(4);
  });
});

describe('after all of the above', () => {
  it('wrote nothing of any attack, and the legitimate device never missed a PUBACK', async () => {
    await legitPublisher.stop();
    expect(legitPublisher.failures).toBe(0);
    expect(legitPublisher.acked.length).toBeGreaterThan(20);
    const seqs = await waitFor('every legitimate reading in InfluxDB', async () => {
      const rows = await q(`SELECT seq FROM parking_meter WHERE device_id = '${legit.record.id}'`);
      return rows.length >= legitPublisher.acked.length ? rows.map((r) => r.seq as number) : undefined;
    }, 15_000);
    expect(new Set(seqs)).toEqual(new Set(legitPublisher.acked));
    for (const m of ['waste_bin', 'streetlight', 'parking_meter']) {
      expect(await q(`SELECT count(seq) FROM "${m}" WHERE seq >= ${ATTACK_SEQ}`), m).toEqual([]);
    }
    const dl = (await (await fetch(`${svc.httpUrl}/api/dead-letters?limit=1000`)).json()) as { items: { payload: string }[] };
    expect(dl.items.filter((d) => /"seq":9000\d\d\b/.test(d.payload))).toEqual([]);
    expect((await fetch(`${svc.httpUrl}/readyz`)).status).toBe(200);
  });
});

// -------------------------------------------------------------------------------------------------

interface Pki {
  caPem: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCerts: Record<string, { cert: string; key: string }>;
}

/** A CA, a server certificate for 127.0.0.1, and client certificates (CN = name) from that CA and from a rogue one. */
async function makePki(names: string[]): Promise<Pki> {
  const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-pki-'));
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => run('openssl', args);
  for (const ca of ['ca', 'rogue-ca']) {
    await ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=citypipe test ${ca}`, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`));
  }
  const issue = async (name: string, cn: string, ca: string, ext: string) => {
    await ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    await ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  await issue('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const clientCerts: Pki['clientCerts'] = {};
  for (const n of names) {
    for (const [prefix, ca] of [['', 'ca'], ['rogue-', 'rogue-ca']] as const) {
      await issue(`${prefix}${n}`, n, ca, 'extendedKeyUsage=clientAuth\n');
      clientCerts[`${prefix}${n}`] = { cert: await readFile(f(`${prefix}${n}.pem`), 'utf8'), key: await readFile(f(`${prefix}${n}.key`), 'utf8') };
    }
  }
  return { caPem: await readFile(f('ca.pem'), 'utf8'), caCert: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCerts };
}
