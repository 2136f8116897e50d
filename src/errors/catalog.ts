/**
 * The one error catalog. Every error a user or an operator can see carries a stable code from here,
 * and says whether retrying the same operation can succeed.
 *
 * Dead-letter reasons are a separate, closed list (`DeadLetterReason`): they describe why a reading
 * was not written, and are counted in metrics by that code.
 */

export interface ErrorSpec {
  readonly code: string;
  readonly retryable: boolean;
  readonly summary: string;
}

function spec<C extends string>(code: C, retryable: boolean, summary: string): ErrorSpec & { code: C } {
  return { code, retryable, summary };
}

export const ErrorCodes = {
  CONFIG_INVALID: spec('CP_ERR_CONFIG_INVALID', false, 'a configuration value is invalid'),
  CONFIG_UNKNOWN_KEY: spec('CP_ERR_CONFIG_UNKNOWN_KEY', false, 'a configuration key is not known'),
  CONFIG_FILE: spec('CP_ERR_CONFIG_FILE', false, 'the configuration file cannot be read'),
  CATALOG_INVALID: spec('CP_ERR_CATALOG_INVALID', false, 'a device catalog file is invalid'),
  CATALOG_DUPLICATE: spec('CP_ERR_CATALOG_DUPLICATE', false, 'a device id or a LoRaWAN DevEUI appears twice in the catalog'),
  CATALOG_LISTENER: spec('CP_ERR_CATALOG_LISTENER', true, 'a part that follows the device catalog failed to take a reloaded catalog; it is handed the next one after the next change (the log has the cause)'),
  INFLUX_UNREACHABLE: spec('CP_ERR_INFLUX_UNREACHABLE', true, 'InfluxDB cannot be reached'),
  INFLUX_TIMEOUT: spec('CP_ERR_INFLUX_TIMEOUT', true, 'InfluxDB did not answer in time'),
  INFLUX_THROTTLED: spec('CP_ERR_INFLUX_THROTTLED', true, 'InfluxDB asked us to slow down (429)'),
  INFLUX_SERVER: spec('CP_ERR_INFLUX_SERVER', true, 'InfluxDB failed with a server error (5xx)'),
  INFLUX_AUTH: spec('CP_ERR_INFLUX_AUTH', true, 'InfluxDB refused the credentials (401/403)'),
  INFLUX_NOT_FOUND: spec('CP_ERR_INFLUX_NOT_FOUND', true, 'InfluxDB has no such database, bucket or write endpoint'),
  INFLUX_REJECTED: spec('CP_ERR_INFLUX_REJECTED', false, 'InfluxDB rejected points in the batch (400)'),
  INFLUX_TOO_LARGE: spec('CP_ERR_INFLUX_TOO_LARGE', false, 'InfluxDB refused the request as too large (413)'),
  INFLUXD_MISSING: spec('CP_ERR_INFLUXD_MISSING', false, 'the influxd binary is not installed'),
  INFLUXD_START: spec('CP_ERR_INFLUXD_START', false, 'the local influxd did not start'),
  MQTT_AUTH: spec('CP_ERR_MQTT_AUTH', false, 'an MQTT client was refused at CONNECT: bad or missing credentials, a client id or Will it may not use, or a keep alive out of range'),
  MQTT_ACL_DENIED: spec('CP_ERR_MQTT_ACL_DENIED', false, 'an MQTT client published or subscribed outside its topics; a publish closes the connection, a subscription gets SUBACK 0x80'),
  MQTT_SERVER: spec('CP_ERR_MQTT_SERVER', true, 'an MQTT listener failed after it started (e.g. out of file descriptors: raise `ulimit -n`); the log has the cause'),
  MQTT_LIMIT: spec('CP_ERR_MQTT_LIMIT', true, 'an MQTT client went over a limit (packet size, message rate, connections per address); it was slowed down or disconnected'),
  HTTP_UNAUTHORIZED: spec('CP_ERR_HTTP_UNAUTHORIZED', false, 'the HTTP request needs the bearer token CITYPIPE_HTTP_TOKEN (the uplink routes: CITYPIPE_UPLINK_TOKEN)'),
  HTTP_UNSUPPORTED_MEDIA: spec('CP_ERR_HTTP_UNSUPPORTED_MEDIA', false, 'the uplink routes take JSON only; set the network server integration to JSON'),
  UPLINK_INVALID: spec('CP_ERR_UPLINK_INVALID', false, 'a network server posted a body that is not its JSON event; it is kept as a dead letter'),
  HTTP_RATE_LIMITED: spec('CP_ERR_HTTP_RATE_LIMITED', true, 'too many HTTP requests from one address; retry after Retry-After seconds'),
  HTTP_STREAM_LIMIT: spec('CP_ERR_HTTP_STREAM_LIMIT', true, 'too many event streams are open (CITYPIPE_HTTP_MAX_STREAMS in all, CITYPIPE_HTTP_MAX_STREAMS_PER_ADDRESS from one address); retry after Retry-After seconds or close one'),
  BROKER_CLUSTER: spec('CP_ERR_BROKER_CLUSTER', true, 'a worker could not connect or subscribe to the broker cluster (CITYPIPE_BROKER_URL), or lost its connection; it reconnects, and the broker keeps the worker\'s session and its messages meanwhile'),
  PORT_IN_USE: spec('CP_ERR_PORT_IN_USE', false, 'a port is already in use'),
  SPOOL_FULL: spec('CP_ERR_SPOOL_FULL', true, 'the spool is at its byte cap or the disk is full; publishes are refused until acknowledged records free space'),
  SPOOL_IO: spec('CP_ERR_SPOOL_IO', true, 'the spool could not write, sync or read its files'),
  SPOOL_CORRUPT: spec('CP_ERR_SPOOL_CORRUPT', false, 'a spool file holds a torn or corrupt record; what follows it in that file is dropped'),
  SPOOL_RECORD_TOO_LARGE: spec('CP_ERR_SPOOL_RECORD_TOO_LARGE', false, 'a record is larger than the spool can ever take'),
  SPOOL_RECORD: spec('CP_ERR_SPOOL_RECORD', false, 'a spool record passed its checksum but could not be decoded (written by another citypipe version?); it is skipped, and its readings are not written'),
  DEAD_LETTER_STORE: spec('CP_ERR_DEAD_LETTER_STORE', true, 'dead letters could not be written to their store (disk full, locked file); they are kept in memory and retried'),
  SPOOL_STOPPED: spec('CP_ERR_SPOOL_STOPPED', true, 'the spool is not started or is stopping'),
  RULES_INVALID: spec('CP_ERR_RULES_INVALID', false, 'the rules file is invalid; the message names the file, the rule and the key'),
  RULES_DEVICE: spec('CP_ERR_RULES_DEVICE', false, 'a rule cannot apply to a device as catalogued (e.g. a streetlight without powerRating)'),
  RULE_STATE_IO: spec('CP_ERR_RULE_STATE_IO', true, 'the rule state could not be saved; it is retried with the next batch'),
  EVENT_SINK: spec('CP_ERR_EVENT_SINK', true, 'a consumer of rule events failed'),
  DATABASE_UNREACHABLE: spec('CP_ERR_DATABASE_UNREACHABLE', true, 'PostgreSQL (CITYPIPE_DATABASE_URL) cannot be reached or refused the login; dispatch waits and retries, readings are stored either way'),
  DATABASE_SCHEMA: spec('CP_ERR_DATABASE_SCHEMA', false, 'the PostgreSQL schema is newer than this citypipe, or a migration failed'),
  DISPATCH: spec('CP_ERR_DISPATCH', true, 'rules, tickets or the event log could not take a batch of stored readings; the readings are stored either way'),
  TICKET_NOT_FOUND: spec('CP_ERR_TICKET_NOT_FOUND', false, 'no ticket has this service_request_id'),
  TICKET_CLOSED: spec('CP_ERR_TICKET_CLOSED', false, 'the ticket is already closed'),
  DELIVERY_RETRYING: spec('CP_ERR_DELIVERY_RETRYING', true, 'a webhook or Open311 receiver is down, slow or busy; the message waits in the outbox and is retried'),
  DELIVERY_REJECTED: spec('CP_ERR_DELIVERY_REJECTED', false, 'a receiver refused a message (4xx); it is kept as failed and can be sent again'),
  DELIVERY_STORE: spec('CP_ERR_DELIVERY_STORE', true, 'the delivery outbox could not be read or written; retried'),
  DELIVERY_LISTENER: spec('CP_ERR_DELIVERY_LISTENER', true, 'a delivery callback (metrics) threw; deliveries go on'),
  COLLECTION_PLAN: spec('CP_ERR_COLLECTION_PLAN', true, 'the collection plan could not be made or handed on; the next run tries again'),
  STORE_UNAVAILABLE: spec('CP_ERR_STORE_UNAVAILABLE', true, 'the shared database (CITYPIPE_DATABASE_URL) is unreachable or failed a read or a change; HTTP answers 503 with Retry-After, and the request can be retried'),
  HTTP_INTERNAL: spec('CP_ERR_HTTP_INTERNAL', true, 'an HTTP request failed inside citypipe; the log has the cause'),
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]['code'];

/** Something an operator should know about, logged at warn or info level: not an error. */
export interface NoticeSpec {
  readonly code: string;
  readonly summary: string;
  /** What to do about it. */
  readonly fix: string;
}

function notice<C extends string>(code: C, summary: string, fix: string): NoticeSpec & { code: C } {
  return { code, summary, fix };
}

/** Warnings and notices with stable codes (configuration that weakens a promise, a stop that left work). */
export const NoticeCodes = {
  INFLUX_ORG: notice('CP_WARN_INFLUX_ORG', 'CITYPIPE_INFLUX_ORG is empty with CITYPIPE_INFLUX_API=v2: InfluxDB 2.x needs it (1.8 and 3.x ignore it)', 'set CITYPIPE_INFLUX_ORG to your organisation'),
  SPOOL_NO_FSYNC: notice('CP_WARN_SPOOL_NO_FSYNC', 'CITYPIPE_SPOOL_FSYNC=false: a PUBACK no longer means the reading is on disk; a crash can lose acknowledged readings', 'leave CITYPIPE_SPOOL_FSYNC at true outside measurements of what durability costs'),
  MQTT_OPEN: notice('CP_WARN_MQTT_OPEN', 'lab mode: the broker accepts anonymous clients and applies no topic ACL and no client-id binding', 'for interoperability tests only: unset CITYPIPE_MQTT_OPEN (or the deprecated CITYPIPE_MQTT_ALLOW_ANONYMOUS) anywhere else'),
  HTTP_NO_TOKEN: notice('CP_INFO_HTTP_NO_TOKEN', 'CITYPIPE_HTTP_TOKEN is not set: HTTP endpoints that change state, show device locations or list rule events answer 401', 'set CITYPIPE_HTTP_TOKEN to use them'),
  HTTP_TRUST_PROXY: notice('CP_WARN_HTTP_TRUST_PROXY', 'CITYPIPE_HTTP_TRUST_PROXY believes X-Forwarded-For from any peer: a client that bypasses the proxy chooses the address it is rate-limited as', "list the proxy's address instead (e.g. 127.0.0.1), or make the HTTP port reachable only through the proxy"),
  STOP_UNWRITTEN: notice('CP_WARN_STOP_UNWRITTEN', 'a stop ended (CITYPIPE_STOP_TIMEOUT_MS) before InfluxDB had every accepted reading; the rest stays in the spool', 'nothing is lost: the next start writes them first; raise CITYPIPE_STOP_TIMEOUT_MS for a stop that waits longer'),
} as const;

/** An error with a stable code, a retryable flag and, for throttling, how long to wait. */
export class CitypipeError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Milliseconds the other side asked us to wait before retrying (Retry-After), if it said. */
  readonly retryAfterMs: number | undefined;

  constructor(
    spec: ErrorSpec & { code: ErrorCode },
    message: string,
    opts: { cause?: unknown; retryAfterMs?: number | undefined; retryable?: boolean } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CitypipeError';
    this.code = spec.code;
    this.retryable = opts.retryable ?? spec.retryable;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Why a reading was not written. Stable: these appear in metrics labels, in the dead-letter API and
 * in `dead-letters replay --reason`.
 */
export const DeadLetterReasons = [
  'invalid_topic', // topic is not city/{type}/{deviceId}/telemetry
  'unknown_type', // {type} is not a known device type
  'unknown_device', // device id not in the catalog
  'type_mismatch', // the catalog says the device is of another type
  'payload_too_large', // payload over the configured limit
  'invalid_json', // payload is not JSON
  'not_an_object', // a reading is not a JSON object
  'empty_batch', // a batch with no readings
  'batch_too_large', // a batch with more readings than allowed
  'missing_field', // a required field is absent
  'wrong_type', // a field has the wrong JSON type (strings are never coerced to numbers)
  'not_finite', // a number is not finite (1e400 parses to Infinity)
  'out_of_range', // a number outside its range
  'invalid_enum', // a string outside its enumeration
  'unknown_key', // a key the schema does not know
  'invalid_value', // any other schema rule (e.g. availableSpotNumber > totalSpotNumber)
  'ts_invalid', // ts is neither ISO 8601 with offset nor epoch milliseconds
  'ts_in_seconds', // ts looks like epoch seconds
  'ts_too_old', // ts older than the accepted window
  'ts_in_future', // ts too far in the future
  'ts_required', // no ts, and the device sent more readings without ts within a second than can be stamped apart
  'influx_rejected', // InfluxDB refused the point; the message is InfluxDB's own
  'invalid_uplink', // a network server's message is JSON but not the shape its server sends (CONTRACT §7)
  'decode_failed', // an uplink's bytes could not be decoded: unknown fPort, truncated or garbage bytes, a codec error (the server's or citypipe's)
  'missing_attribute', // an uplink needs a catalog attribute the device lacks (a bin measured by distance without containerDepthMm)
] as const;

export type DeadLetterReason = (typeof DeadLetterReasons)[number];
