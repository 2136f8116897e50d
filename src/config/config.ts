/**
 * Configuration (CONTRACT §6): environment variables, optionally a JSON config file with the same
 * keys (CITYPIPE_CONFIG names it; the environment wins over the file). Parsed once at start with
 * one zod schema, frozen, and passed down. Nothing else in citypipe reads `process.env`.
 */
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { parseAccounts, type MqttAccount } from '../security/accounts.js';
import type { MqttLimits } from '../broker/broker.js';
import { deliveryTargetsFrom } from '../delivery/config.js';
import type { DeliveryTarget } from '../delivery/types.js';
import { parseTrustProxy, type TrustProxy } from '../http/trust-proxy.js';

const port = (hint: string) =>
  z.coerce
    .number({ error: `expected a TCP port number. ${hint}` })
    .int({ error: `expected a whole TCP port number. ${hint}` })
    .min(0, { error: `expected a port 0..65535. ${hint}` })
    .max(65535, { error: `expected a port 0..65535. ${hint}` });

const positiveInt = (what: string, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what} as a whole number` })
    .min(1, { error: `expected ${what} ≥ 1` })
    .max(max, { error: `expected ${what} ≤ ${max}` });

/** A rate per second where 0 switches the limit off. */
const rate = (what: string, max: number) =>
  z.coerce
    .number({ error: `expected ${what} per second (0 = no limit)` })
    .int({ error: `expected ${what} per second as a whole number (0 = no limit)` })
    .min(0, { error: `expected ${what} per second ≥ 0 (0 = no limit)` })
    .max(max, { error: `expected ${what} per second ≤ ${max} (0 = no limit)` });

const file = (what: string) => z.string().min(1, { error: `expected the path of ${what}` });

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

const host = z.string().min(1, { error: 'expected a host name or address, e.g. 127.0.0.1 or 0.0.0.0' });

const url = z
  .string()
  .refine((v) => /^https?:\/\/[^\s/]+/.test(v), { error: 'expected an http(s) URL such as http://127.0.0.1:8086' })
  .transform((v) => v.replace(/\/+$/, ''));

/**
 * Every key citypipe reads. The CONTRACT §6 keys come first; the rest are tuning knobs with defaults
 * that suit one Debian box.
 */
const schema = z.object({
  CITYPIPE_MQTT_PORT: port('Set it to a free port such as 1883.').default(1883),
  CITYPIPE_MQTT_HOST: host.default('0.0.0.0'),
  CITYPIPE_HTTP_PORT: port('Set it to a free port such as 8080.').default(8080),
  CITYPIPE_HTTP_HOST: host.default('0.0.0.0'),
  CITYPIPE_DATA_DIR: z.string().min(1).default('./data'),
  CITYPIPE_DEVICES_DIR: z.string().min(1).default('./devices'),
  CITYPIPE_INFLUX_URL: url.optional(),
  CITYPIPE_INFLUX_API: z.enum(['v2', 'v1'], { error: 'expected v2 (InfluxDB 2.x, 3.x, 1.8+) or v1 (InfluxDB 1.x before 1.8)' }).default('v2'),
  CITYPIPE_INFLUX_BUCKET: z
    .string()
    .regex(/^[^/\s]+(\/[^/\s]+)?$/, { error: 'expected a bucket name, or for v1 `database` or `database/retention-policy`' })
    .default('citypipe'),
  CITYPIPE_INFLUX_ORG: z.string().default(''),
  CITYPIPE_INFLUX_TOKEN: z.string().default(''),
  CITYPIPE_INFLUX_TIMEOUT_MS: positiveInt('a timeout in milliseconds', 600_000).default(10_000),
  CITYPIPE_INFLUX_RETRY_MAX_MS: positiveInt('a delay in milliseconds', 3_600_000).default(30_000),
  CITYPIPE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'expected one of fatal, error, warn, info, debug, trace, silent' })
    .default('info'),
  CITYPIPE_BATCH_SIZE: positiveInt('a number of lines per InfluxDB write', 100_000).default(5000),
  CITYPIPE_FLUSH_INTERVAL_MS: positiveInt('a flush interval in milliseconds', 60_000).default(1000),
  CITYPIPE_MAX_PAYLOAD_BYTES: positiveInt('a payload size in bytes', 16 * 1024 * 1024).default(256 * 1024),
  CITYPIPE_MAX_BATCH: positiveInt('a number of readings per batch', 100_000).default(1000),
  CITYPIPE_TS_MAX_AGE_S: positiveInt('an age in seconds').default(7 * 24 * 3600),
  CITYPIPE_TS_MAX_FUTURE_S: positiveInt('a number of seconds').default(300),
  CITYPIPE_DEAD_LETTER_MAX: positiveInt('a number of dead letters to keep').default(100_000),
  CITYPIPE_MQTT_OPEN: bool.optional(),
  /** Deprecated: `true` is CITYPIPE_MQTT_OPEN=true (it predates the topic ACLs). */
  CITYPIPE_MQTT_ALLOW_ANONYMOUS: bool.optional(),
  CITYPIPE_MQTT_ACCOUNTS: z
    .string()
    .refine((v) => parseAccounts(v).ok, { error: (iss) => (parseAccounts(String(iss.input)) as { message?: string }).message ?? 'invalid' })
    .default(''),
  CITYPIPE_MQTT_TLS_PORT: port('Set it to a free port such as 8883, or leave it unset for no TLS listener.').optional(),
  CITYPIPE_MQTT_TLS_CERT: file('the PEM server certificate (chain) for the TLS listener').optional(),
  CITYPIPE_MQTT_TLS_KEY: file('the PEM private key of CITYPIPE_MQTT_TLS_CERT').optional(),
  CITYPIPE_MQTT_TLS_CA: file('the PEM CA certificate(s) that sign device client certificates').optional(),
  CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT: bool.default(false),
  CITYPIPE_MQTT_MAX_PACKET_BYTES: positiveInt('a packet size in bytes', 256 * 1024 * 1024).default(1024 * 1024),
  CITYPIPE_MQTT_CONNECT_TIMEOUT_MS: positiveInt('a timeout in milliseconds', 600_000).default(10_000),
  CITYPIPE_MQTT_MAX_KEEPALIVE_S: positiveInt('a keep alive in seconds', 65_535).default(1200),
  CITYPIPE_MQTT_DRAIN_TIMEOUT_MS: positiveInt('a timeout in milliseconds', 3_600_000).default(30_000),
  CITYPIPE_MQTT_CLIENT_RATE: rate('MQTT messages per connection', 1_000_000).default(100),
  CITYPIPE_MQTT_IP_CONNECT_RATE: rate('MQTT connections per client address', 1_000_000).default(50),
  CITYPIPE_MQTT_MAX_CONNECTIONS: positiveInt('a number of connections', 10_000_000).default(50_000),
  CITYPIPE_MQTT_CLIENT_READING_RATE: rate('readings per connection', 10_000_000).default(1000),
  /** Unset: accepted in lab mode only. */
  CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE: bool.optional(),
  CITYPIPE_MQTT_MAX_INFLIGHT_QOS2: positiveInt('a number of QoS 2 messages awaiting PUBREL per client', 65_535).default(32),
  CITYPIPE_MQTT_MAX_QUEUED: positiveInt('a number of messages queued per offline session', 1_000_000).default(1000),
  CITYPIPE_MQTT_QUEUED_TOTAL_BYTES: positiveInt('a size in bytes, e.g. 67108864 for 64 MiB').default(64 * 1024 * 1024),
  CITYPIPE_MQTT_RETAINED_MAX_BYTES: positiveInt('a retained payload size in bytes', 256 * 1024 * 1024).default(4096),
  CITYPIPE_MQTT_RETAINED_PER_DEVICE: positiveInt('a number of retained topics per device', 1_000_000).default(8),
  CITYPIPE_MQTT_RETAINED_TOTAL_BYTES: positiveInt('a size in bytes, e.g. 16777216 for 16 MiB').default(16 * 1024 * 1024),
  CITYPIPE_HTTP_TOKEN: z
    .string()
    .min(16, { error: 'expected a bearer token of at least 16 characters, e.g. from `openssl rand -base64 32`' })
    .regex(/^[\x21-\x7e]+$/, { error: 'expected printable ASCII without spaces (it travels in an HTTP header)' })
    .optional(),
  CITYPIPE_UPLINK_TOKEN: z
    .string()
    .min(16, { error: 'expected a bearer token of at least 16 characters, e.g. from `openssl rand -base64 32`' })
    .regex(/^[\x21-\x7e]+$/, { error: 'expected printable ASCII without spaces (it travels in an HTTP header)' })
    .optional(),
  CITYPIPE_TTS_MQTT_URL: z
    .string()
    .refine((v) => /^mqtts?:\/\/[^\s/]+/.test(v), { error: 'expected an mqtt(s) URL such as mqtts://eu1.cloud.thethings.network:8883' })
    .optional(),
  CITYPIPE_TTS_MQTT_USERNAME: z.string().regex(/^[^\s@]+@[^\s@]+$/, { error: 'expected the application id and tenant, app@tenant (e.g. my-bins@ttn)' }).optional(),
  CITYPIPE_TTS_MQTT_PASSWORD: z.string().min(1).optional(),
  CITYPIPE_HTTP_RATE: rate('HTTP requests per client address', 1_000_000).default(50),
  CITYPIPE_HTTP_TRUST_PROXY: z
    .string()
    .refine((v) => parseTrustProxy(v).ok, { error: (iss) => (parseTrustProxy(String(iss.input)) as { message?: string }).message ?? 'invalid' })
    .transform((v) => (parseTrustProxy(v) as { value: TrustProxy }).value)
    .default(false),
  CITYPIPE_OPEN_DATA: bool.default(true),
  CITYPIPE_OPEN_RATE: rate('requests to the open data and status page per client address', 1_000_000).default(2000),
  CITYPIPE_CITY_NAME: z.string().trim().min(1, { error: 'expected the name residents know the city by, e.g. Amsterdam' }).max(80, { error: 'expected a name of at most 80 characters' }).default('Our city'),
  CITYPIPE_HTTP_MAX_STREAMS: positiveInt('a number of open event streams (GET /api/events/stream)', 100_000).default(32),
  CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS: positiveInt('a number of open event streams per client address', 100_000).default(4),
  CITYPIPE_STOP_TIMEOUT_MS: positiveInt('a timeout in milliseconds', 3_600_000).default(30_000),
  CITYPIPE_SPOOL_MAX_BYTES: positiveInt('a size in bytes, e.g. 1073741824 for 1 GiB').default(1024 * 1024 * 1024),
  CITYPIPE_SPOOL_FSYNC: bool.default(true),
  CITYPIPE_RULES_FILE: file('the rules file (JSON), e.g. rules/default.json').optional(),
  // The delivery settings are checked together, naming the key, by deliveryTargetsFrom below.
  CITYPIPE_WEBHOOK_URLS: z.string().default(''),
  CITYPIPE_WEBHOOK_SECRET: z
    .string()
    .min(16, { error: 'expected a signing secret of at least 16 characters, e.g. from `openssl rand -hex 32`' })
    .optional(),
  CITYPIPE_OPEN311_FORWARD_URL: url.optional(),
  CITYPIPE_OPEN311_API_KEY: z.string().min(1).optional(),
  CITYPIPE_OPEN311_JURISDICTION_ID: z.string().min(1).optional(),
  CITYPIPE_COLLECTION_PLAN_CRON: z
    .string()
    .refine((v) => cron.validate(v), { error: 'expected a cron expression such as "0 5 * * *" (05:00 every day)' })
    .default('0 5 * * *'),
  CITYPIPE_EVENTS_MAX: positiveInt('a number of rule events to keep').default(100_000),
  // More than one node (CONTRACT §8): an external broker cluster and PostgreSQL.
  CITYPIPE_BROKER_URL: z
    .string()
    .refine((v) => /^mqtts?:\/\/[^\s/]+/.test(v), { error: 'expected an mqtt(s) URL of the broker cluster, such as mqtt://emqx.city.internal:1883' })
    .optional(),
  CITYPIPE_BROKER_USERNAME: z.string().min(1).optional(),
  CITYPIPE_BROKER_PASSWORD: z.string().min(1).optional(),
  CITYPIPE_BROKER_CA: file('the PEM CA certificate(s) that sign the broker\'s certificate').optional(),
  CITYPIPE_BROKER_CONNECTIONS: positiveInt('a number of connections per worker', 64).default(4),
  CITYPIPE_SHARE_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected a shared-subscription group name of letters, digits, _ . - (no / + #), e.g. citypipe' })
    .default('citypipe'),
  CITYPIPE_WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,48}$/, { error: 'expected a worker name of letters, digits, _ . - (at most 48), unique per worker and kept across restarts, e.g. worker-1' })
    .optional(),
  /** The bearer token a broker cluster sends to citypipe's authentication and authorization hooks. */
  CITYPIPE_BROKER_AUTH_TOKEN: z
    .string()
    .min(16, { error: 'expected a bearer token of at least 16 characters, e.g. from `openssl rand -base64 32`' })
    .regex(/^[\x21-\x7e]+$/, { error: 'expected printable ASCII without spaces (it travels in an HTTP header)' })
    .optional(),
  CITYPIPE_DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\/\S+/.test(v), { error: 'expected a PostgreSQL URL such as postgres://citypipe:secret@db.city.internal:5432/citypipe' })
    .optional(),
});

type Raw = z.output<typeof schema>;

/** The parsed, frozen configuration every part of citypipe receives. */
export interface Config {
  readonly mqtt: {
    readonly host: string;
    readonly port: number;
    /** Lab mode: anonymous clients, no topic ACL, no client-id binding; every limit still on. */
    readonly open: boolean;
    /** The key that switched lab mode on, for the warning at start. */
    readonly openKey: 'CITYPIPE_MQTT_OPEN' | 'CITYPIPE_MQTT_ALLOW_ANONYMOUS' | undefined;
    /** Operator and integration accounts: they may subscribe to `city/events/#` only. */
    readonly accounts: readonly MqttAccount[];
    /** The TLS listener; undefined without CITYPIPE_MQTT_TLS_PORT. */
    readonly tls:
      | {
          readonly port: number;
          readonly certFile: string;
          readonly keyFile: string;
          /** Client certificates are asked for (and CN = device id authenticates) only with a CA. */
          readonly caFile: string | undefined;
          readonly requireClientCert: boolean;
        }
      | undefined;
    /** The broker's limits, as it declares them (rates of 0 switch a limit off). */
    readonly limits: MqttLimits;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Bearer token for the endpoints that change state or show locations; undefined = those refuse. */
    readonly token: string | undefined;
    /** Bearer token of the network servers' uplink routes (CONTRACT §7); undefined = those refuse. */
    readonly uplinkToken: string | undefined;
    /**
     * Bearer token of the broker cluster's hooks, `POST /api/broker/authenticate|authorize`
     * (CONTRACT §8); undefined = those refuse (they tell whether a device secret is right).
     */
    readonly brokerAuthToken: string | undefined;
    /** Requests per second per client address; 0 = no limit. */
    readonly ratePerS: number;
    /** Which peers may name the client in X-Forwarded-For (Fastify's trustProxy); false = none. */
    readonly trustProxy: TrustProxy;
    /** Open event streams (SSE), in all and per client address. */
    readonly maxStreams: number;
    readonly maxStreamsPerAddress: number;
  };
  /** What residents see (CONTRACT §9): open data and the status page. */
  readonly residents: {
    /** Serve `/open/v1/*` and `/status`; false = not registered (404). */
    readonly enabled: boolean;
    /** Requests per second per client address to those routes; 0 = no limit. */
    readonly ratePerS: number;
    /** The status page's title and the DATEX II publisher. */
    readonly cityName: string;
  };
  /**
   * The broker cluster to consume from (CONTRACT §8); undefined = the embedded broker. With it,
   * citypipe embeds no broker: it subscribes with MQTT 5 shared subscriptions as one worker.
   */
  readonly externalBroker:
    | {
        readonly url: string;
        readonly username: string | undefined;
        readonly password: string | undefined;
        readonly caFile: string | undefined;
        /** Connections of this worker, each with its own session `<workerId>-<n>`. */
        readonly connections: number;
        readonly shareGroup: string;
        readonly workerId: string;
      }
    | undefined;
  /** PostgreSQL shared by every worker (CONTRACT §8); undefined = SQLite files in the data dir. */
  readonly databaseUrl: string | undefined;
  /** This worker's name among several (CITYPIPE_WORKER_ID, default the host name). */
  readonly workerId: string;
  /** The Things Stack's MQTT server to subscribe to for uplinks (CONTRACT §7); undefined = none. */
  readonly ttsMqtt: { readonly url: string; readonly username: string; readonly password: string } | undefined;
  readonly dataDir: string;
  readonly devicesDir: string;
  readonly influx: {
    /** Undefined when not configured: `demo` then starts a local influxd; `start` refuses to run. */
    readonly url: string | undefined;
    readonly api: 'v1' | 'v2';
    readonly bucket: string;
    readonly org: string;
    readonly token: string;
    readonly timeoutMs: number;
    /** Longest wait between write retries (a longer Retry-After is still honoured). */
    readonly retryMaxMs: number;
  };
  readonly logLevel: Raw['CITYPIPE_LOG_LEVEL'];
  readonly writer: { readonly batchSize: number; readonly flushIntervalMs: number };
  readonly ingest: {
    readonly maxPayloadBytes: number;
    readonly maxBatch: number;
    readonly maxAgeMs: number;
    readonly maxFutureMs: number;
  };
  readonly deadLetterMax: number;
  readonly stopTimeoutMs: number;
  readonly spool: {
    /** Readings not yet written may take this much disk; at the cap publishes are refused. */
    readonly maxBytes: number;
    /** false only to measure what durability costs; a PUBACK then no longer means "on disk". */
    readonly fsync: boolean;
  };
  readonly dispatch: {
    /** The rules file; undefined = the shipped rules/default.json. */
    readonly rulesFile: string | undefined;
    /** Webhook receivers and the city's Open311 endpoint that ticket transitions are delivered to. */
    readonly deliveryTargets: readonly DeliveryTarget[];
    /** node-cron schedule of the daily collection plan. */
    readonly collectionPlanCron: string;
    /** Rule events kept in the event log (oldest dropped first). */
    readonly eventsMax: number;
  };
}

export const CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);

/** Keys whose values are never echoed in an error message. */
// Webhook URLs too: for Slack- and Teams-style receivers the path is the credential.
const SECRET_KEYS: ReadonlySet<string> = new Set(['CITYPIPE_BROKER_PASSWORD', 'CITYPIPE_BROKER_AUTH_TOKEN', 'CITYPIPE_DATABASE_URL', 'CITYPIPE_HTTP_TOKEN', 'CITYPIPE_UPLINK_TOKEN', 'CITYPIPE_TTS_MQTT_PASSWORD', 'CITYPIPE_INFLUX_TOKEN', 'CITYPIPE_WEBHOOK_SECRET', 'CITYPIPE_OPEN311_API_KEY', 'CITYPIPE_WEBHOOK_URLS']);

/** A guess at what a user meant by an unknown key: the known key with the smallest edit distance. */
function closestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of CONFIG_KEYS) {
    const d = editDistance(key, k);
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  return bestDist <= 4 ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function readConfigFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CitypipeError(ErrorCodes.CONFIG_FILE, `CITYPIPE_CONFIG: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CitypipeError(ErrorCodes.CONFIG_FILE, `CITYPIPE_CONFIG: ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CitypipeError(ErrorCodes.CONFIG_FILE, `CITYPIPE_CONFIG: ${file} must hold a JSON object of CITYPIPE_* keys`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v === 'object' && v !== null) {
      throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `${k} (in ${file}): expected a string, number or boolean`);
    }
    out[k] = String(v);
  }
  return out;
}

/**
 * Parses configuration from an environment (normally `process.env`, passed in by the entry point).
 * `defaults` replace the built-in defaults of some keys for one command (`demo` drives the shipped
 * demo fleet); the config file and the environment still win over them.
 * Throws CitypipeError naming the key, the bad value and the fix.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, defaults: Readonly<Record<string, string>> = {}): Config {
  const fromFile = env.CITYPIPE_CONFIG ? readConfigFile(env.CITYPIPE_CONFIG) : {};
  const merged: Record<string, string> = { ...defaults, ...fromFile };
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('CITYPIPE_') && k !== 'CITYPIPE_CONFIG' && v !== undefined && v !== '') merged[k] = v;
  }
  for (const k of Object.keys(merged)) {
    if (!CONFIG_KEYS.includes(k)) {
      const guess = closestKey(k);
      const where = k in fromFile ? ` (in ${env.CITYPIPE_CONFIG})` : '';
      throw new CitypipeError(
        ErrorCodes.CONFIG_UNKNOWN_KEY,
        `${k}${where}: unknown configuration key.${guess ? ` Did you mean ${guess}?` : ''} Known keys: see README "Configuration".`,
      );
    }
  }
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0]);
    const where = key in fromFile && !(key in env) ? ` (in ${env.CITYPIPE_CONFIG})` : '';
    // A secret must not end up in a terminal or a log because it was mistyped.
    const got = SECRET_KEYS.has(key) ? `a value of ${merged[key]?.length ?? 0} characters` : JSON.stringify(merged[key]);
    throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `${key}${where}: ${issue.message}; got ${got}`);
  }
  const r = result.data;
  if (r.CITYPIPE_INFLUX_API === 'v1' && r.CITYPIPE_INFLUX_TOKEN && !r.CITYPIPE_INFLUX_TOKEN.includes(':')) {
    throw new CitypipeError(
      ErrorCodes.CONFIG_INVALID,
      'CITYPIPE_INFLUX_TOKEN: with CITYPIPE_INFLUX_API=v1 the token is `user:password`; got a value without a colon',
    );
  }
  const where = (key: string) => (key in fromFile && !(key in env) ? ` (in ${env.CITYPIPE_CONFIG})` : '');
  const invalid = (key: string, message: string) => new CitypipeError(ErrorCodes.CONFIG_INVALID, `${key}${where(key)}: ${message}`);
  if (r.CITYPIPE_MQTT_OPEN !== undefined && r.CITYPIPE_MQTT_ALLOW_ANONYMOUS !== undefined && r.CITYPIPE_MQTT_OPEN !== r.CITYPIPE_MQTT_ALLOW_ANONYMOUS) {
    throw invalid('CITYPIPE_MQTT_ALLOW_ANONYMOUS', `is ${r.CITYPIPE_MQTT_ALLOW_ANONYMOUS} but CITYPIPE_MQTT_OPEN is ${r.CITYPIPE_MQTT_OPEN}; it is a deprecated name for CITYPIPE_MQTT_OPEN: remove it`);
  }
  if (r.CITYPIPE_WORKER_ID !== undefined && r.CITYPIPE_BROKER_URL === undefined && r.CITYPIPE_DATABASE_URL === undefined) {
    throw invalid('CITYPIPE_WORKER_ID', 'names a worker among several, but neither CITYPIPE_BROKER_URL nor CITYPIPE_DATABASE_URL is set: set them, or remove it');
  }
  const open = r.CITYPIPE_MQTT_OPEN ?? r.CITYPIPE_MQTT_ALLOW_ANONYMOUS ?? false;
  if (r.CITYPIPE_MQTT_MAX_PACKET_BYTES <= r.CITYPIPE_MAX_PAYLOAD_BYTES) {
    throw invalid(
      'CITYPIPE_MQTT_MAX_PACKET_BYTES',
      `must be larger than CITYPIPE_MAX_PAYLOAD_BYTES (${r.CITYPIPE_MAX_PAYLOAD_BYTES}) so that an over-size payload is dead-lettered with its reason rather than cut; got ${r.CITYPIPE_MQTT_MAX_PACKET_BYTES}`,
    );
  }
  let tls: Config['mqtt']['tls'];
  if (r.CITYPIPE_MQTT_TLS_PORT !== undefined) {
    for (const key of ['CITYPIPE_MQTT_TLS_CERT', 'CITYPIPE_MQTT_TLS_KEY'] as const) {
      if (r[key] === undefined) throw invalid(key, 'required with CITYPIPE_MQTT_TLS_PORT: the PEM file of the TLS listener\'s ' + (key.endsWith('CERT') ? 'certificate' : 'private key'));
    }
    tls = {
      port: r.CITYPIPE_MQTT_TLS_PORT,
      certFile: readable('CITYPIPE_MQTT_TLS_CERT', r.CITYPIPE_MQTT_TLS_CERT!, invalid),
      keyFile: readable('CITYPIPE_MQTT_TLS_KEY', r.CITYPIPE_MQTT_TLS_KEY!, invalid),
      caFile: r.CITYPIPE_MQTT_TLS_CA === undefined ? undefined : readable('CITYPIPE_MQTT_TLS_CA', r.CITYPIPE_MQTT_TLS_CA, invalid),
      requireClientCert: r.CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT,
    };
  } else {
    for (const key of ['CITYPIPE_MQTT_TLS_CERT', 'CITYPIPE_MQTT_TLS_KEY', 'CITYPIPE_MQTT_TLS_CA'] as const) {
      if (r[key] !== undefined) throw invalid(key, 'is set but CITYPIPE_MQTT_TLS_PORT is not: set the port of the TLS listener too (e.g. 8883)');
    }
  }
  if (r.CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT && tls?.caFile === undefined) {
    throw invalid('CITYPIPE_MQTT_TLS_REQUIRE_CLIENT_CERT', 'needs CITYPIPE_MQTT_TLS_CA (the CA that signs device certificates) and CITYPIPE_MQTT_TLS_PORT');
  }
  // Checked here so that a bad delivery setting stops the start naming its key.
  const deliveryTargets = deliveryTargetsFrom(r);
  const accounts = (parseAccounts(r.CITYPIPE_MQTT_ACCOUNTS) as { accounts: MqttAccount[] }).accounts;
  return deepFreeze({
    mqtt: {
      host: r.CITYPIPE_MQTT_HOST,
      port: r.CITYPIPE_MQTT_PORT,
      open,
      openKey: !open ? undefined : r.CITYPIPE_MQTT_OPEN ? 'CITYPIPE_MQTT_OPEN' : 'CITYPIPE_MQTT_ALLOW_ANONYMOUS',
      accounts,
      tls,
      limits: {
        maxPacketBytes: r.CITYPIPE_MQTT_MAX_PACKET_BYTES,
        connectTimeoutMs: r.CITYPIPE_MQTT_CONNECT_TIMEOUT_MS,
        maxKeepaliveS: r.CITYPIPE_MQTT_MAX_KEEPALIVE_S,
        // Interoperability suites connect without keep alive: lab mode accepts it unless told not to.
        allowZeroKeepalive: r.CITYPIPE_MQTT_ALLOW_ZERO_KEEPALIVE ?? open,
        drainTimeoutMs: r.CITYPIPE_MQTT_DRAIN_TIMEOUT_MS,
        clientMessageRate: r.CITYPIPE_MQTT_CLIENT_RATE,
        clientReadingRate: r.CITYPIPE_MQTT_CLIENT_READING_RATE,
        ipConnectRate: r.CITYPIPE_MQTT_IP_CONNECT_RATE,
        maxConnections: r.CITYPIPE_MQTT_MAX_CONNECTIONS,
        session: {
          maxInflightQos2: r.CITYPIPE_MQTT_MAX_INFLIGHT_QOS2,
          maxQueued: r.CITYPIPE_MQTT_MAX_QUEUED,
          queuedTotalBytes: r.CITYPIPE_MQTT_QUEUED_TOTAL_BYTES,
          retainedMaxBytes: r.CITYPIPE_MQTT_RETAINED_MAX_BYTES,
          retainedPerDevice: r.CITYPIPE_MQTT_RETAINED_PER_DEVICE,
          retainedTotalBytes: r.CITYPIPE_MQTT_RETAINED_TOTAL_BYTES,
        },
      },
    },
    http: {
      host: r.CITYPIPE_HTTP_HOST,
      port: r.CITYPIPE_HTTP_PORT,
      token: r.CITYPIPE_HTTP_TOKEN,
      uplinkToken: r.CITYPIPE_UPLINK_TOKEN,
      brokerAuthToken: r.CITYPIPE_BROKER_AUTH_TOKEN,
      ratePerS: r.CITYPIPE_HTTP_RATE,
      trustProxy: r.CITYPIPE_HTTP_TRUST_PROXY,
      maxStreams: r.CITYPIPE_HTTP_MAX_STREAMS,
      maxStreamsPerAddress: r.CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS,
    },
    residents: { enabled: r.CITYPIPE_OPEN_DATA, ratePerS: r.CITYPIPE_OPEN_RATE, cityName: r.CITYPIPE_CITY_NAME },
    externalBroker: externalBroker(r, invalid),
    databaseUrl: r.CITYPIPE_DATABASE_URL,
    workerId: workerIdOf(r),
    ttsMqtt: ttsMqtt(r, invalid),
    dataDir: path.resolve(r.CITYPIPE_DATA_DIR),
    devicesDir: path.resolve(r.CITYPIPE_DEVICES_DIR),
    influx: {
      url: r.CITYPIPE_INFLUX_URL,
      api: r.CITYPIPE_INFLUX_API,
      bucket: r.CITYPIPE_INFLUX_BUCKET,
      org: r.CITYPIPE_INFLUX_ORG,
      token: r.CITYPIPE_INFLUX_TOKEN,
      timeoutMs: r.CITYPIPE_INFLUX_TIMEOUT_MS,
      retryMaxMs: r.CITYPIPE_INFLUX_RETRY_MAX_MS,
    },
    logLevel: r.CITYPIPE_LOG_LEVEL,
    writer: { batchSize: r.CITYPIPE_BATCH_SIZE, flushIntervalMs: r.CITYPIPE_FLUSH_INTERVAL_MS },
    ingest: {
      maxPayloadBytes: r.CITYPIPE_MAX_PAYLOAD_BYTES,
      maxBatch: r.CITYPIPE_MAX_BATCH,
      maxAgeMs: r.CITYPIPE_TS_MAX_AGE_S * 1000,
      maxFutureMs: r.CITYPIPE_TS_MAX_FUTURE_S * 1000,
    },
    deadLetterMax: r.CITYPIPE_DEAD_LETTER_MAX,
    stopTimeoutMs: r.CITYPIPE_STOP_TIMEOUT_MS,
    spool: { maxBytes: r.CITYPIPE_SPOOL_MAX_BYTES, fsync: r.CITYPIPE_SPOOL_FSYNC },
    dispatch: {
      rulesFile: r.CITYPIPE_RULES_FILE === undefined ? undefined : readable('CITYPIPE_RULES_FILE', r.CITYPIPE_RULES_FILE, invalid),
      deliveryTargets,
      collectionPlanCron: r.CITYPIPE_COLLECTION_PLAN_CRON,
      eventsMax: r.CITYPIPE_EVENTS_MAX,
    },
  });
}

/** Checks at start that a configured file can be read, so a typo stops start-up naming the key. */
function readable(key: string, file: string, invalid: (key: string, message: string) => CitypipeError): string {
  const resolved = path.resolve(file);
  try {
    accessSync(resolved, fsConstants.R_OK);
  } catch (err) {
    throw invalid(key, `cannot read ${resolved}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return resolved;
}

/** A Config with selected values replaced; for tests and for `demo`, which fills in the InfluxDB URL. */
export function withOverrides(config: Config, patch: (draft: MutableDeep<Config>) => void): Config {
  const draft = structuredClone(config) as MutableDeep<Config>;
  patch(draft);
  return deepFreeze(draft as Config);
}

type MutableDeep<T> = { -readonly [K in keyof T]: T[K] extends object ? MutableDeep<T[K]> : T[K] };

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The TTS MQTT subscription: all three keys or none. */
function ttsMqtt(r: Raw, invalid: (key: string, message: string) => CitypipeError): Config['ttsMqtt'] {
  const keys = ['CITYPIPE_TTS_MQTT_URL', 'CITYPIPE_TTS_MQTT_USERNAME', 'CITYPIPE_TTS_MQTT_PASSWORD'] as const;
  const set = keys.filter((k) => r[k] !== undefined);
  if (set.length === 0) return undefined;
  const missing = keys.find((k) => r[k] === undefined);
  if (missing) throw invalid(missing, `required with ${set.join(' and ')}: the TTS MQTT server needs its URL, the username app@tenant and an API key as password`);
  return { url: r.CITYPIPE_TTS_MQTT_URL!, username: r.CITYPIPE_TTS_MQTT_USERNAME!, password: r.CITYPIPE_TTS_MQTT_PASSWORD! };
}

/** The broker cluster: its URL turns the embedded broker off; the other keys need it. */
function externalBroker(r: Raw, invalid: (key: string, message: string) => CitypipeError): Config['externalBroker'] {
  if (r.CITYPIPE_BROKER_URL === undefined) {
    for (const key of ['CITYPIPE_BROKER_USERNAME', 'CITYPIPE_BROKER_PASSWORD', 'CITYPIPE_BROKER_CA'] as const) {
      if (r[key] !== undefined) throw invalid(key, 'is set but CITYPIPE_BROKER_URL is not: set the URL of the broker cluster too (e.g. mqtt://emqx.city.internal:1883), or remove it');
    }
    return undefined;
  }
  if ((r.CITYPIPE_BROKER_USERNAME === undefined) !== (r.CITYPIPE_BROKER_PASSWORD === undefined)) {
    const missing = r.CITYPIPE_BROKER_USERNAME === undefined ? 'CITYPIPE_BROKER_USERNAME' : 'CITYPIPE_BROKER_PASSWORD';
    throw invalid(missing, 'required with the other of CITYPIPE_BROKER_USERNAME and CITYPIPE_BROKER_PASSWORD: the account citypipe\'s workers log in to the broker with');
  }
  const workerId = workerIdOf(r);
  return {
    url: r.CITYPIPE_BROKER_URL,
    username: r.CITYPIPE_BROKER_USERNAME,
    password: r.CITYPIPE_BROKER_PASSWORD,
    caFile: r.CITYPIPE_BROKER_CA === undefined ? undefined : readable('CITYPIPE_BROKER_CA', r.CITYPIPE_BROKER_CA, invalid),
    connections: r.CITYPIPE_BROKER_CONNECTIONS,
    shareGroup: r.CITYPIPE_SHARE_GROUP,
    workerId,
  };
}

/** CITYPIPE_WORKER_ID, or the host name made safe for a client id and a log line. */
function workerIdOf(r: Raw): string {
  return r.CITYPIPE_WORKER_ID ?? hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 48);
}
