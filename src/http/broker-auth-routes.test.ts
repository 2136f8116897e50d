/**
 * A broker cluster's hooks against `buildApp`, with the real authenticator over a real catalog
 * folder (scrypt hashes) and real accounts: what EMQX's HTTP authenticator and authorizer would be
 * told for the right and a wrong secret, an unknown or revoked device, topics of its own and of
 * another device, the network server's, operator's and worker's topics; bodies that are not EMQX's
 * templates, the token, and the rate limits.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCatalog } from '../catalog/catalog.js';
import { hashSecret } from '../catalog/secrets.js';
import { silentLogger } from '../observability/logger.js';
import type { MqttAccount } from '../security/accounts.js';
import { Authenticator } from '../security/authenticator.js';
import { BrokerHooks } from '../security/broker-hooks.js';
import { buildApp } from './app.js';
import { BROKER_AUTHENTICATE_PATH, BROKER_AUTHORIZE_PATH } from './broker-auth-routes.js';
import { idleAppDeps } from './testing/idle-app-deps.js';

const BROKER_TOKEN = 'broker-token-0123456789abcdef';
const HTTP_TOKEN = 'http-token-0123456789abcdef';
const SECRETS = { bin: 'bin-secret-0123456789abcdef0123', lamp: 'lamp-secret-0123456789abcdef012', gone: 'gone-secret-0123456789abcdef012' };
const ACCOUNT_SECRETS = { chirpstack: 'ns-secret-0123456789abcdef', ops: 'ops-secret-0123456789abcdef', worker: 'worker-secret-0123456789abcdef' };

let dir: string;
let catalog: DeviceCatalog;
let accounts: MqttAccount[];
let app: FastifyInstance | undefined;

const record = (id: string, type: string, secret: string, extra: Record<string, unknown> = {}) => ({
  id,
  type,
  location: { lat: 52.37, lon: 4.89 },
  district: 'centrum',
  secretHash: hashSecret(secret),
  ...extra,
});

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-broker-hooks-'));
  writeFileSync(
    path.join(dir, 'city.json'),
    JSON.stringify([
      record('bin-0001', 'waste-bin', SECRETS.bin),
      record('lamp-7', 'streetlight', SECRETS.lamp),
      record('bin-gone', 'waste-bin', SECRETS.gone, { revokedAt: '2026-01-01T00:00:00Z' }),
    ]),
  );
  catalog = await DeviceCatalog.load(dir);
  accounts = [
    { name: 'chirpstack', role: 'network-server', secretHash: hashSecret(ACCOUNT_SECRETS.chirpstack) },
    { name: 'ops', role: 'operator', secretHash: hashSecret(ACCOUNT_SECRETS.ops) },
    { name: 'citypipe-worker', role: 'worker', secretHash: hashSecret(ACCOUNT_SECRETS.worker) },
  ];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await app?.close();
  app = undefined;
});

interface Counted {
  refused: string[];
  denied: string[];
}

function build(opts: { brokerAuthToken?: string | undefined; ratePerS?: number; connectRatePerS?: number; catalog?: () => DeviceCatalog } = {}): { app: FastifyInstance; counted: Counted } {
  const counted: Counted = { refused: [], denied: [] };
  const authenticator = new Authenticator(opts.catalog ?? (() => catalog), accounts);
  const hooks = new BrokerHooks({
    authenticator,
    connectRatePerS: opts.connectRatePerS ?? 0,
    log: silentLogger,
    events: { connectionRefused: (reason) => counted.refused.push(reason), denied: (action) => counted.denied.push(action) },
  });
  app = buildApp({
    ...idleAppDeps(),
    security: { token: HTTP_TOKEN, brokerAuthToken: 'brokerAuthToken' in opts ? opts.brokerAuthToken : BROKER_TOKEN, ratePerS: opts.ratePerS ?? 0 },
    brokerAuth: { hooks },
  });
  return { app, counted };
}

const post = (a: FastifyInstance, url: string, body: unknown, token: string | null = BROKER_TOKEN) =>
  a.inject({
    method: 'POST',
    url,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });

/** What EMQX's authenticator body template sends for a CONNECT. */
const connect = (username: string, password: string, clientid = username, peerhost = '10.0.0.1') => ({ clientid, username, password, peerhost });
const authenticate = async (a: FastifyInstance, body: unknown) => {
  const res = await post(a, BROKER_AUTHENTICATE_PATH, body);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { result: string; is_superuser: boolean };
};
const authorize = async (a: FastifyInstance, username: string, action: 'publish' | 'subscribe', topic: string) => {
  const res = await post(a, BROKER_AUTHORIZE_PATH, { clientid: username, username, topic, action });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { result: string }).result;
};

describe('POST /api/broker/authenticate', () => {
  it('allows a device with its secret, never as superuser, and denies a wrong secret, an unknown, a revoked or an anonymous client', async () => {
    const { app: a, counted } = build();
    expect(await authenticate(a, connect('bin-0001', SECRETS.bin))).toEqual({ result: 'allow', is_superuser: false });
    // The same secret again (answered from memory, not scrypt) and after a wrong one.
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin))).result).toBe('allow');
    expect(await authenticate(a, connect('bin-0001', SECRETS.lamp))).toEqual({ result: 'deny', is_superuser: false });
    expect((await authenticate(a, connect('bin-0001', ''))).result).toBe('deny');
    expect((await authenticate(a, connect('bin-9999', SECRETS.bin))).result).toBe('deny');
    expect((await authenticate(a, connect('bin-gone', SECRETS.gone))).result).toBe('deny');
    expect((await authenticate(a, connect('', ''))).result).toBe('deny');
    expect(counted.refused).toEqual(['bad_credentials', 'bad_credentials', 'bad_credentials', 'not_authorized', 'anonymous']);
  });

  it('allows accounts with their secrets, the worker account included, and denies a wrong one', async () => {
    const { app: a } = build();
    expect((await authenticate(a, connect('chirpstack', ACCOUNT_SECRETS.chirpstack))).result).toBe('allow');
    expect((await authenticate(a, connect('ops', ACCOUNT_SECRETS.ops, 'ops:grafana'))).result).toBe('allow');
    expect((await authenticate(a, connect('citypipe-worker', ACCOUNT_SECRETS.worker, 'worker-1-0'))).result).toBe('allow');
    expect((await authenticate(a, connect('citypipe-worker', ACCOUNT_SECRETS.ops, 'worker-1-0'))).result).toBe('deny');
  });

  it('denies a client id that is another identity\'s, so that no client takes over a device\'s session', async () => {
    const { app: a, counted } = build();
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, 'bin-0001:fw2'))).result).toBe('allow');
    // EMQX names a client that sent no client id before it asks: any id no one else owns.
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, '5Jq0nZ1xH3kT8r'))).result).toBe('allow');
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, 'lamp-7'))).result).toBe('deny');
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, 'lamp-7:x'))).result).toBe('deny');
    expect((await authenticate(a, connect('citypipe-worker', ACCOUNT_SECRETS.worker, 'bin-0001'))).result).toBe('deny');
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, 'citypipe-worker'))).result).toBe('deny');
    expect(counted.refused).toEqual(['client_id', 'client_id', 'client_id', 'client_id']);
  });

  it('holds one client address to CITYPIPE_MQTT_IP_CONNECT_RATE; other addresses go on', async () => {
    const { app: a, counted } = build({ connectRatePerS: 1 });
    const results: string[] = [];
    // A burst is 10 s of the rate; 40 attempts from one address are far over it however slow the machine.
    for (let i = 0; i < 40; i++) results.push((await authenticate(a, connect('bin-0001', SECRETS.bin, 'bin-0001', '10.0.0.9'))).result);
    expect(results).toContain('deny');
    expect(counted.refused).toContain('ip_rate');
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin, 'bin-0001', '10.0.0.10'))).result).toBe('allow');
  });
});

describe('POST /api/broker/authorize', () => {
  it('lets a device publish and subscribe under its own topics only', async () => {
    const { app: a, counted } = build();
    expect(await authorize(a, 'bin-0001', 'publish', 'city/waste-bin/bin-0001/telemetry')).toBe('allow');
    expect(await authorize(a, 'bin-0001', 'publish', 'city/waste-bin/bin-0001/status')).toBe('allow');
    expect(await authorize(a, 'bin-0001', 'subscribe', 'city/waste-bin/bin-0001/#')).toBe('allow');
    expect(await authorize(a, 'bin-0001', 'publish', 'city/streetlight/lamp-7/telemetry')).toBe('deny');
    expect(await authorize(a, 'bin-0001', 'publish', 'city/streetlight/bin-0001/telemetry')).toBe('deny');
    expect(await authorize(a, 'bin-0001', 'publish', 'city/events/waste-bin/bin-0001')).toBe('deny');
    expect(await authorize(a, 'bin-0001', 'subscribe', 'city/+/+/telemetry')).toBe('deny');
    expect(await authorize(a, 'bin-0001', 'subscribe', '$SYS/#')).toBe('deny');
    expect(counted.denied).toEqual(['publish', 'publish', 'publish', 'subscribe', 'subscribe']);
  });

  it('lets a network server publish only its uplink events, an operator only subscribe to events', async () => {
    const { app: a } = build();
    expect(await authorize(a, 'chirpstack', 'publish', 'application/7d2f/device/24e124713c215987/event/up')).toBe('allow');
    expect(await authorize(a, 'chirpstack', 'subscribe', 'application/+/device/+/command/+')).toBe('allow');
    expect(await authorize(a, 'chirpstack', 'publish', 'city/waste-bin/bin-0001/telemetry')).toBe('deny');
    expect(await authorize(a, 'chirpstack', 'publish', 'application/7d2f/device/24e124713c215987/command/down')).toBe('deny');
    expect(await authorize(a, 'ops', 'subscribe', 'city/events/#')).toBe('allow');
    expect(await authorize(a, 'ops', 'subscribe', 'city/#')).toBe('deny');
    expect(await authorize(a, 'ops', 'publish', 'city/events/waste-bin/bin-0001')).toBe('deny');
  });

  it('lets a worker consume the shared telemetry, status and uplink filters and publish rule events, nothing else', async () => {
    const { app: a } = build();
    // EMQX asks about a shared subscription without its $share/{group}/; both forms are allowed.
    for (const filter of ['city/+/+/telemetry', 'city/+/+/status', 'application/+/device/+/event/+', '$share/citypipe/city/+/+/telemetry']) {
      expect(await authorize(a, 'citypipe-worker', 'subscribe', filter), filter).toBe('allow');
    }
    expect(await authorize(a, 'citypipe-worker', 'publish', 'city/events/waste-bin/bin-0001')).toBe('allow');
    expect(await authorize(a, 'citypipe-worker', 'publish', 'city/waste-bin/bin-0001/telemetry')).toBe('deny');
    expect(await authorize(a, 'citypipe-worker', 'subscribe', '#')).toBe('deny');
    expect(await authorize(a, 'citypipe-worker', 'subscribe', '$SYS/brokers/#')).toBe('deny');
  });

  it('ignores a name citypipe does not know, and denies a device revoked since it connected', async () => {
    let current = catalog;
    const { app: a } = build({ catalog: () => current });
    expect(await authorize(a, 'dashboard-user', 'subscribe', 'city/events/#')).toBe('ignore');
    expect(await authorize(a, 'bin-gone', 'publish', 'city/waste-bin/bin-gone/telemetry')).toBe('deny');
    expect(await authorize(a, 'bin-0001', 'publish', 'city/waste-bin/bin-0001/telemetry')).toBe('allow');
    current = DeviceCatalog.fromRecords([{ ...record('bin-0001', 'waste-bin', SECRETS.bin), revokedAt: '2026-02-01T00:00:00Z' }]);
    expect(await authorize(a, 'bin-0001', 'publish', 'city/waste-bin/bin-0001/telemetry')).toBe('deny');
  });
});

describe('the hooks as HTTP routes', () => {
  it('answer 400 to bodies that are not EMQX\'s templates, and go on answering', async () => {
    const { app: a } = build();
    const bad: [string, unknown][] = [
      [BROKER_AUTHENTICATE_PATH, '{'],
      [BROKER_AUTHENTICATE_PATH, 'null'],
      [BROKER_AUTHENTICATE_PATH, []],
      [BROKER_AUTHENTICATE_PATH, {}],
      [BROKER_AUTHENTICATE_PATH, { username: 'bin-0001', password: SECRETS.bin }],
      [BROKER_AUTHENTICATE_PATH, { clientid: 'bin-0001', username: { id: 'bin-0001' }, password: SECRETS.bin }],
      [BROKER_AUTHENTICATE_PATH, { clientid: 'x', username: 'bin-0001', password: 'p'.repeat(70_000) }],
      [BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: 'city/waste-bin/bin-0001/telemetry' }],
      [BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: 'city/waste-bin/bin-0001/telemetry', action: 'all' }],
      [BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: '', action: 'publish' }],
      [BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: ['a', 'b'], action: 'publish' }],
      [BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: { a: 1 }, action: 'publish' }],
    ];
    for (const [url, body] of bad) {
      const res = await post(a, url, body);
      // Over the body limit Fastify answers 413; either way EMQX takes it as "ignore".
      expect([400, 413], `${url} ${JSON.stringify(body).slice(0, 80)}`).toContain(res.statusCode);
    }
    expect((await authenticate(a, connect('bin-0001', SECRETS.bin))).result).toBe('allow');
  });

  it('need CITYPIPE_BROKER_AUTH_TOKEN, not the HTTP token, and refuse everything without it', async () => {
    const { app: a } = build();
    for (const token of [null, 'wrong-token-0123456789', HTTP_TOKEN]) {
      for (const url of [BROKER_AUTHENTICATE_PATH, BROKER_AUTHORIZE_PATH]) {
        const res = await post(a, url, connect('bin-0001', SECRETS.bin), token);
        expect(res.statusCode, `${url} ${token}`).toBe(401);
        expect(res.json().message).toMatch(/CITYPIPE_BROKER_AUTH_TOKEN|wrong bearer token/);
      }
    }
    const { app: off } = build({ brokerAuthToken: undefined });
    const res = await post(off, BROKER_AUTHENTICATE_PATH, connect('bin-0001', SECRETS.bin));
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/disabled: CITYPIPE_BROKER_AUTH_TOKEN is not set/);
  });

  it('do not count the broker with the right token against CITYPIPE_HTTP_RATE; a wrong token is', async () => {
    const { app: a } = build({ ratePerS: 1 });
    for (let i = 0; i < 30; i++) expect((await post(a, BROKER_AUTHORIZE_PATH, { username: 'bin-0001', topic: 'city/waste-bin/bin-0001/telemetry', action: 'publish' })).statusCode).toBe(200);
    const codes: number[] = [];
    for (let i = 0; i < 30; i++) codes.push((await post(a, BROKER_AUTHENTICATE_PATH, connect('bin-0001', 'guess'), 'wrong-token-0123456789')).statusCode);
    expect(codes).toContain(429);
  });
});
