import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, withOverrides } from './config.js';
import { CitypipeError } from '../errors/catalog.js';
import { hashSecret } from '../catalog/secrets.js';

function failure(env: Record<string, string>): CitypipeError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(CitypipeError);
    return err as CitypipeError;
  }
  throw new Error(`expected loadConfig to fail for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('gives the CONTRACT §6 defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.mqtt.port).toBe(1883);
    expect(c.http.port).toBe(8080);
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.devicesDir).toBe(path.resolve('./devices'));
    expect(c.influx.url).toBeUndefined();
    expect(c.influx.api).toBe('v2');
    expect(c.logLevel).toBe('info');
    expect(c.writer.batchSize).toBe(5000);
    expect(c.writer.flushIntervalMs).toBe(1000);
    expect(c.ingest.maxAgeMs).toBe(7 * 24 * 3600 * 1000);
    expect(c.ingest.maxFutureMs).toBe(300_000);
  });

  it('reads every contract key from the environment', () => {
    const c = loadConfig({
      CITYPIPE_MQTT_PORT: '11883',
      CITYPIPE_HTTP_PORT: '18080',
      CITYPIPE_DATA_DIR: '/var/lib/citypipe',
      CITYPIPE_DEVICES_DIR: '/etc/citypipe/devices',
      CITYPIPE_INFLUX_URL: 'http://influx.example:8086/',
      CITYPIPE_INFLUX_API: 'v1',
      CITYPIPE_INFLUX_BUCKET: 'city/autogen',
      CITYPIPE_INFLUX_ORG: 'gemeente',
      CITYPIPE_INFLUX_TOKEN: 'writer:secret',
      CITYPIPE_LOG_LEVEL: 'debug',
    });
    expect(c.mqtt.port).toBe(11883);
    expect(c.http.port).toBe(18080);
    expect(c.dataDir).toBe('/var/lib/citypipe');
    expect(c.devicesDir).toBe('/etc/citypipe/devices');
    expect(c.influx).toMatchObject({ url: 'http://influx.example:8086', api: 'v1', bucket: 'city/autogen', org: 'gemeente', token: 'writer:secret' });
    expect(c.logLevel).toBe('debug');
  });

  it('is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.influx)).toBe(true);
  });

  it.each([
    [{ CITYPIPE_MQTT_PORT: 'abc' }, 'CITYPIPE_MQTT_PORT', /port/],
    [{ CITYPIPE_MQTT_PORT: '70000' }, 'CITYPIPE_MQTT_PORT', /0\.\.65535/],
    [{ CITYPIPE_HTTP_PORT: '80.5' }, 'CITYPIPE_HTTP_PORT', /whole/],
    [{ CITYPIPE_INFLUX_API: 'v3' }, 'CITYPIPE_INFLUX_API', /v2 .* or v1/],
    [{ CITYPIPE_INFLUX_URL: 'localhost:8086' }, 'CITYPIPE_INFLUX_URL', /http\(s\) URL/],
    [{ CITYPIPE_LOG_LEVEL: 'verbose' }, 'CITYPIPE_LOG_LEVEL', /one of/],
    [{ CITYPIPE_BATCH_SIZE: '0' }, 'CITYPIPE_BATCH_SIZE', /≥ 1/],
    [{ CITYPIPE_INFLUX_BUCKET: 'a/b/c' }, 'CITYPIPE_INFLUX_BUCKET', /retention-policy/],
    [{ CITYPIPE_MQTT_ALLOW_ANONYMOUS: 'maybe' }, 'CITYPIPE_MQTT_ALLOW_ANONYMOUS', /true or false/],
    [{ CITYPIPE_INFLUX_API: 'v1', CITYPIPE_INFLUX_TOKEN: 'justatoken' }, 'CITYPIPE_INFLUX_TOKEN', /user:password/],
    [{ CITYPIPE_MQTT_OPEN: 'perhaps' }, 'CITYPIPE_MQTT_OPEN', /true or false/],
    [{ CITYPIPE_MQTT_OPEN: 'false', CITYPIPE_MQTT_ALLOW_ANONYMOUS: 'true' }, 'CITYPIPE_MQTT_ALLOW_ANONYMOUS', /deprecated name for CITYPIPE_MQTT_OPEN/],
    [{ CITYPIPE_MQTT_ACCOUNTS: 'ops:plaintext' }, 'CITYPIPE_MQTT_ACCOUNTS', /not a scrypt/],
    [{ CITYPIPE_MQTT_MAX_PACKET_BYTES: '1000' }, 'CITYPIPE_MQTT_MAX_PACKET_BYTES', /larger than CITYPIPE_MAX_PAYLOAD_BYTES/],
    [{ CITYPIPE_MQTT_MAX_PACKET_BYTES: '0' }, 'CITYPIPE_MQTT_MAX_PACKET_BYTES', /≥ 1/],
    [{ CITYPIPE_MQTT_CONNECT_TIMEOUT_MS: 'soon' }, 'CITYPIPE_MQTT_CONNECT_TIMEOUT_MS', /milliseconds/],
    [{ CITYPIPE_MQTT_MAX_KEEPALIVE_S: '70000' }, 'CITYPIPE_MQTT_MAX_KEEPALIVE_S', /≤ 65535/],
    [{ CITYPIPE_MQTT_DRAIN_TIMEOUT_MS: '0' }, 'CITYPIPE_MQTT_DRAIN_TIMEOUT_MS', /≥ 1/],
    [{ CITYPIPE_MQTT_CLIENT_RATE: '-1' }, 'CITYPIPE_MQTT_CLIENT_RATE', /0 = no limit/],
    [{ CITYPIPE_MQTT_IP_CONNECT_RATE: 'many' }, 'CITYPIPE_MQTT_IP_CONNECT_RATE', /per second/],
    [{ CITYPIPE_MQTT_MAX_CONNECTIONS: '0' }, 'CITYPIPE_MQTT_MAX_CONNECTIONS', /≥ 1/],
    [{ CITYPIPE_MQTT_TLS_PORT: '8883' }, 'CITYPIPE_MQTT_TLS_CERT', /required with CITYPIPE_MQTT_TLS_PORT/],
    [{ CITYPIPE_MQTT_TLS_PORT: '8883', CITYPIPE_MQTT_TLS_CERT: '/nonexistent/cert.pem', CITYPIPE_MQTT_TLS_KEY: '/nonexistent/key.pem' }, 'CITYPIPE_MQTT_TLS_CERT', /cannot read \/nonexistent\/cert.pem: ENOENT/],
    [{ CITYPIPE_MQTT_TLS_CERT: '/etc/hostname' }, 'CITYPIPE_MQTT_TLS_CERT', /CITYPIPE_MQTT_TLS_PORT is not/],
    [{ CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT: 'true' }, 'CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT', /needs CITYPIPE_MQTT_TLS_CA/],
    [{ CITYPIPE_HTTP_TOKEN: 'short' }, 'CITYPIPE_HTTP_TOKEN', /at least 16 characters/],
    [{ CITYPIPE_HTTP_TOKEN: 'has a space in the token value' }, 'CITYPIPE_HTTP_TOKEN', /without spaces/],
    [{ CITYPIPE_HTTP_RATE: '1.5' }, 'CITYPIPE_HTTP_RATE', /whole number/],
    [{ CITYPIPE_BROKER_AUTH_TOKEN: 'short' }, 'CITYPIPE_BROKER_AUTH_TOKEN', /at least 16 characters/],
  ])('%j stops start-up naming %s', (env, key, hint) => {
    const err = failure(env as Record<string, string>);
    expect(err.code).toBe('CP_ERR_CONFIG_INVALID');
    expect(err.message.startsWith(`${key}`)).toBe(true);
    expect(err.message).toMatch(hint);
    expect(err.retryable).toBe(false);
  });

  it('has secure MQTT and HTTP defaults: no lab mode, no accounts, no TLS, every limit on', () => {
    const c = loadConfig({});
    expect(c.mqtt).toMatchObject({ open: false, openKey: undefined, accounts: [], tls: undefined });
    expect(c.mqtt.limits).toEqual({
      maxPacketBytes: 1024 * 1024,
      connectTimeoutMs: 10_000,
      maxKeepaliveS: 1200,
      allowZeroKeepalive: false,
      drainTimeoutMs: 30_000,
      clientMessageRate: 100,
      clientReadingRate: 1000,
      ipConnectRate: 50,
      maxConnections: 50_000,
      session: {
        maxInflightQos2: 32,
        maxQueued: 1000,
        queuedTotalBytes: 64 * 1024 * 1024,
        retainedMaxBytes: 4096,
        retainedPerDevice: 8,
        retainedTotalBytes: 16 * 1024 * 1024,
      },
    });
    expect(c.http).toMatchObject({ token: undefined, ratePerS: 50 });
  });

  it('reads lab mode, accounts, TLS, limits and the HTTP token', () => {
    const hash = hashSecret('s');
    const c = loadConfig({
      CITYPIPE_MQTT_OPEN: 'true',
      CITYPIPE_MQTT_ACCOUNTS: `ops:${hash},grafana:${hash}`,
      CITYPIPE_MQTT_TLS_PORT: '8883',
      CITYPIPE_MQTT_TLS_CERT: 'package.json',
      CITYPIPE_MQTT_TLS_KEY: 'package.json',
      CITYPIPE_MQTT_TLS_CA: 'package.json',
      CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT: 'true',
      CITYPIPE_MQTT_MAX_PACKET_BYTES: '2000000',
      CITYPIPE_MQTT_CLIENT_RATE: '0',
      CITYPIPE_HTTP_TOKEN: 'a-long-enough-token',
      CITYPIPE_HTTP_RATE: '7',
    });
    expect(c.mqtt.open).toBe(true);
    expect(c.mqtt.openKey).toBe('CITYPIPE_MQTT_OPEN');
    expect(c.mqtt.accounts.map((a) => a.name)).toEqual(['ops', 'grafana']);
    expect(c.mqtt.tls).toEqual({ port: 8883, certFile: path.resolve('package.json'), keyFile: path.resolve('package.json'), caFile: path.resolve('package.json'), requireClientCert: true });
    expect(c.mqtt.limits).toMatchObject({ maxPacketBytes: 2_000_000, clientMessageRate: 0 });
    expect(c.http).toMatchObject({ token: 'a-long-enough-token', ratePerS: 7 });
  });

  it('reads the worker account and the broker cluster hooks\' token', () => {
    const hash = hashSecret('s');
    const c = loadConfig({ CITYPIPE_MQTT_ACCOUNTS: `citypipe-worker:worker:${hash}`, CITYPIPE_BROKER_AUTH_TOKEN: 'a-long-enough-broker-token' });
    expect(c.mqtt.accounts).toEqual([{ name: 'citypipe-worker', role: 'worker', secretHash: hash }]);
    expect(c.http.brokerAuthToken).toBe('a-long-enough-broker-token');
    expect(loadConfig({}).http.brokerAuthToken).toBeUndefined();
    expect(failure({ CITYPIPE_BROKER_AUTH_TOKEN: 'sh0rt-s3cret' }).message).not.toContain('sh0rt-s3cret');
  });

  it('reads who may name the HTTP client (CITYPIPE_HTTP_TRUST_PROXY) and the event-stream caps, with safe defaults', () => {
    expect(loadConfig({}).http).toMatchObject({ trustProxy: false, maxStreams: 32, maxStreamsPerAddress: 4 });
    const trust = (v: string) => loadConfig({ CITYPIPE_HTTP_TRUST_PROXY: v }).http.trustProxy;
    expect(trust('false')).toBe(false);
    expect(trust('0')).toBe(false);
    expect(trust('true')).toBe(true);
    expect(trust('2')).toBe(2);
    expect(trust('127.0.0.1, 10.0.0.0/8,::1,fd00::/8,loopback')).toEqual(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback']);
    expect(loadConfig({ CITYPIPE_HTTP_MAX_STREAMS: '100', CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS: '10' }).http).toMatchObject({ maxStreams: 100, maxStreamsPerAddress: 10 });
  });

  it.each([
    ['CITYPIPE_HTTP_TRUST_PROXY', 'yes please', /^CITYPIPE_HTTP_TRUST_PROXY: "yes please" is not an IP address or CIDR; expected false, true, a hop count 1\.\.32, or a comma-separated list of proxy addresses or CIDRs/],
    ['CITYPIPE_HTTP_TRUST_PROXY', '10.0.0.0/33', /^CITYPIPE_HTTP_TRUST_PROXY: "10\.0\.0\.0\/33": the prefix length after \/ must be 0\.\.32; expected false, true/],
    ['CITYPIPE_HTTP_TRUST_PROXY', '127.0.0.1,,10.0.0.1', /^CITYPIPE_HTTP_TRUST_PROXY: an empty entry in the list; expected/],
    ['CITYPIPE_HTTP_TRUST_PROXY', '99', /^CITYPIPE_HTTP_TRUST_PROXY: a hop count must be 1\.\.32; expected/],
    ['CITYPIPE_HTTP_MAX_STREAMS', '0', /^CITYPIPE_HTTP_MAX_STREAMS: expected a number of open event streams \(GET \/api\/events\/stream\) ≥ 1; got "0"/],
    ['CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS', 'many', /^CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS: expected a number of open event streams per client address; got "many"/],
  ])('refuses %s=%s at start, naming the key and the fix', (key, value, message) => {
    expect(failure({ [key]: value }).message).toMatch(message);
  });

  it('accepts keep alive 0 in lab mode unless told not to, and elsewhere only when told to', () => {
    expect(loadConfig({}).mqtt.limits.allowZeroKeepalive).toBe(false);
    expect(loadConfig({ CITYPIPE_MQTT_OPEN: 'true' }).mqtt.limits.allowZeroKeepalive).toBe(true);
    expect(loadConfig({ CITYPIPE_MQTT_OPEN: 'true', CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE: 'false' }).mqtt.limits.allowZeroKeepalive).toBe(false);
    expect(loadConfig({ CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE: 'true' }).mqtt.limits.allowZeroKeepalive).toBe(true);
  });

  it('takes the deprecated CITYPIPE_MQTT_ALLOW_ANONYMOUS=true as lab mode, and says which key did it', () => {
    expect(loadConfig({ CITYPIPE_MQTT_ALLOW_ANONYMOUS: 'true' }).mqtt).toMatchObject({ open: true, openKey: 'CITYPIPE_MQTT_ALLOW_ANONYMOUS' });
    expect(loadConfig({ CITYPIPE_MQTT_ALLOW_ANONYMOUS: 'false' }).mqtt.open).toBe(false);
  });

  it('reads the dispatch keys: rules file, webhooks, Open311 forwarding, collection plan schedule', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-config-'));
    const rules = path.join(dir, 'rules.json');
    writeFileSync(rules, '{}');
    const c = loadConfig({
      CITYPIPE_RULES_FILE: rules,
      CITYPIPE_WEBHOOK_URLS: 'https://a.example/hook, http://127.0.0.1:9000/x',
      CITYPIPE_WEBHOOK_SECRET: 'a-signing-secret-0123456789',
      CITYPIPE_OPEN311_FORWARD_URL: 'https://city.example/open311/v2/',
      CITYPIPE_OPEN311_API_KEY: 'key-1',
      CITYPIPE_COLLECTION_PLAN_CRON: '30 4 * * *',
    });
    expect(c.dispatch).toEqual({
      rulesFile: rules,
      deliveryTargets: [
        expect.objectContaining({ kind: 'webhook', label: 'webhook:https://a.example', url: 'https://a.example/hook', secret: 'a-signing-secret-0123456789' }),
        expect.objectContaining({ kind: 'webhook', label: 'webhook:http://127.0.0.1:9000', url: 'http://127.0.0.1:9000/x', secret: 'a-signing-secret-0123456789' }),
        expect.objectContaining({ kind: 'open311', name: 'open311', apiKey: 'key-1' }),
      ],
      collectionPlanCron: '30 4 * * *',
      eventsMax: 100_000,
    });
    expect(loadConfig({}).dispatch).toMatchObject({ rulesFile: undefined, deliveryTargets: [], collectionPlanCron: '0 5 * * *' });
  });

  it('names the missing partner key of webhooks and Open311 forwarding, a bad URL, a bad schedule and a missing rules file', () => {
    expect(failure({ CITYPIPE_WEBHOOK_URLS: 'https://a.example/hook' }).message).toMatch(/^CITYPIPE_WEBHOOK_SECRET: is required when CITYPIPE_WEBHOOK_URLS is set/);
    expect(failure({ CITYPIPE_WEBHOOK_URLS: 'ftp://a.example/hook', CITYPIPE_WEBHOOK_SECRET: 'x'.repeat(20) }).message).toMatch(/^CITYPIPE_WEBHOOK_URLS: entry 1 must be an http:\/\/ or https:\/\/ URL, not ftp:/);
    expect(failure({ CITYPIPE_OPEN311_FORWARD_URL: 'https://city.example/open311/v2' }).message).toMatch(/^CITYPIPE_OPEN311_API_KEY: is required when CITYPIPE_OPEN311_FORWARD_URL is set/);
    expect(failure({ CITYPIPE_COLLECTION_PLAN_CRON: 'every day' }).message).toMatch(/^CITYPIPE_COLLECTION_PLAN_CRON: expected a cron expression/);
    expect(failure({ CITYPIPE_RULES_FILE: '/nonexistent/rules.json' }).message).toMatch(/^CITYPIPE_RULES_FILE: cannot read \/nonexistent\/rules.json: ENOENT/);
    const secret = failure({ CITYPIPE_WEBHOOK_URLS: 'https://a.example/hook', CITYPIPE_WEBHOOK_SECRET: 'short-secret' });
    expect(secret.message).not.toContain('short-secret');
  });

  it('never echoes a secret value in an error', () => {
    const err = failure({ CITYPIPE_HTTP_TOKEN: 'sh0rt-s3cret' });
    expect(err.message).not.toContain('sh0rt-s3cret');
    expect(err.message).toMatch(/got a value of 12 characters/);
  });

  it('names an unknown key and suggests the one meant', () => {
    const err = failure({ CITYPIPE_INFLUX_URI: 'http://x:8086' });
    expect(err.code).toBe('CP_ERR_CONFIG_UNKNOWN_KEY');
    expect(err.message).toMatch(/^CITYPIPE_INFLUX_URI: unknown configuration key\. Did you mean CITYPIPE_INFLUX_URL\?/);
  });

  it('ignores variables that are not citypipe keys, and empty values', () => {
    const c = loadConfig({ PATH: '/usr/bin', HOME: '/root', CITYPIPE_MQTT_PORT: '' });
    expect(c.mqtt.port).toBe(1883);
  });

  it('reads a JSON config file, with the environment taking precedence', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-config-'));
    const file = path.join(dir, 'citypipe.json');
    writeFileSync(file, JSON.stringify({ CITYPIPE_MQTT_PORT: 2883, CITYPIPE_HTTP_PORT: 9090, CITYPIPE_INFLUX_API: 'v1' }));
    const c = loadConfig({ CITYPIPE_CONFIG: file, CITYPIPE_HTTP_PORT: '9999' });
    expect(c.mqtt.port).toBe(2883);
    expect(c.http.port).toBe(9999);
    expect(c.influx.api).toBe('v1');
  });

  it('names the file when a key in it is bad', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-config-'));
    const file = path.join(dir, 'citypipe.json');
    writeFileSync(file, JSON.stringify({ CITYPIPE_MQTT_PORT: 'one' }));
    const err = failure({ CITYPIPE_CONFIG: file });
    expect(err.message).toContain(`CITYPIPE_MQTT_PORT (in ${file})`);
  });

  it('says when the config file is missing or not JSON', () => {
    expect(failure({ CITYPIPE_CONFIG: '/nonexistent/citypipe.json' }).message).toMatch(/^CITYPIPE_CONFIG: cannot read \/nonexistent\/citypipe.json/);
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-config-'));
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{ nope');
    expect(failure({ CITYPIPE_CONFIG: file }).message).toMatch(/is not valid JSON/);
  });

  it('withOverrides returns a new frozen config and leaves the original alone', () => {
    const c = loadConfig({});
    const d = withOverrides(c, (draft) => {
      draft.influx.url = 'http://127.0.0.1:1';
    });
    expect(d.influx.url).toBe('http://127.0.0.1:1');
    expect(c.influx.url).toBeUndefined();
    expect(Object.isFrozen(d.influx)).toBe(true);
  });
});
